#![no_main]
//! XML from the network (PEP items, message stanzas): parse without panicking.
use libfuzzer_sys::fuzz_target;
use sotto::omemo::*;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(el) = xml::parse_element(text) {
        let _ = DeviceList::from_xml(Namespace::OldMemo, &el);
        let _ = DeviceList::from_xml(Namespace::TwoMemo, &el);
    }
});
