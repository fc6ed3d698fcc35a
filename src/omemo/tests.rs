//! Unit tests of the engine's internals; scenario tests live in tests/omemo_*.rs.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::keys::xeddsa_sign;
use super::*;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[test]
fn xeddsa_signature_verifies_with_either_sign_bit() {
    let mut r = rng(1);
    // Enough identities to hit both Edwards sign bits.
    let mut seen = [false; 2];
    for _ in 0..16 {
        let id = IdentityKeyPair::generate(&mut r);
        let sig = id.sign_xeddsa(b"message", &[7u8; 64]);
        seen[usize::from(id.ed25519_public()[31] >> 7)] = true;
        assert_eq!(sig[63] & 0x80, id.ed25519_public()[31] & 0x80);
        assert!(xeddsa_verify(&id.curve25519_public(), b"message", &sig));
        assert!(!xeddsa_verify(&id.curve25519_public(), b"messagf", &sig));
        let mut flipped = sig;
        flipped[63] ^= 0x80;
        assert!(!xeddsa_verify(
            &id.curve25519_public(),
            b"message",
            &flipped
        ));
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn xeddsa_nonce_depends_on_random_input() {
    let id = IdentityKeyPair::from_seed([3; 32]);
    let k = id.x25519_private();
    assert_ne!(
        xeddsa_sign(&k, b"m", &[0; 64]),
        xeddsa_sign(&k, b"m", &[1; 64])
    );
}

#[test]
fn curve_and_edwards_identity_forms_are_one_key() {
    let id = IdentityKeyPair::from_seed([9; 32]);
    let ed = IdentityKey::Ed25519(id.ed25519_public());
    assert_eq!(ed.curve25519(), Some(id.curve25519_public()));
}

#[test]
fn base64_round_trips_and_rejects_garbage() {
    for len in 0..40 {
        let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        let text = xml::base64_encode(&data);
        assert_eq!(xml::base64_decode(&text).unwrap(), data);
    }
    assert_eq!(xml::base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(xml::base64_encode(b"fo"), "Zm8=");
    assert_eq!(xml::base64_decode(" Zm9v\nYmE= ").unwrap(), b"fooba");
    assert!(xml::base64_decode("Zm9v*").is_err());
    assert!(xml::base64_decode("Z===").is_err());
    assert!(xml::base64_decode("Zm=9").is_err());
}

#[test]
fn device_ids_are_31_bit_nonzero_and_avoid_taken() {
    let mut r = rng(2);
    for _ in 0..1000 {
        let id = generate_device_id(&mut r, &[]);
        assert!(id != 0 && id <= 0x7FFF_FFFF);
    }
    let mut r1 = rng(5);
    let first = generate_device_id(&mut r1, &[]);
    let mut r2 = rng(5);
    assert_ne!(generate_device_id(&mut r2, &[first]), first);
}

#[test]
fn sce_timestamp_is_xep_0082() {
    assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_timestamp(1_075_007_100), "2004-01-25T05:05:00Z");
    assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn signed_pre_key_rotates_weekly_and_old_key_expires_after_grace() {
    let mut r = rng(3);
    let t0 = 1_000_000;
    let mut dev = OwnDevice::generate(&mut r, &[], t0);
    assert!(!dev.rotate_signed_pre_key_if_due(&mut r, t0 + 3600));
    assert!(dev.rotate_signed_pre_key_if_due(&mut r, t0 + SIGNED_PRE_KEY_ROTATION_SECS));
    assert_eq!(dev.signed_pre_key().id, 2);
    assert!(dev.signed_pre_key_by_id(1).is_some());
    let t1 = t0 + SIGNED_PRE_KEY_ROTATION_SECS;
    dev.rotate_signed_pre_key_if_due(&mut r, t1 + SIGNED_PRE_KEY_GRACE_SECS + 1);
    assert!(dev.signed_pre_key_by_id(1).is_none());
}

#[test]
fn pre_keys_replenish_with_fresh_ids() {
    let mut r = rng(4);
    let mut dev = OwnDevice::generate(&mut r, &[], 0);
    assert_eq!(dev.pre_key_ids().count(), PRE_KEY_COUNT);
    assert!(dev.remove_pre_key(1));
    assert!(!dev.remove_pre_key(1));
    assert_eq!(dev.replenish_pre_keys(&mut r), 1);
    assert!(!dev.pre_key_ids().any(|i| i == 1));
    assert!(dev.pre_key_ids().any(|i| i == 101));
}

#[test]
fn fingerprints_have_the_documented_shapes() {
    let id = IdentityKeyPair::from_seed([1; 32]);
    let curve = IdentityKey::Curve25519(id.curve25519_public());
    let ed = IdentityKey::Ed25519(id.ed25519_public());
    let qr = fingerprint::qr(&curve).unwrap();
    assert_eq!(qr.len(), 64);
    assert_eq!(fingerprint::qr(&ed).unwrap(), qr);
    let shown = fingerprint::display_0_3(&curve).unwrap();
    assert_eq!(shown.split(' ').count(), 8);
    assert_eq!(shown.replace(' ', ""), qr);
    assert_eq!(
        fingerprint::display_2(&ed).unwrap().replace(' ', ""),
        hex::encode(id.ed25519_public())
    );
}
