//! Cross-implementation tests: the Rust engine against python-omemo's own
//! backends (oldmemo, twomemo → x3dh, doubleratchet, xeddsa from PyPI),
//! driven through tests/interop/omemo_peer.py over JSON lines.
//!
//! Needs the venv from `scripts/python-venv.sh` (or SOTTO_TEST_PYTHON).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use sotto::omemo::*;

const RUST_JID: &str = "rust@example.org";
const PY_JID: &str = "python@example.org";
const PY_DEVICE: u32 = 4242;
const NOW: u64 = 1_700_000_000;

struct PyPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    bundles: Value,
}

impl PyPeer {
    fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/omemo_peer.py");
        let mut child = Command::new(support::peer::python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the python OMEMO peer");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut peer = Self {
            child,
            stdin,
            stdout,
            bundles: Value::Null,
        };
        peer.bundles = peer
            .call(json!({"cmd": "init", "jid": PY_JID, "device_id": PY_DEVICE}))
            .unwrap()["bundles"]
            .clone();
        peer
    }

    fn call(&mut self, req: Value) -> std::result::Result<Value, String> {
        writeln!(self.stdin, "{req}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let resp: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad peer output {line:?}: {e}"));
        match resp.get("error") {
            Some(e) => Err(e.as_str().unwrap_or_default().to_owned()),
            None => Ok(resp["ok"].clone()),
        }
    }

    fn bundle(&self, ns: Namespace) -> Bundle {
        let xml = self.bundles[tag(ns)].as_str().unwrap();
        Bundle::from_xml(ns, PY_DEVICE, &xml::parse_element(xml).unwrap()).unwrap()
    }

    fn learn(&mut self, ns: Namespace, device: &OwnDevice) {
        let xml = xml::element_to_string(&device.bundle(ns).to_xml());
        self.call(json!({"cmd": "learn_bundle", "ns": tag(ns), "jid": RUST_JID, "device_id": device.device_id(), "xml": xml}))
            .unwrap();
    }

    fn encrypt(&mut self, ns: Namespace, to: &OwnDevice, text: Option<&str>) -> EncryptedMessage {
        let xml = self
            .call(json!({"cmd": "encrypt", "ns": tag(ns), "jid": RUST_JID, "device_id": to.device_id(), "text": text}))
            .unwrap();
        EncryptedMessage::from_xml(&xml::parse_element(xml.as_str().unwrap()).unwrap()).unwrap()
    }

    fn decrypt(
        &mut self,
        ns: Namespace,
        msg: &EncryptedMessage,
    ) -> std::result::Result<(Option<String>, bool), String> {
        let xml = xml::element_to_string(&msg.to_xml());
        let out =
            self.call(json!({"cmd": "decrypt", "ns": tag(ns), "jid": RUST_JID, "xml": xml}))?;
        Ok((
            out["text"].as_str().map(str::to_owned),
            out["prekey"].as_bool().unwrap(),
        ))
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tag(ns: Namespace) -> &'static str {
    match ns {
        Namespace::OldMemo => "old",
        Namespace::TwoMemo => "two",
    }
}

struct RustSide {
    rng: StdRng,
    device: OwnDevice,
    session: Option<Session>,
}

impl RustSide {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let device = OwnDevice::generate(&mut rng, &[PY_DEVICE], NOW);
        Self {
            rng,
            device,
            session: None,
        }
    }

    fn send(&mut self, ns: Namespace, text: Option<&str>) -> EncryptedMessage {
        let payload = text.map(|t| match ns {
            Namespace::OldMemo => t.as_bytes().to_vec(),
            Namespace::TwoMemo => {
                let body = xmpp_parsers::minidom::Element::builder("body", "jabber:client")
                    .append(t)
                    .build();
                Envelope::new(vec![body], RUST_JID, PY_JID, Some(NOW)).to_bytes(&mut self.rng)
            }
        });
        let session = self.session.as_mut().expect("session");
        let msg = encrypt(
            &mut self.rng,
            ns,
            self.device.device_id(),
            &mut [session],
            payload.as_deref(),
        )
        .unwrap();
        EncryptedMessage::from_xml(
            &xml::parse_element(&xml::element_to_string(&msg.to_xml())).unwrap(),
        )
        .unwrap()
    }

    fn receive(&mut self, msg: &EncryptedMessage) -> Result<Option<String>> {
        let out = decrypt(
            &mut self.rng,
            &self.device,
            msg,
            PY_JID,
            self.session.as_mut(),
        )?;
        let plain = out.plaintext;
        if let Some(s) = out.new_session {
            assert_eq!(s.peer_device_id(), PY_DEVICE);
            self.session = Some(s);
        }
        if let Some(id) = out.consumed_pre_key {
            assert!(
                self.device.remove_pre_key(id),
                "consumed pre-key {id} must be ours"
            );
        }
        Ok(plain.map(|p| match msg.namespace {
            Namespace::OldMemo => String::from_utf8(p).unwrap(),
            Namespace::TwoMemo => {
                let env = Envelope::parse(&p).unwrap();
                env.check(PY_JID, RUST_JID).unwrap();
                env.body().unwrap()
            }
        }))
    }
}

