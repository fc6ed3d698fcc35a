#![no_main]
//! Key-exchange (pre-key) messages of both namespaces through the responder's
//! X3DH and first ratchet step; the first byte picks the namespace.
use libfuzzer_sys::fuzz_target;
use sotto::omemo::Namespace;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let ns = if first & 1 == 0 {
        Namespace::OldMemo
    } else {
        Namespace::TwoMemo
    };
    let payload = (first & 2 != 0).then(|| rest.iter().rev().copied().collect());
    common::decrypt_as_bob(ns, true, rest, payload);
});
