//! Known-answer vectors, Wycheproof style: answers from implementations
//! independent of the Rust crates (OpenSSL via python `cryptography`, and
//! libxeddsa via python `xeddsa`, which python-omemo signs with), generated
//! by tests/interop/gen_vectors.py, plus the edge cases Wycheproof checks
//! that matter to OMEMO (low-order X25519 points, malleable Ed25519
//! signatures, tag and IV tampering, the legacy 16-byte GCM IV).

use aes::Aes128;
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::{AeadInOut, AesGcm, KeyInit, Nonce, Tag};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sotto::omemo::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

/// (key, iv, plaintext, ciphertext, tag) from OpenSSL.
const AES_128_GCM: &[(&str, &str, &str, &str, &str)] = &[
    (
        "a5d498a40b7ab343c80b68276f9ed0b9",
        "40a769497add59f7625eca78",
        "",
        "",
        "ea97b5325d1ff70518602afb4451caba",
    ),
    (
        "77116847d33b31f3d07615d583b8813d",
        "3d15c0be8ccfac95920978b3",
        "bbe9518fd93d86971ab0d93272c9bd55",
        "7d41f9488401434f334f14f3ab003e25",
        "93a8f0fe08d5ce91768fb52ff9f21e2e",
    ),
    (
        "60338b5f72b565a2174b7bdb227dd29d",
        "dff753717083c6f630b442c0",
        "d9875cc17df959de0cd816e013c1cfc1211a785ffbde18e227936b42dafbfb61ce4c14b681c1118cced1c8084fff429fe1cba01b18d3f276f65886b573",
        "d85c7f149f6f011237cff1155fbbb4360e88a25533fa39f696320fcbd8296012c6df682f876858cd89b515a8d6ac9f724214ddc79813dfb0db978e2184",
        "ee852419ce412c39d2bb217bd293b78d",
    ),
    (
        "179f8583119af1c30f445986006af7da",
        "0edb4198a3997a1ac73080b2272a2fc7",
        "6d0282f22be878282219021382d35f8fbe5e8a59cfef97f5bee0add95070f21a",
        "765e780e4e71a557865ae43a3378352dd76f29261f7399f387279642039a8c09",
        "e84d55dec14609bbca31bfe113d5e833",
    ),
    (
        "5a183d5a598854ce04a6ced042e2cc76",
        "710fc8c3257d97c712e9cd36d280dd25",
        "a8d5c5528a",
        "a5106f4ce0",
        "3c63ee64aee0b5cb051ab343ecdae501",
    ),
    (
        "c1c8bea7fc5031cc65367ca58f434507",
        "4f56dec43cc27095ea4cb2da",
        "15ea26f90f0decb268a3d0b12694abd12b58cae41775223e31f3e6b9d4b21dd015f91cad22634d796050196ec9e2d45440745669e364a7617916310a6cf58d86c758509dbd9e9eb453567a8285b82de09a081e696cdfbd59df907968971158cfba0343a117e3d61976afa64b57dc2bb217a3dc5302eb1f1f8fff1b75ceba77adc6bb199b1a7e4e008e089503c6b968a14c36b61e0fdc13fdf7b6189280e0bff288fd92a4f8a30c4c1fdda12a83f2b879d827666bffd7e4adb2bc4076cee58ae839a6a9aeb7e964efe7c5c05341e056b300c6cf3466805f77c6f2c95f06598cc51bd8f20a499a69f55ed687b856cf2e313d1f4c14e90d0f8aa1c3ed9e9e2d40b2912e20a0a2193882eeb523cf8e1f6ffad7f23e660ce9146fe88ce428e4a2f6a3b3e665b9cbb574bcd680c521",
        "675fadcd7e608c8c9365550449778040bc8a0dae74335f0641a4e9b16ace7a9bde625d80e38328800082910fd13321edaf3cec756ad05a9d577e85f4b482aff1614c2298f284c4b30b2d888f64ae53f7fbd321219b28316bdc1cc666c3ff1df5270e86bd7952ef3cc0851d6c53651e692fbdd85ef4d689594da615bd4a57d29a1a35be711254b644660d8819d26684d65acc74972a7e215d2dc71902e8ed29b34258aff0a431f8a1c522bd6c130b733b0107e47dede1074ffd760eed3e6441b3e0f566e9b2e7aad907b71654fafbf3ee7a9732cbe6eef61f10481eb406ca961a46e102c3ed575ea42654cbcee7ff0027a3b3f705cece8faf0f2e8c3d1310569678b6c626a9a36080666bb1a5bb647860aa6a2053fdeda9ca578d0f312e86fde49fae0c58266608074acc526c",
        "2630b83e7373f8133a6687f32205e6e9",
    ),
];