fn both() -> [Namespace; 2] {
    [Namespace::OldMemo, Namespace::TwoMemo]
}

#[test]
fn rust_starts_from_python_bundle_and_python_decrypts() {
    for ns in both() {
        let mut py = PyPeer::start();
        let mut rust = RustSide::new(1);
        py.learn(ns, &rust.device);
        rust.session = Some(
            Session::from_bundle(&mut rust.rng, &rust.device, PY_JID, &py.bundle(ns)).unwrap(),
        );
        let m1 = rust.send(ns, Some("hello python"));
        let m2 = rust.send(ns, Some("second, still a key exchange"));
        assert_eq!(
            py.decrypt(ns, &m1).unwrap(),
            (Some("hello python".into()), true),
            "{ns:?}"
        );
        assert_eq!(
            py.decrypt(ns, &m2).unwrap(),
            (Some("second, still a key exchange".into()), true)
        );
        let reply = py.encrypt(ns, &rust.device, Some("hello rust"));
        assert!(!reply.keys[0].key_exchange);
        assert_eq!(rust.receive(&reply).unwrap().as_deref(), Some("hello rust"));
        let m3 = rust.send(ns, Some("confirmed now"));
        assert!(!m3.keys[0].key_exchange);
        assert_eq!(
            py.decrypt(ns, &m3).unwrap(),
            (Some("confirmed now".into()), false)
        );
    }
}

#[test]
fn python_starts_and_rust_decrypts_the_prekey_message() {
    for ns in both() {
        let mut py = PyPeer::start();
        let mut rust = RustSide::new(2);
        py.learn(ns, &rust.device);
        let m1 = py.encrypt(ns, &rust.device, Some("from python"));
        let m2 = py.encrypt(ns, &rust.device, Some("again"));
        assert!(m1.keys[0].key_exchange);
        let before = rust.device.pre_key_ids().count();
        // Out of order: the second key-exchange message first.
        assert_eq!(
            rust.receive(&m2).unwrap().as_deref(),
            Some("again"),
            "{ns:?}"
        );
        assert_eq!(rust.device.pre_key_ids().count(), before - 1);
        assert_eq!(rust.receive(&m1).unwrap().as_deref(), Some("from python"));
        // Completing the session with an empty message, as ARCHITECTURE.md asks.
        let ack = rust.send(ns, None);
        assert_eq!(py.decrypt(ns, &ack).unwrap(), (None, false));
        let m3 = py.encrypt(ns, &rust.device, Some("confirmed"));
        assert!(!m3.keys[0].key_exchange);
        assert_eq!(rust.receive(&m3).unwrap().as_deref(), Some("confirmed"));
        assert!(matches!(rust.receive(&m3), Err(OmemoError::Duplicate(_))));
    }
}

