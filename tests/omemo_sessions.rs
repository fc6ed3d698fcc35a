//! Scenario tests of the OMEMO engine, Rust against Rust, both namespaces.

use rand::SeedableRng;
use rand::rngs::StdRng;
use sotto::omemo::*;

const NOW: u64 = 1_700_000_000;
const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn both() -> [Namespace; 2] {
    [Namespace::OldMemo, Namespace::TwoMemo]
}

struct Party {
    jid: &'static str,
    device: OwnDevice,
    rng: StdRng,
}

impl Party {
    fn new(jid: &'static str, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let device = OwnDevice::generate(&mut rng, &[], NOW);
        Self { jid, device, rng }
    }

    fn published_bundle(&self, ns: Namespace) -> Bundle {
        let text = xml::element_to_string(&self.device.bundle(ns).to_xml());
        Bundle::from_xml(
            ns,
            self.device.device_id(),
            &xml::parse_element(&text).unwrap(),
        )
        .unwrap()
    }

    fn start_session(&mut self, peer: &Party, ns: Namespace) -> Session {
        Session::from_bundle(
            &mut self.rng,
            &self.device,
            peer.jid,
            &peer.published_bundle(ns),
        )
        .unwrap()
    }

    fn send(
        &mut self,
        ns: Namespace,
        sessions: &mut [&mut Session],
        text: &str,
    ) -> EncryptedMessage {
        let wire = encrypt(
            &mut self.rng,
            ns,
            self.device.device_id(),
            sessions,
            Some(text.as_bytes()),
        )
        .unwrap()
        .to_xml();
        EncryptedMessage::from_xml(&xml::parse_element(&xml::element_to_string(&wire)).unwrap())
            .unwrap()
    }

    /// Receives `msg` from `from`; returns the plaintext and stores a new session.
    fn receive(
        &mut self,
        from: &Party,
        session: &mut Option<Session>,
        msg: &EncryptedMessage,
    ) -> Result<Option<String>> {
        let out = decrypt(&mut self.rng, &self.device, msg, from.jid, session.as_mut())?;
        let plain = out.plaintext;
        if let Some(new) = out.new_session {
            *session = Some(new);
        }
        if let Some(id) = out.consumed_pre_key {
            self.device.remove_pre_key(id);
        }
        Ok(plain.map(|p| String::from_utf8(p).unwrap()))
    }
}

#[test]
fn bob_receives_alices_first_message_as_prekey_and_the_reply_confirms_the_session() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 1);
        let mut bob = Party::new(BOB, 2);
        let mut a_sess = alice.start_session(&bob, ns);
        let m1 = alice.send(ns, &mut [&mut a_sess], "one");
        let m2 = alice.send(ns, &mut [&mut a_sess], "two");
        assert!(m1.keys[0].key_exchange && m2.keys[0].key_exchange);

        let mut b_sess = None;
        let pre_keys_before = bob.device.pre_key_ids().count();
        assert_eq!(
            bob.receive(&alice, &mut b_sess, &m2).unwrap().as_deref(),
            Some("two")
        );
        assert_eq!(bob.device.pre_key_ids().count(), pre_keys_before - 1);
        // The earlier message repeats the same key exchange: it decrypts on the
        // session it built, from the skipped keys.
        assert_eq!(
            bob.receive(&alice, &mut b_sess, &m1).unwrap().as_deref(),
            Some("one")
        );

        let mut bs = b_sess.take().unwrap();
        let reply = bob.send(ns, &mut [&mut bs], "hi alice");
        assert!(!reply.keys[0].key_exchange);
        let mut a_opt = Some(a_sess);
        assert_eq!(
            alice.receive(&bob, &mut a_opt, &reply).unwrap().as_deref(),
            Some("hi alice")
        );
        let mut a_sess = a_opt.unwrap();
        assert!(a_sess.is_confirmed());
        let m3 = alice.send(ns, &mut [&mut a_sess], "three");
        assert!(
            !m3.keys[0].key_exchange,
            "{ns:?}: confirmed sessions stop sending the key exchange"
        );
        let mut b_opt = Some(bs);
        assert_eq!(
            bob.receive(&alice, &mut b_opt, &m3).unwrap().as_deref(),
            Some("three")
        );
    }
}