/// (private, peer public, shared) from OpenSSL.
const X25519: &[(&str, &str, &str)] = &[
    (
        "77468fe897a07551e9912273445f0ce3ac8e441fe5988ce9782e8d9f40937919",
        "6dedb29af914de6f8efb8b75fe929eae3ae6f00ea82375b80f4bf9144deab344",
        "4fdf4f16dc3b987b4420036b2d8582b215e659649f9e54fa29dcc9dd8acba46d",
    ),
    (
        "69e56010887c76033b5e958a0d5caa29995d76a6dbd8d237e56edad7f234cca7",
        "6dcdb43206f87a79ddfacd95e181d5b2f20bcc36ded960dd8a27c6dd2f69af64",
        "deb3193eeb991f19980b6b2772e8975fa03f7fe5b8dc1de6dca36327a553797e",
    ),
    (
        "98578a801b6a81a9210ecaff7ba06a2688e213352f65a8ed80e4e258156d5abf",
        "7c4ef09624ba43eac284cbc67f6d96b793f9b4448971f805b968ff3369fe8d18",
        "db845e312aea003a75a25bd278a6535777d60f92034ecdbbd588aecbb7fdb061",
    ),
    (
        "80a8b0526a1e16fff044321acbb88c6b7b677eb82c6543a928b925c750e91a72",
        "70fca6403954acba414f393cd364a11993a7379e464dbf1f62d3602d4d24b925",
        "1d1d0d7b445444dbe99ebeda7b08bdf82fd3a6e734f9960c11467a082cb8850b",
    ),
];

/// (seed, public, message, signature) from OpenSSL.
const ED25519: &[(&str, &str, &str, &str)] = &[
    (
        "8bfcd88d97e016d35368ed2459b43383b9cb448a4e8de45e03bc483fc52f9494",
        "178592ada9ac717145346fbe4372b9a9163980f00773e650390bb069f11b92a3",
        "",
        "3edf1ff19ee6168530c0bc3ef73d66de9cfc9e282ecedc5f2777cf3195e33ce1367976b546aef5a16fb3fdde105de5ad93b52f04f99b3f7eccf21e96d5c76c00",
    ),
    (
        "1af522226d440cc4a4700bc1d5987242a673e99b506e232c43462a90214b9ba8",
        "0396962c461c60d297120ed419650d04b6a7cc2f5b6fe4b68ac7b0df9ea05c36",
        "2d",
        "9d48cb42f1ca961826f267f8402599dc457b1116b55ecf7611a0db4c22ef1ef5b12e93ba678dec95f741994ceef465ee2d13f1ed9a05137062384fd98f0b6704",
    ),
    (
        "af07115b8348b8f7674dac48bf6f36828f5243b42f889cc76de6481e284e2491",
        "93ce08d3ba33fc88eb3e3c7dda7e8a0532e33cc3bb4c971fbba753e06493364b",
        "93002142d26f5740eedc28195f3b47e61770307dfd282de3b9eef46bd7b5e076",
        "76db27ecf84d6172c42fcb888ec0f86c66a94a3a2942479a249859a73f37dbcab82661a8633b58b61639de9fd44e62b295e349dc8074eec85fa294dc4aa7cc08",
    ),
    (
        "556d30deb12925d9a3972b8f065e9c234d4c6cfd702e92de65f66e79030dc906",
        "1396056da3a5f95d50f54672fa642fe824ae64509b7cacabc0cce28ed028c9ac",
        "3be445df1b1968e6716083c0d4d58176d8da1d7ed82f16932183434f2402ed4c5e6e3a0ca6382ae560b64165da30c22cf5980e99e332811bdfbc4c743c8d6389d701b598dd0b9428e5a910d78246bafa07bf8f3761fcdccb2eff0e0477c0c665833f58d2c8ee83f617b14ce9a5d7a2a368587c88f94a83f3a924c512126e6851b5d638036652a24978d2345cd18cd8a7a7ca51d1ae00989d5a58b1047ab55ee2f38ff8dbf54c3eba4868bfd6667f3b3892b70019159efe05944600a6d477d69f437b2b883de892fa",
        "06d5a85bdbd81f25b79982fc36b283d9fb668c0d3e69922156af3be4455a027ff3a84167d5881e8e5500c60ab5109458349344641ae6dc86d7a3a4278f41d70a",
    ),
];

