#![no_main]
//! TwoMemo wire messages: the bare parsers, then the full decrypt path on an
//! established session (MAC check, ratchet, payload).
use libfuzzer_sys::fuzz_target;
use sotto::omemo::{Namespace, fuzzing};

mod common;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::parse_two_message(data);
    let _ = fuzzing::parse_two_key_exchange(data);
    common::decrypt_as_bob(Namespace::TwoMemo, false, data, Some(data.to_vec()));
});
