#![no_main]
//! Decrypted SCE envelopes (XEP-0420): parse and check the affixes.
use libfuzzer_sys::fuzz_target;
use sotto::omemo::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::parse(data) {
        let _ = env.check("alice@example.org", "bob@example.org");
        let _ = env.body();
    }
});