/// (seed, Curve25519 public, message, nonce, signature) from libxeddsa, signed
/// the way oldmemo signs signed pre-keys (sign bit moved into byte 63).
const XEDDSA: &[(&str, &str, &str, &str, &str)] = &[
    (
        "9c9a04810bbd7a87f8479984d356bcc95a46ca848787f592d13d0d519f107ec3",
        "a111dd66ae7e57f38351b010745e25322f9f97e9ee8c09573034b627f1c87475",
        "1c98f676e0397d8d5724cc4d2e7f664beaf20744a186b766bd591273a4aa517663",
        "5299102a5144abbc319c1383095176bc42babd62adf943f435376b88a904b328619dde9066bec1bba1ea9cb3deb534d585c9e7d06885370e94a4adc0752f858e",
        "9b3d13d03d9bbae03aac9c8df456f0a48ba38ff0280e310fa846f3bdc82c98750f592226d61d29daae47e831d34db1a4482249748564c0f7f3fb03a3c3dcc088",
    ),
    (
        "aa2aeac2b5452b62fcbd0c35f1e24edfd2b855c680609de5177cb5dede49870d",
        "b7e0d11dc5a6c068d963d454cfb6c97afff1cb8e82772812d612f6bfb9948d32",
        "bfd23c398705d5a40eb22339a9ba81eb766118381d42f51d6de142f8c0002202dc",
        "0f5267a65340ee2ea750156500b5e0429ef8ac9752ee39bf829532b08f61f9095e771dc0a25deaa69a577850f95803d8f0349c3e8a8057686b6918bcbb9d5892",
        "14682a2acc42903c818bf1f4a58563d31a07758215abf8f1c43175802459c7ce76eeba72c1e8cb4905c687546152b3735ba2c5ce79d26133991eb94f3e59740c",
    ),
    (
        "7adfe95d5e22aeaec1101e32a97b1344289021c2cd9c8559f7e84d2b545f0aca",
        "f6371fc597de2c930ab66eaf57ee231bcc31a7ce17340211d8a22b62b81a3d31",
        "5719c929423ddfd9465c0d66c065d97fbb3f06e3d0290ddf2e481918f3d7a943a8",
        "64aec67c1ff6492a8c84bd2cd2cc70905559231d437f31c452f0ff5c781b87024c53754ab5d96987d81f266126d0a84eeb44e75f88decf53d35f51a5eefe840a",
        "112c9b3d3ee6aba28da95394f91f18461380785697b3b30d0142a72ae3dd34cc1afc206ea73d1cada94fc1d59e695360cc6bb7851f85d546eccbfa5938ce7a85",
    ),
    (
        "f1508a3525f67b5c20d642b37a1df1c1078e077ead6bd353f614aeb46d10d7c2",
        "546dec745d17f1ec84944adbfea74e3379bf244188491616e6eaf8c01df6fb33",
        "ddef072a04c77cdbc571164bdb6b4431654d24c49cf739cfb9245f87ff93930e6a",
        "d460ea64d6a41fc5d7622b6c8cc9d2896939c6db30be25e8da361eae954c05ab0eeec8b275d0c42c1b74d081d57394aa8a91d3ac6b1a399c6ef1bf548586a48c",
        "d0cf14dc72fa179864e5909b555cfac827c7db744d28d36964326f40a9c14cebb4f4d1634872740d57a27f09893e1430746ad3bcfa0e2479f5a29f910a570509",
    ),
];

