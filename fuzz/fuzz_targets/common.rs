// Shared fixtures: one device pair with confirmed sessions in both
// namespaces, built once per process so each input costs only the parse
// and decrypt under test.
use std::sync::OnceLock;

use rand::SeedableRng;
use rand::rngs::StdRng;
use sotto::omemo::*;

pub struct Fixture {
    pub bob: OwnDevice,
    pub sessions: Vec<(Namespace, Session)>,
    pub alice_device: u32,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(1);
        let alice = OwnDevice::generate(&mut rng, &[], 0);
        let bob = OwnDevice::generate(&mut rng, &[], 0);
        let mut sessions = Vec::new();
        for ns in [Namespace::OldMemo, Namespace::TwoMemo] {
            let mut a =
                Session::from_bundle(&mut rng, &alice, "bob@example.org", &bob.bundle(ns)).unwrap();
            let m = encrypt(&mut rng, ns, alice.device_id(), &mut [&mut a], None).unwrap();
            let b = decrypt(&mut rng, &bob, &m, "alice@example.org", None)
                .unwrap()
                .new_session
                .unwrap();
            sessions.push((ns, b));
        }
        Fixture {
            bob,
            sessions,
            alice_device: alice.device_id(),
        }
    })
}

/// Runs `data` as the key element addressed to Bob through the full decrypt path.
pub fn decrypt_as_bob(ns: Namespace, key_exchange: bool, data: &[u8], payload: Option<Vec<u8>>) {
    let f = fixture();
    let mut rng = StdRng::seed_from_u64(2);
    let mut session = f
        .sessions
        .iter()
        .find(|(n, _)| *n == ns)
        .map(|(_, s)| s.clone());
    let msg = EncryptedMessage {
        namespace: ns,
        sender_device_id: f.alice_device,
        keys: vec![EncryptedKey {
            jid: "bob@example.org".into(),
            device_id: f.bob.device_id(),
            key_exchange,
            data: data.to_vec(),
        }],
        iv: vec![0; 12],
        payload,
    };
    let _ = decrypt(
        &mut rng,
        &f.bob,
        &msg,
        "alice@example.org",
        session.as_mut(),
    );
}
