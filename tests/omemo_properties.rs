//! Property tests: random interleavings of two or three parties always
//! decrypt; any corruption is an error, never a panic or a wrong plaintext.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sotto::omemo::*;

const NOW: u64 = 1_700_000_000;

struct Party {
    jid: String,
    device: OwnDevice,
    rng: StdRng,
    /// Session with each other party, by party index.
    sessions: Vec<Option<Session>>,
}

fn party(i: usize, n: usize, seed: u64) -> Party {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
    Party {
        jid: format!("p{i}@example.org"),
        device: OwnDevice::generate(&mut rng, &[], NOW),
        rng,
        sessions: (0..n).map(|_| None).collect(),
    }
}

fn receive(
    parties: &mut [Party],
    to: usize,
    from: usize,
    msg: &EncryptedMessage,
) -> Result<Option<Vec<u8>>> {
    let (from_jid, from_device) = (parties[from].jid.clone(), parties[from].device.device_id());
    assert_eq!(from_device, msg.sender_device_id);
    let p = &mut parties[to];
    let out = decrypt(
        &mut p.rng,
        &p.device,
        msg,
        &from_jid,
        p.sessions[from].as_mut(),
    )?;
    if let Some(s) = out.new_session {
        p.sessions[from] = Some(s);
    }
    Ok(out.plaintext)
}

fn send(parties: &mut [Party], from: usize, ns: Namespace, text: &[u8]) -> EncryptedMessage {
    let p = &mut parties[from];
    let mut sessions: Vec<&mut Session> = p.sessions.iter_mut().flatten().collect();
    encrypt(
        &mut p.rng,
        ns,
        p.device.device_id(),
        &mut sessions,
        Some(text),
    )
    .unwrap()
}

/// Every pair gets a confirmed session: the lower index starts it, the other answers.
fn connect(parties: &mut [Party], ns: Namespace) {
    let n = parties.len();
    for a in 0..n {
        for b in a + 1..n {
            let bundle = parties[b].device.bundle(ns);
            let jid_b = parties[b].jid.clone();
            let pa = &mut parties[a];
            let mut s = Session::from_bundle(&mut pa.rng, &pa.device, &jid_b, &bundle).unwrap();
            let m = encrypt(&mut pa.rng, ns, pa.device.device_id(), &mut [&mut s], None).unwrap();
            pa.sessions[b] = Some(s);
            receive(parties, b, a, &m).unwrap();
            let pb = &mut parties[b];
            let s = pb.sessions[a].as_mut().unwrap();
            let m = encrypt(&mut pb.rng, ns, pb.device.device_id(), &mut [s], None).unwrap();
            receive(parties, a, b, &m).unwrap();
        }
    }
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop_oneof![Just(Namespace::OldMemo), Just(Namespace::TwoMemo)]
}

#[derive(Debug, Clone)]
enum Op {
    Send(usize),
    Deliver(usize, usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..3).prop_map(Op::Send),
            (0usize..3, 0usize..64).prop_map(|(a, b)| Op::Deliver(a, b))
        ],
        1..60,
    )
}

proptest! {
    // Modest by default so `cargo test` stays fast; PROPTEST_CASES=N runs deeper.
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(16), .. ProptestConfig::default() })]

    #[test]
    fn random_interleavings_of_two_or_three_parties_decrypt(ns in namespace(), n in 2usize..=3, seed in any::<u64>(), ops in ops()) {
        let mut parties: Vec<Party> = (0..n).map(|i| party(i, n, seed)).collect();
        connect(&mut parties, ns);
        // Pending deliveries: (from, to, message, text).
        let mut pending: Vec<(usize, usize, EncryptedMessage, Vec<u8>)> = Vec::new();
        let mut counter = 0u32;
        for op in ops {
            match op {
                Op::Send(from) => {
                    let from = from % n;
                    counter += 1;
                    let text = format!("{from}:{counter}").into_bytes();
                    let msg = send(&mut parties, from, ns, &text);
                    for to in (0..n).filter(|&t| t != from) {
                        pending.push((from, to, msg.clone(), text.clone()));
                    }
                }
                Op::Deliver(to, pick) => {
                    let to = to % n;
                    let mine: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].1 == to).collect();
                    if mine.is_empty() { continue; }
                    let (from, to, msg, text) = pending.remove(mine[pick % mine.len()]);
                    prop_assert_eq!(receive(&mut parties, to, from, &msg).unwrap(), Some(text));
                }
            }
        }
        for (from, to, msg, text) in pending {
            prop_assert_eq!(receive(&mut parties, to, from, &msg).unwrap(), Some(text));
        }
    }

    #[test]
    fn corrupted_messages_are_errors_never_panics(
        ns in namespace(),
        seed in any::<u64>(),
        key_exchange in any::<bool>(),
        target in 0usize..3,
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
        truncate in any::<bool>(),
    ) {
        let mut parties: Vec<Party> = (0..2).map(|i| party(i, 2, seed)).collect();
        if !key_exchange {
            connect(&mut parties, ns);
        } else {
            let bundle = parties[1].device.bundle(ns);
            let p0 = &mut parties[0];
            p0.sessions[1] = Some(Session::from_bundle(&mut p0.rng, &p0.device, "p1@example.org", &bundle).unwrap());
        }
        let mut msg = send(&mut parties, 0, ns, b"the secret");
        prop_assert_eq!(msg.keys[0].key_exchange, key_exchange);
        let field: &mut Vec<u8> = match target {
            0 => &mut msg.keys[0].data,
            1 => msg.payload.as_mut().unwrap(),
            _ if ns == Namespace::OldMemo => &mut msg.iv,
            _ => &mut msg.keys[0].data,
        };
        let i = pos.index(field.len());
        if truncate { field.truncate(i); } else { field[i] ^= 1 << bit; }
        let before = parties[1].sessions[0].as_ref().map(|s| serde_json::to_string(s).unwrap());
        let result = receive(&mut parties, 1, 0, &msg);
        prop_assert!(result.is_err(), "corruption went unnoticed: {:?}", result);
        let after = parties[1].sessions[0].as_ref().map(|s| serde_json::to_string(s).unwrap());
        prop_assert_eq!(before, after, "a failed decryption changed the session");
    }

    #[test]
    fn arbitrary_key_data_never_panics(ns in namespace(), seed in any::<u64>(), kex in any::<bool>(), data in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut parties: Vec<Party> = (0..2).map(|i| party(i, 2, seed)).collect();
        connect(&mut parties, ns);
        let sid = parties[0].device.device_id();
        let p = &mut parties[1];
        let msg = EncryptedMessage {
            namespace: ns,
            sender_device_id: sid,
            keys: vec![EncryptedKey { jid: "p1@example.org".into(), device_id: p.device.device_id(), key_exchange: kex, data }],
            iv: vec![0; 12],
            payload: Some(vec![1, 2, 3]),
        };
        let r = decrypt(&mut p.rng, &p.device, &msg, "p0@example.org", p.sessions[0].as_mut());
        prop_assert!(r.is_err());
    }

    #[test]
    fn arbitrary_xml_never_panics(text in ".{0,400}", ns in namespace()) {
        if let Ok(el) = xml::parse_element(&text) {
            let _ = Bundle::from_xml(ns, 1, &el);
            let _ = DeviceList::from_xml(ns, &el);
            let _ = EncryptedMessage::from_xml(&el);
        }
        let _ = Envelope::parse(text.as_bytes());
        let _ = xml::base64_decode(&text);
    }
}
