#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| samlgate_xml::fuzzing::c14n(data));
