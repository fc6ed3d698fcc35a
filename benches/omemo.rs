//! OMEMO engine benchmarks (criterion), plus a same-run comparison with
//! python-omemo (benches/python_omemo_bench.py) and with the bare cost of
//! the primitives. See benches/README.md for figures and how to run.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sotto::omemo::*;

const NOW: u64 = 1_700_000_000;
const BODY: &[u8] = b"Hello, this is a typical chat message of modest length.";

fn namespaces() -> [Namespace; 2] {
    [Namespace::OldMemo, Namespace::TwoMemo]
}

struct Fixture {
    rng: StdRng,
    alice: OwnDevice,
}

impl Fixture {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = OwnDevice::generate(&mut rng, &[], NOW);
        Self { rng, alice }
    }

    /// A confirmed session alice → a fresh device, and that device's side.
    fn pair(&mut self, ns: Namespace) -> (Session, OwnDevice, Session) {
        let bob = OwnDevice::generate(&mut self.rng, &[], NOW);
        let mut a = Session::from_bundle(
            &mut self.rng,
            &self.alice,
            "bob@example.org",
            &bob.bundle(ns),
        )
        .unwrap();
        let first = encrypt(
            &mut self.rng,
            ns,
            self.alice.device_id(),
            &mut [&mut a],
            None,
        )
        .unwrap();
        let mut b = decrypt(&mut self.rng, &bob, &first, "alice@example.org", None)
            .unwrap()
            .new_session
            .unwrap();
        let reply = encrypt(&mut self.rng, ns, bob.device_id(), &mut [&mut b], None).unwrap();
        decrypt(
            &mut self.rng,
            &self.alice,
            &reply,
            "bob@example.org",
            Some(&mut a),
        )
        .unwrap();
        (a, bob, b)
    }

    fn messages(&mut self, ns: Namespace, a: &mut Session, count: usize) -> Vec<EncryptedMessage> {
        (0..count)
            .map(|i| {
                let text = format!("message {i}");
                encrypt(
                    &mut self.rng,
                    ns,
                    self.alice.device_id(),
                    &mut [&mut *a],
                    Some(text.as_bytes()),
                )
                .unwrap()
            })
            .collect()
    }
}

fn shuffled<T>(mut v: Vec<T>) -> Vec<T> {
    let mut s = 7u64;
    for i in (1..v.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (s >> 33) as usize % (i + 1));
    }
    v
}

fn decrypt_all(
    rng: &mut StdRng,
    bob: &OwnDevice,
    session: &mut Session,
    msgs: &[EncryptedMessage],
) {
    for m in msgs {
        black_box(decrypt(rng, bob, m, "alice@example.org", Some(session)).unwrap());
    }
}

fn bench_encrypt(c: &mut Criterion) {
    for ns in namespaces() {
        let mut fx = Fixture::new(1);
        let mut sessions: Vec<Session> = (0..300).map(|_| fx.pair(ns).0).collect();
        let mut group = c.benchmark_group(format!("encrypt/{ns:?}"));
        for n in [1usize, 10, 100, 300] {
            group.bench_function(format!("{n}_devices"), |b| {
                b.iter(|| {
                    let mut refs: Vec<&mut Session> = sessions[..n].iter_mut().collect();
                    black_box(encrypt(&mut fx.rng, ns, 1, &mut refs, Some(BODY)).unwrap())
                })
            });
        }
        group.finish();
    }
}

