#!/usr/bin/env python3
"""The workloads of benches/omemo.rs, run through python-omemo's backends
(oldmemo / twomemo, i.e. x3dh + doubleratchet + xeddsa + cryptography).

Prints one JSON object: {"<namespace>": {"<workload>": seconds, ...}, ...}.
Workloads (as in the Rust benchmark):
  encrypt_<n>   one message (payload + key material) for n devices with confirmed sessions
  decrypt_in_order_10000   10,000 messages of one session, in order, payload included
  decrypt_out_of_order_1000   1,000 messages of one session, shuffled
  x3dh_initiate   one active session set-up from a bundle (mean of many)
And, under "primitives", the C primitives python-omemo's X3DH calls, alone:
  x25519_openssl     one X25519 through `cryptography` (OpenSSL)
  x25519_libxeddsa   one X25519 through `xeddsa` (libxeddsa, ref10)
  ed25519_verify     one signature check through `xeddsa`
Usage: python_omemo_bench.py [--quick]   (--quick shrinks the counts for a smoke run)
"""

import asyncio
import json
import random
import sys
import time
from typing import Any, Dict, List, Tuple

import oldmemo
import twomemo
from omemo.storage import Just, Nothing, Storage


class MemoryStorage(Storage):
    def __init__(self) -> None:
        super().__init__(disable_cache=False)
        self.data: Dict[str, Any] = {}

    async def _load(self, key: str):  # type: ignore[override]
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)


BACKENDS = {"OldMemo": oldmemo.Oldmemo, "TwoMemo": twomemo.Twomemo}


async def device(ns: str, pre_keys: int):
    backend = BACKENDS[ns](MemoryStorage())
    await backend.generate_pre_keys(pre_keys)
    return backend


async def confirmed_pair(ns: str, alice, bob, bob_id: int) -> Tuple[Any, Any]:
    """A session alice → bob that bob answered, as after a real exchange."""
    _, pkm = await alice.encrypt_empty()
    bundle = await bob.get_bundle("bob@example.org", bob_id)
    a_sess, ekm = await alice.build_session_active("bob@example.org", bob_id, bundle, pkm)
    b_sess, _ = await bob.build_session_passive("alice@example.org", 1, a_sess.key_exchange, ekm)
    _, pkm = await bob.encrypt_empty()
    reply = await bob.encrypt_key_material(b_sess, pkm)
    await alice.decrypt_key_material(a_sess, reply)
    return a_sess, b_sess


async def bench_encrypt(ns: str, n: int, rounds: int) -> float:
    alice = await device(ns, 1)
    sessions = []
    for i in range(n):
        bob = await device(ns, 1)
        a_sess, _ = await confirmed_pair(ns, alice, bob, 100 + i)
        sessions.append(a_sess)
    start = time.perf_counter()
    for _ in range(rounds):
        _, pkm = await alice.encrypt_plaintext(b"Hello, this is a typical chat message of modest length.")
        for s in sessions:
            await alice.encrypt_key_material(s, pkm)
    return (time.perf_counter() - start) / rounds


async def bench_decrypt(ns: str, count: int, shuffle: bool) -> float:
    alice = await device(ns, 1)
    bob = await device(ns, 1)
    a_sess, b_sess = await confirmed_pair(ns, alice, bob, 2)
    msgs = []
    for i in range(count):
        content, pkm = await alice.encrypt_plaintext(f"message {i}".encode())
        msgs.append((content, await alice.encrypt_key_material(a_sess, pkm)))
    if shuffle:
        random.Random(7).shuffle(msgs)
    start = time.perf_counter()
    for content, ekm in msgs:
        pkm = await bob.decrypt_key_material(b_sess, ekm)
        await bob.decrypt_plaintext(content, pkm)
    return time.perf_counter() - start


async def bench_x3dh(ns: str, count: int) -> float:
    alice = await device(ns, 1)
    bob = await device(ns, 100)
    bundle = await bob.get_bundle("bob@example.org", 2)
    _, pkm = await alice.encrypt_empty()
    start = time.perf_counter()
    for _ in range(count):
        await alice.build_session_active("bob@example.org", 2, bundle, pkm)
    return (time.perf_counter() - start) / count


def per_call(f, count: int) -> float:
    f()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            f()
        best = min(best, (time.perf_counter() - start) / count)
    return best


def bench_primitives(count: int) -> Dict[str, float]:
    """What X3DH cannot do without: scalar multiplications and a check."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    import xeddsa

    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    b_pub = b.public_key()
    seed = bytes(range(32))
    priv = xeddsa.seed_to_priv(seed)
    peer = xeddsa.priv_to_curve25519_pub(xeddsa.seed_to_priv(bytes(32)))
    ed_pub = xeddsa.seed_to_ed25519_pub(seed)
    sig = xeddsa.ed25519_seed_sign(seed, b"signed pre-key")
    return {
        "x25519_openssl": per_call(lambda: a.exchange(b_pub), count),
        "x25519_libxeddsa": per_call(lambda: xeddsa.x25519(priv, peer), count),
        "ed25519_verify": per_call(lambda: xeddsa.ed25519_verify(sig, ed_pub, b"signed pre-key"), count),
    }


async def main() -> None:
    quick = "--quick" in sys.argv
    out: Dict[str, Dict[str, float]] = {}
    for ns in BACKENDS:
        r: Dict[str, float] = {}
        for n in (1, 10, 100, 300):
            r[f"encrypt_{n}"] = await bench_encrypt(ns, n if not quick else min(n, 10), 3 if n >= 100 else 20)
        r["decrypt_in_order_10000"] = await bench_decrypt(ns, 10_000 if not quick else 500, False)
        r["decrypt_out_of_order_1000"] = await bench_decrypt(ns, 1000 if not quick else 100, True)
        r["x3dh_initiate"] = await bench_x3dh(ns, 200 if not quick else 20)
        out[ns] = r
    out["primitives"] = bench_primitives(200 if not quick else 20)  # type: ignore[assignment]
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