fn gcm_decrypt(key: &[u8], iv: &[u8], ct: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    let mut buf = ct.to_vec();
    let tag = Tag::<U16>::try_from(tag).ok()?;
    let ok = if iv.len() == 12 {
        AesGcm::<Aes128, U12>::new_from_slice(key)
            .ok()?
            .decrypt_inout_detached(
                &Nonce::<U12>::try_from(iv).ok()?,
                b"",
                buf.as_mut_slice().into(),
                &tag,
            )
            .is_ok()
    } else {
        AesGcm::<Aes128, U16>::new_from_slice(key)
            .ok()?
            .decrypt_inout_detached(
                &Nonce::<U16>::try_from(iv).ok()?,
                b"",
                buf.as_mut_slice().into(),
                &tag,
            )
            .is_ok()
    };
    ok.then_some(buf)
}

#[test]
fn aes_128_gcm_matches_openssl_including_16_byte_ivs() {
    for (key, iv, pt, ct, tag) in AES_128_GCM {
        let (key, iv, pt, ct, tag) = (h(key), h(iv), h(pt), h(ct), h(tag));
        assert_eq!(gcm_decrypt(&key, &iv, &ct, &tag), Some(pt.clone()));
        let mut bad_tag = tag.clone();
        bad_tag[15] ^= 0x80;
        assert_eq!(gcm_decrypt(&key, &iv, &ct, &bad_tag), None);
        let mut bad_iv = iv.clone();
        bad_iv[0] ^= 1;
        assert_eq!(gcm_decrypt(&key, &bad_iv, &ct, &tag), None);
        if !ct.is_empty() {
            let mut bad_ct = ct.clone();
            bad_ct[ct.len() / 2] ^= 4;
            assert_eq!(gcm_decrypt(&key, &iv, &bad_ct, &tag), None);
        }
    }
}

#[test]
fn omemo_0_3_payload_opens_openssl_ciphertexts_with_both_iv_lengths() {
    for (key, iv, pt, ct, tag) in AES_128_GCM.iter().filter(|v| !v.2.is_empty()) {
        let mut km = h(key);
        km.extend(h(tag));
        let msg = EncryptedMessage {
            namespace: Namespace::OldMemo,
            sender_device_id: 1,
            keys: vec![],
            iv: h(iv),
            payload: Some(h(ct)),
        };
        assert_eq!(
            msg.open_payload(&KeyMaterial::from_bytes(km.clone()))
                .unwrap(),
            Some(h(pt))
        );
        // Early clients: 16-byte key in the ratchet, tag appended to the payload.
        let mut legacy = msg.clone();
        legacy.payload.as_mut().unwrap().extend(h(tag));
        assert_eq!(
            legacy
                .open_payload(&KeyMaterial::from_bytes(h(key)))
                .unwrap(),
            Some(h(pt))
        );
        let mut bad = msg.clone();
        bad.iv.push(0);
        assert!(bad.open_payload(&KeyMaterial::from_bytes(km)).is_err());
    }
}