fn bench_decrypt(c: &mut Criterion) {
    for ns in namespaces() {
        let mut fx = Fixture::new(2);
        let (mut a, bob, b_sess) = fx.pair(ns);
        let in_order = fx.messages(ns, &mut a, 10_000);
        let out_of_order = shuffled(fx.messages(ns, &mut a, 1_000));
        let mut group = c.benchmark_group(format!("decrypt/{ns:?}"));
        group.sample_size(10);
        // The out-of-order batch follows the in-order one on the same chain.
        let mut after_in_order = b_sess.clone();
        decrypt_all(&mut fx.rng, &bob, &mut after_in_order, &in_order);
        group.bench_function("10000_in_order", |b| {
            b.iter_batched(
                || b_sess.clone(),
                |mut s| decrypt_all(&mut fx.rng, &bob, &mut s, &in_order),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("1000_out_of_order", |b| {
            b.iter_batched(
                || after_in_order.clone(),
                |mut s| decrypt_all(&mut fx.rng, &bob, &mut s, &out_of_order),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn bench_x3dh(c: &mut Criterion) {
    for ns in namespaces() {
        let mut fx = Fixture::new(3);
        let bob = OwnDevice::generate(&mut fx.rng, &[], NOW);
        let bundle = bob.bundle(ns);
        let mut group = c.benchmark_group(format!("x3dh/{ns:?}"));
        group.bench_function("initiate", |b| {
            b.iter(|| {
                black_box(
                    Session::from_bundle(&mut fx.rng, &fx.alice, "bob@example.org", &bundle)
                        .unwrap(),
                )
            })
        });
        let mut a =
            Session::from_bundle(&mut fx.rng, &fx.alice, "bob@example.org", &bundle).unwrap();
        let kex = encrypt(
            &mut fx.rng,
            ns,
            fx.alice.device_id(),
            &mut [&mut a],
            Some(BODY),
        )
        .unwrap();
        group.bench_function("respond", |b| {
            b.iter(|| {
                black_box(decrypt(&mut fx.rng, &bob, &kex, "alice@example.org", None).unwrap())
            })
        });
        group.finish();
    }
}

/// The primitives one ratchet message costs (0.3 shape, the heavier MAC input
/// aside): chain step (2 HMAC), message keys (HKDF-80), AES-256-CBC of the
/// 32-byte key material, HMAC over AD ‖ message — composed directly on the
/// crates with no protocol code, as the floor for "within 3x".
mod floor {
    use aes::Aes256;
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
    use hkdf::Hkdf;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    fn hmac(key: &[u8], data: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        for d in data {
            m.update(d);
        }
        m.finalize().into_bytes().into()
    }

    pub fn ratchet_message(ck: &mut [u8; 32], plaintext: &[u8], ad: &[u8]) -> Vec<u8> {
        let mk = hmac(ck, &[&[1]]);
        *ck = hmac(ck, &[&[2]]);
        let mut keys = [0u8; 80];
        Hkdf::<Sha256>::new(Some(&[0u8; 32]), &mk)
            .expand(b"WhisperMessageKeys", &mut keys)
            .unwrap();
        let key: [u8; 32] = keys[..32].try_into().unwrap();
        let iv: [u8; 16] = keys[64..].try_into().unwrap();
        let mut ct = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(plaintext);
        let mac = hmac(&keys[32..64], &[ad, &ct]);
        ct.extend_from_slice(&mac[..8]);
        ct
    }

    /// X3DH initiator floor: signature check, four DH, HKDF, plus the first
    /// ratchet DH and root KDF.
    pub fn x3dh(
        ik: &[u8; 32],
        spk: &[u8; 32],
        opk: &[u8; 32],
        vk: &ed25519_dalek::VerifyingKey,
        sig: &ed25519_dalek::Signature,
    ) -> [u8; 32] {
        vk.verify_strict(spk, sig).unwrap();
        let mut input = vec![0xFFu8; 32];
        let e = [7u8; 32];
        for k in [spk, ik, spk, opk] {
            input.extend_from_slice(&x25519_dalek::x25519(e, *k));
        }
        let mut sk = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&[0u8; 32]), &input)
            .expand(b"OMEMO X3DH", &mut sk)
            .unwrap();
        let r = x25519_dalek::x25519([9u8; 32], *spk);
        let mut out = [0u8; 64];
        Hkdf::<Sha256>::new(Some(&sk), &r)
            .expand(b"OMEMO Root Chain", &mut out)
            .unwrap();
        out[..32].try_into().unwrap()
    }
}

fn bench_floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitives");
    let mut ck = [3u8; 32];
    let ad = [5u8; 66];
    group.bench_function("ratchet_message", |b| {
        b.iter(|| black_box(floor::ratchet_message(&mut ck, &[1u8; 32], &ad)))
    });
    let id = IdentityKeyPair::from_seed([4; 32]);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&id.ed25519_public()).unwrap();
    let spk_pub = x25519_dalek::x25519([8u8; 32], x25519_dalek::X25519_BASEPOINT_BYTES);
    let sig = ed25519_dalek::Signature::from_bytes(&id.sign_ed25519(&spk_pub));
    group.bench_function("x3dh_initiate", |b| {
        b.iter(|| black_box(floor::x3dh(&spk_pub, &spk_pub, &spk_pub, &vk, &sig)))
    });
    group.finish();
}

/// Median wall time of `f` over `runs` runs (after one warm-up run): the
/// machine is shared, so the median resists other processes' bursts.
fn time<F: FnMut()>(runs: u32, mut f: F) -> f64 {
    f();
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SOTTO_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python");
    p.exists().then_some(p)
}

/// Times the same workloads as benches/python_omemo_bench.py with a plain
/// clock and prints Sotto / python / ratio, so the comparison comes from one run.
fn python_comparison() {
    let Some(py) = python() else {
        eprintln!("python comparison skipped: run scripts/python-venv.sh first");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/python_omemo_bench.py");
    let out = Command::new(py)
        .arg(script)
        .output()
        .expect("run python_omemo_bench.py");
    let py: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python bench output");
    println!(
        "\n{:<10} {:<28} {:>12} {:>12} {:>9}",
        "namespace", "workload", "sotto", "python", "ratio"
    );
    let mut x3dh = Vec::new();
    for ns in namespaces() {
        let mut fx = Fixture::new(9);
        let mut rows: Vec<(String, f64)> = Vec::new();
        let mut sessions: Vec<Session> = (0..300).map(|_| fx.pair(ns).0).collect();
        for n in [1usize, 10, 100, 300] {
            let t = time(51, || {
                let mut refs: Vec<&mut Session> = sessions[..n].iter_mut().collect();
                black_box(encrypt(&mut fx.rng, ns, 1, &mut refs, Some(BODY)).unwrap());
            });
            rows.push((format!("encrypt_{n}"), t));
        }
        let (mut a, bob, b_sess) = fx.pair(ns);
        let in_order = fx.messages(ns, &mut a, 10_000);
        let out_of_order = shuffled(fx.messages(ns, &mut a, 1_000));
        let mut after = b_sess.clone();
        decrypt_all(&mut fx.rng, &bob, &mut after, &in_order);
        let t = time(5, || {
            decrypt_all(&mut fx.rng, &bob, &mut b_sess.clone(), &in_order)
        });
        rows.push(("decrypt_in_order_10000".into(), t));
        let t = time(9, || {
            decrypt_all(&mut fx.rng, &bob, &mut after.clone(), &out_of_order)
        });
        rows.push(("decrypt_out_of_order_1000".into(), t));
        let bundle = bob.bundle(ns);
        let t = time(200, || {
            black_box(
                Session::from_bundle(&mut fx.rng, &fx.alice, "bob@example.org", &bundle).unwrap(),
            );
        });
        rows.push(("x3dh_initiate".into(), t));
        x3dh.push((ns, t, py[format!("{ns:?}")]["x3dh_initiate"].as_f64()));
        for (name, t) in rows {
            let p = py[format!("{ns:?}")][&name].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:<10} {:<28} {:>10.1}µs {:>10.1}µs {:>8.0}x",
                format!("{ns:?}"),
                name,
                t * 1e6,
                p * 1e6,
                p / t
            );
        }
    }
    x3dh_floor(&x3dh, &py);
}

/// Issue 3 asks X3DH to be 20x faster than python-omemo's. X3DH cannot
/// do with less than five variable-base X25519 multiplications (four DH
/// and the first ratchet step) and one signature check; this prints that
/// least cost with each library measured here, beside the target.
fn x3dh_floor(x3dh: &[(Namespace, f64, Option<f64>)], py: &serde_json::Value) {
    const BATCH: u32 = 100;
    let id = IdentityKeyPair::from_seed([4; 32]);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&id.ed25519_public()).unwrap();
    let point = x25519_dalek::x25519([8u8; 32], x25519_dalek::X25519_BASEPOINT_BYTES);
    let sig = ed25519_dalek::Signature::from_bytes(&id.sign_ed25519(&point));
    let dh = time(21, || {
        for _ in 0..BATCH {
            black_box(x25519_dalek::x25519(black_box([7u8; 32]), point));
        }
    }) / f64::from(BATCH);
    let verify = time(21, || {
        for _ in 0..BATCH {
            black_box(vk.verify_strict(black_box(&point), &sig).is_ok());
        }
    }) / f64::from(BATCH);
    let prim = |k: &str| py["primitives"][k].as_f64().unwrap_or(f64::NAN);
    let least = [
        ("dalek (Sotto)", dh, verify),
        ("OpenSSL", prim("x25519_openssl"), prim("ed25519_verify")),
        (
            "libxeddsa",
            prim("x25519_libxeddsa"),
            prim("ed25519_verify"),
        ),
    ];
    println!("\nX3DH against the 20x target (same run):");
    for (ns, sotto, python) in x3dh {
        let python = python.unwrap_or(f64::NAN);
        println!(
            "{:<10} python-omemo {:>8.1}µs  target (/20) {:>7.1}µs  Sotto {:>7.1}µs ({:.1}x)",
            format!("{ns:?}"),
            python * 1e6,
            python / 20.0 * 1e6,
            sotto * 1e6,
            python / sotto
        );
    }
    for (lib, dh, verify) in least {
        println!(
            "least X3DH with {:<14} 5 x X25519 {:>5.1}µs + verify {:>5.1}µs = {:>6.1}µs",
            lib,
            dh * 1e6,
            verify * 1e6,
            (5.0 * dh + verify) * 1e6
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    bench_floor(&mut c);
    bench_encrypt(&mut c);
    bench_decrypt(&mut c);
    bench_x3dh(&mut c);
    c.final_summary();
    if std::env::var_os("SOTTO_BENCH_NO_PYTHON").is_none() {
        python_comparison();
    }
}
