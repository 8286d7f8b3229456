//! Replays every fuzz seed and saved regression (fuzz/seeds, fuzz/regressions)
//! through the fuzz entry points on stable Rust, so CI checks them without
//! cargo-fuzz. Any panic fails the test.

use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    out
}

#[test]
fn fuzz_seeds_and_regressions_do_not_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        for (target, run) in [
            ("xml_parse", samlgate_xml::fuzzing::xml_parse as fn(&[u8])),
            ("c14n", samlgate_xml::fuzzing::c14n),
            ("saml_response", samlgate_saml::fuzzing::saml_response),
            ("metadata", samlgate_saml::fuzzing::metadata),
            ("slo_message", samlgate_saml::fuzzing::slo_message),
        ] {
            for file in files(&root.join(kind).join(target)) {
                let data = std::fs::read(&file).expect("read seed");
                run(&data);
                count += 1;
            }
        }
    }
    assert!(count >= 40, "only {count} seeds found");
}