/// Deterministic shuffle (the test must be reproducible).
fn shuffle<T>(items: &mut [T], seed: &mut u64) {
    for i in (1..items.len()).rev() {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (*seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

#[test]
fn long_alternating_conversation_with_out_of_order_delivery() {
    for (ns, rust_starts) in [
        (Namespace::OldMemo, true),
        (Namespace::TwoMemo, false),
        (Namespace::OldMemo, false),
        (Namespace::TwoMemo, true),
    ] {
        let mut py = PyPeer::start();
        let mut rust = RustSide::new(3);
        py.learn(ns, &rust.device);
        if rust_starts {
            rust.session = Some(
                Session::from_bundle(&mut rust.rng, &rust.device, PY_JID, &py.bundle(ns)).unwrap(),
            );
            let m = rust.send(ns, Some("start"));
            py.decrypt(ns, &m).unwrap();
        } else {
            let m = py.encrypt(ns, &rust.device, Some("start"));
            rust.receive(&m).unwrap();
        }
        let mut seed = 42u64;
        let mut delivered = 0;
        for turn in 0..30 {
            let burst = 1 + turn % 7;
            if turn % 2 == 0 {
                let mut msgs: Vec<_> = (0..burst)
                    .map(|i| {
                        (
                            format!("r{turn}.{i}"),
                            rust.send(ns, Some(&format!("r{turn}.{i}"))),
                        )
                    })
                    .collect();
                shuffle(&mut msgs, &mut seed);
                // Drop one message now and then; its key stays skipped on the python side.
                let keep = if turn % 5 == 4 {
                    msgs.len() - 1
                } else {
                    msgs.len()
                };
                for (text, m) in &msgs[..keep] {
                    assert_eq!(
                        py.decrypt(ns, m).unwrap().0.as_deref(),
                        Some(text.as_str()),
                        "{ns:?} turn {turn}"
                    );
                    delivered += 1;
                }
            } else {
                let mut msgs: Vec<_> = (0..burst)
                    .map(|i| {
                        (
                            format!("p{turn}.{i}"),
                            py.encrypt(ns, &rust.device, Some(&format!("p{turn}.{i}"))),
                        )
                    })
                    .collect();
                shuffle(&mut msgs, &mut seed);
                let keep = if turn % 5 == 3 {
                    msgs.len() - 1
                } else {
                    msgs.len()
                };
                for (text, m) in &msgs[..keep] {
                    assert_eq!(
                        rust.receive(m).unwrap().as_deref(),
                        Some(text.as_str()),
                        "{ns:?} turn {turn}"
                    );
                    delivered += 1;
                }
                // Session state survives the store between turns.
                let s = serde_json::to_string(rust.session.as_ref().unwrap()).unwrap();
                rust.session = Some(serde_json::from_str(&s).unwrap());
            }
        }
        assert!(delivered > 100);
    }
}

#[test]
fn xeddsa_signatures_verify_across_implementations() {
    let mut py = PyPeer::start();
    let mut rng = StdRng::seed_from_u64(4);
    for i in 0..8u8 {
        let msg = vec![i; 33];
        // python → Rust, with both Edwards sign bits.
        let out = py.call(json!({"cmd": "xeddsa_sign", "message": xml::base64_encode(&msg), "sign_bit": i % 2 == 1})).unwrap();
        let public: [u8; 32] = xml::base64_decode(out["public"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let sig = xml::base64_decode(out["signature"].as_str().unwrap()).unwrap();
        assert!(xeddsa_verify(&public, &msg, &sig));
        assert!(!xeddsa_verify(&public, &msg[1..], &sig));
        // Rust → python.
        let id = IdentityKeyPair::generate(&mut rng);
        let sig = id.sign_xeddsa(&msg, &[i; 64]);
        let req = json!({"cmd": "xeddsa_verify", "public": xml::base64_encode(&id.curve25519_public()),
            "message": xml::base64_encode(&msg), "signature": xml::base64_encode(&sig)});
        assert_eq!(py.call(req).unwrap(), json!(true));
        let mut bad = sig;
        bad[10] ^= 1;
        let req = json!({"cmd": "xeddsa_verify", "public": xml::base64_encode(&id.curve25519_public()),
            "message": xml::base64_encode(&msg), "signature": xml::base64_encode(&bad)});
        assert_eq!(py.call(req).unwrap(), json!(false));
    }
}

#[test]
fn python_key_transport_message_decrypts_to_a_key_without_payload() {
    for ns in both() {
        let mut py = PyPeer::start();
        let mut rust = RustSide::new(5);
        py.learn(ns, &rust.device);
        let m = py.encrypt(ns, &rust.device, None);
        assert!(m.payload.is_none());
        assert_eq!(rust.receive(&m).unwrap(), None);
    }
}

#[test]
fn device_lists_round_trip_through_python_omemo() {
    let mut py = PyPeer::start();
    let id = IdentityKeyPair::from_seed([5; 32]);
    for ns in both() {
        let own = if ns == Namespace::TwoMemo {
            DeviceListEntry::signed(1, "Laptop", &id)
        } else {
            DeviceListEntry {
                id: 1,
                label: None,
                label_signature: None,
            }
        };
        let list = DeviceList {
            namespace: ns,
            devices: vec![
                own,
                DeviceListEntry {
                    id: 0x7FFF_FFFF,
                    label: None,
                    label_signature: None,
                },
            ],
        };
        let xml = xml::element_to_string(&list.to_xml());
        let out = py.call(json!({"cmd": "device_list", "ns": tag(ns), "ed25519": xml::base64_encode(&id.ed25519_public()), "xml": xml})).unwrap();
        assert_eq!(
            out["devices"]["1"],
            json!(if ns == Namespace::TwoMemo {
                Some("Laptop")
            } else {
                None
            })
        );
        assert!(out["devices"].get("2147483647").is_some());
        let back = DeviceList::from_xml(
            ns,
            &xml::parse_element(out["xml"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let mut ids = back.ids();
        ids.sort();
        assert_eq!(ids, vec![1, 0x7FFF_FFFF]);
        let entry = back.devices.iter().find(|d| d.id == 1).unwrap();
        assert_eq!(entry.label, list.devices[0].label);
        if ns == Namespace::TwoMemo {
            assert_eq!(
                entry.verified_label(&IdentityKey::Ed25519(id.ed25519_public())),
                Some("Laptop")
            );
        }
    }
}