#[test]
fn replayed_and_duplicate_messages_are_rejected() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 3);
        let mut bob = Party::new(BOB, 4);
        let mut a_sess = alice.start_session(&bob, ns);
        let m1 = alice.send(ns, &mut [&mut a_sess], "one");
        let mut b_sess = None;
        bob.receive(&alice, &mut b_sess, &m1).unwrap();
        assert!(matches!(
            bob.receive(&alice, &mut b_sess, &m1),
            Err(OmemoError::Duplicate(0))
        ));
        // Once the session is gone, the consumed pre-key is gone too.
        let mut none = None;
        assert!(matches!(
            bob.receive(&alice, &mut none, &m1),
            Err(OmemoError::UnknownPreKey(_))
        ));
    }
}

#[test]
fn tampered_message_fails_without_changing_the_session() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 5);
        let mut bob = Party::new(BOB, 6);
        let mut a_sess = alice.start_session(&bob, ns);
        let mut b_sess = None;
        let first = alice.send(ns, &mut [&mut a_sess], "hello");
        bob.receive(&alice, &mut b_sess, &first).unwrap();
        let mut bs = b_sess.unwrap();
        let reply = bob.send(ns, &mut [&mut bs], "r");
        let mut a_opt = Some(a_sess);
        alice.receive(&bob, &mut a_opt, &reply).unwrap();
        let mut a_sess = a_opt.unwrap();
        let good = alice.send(ns, &mut [&mut a_sess], "after");
        let before = serde_json::to_string(&bs).unwrap();
        let mut bad = good.clone();
        let last = bad.keys[0].data.len() - 1;
        bad.keys[0].data[last] ^= 1;
        let mut b_opt = Some(bs);
        let err = bob.receive(&alice, &mut b_opt, &bad).unwrap_err();
        assert!(
            matches!(err, OmemoError::BadMac | OmemoError::MalformedProtobuf(_)),
            "{ns:?}: {err}"
        );
        assert_eq!(
            serde_json::to_string(b_opt.as_ref().unwrap()).unwrap(),
            before
        );
        assert_eq!(
            bob.receive(&alice, &mut b_opt, &good).unwrap().as_deref(),
            Some("after")
        );
    }
}

#[test]
fn forged_bundle_signature_is_refused() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 7);
        let bob = Party::new(BOB, 8);
        let mut bundle = bob.published_bundle(ns);
        bundle.signed_pre_key_signature[5] ^= 0x10;
        let err = Session::from_bundle(&mut alice.rng, &alice.device, BOB, &bundle).unwrap_err();
        assert_eq!(err, OmemoError::BadSignature);
    }
}

#[test]
fn message_for_another_device_is_a_wrong_recipient() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 9);
        let bob = Party::new(BOB, 10);
        let mut carol = Party::new("carol@example.org", 11);
        let mut a_sess = alice.start_session(&bob, ns);
        let m = alice.send(ns, &mut [&mut a_sess], "for bob");
        let mut none = None;
        assert!(matches!(
            carol.receive(&alice, &mut none, &m),
            Err(OmemoError::WrongRecipient(_))
        ));
    }
}

#[test]
fn skipping_more_than_max_skip_is_refused_but_max_skip_is_fine() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 12);
        let mut bob = Party::new(BOB, 13);
        let mut a_sess = alice.start_session(&bob, ns);
        let mut b_sess = None;
        let first = alice.send(ns, &mut [&mut a_sess], "0");
        bob.receive(&alice, &mut b_sess, &first).unwrap();
        let msgs: Vec<_> = (0..MAX_SKIP + 2)
            .map(|i| alice.send(ns, &mut [&mut a_sess], &i.to_string()))
            .collect();
        let err = bob
            .receive(&alice, &mut b_sess, &msgs[MAX_SKIP as usize + 1])
            .unwrap_err();
        assert!(matches!(err, OmemoError::TooManySkipped(_)), "{err}");
        assert_eq!(
            bob.receive(&alice, &mut b_sess, &msgs[MAX_SKIP as usize])
                .unwrap()
                .as_deref(),
            Some("1000")
        );
        assert_eq!(b_sess.as_ref().unwrap().skipped_keys(), MAX_SKIP as usize);
        assert_eq!(
            bob.receive(&alice, &mut b_sess, &msgs[3])
                .unwrap()
                .as_deref(),
            Some("3")
        );
    }
}

