#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| samlgate_saml::fuzzing::slo_message(data));