#[test]
fn x25519_matches_openssl() {
    for (private, public, shared) in X25519 {
        assert_eq!(x25519_dalek::x25519(h32(private), h32(public)), h32(shared));
    }
    // RFC 7748 §5.2, first vector.
    assert_eq!(
        x25519_dalek::x25519(
            h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
            h32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
        ),
        h32("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    );
}

/// Wycheproof's low-order and non-canonical u-coordinates: the shared secret
/// is all zero, which the engine must refuse rather than build a session on.
const LOW_ORDER_U: &[&str] = &[
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

#[test]
fn sessions_refuse_low_order_signed_pre_keys() {
    let mut rng = StdRng::seed_from_u64(1);
    let alice = OwnDevice::generate(&mut rng, &[], 0);
    let bob = IdentityKeyPair::generate(&mut rng);
    let honest = OwnDevice::generate(&mut rng, &[], 0);
    for u in LOW_ORDER_U {
        let spk = h32(u);
        assert_eq!(
            x25519_dalek::x25519(h32(X25519[0].0), spk),
            [0u8; 32],
            "{u}"
        );
        for ns in [Namespace::OldMemo, Namespace::TwoMemo] {
            let mut prefixed = vec![5u8];
            prefixed.extend(spk);
            let bundle = Bundle {
                namespace: ns,
                device_id: 7,
                identity_key: match ns {
                    Namespace::OldMemo => IdentityKey::Curve25519(bob.curve25519_public()),
                    Namespace::TwoMemo => IdentityKey::Ed25519(bob.ed25519_public()),
                },
                signed_pre_key_id: 1,
                signed_pre_key: spk,
                signed_pre_key_signature: match ns {
                    Namespace::OldMemo => bob.sign_xeddsa(&prefixed, &[9; 64]).to_vec(),
                    Namespace::TwoMemo => bob.sign_ed25519(&spk).to_vec(),
                },
                pre_keys: honest.bundle(ns).pre_keys,
            };
            let err =
                Session::from_bundle(&mut rng, &alice, "bob@example.org", &bundle).unwrap_err();
            assert!(matches!(err, OmemoError::InvalidKey(_)), "{u}: {err}");
        }
    }
}

#[test]
fn ed25519_matches_openssl_and_refuses_malleated_signatures() {
    // L, the group order, little-endian.
    let l = h("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    for (seed, public, msg, sig) in ED25519 {
        let id = IdentityKeyPair::from_seed(h32(seed));
        assert_eq!(id.ed25519_public(), h32(public));
        assert_eq!(id.sign_ed25519(&h(msg)).to_vec(), h(sig));
        assert!(ed25519_verify(&h32(public), &h(msg), &h(sig)));
        // s + L verifies in a lax implementation; Wycheproof requires rejection.
        let mut sig_bytes = h(sig);
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(sig_bytes[32 + i]) + u16::from(l[i]) + carry;
            sig_bytes[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert!(!ed25519_verify(&h32(public), &h(msg), &sig_bytes));
        assert!(!ed25519_verify(&h32(public), &h(msg), &h(sig)[..63]));
    }
    // RFC 8032 §7.1, test 1.
    let id = IdentityKeyPair::from_seed(h32(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    ));
    assert_eq!(
        id.ed25519_public(),
        h32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    assert_eq!(
        hex::encode(id.sign_ed25519(b"")),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
}

#[test]
fn xeddsa_matches_libxeddsa_byte_for_byte() {
    for (seed, curve, msg, nonce, sig) in XEDDSA {
        let id = IdentityKeyPair::from_seed(h32(seed));
        assert_eq!(id.curve25519_public(), h32(curve));
        let nonce: [u8; 64] = h(nonce).try_into().unwrap();
        assert_eq!(hex::encode(id.sign_xeddsa(&h(msg), &nonce)), *sig);
        assert!(xeddsa_verify(&h32(curve), &h(msg), &h(sig)));
        let mut other = h(msg);
        other[0] ^= 1;
        assert!(!xeddsa_verify(&h32(curve), &other, &h(sig)));
    }
}