#[test]
fn empty_key_transport_message_carries_a_key_and_no_payload() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 14);
        let mut bob = Party::new(BOB, 15);
        let mut a_sess = alice.start_session(&bob, ns);
        let msg = encrypt(
            &mut alice.rng,
            ns,
            alice.device.device_id(),
            &mut [&mut a_sess],
            None,
        )
        .unwrap();
        assert!(msg.payload.is_none());
        let out = decrypt(&mut bob.rng, &bob.device, &msg, ALICE, None).unwrap();
        assert!(out.new_session.is_some());
        assert_eq!(
            out.key_material.key().len(),
            if ns == Namespace::OldMemo { 16 } else { 32 }
        );
        assert_eq!(out.plaintext, None);
    }
}

#[test]
fn one_message_reaches_several_devices_and_sessions_survive_serialization() {
    for ns in both() {
        let mut alice = Party::new(ALICE, 16);
        let mut bobs: Vec<Party> = (0..3).map(|i| Party::new(BOB, 20 + i)).collect();
        let mut sessions: Vec<Session> = bobs.iter().map(|b| alice.start_session(b, ns)).collect();
        let mut refs: Vec<&mut Session> = sessions.iter_mut().collect();
        let msg = alice.send(ns, &mut refs, "to all");
        assert_eq!(msg.recipient_device_ids().len(), 3);
        for bob in &mut bobs {
            let mut s = None;
            assert_eq!(
                bob.receive(&alice, &mut s, &msg).unwrap().as_deref(),
                Some("to all")
            );
            let restored: Session =
                serde_json::from_str(&serde_json::to_string(&s.unwrap()).unwrap()).unwrap();
            let mut restored = restored;
            let back = bob.send(ns, &mut [&mut restored], "ack");
            let idx = sessions
                .iter()
                .position(|x| x.peer_device_id() == bob.device.device_id())
                .unwrap();
            let mut a = Some(sessions[idx].clone());
            assert_eq!(
                alice.receive(bob, &mut a, &back).unwrap().as_deref(),
                Some("ack")
            );
        }
        let restored: OwnDevice =
            serde_json::from_str(&serde_json::to_string(&alice.device).unwrap()).unwrap();
        assert_eq!(restored.bundle(ns), alice.device.bundle(ns));
    }
}

#[test]
fn device_lists_round_trip_and_drop_bad_entries() {
    let id = IdentityKeyPair::from_seed([2; 32]);
    let list = DeviceList {
        namespace: Namespace::TwoMemo,
        devices: vec![
            DeviceListEntry::signed(7, "Phone", &id),
            DeviceListEntry {
                id: 9,
                label: Some("forged".into()),
                label_signature: Some(vec![0; 64]),
            },
            DeviceListEntry {
                id: 11,
                label: None,
                label_signature: None,
            },
        ],
    };
    let parsed = DeviceList::from_xml(Namespace::TwoMemo, &list.to_xml()).unwrap();
    assert_eq!(parsed, list);
    let ik = IdentityKey::Ed25519(id.ed25519_public());
    assert_eq!(parsed.devices[0].verified_label(&ik), Some("Phone"));
    assert_eq!(parsed.devices[1].verified_label(&ik), None);
    let old = xml::parse_element(
        "<list xmlns='eu.siacs.conversations.axolotl'><device id='5'/><device id='0'/><device id='x'/><device id='5'/><device id='6'/></list>",
    )
    .unwrap();
    assert_eq!(
        DeviceList::from_xml(Namespace::OldMemo, &old)
            .unwrap()
            .ids(),
        vec![5, 6]
    );
    assert!(DeviceList::from_xml(Namespace::TwoMemo, &old).is_err());
}

#[test]
fn sce_envelope_is_bound_to_sender_and_recipient() {
    let mut rng = StdRng::seed_from_u64(30);
    let body = xmpp_parsers::minidom::Element::builder("body", "jabber:client")
        .append("hello <&>")
        .build();
    let bytes = Envelope::new(vec![body], ALICE, BOB, Some(NOW)).to_bytes(&mut rng);
    let env = Envelope::parse(&bytes).unwrap();
    assert_eq!(env.body().as_deref(), Some("hello <&>"));
    assert_eq!(env.time.as_deref(), Some("2023-11-14T22:13:20Z"));
    env.check(ALICE, BOB).unwrap();
    assert_eq!(
        env.check("mallory@example.org", BOB),
        Err(OmemoError::Envelope("<from> does not match the sender"))
    );
    assert!(env.check(ALICE, "room@muc.example.org").is_err());
    assert!(Envelope::parse(b"<envelope xmlns='urn:xmpp:sce:1'/>").is_err());
    assert!(Envelope::parse(b"\xff\xfe").is_err());
}
