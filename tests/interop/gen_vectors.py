#!/usr/bin/env python3
"""Generates the known-answer vectors embedded in tests/omemo_vectors.rs.

The answers come from implementations independent of Sotto's Rust crates:
OpenSSL (through `cryptography`) for AES-GCM, X25519 and Ed25519, and
libxeddsa (through `xeddsa`, the library python-omemo signs with) for
XEdDSA. Run with the interop venv; paste the output into the Rust file.
Inputs are fixed so the output is reproducible, except where a library
only offers randomised operations (none here).
"""

import hashlib

import xeddsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives import serialization


def det(label: str, n: int) -> bytes:
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


def raw_pub(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def main() -> None:
    print("// AES-128-GCM: (key, iv, plaintext, ciphertext, tag); 16-byte IVs are OMEMO 0.3's legacy IVs.")
    for i, (iv_len, pt_len) in enumerate([(12, 0), (12, 16), (12, 61), (16, 32), (16, 5), (12, 300)]):
        key, iv, pt = det(f"gcm-key{i}", 16), det(f"gcm-iv{i}", iv_len), det(f"gcm-pt{i}", pt_len)
        enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        ct = enc.update(pt) + enc.finalize()
        print(f'("{key.hex()}", "{iv.hex()}", "{pt.hex()}", "{ct.hex()}", "{enc.tag.hex()}"),')

    print("// X25519: (private, peer public, shared)")
    for i in range(4):
        a = X25519PrivateKey.from_private_bytes(det(f"x-a{i}", 32))
        b = X25519PrivateKey.from_private_bytes(det(f"x-b{i}", 32))
        print(f'("{det(f"x-a{i}", 32).hex()}", "{raw_pub(b).hex()}", "{a.exchange(X25519PublicKey.from_public_bytes(raw_pub(b))).hex()}"),')

    print("// Ed25519: (seed, public, message, signature)")
    for i, n in enumerate([0, 1, 32, 200]):
        seed, msg = det(f"ed-seed{i}", 32), det(f"ed-msg{i}", n)
        k = Ed25519PrivateKey.from_private_bytes(seed)
        print(f'("{seed.hex()}", "{raw_pub(k).hex()}", "{msg.hex()}", "{k.sign(msg).hex()}"),')

    print("// XEdDSA as oldmemo signs: (seed, curve25519 public, message, nonce, signature with sign bit)")
    for i in range(4):
        seed, msg, nonce = det(f"xed-seed{i}", 32), det(f"xed-msg{i}", 33), det(f"xed-nonce{i}", 64)
        priv = xeddsa.seed_to_priv(seed)
        ed = xeddsa.priv_to_ed25519_pub(priv)
        sig = bytearray(xeddsa.ed25519_priv_sign(priv, msg, nonce))
        sig[63] |= ed[31] & 0x80
        print(f'("{seed.hex()}", "{xeddsa.ed25519_pub_to_curve25519_pub(ed).hex()}", "{msg.hex()}", "{nonce.hex()}", "{bytes(sig).hex()}"),')


if __name__ == "__main__":
    main()
