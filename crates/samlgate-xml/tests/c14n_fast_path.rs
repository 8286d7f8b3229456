//! Differential test of canonicalization's fast path (pieces copied from
//! the input where the parser saw them written in canonical form) against
//! the piecewise path (every byte written from the tree), which
//! `c14n_corpus.rs` checks against libxml2.
//!
//! - every case of the c14n corpus (and every element of its documents as
//!   an apex);
//! - every signed element of the conformance, attack, metadata and fuzz
//!   seed fixtures, canonicalized as a Reference is (enveloped Signature
//!   left out) with each method, and every SignedInfo;
//! - one targeted case per condition that stops a piece from being copied,
//!   with the expected output and the number of bytes copied, so each case
//!   shows which path wrote which piece.

use std::path::{Path, PathBuf};

use samlgate_xml::fuzzing::{canonicalize_counting_copies, canonicalize_piecewise_to_vec};
use samlgate_xml::{canonicalize_to_vec, C14nMethod, C14nOptions, Document, Limits, NodeId};
use serde_json::Value;

const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn escaped(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

/// Fast and piecewise output of one canonicalization, and the bytes copied.
fn both(
    doc: &Document<'_>,
    apex: Option<NodeId>,
    options: &C14nOptions<'_>,
) -> (Vec<u8>, Vec<u8>, usize) {
    let (fast, copied) = canonicalize_counting_copies(doc, apex, options);
    assert_eq!(fast, canonicalize_to_vec(doc, apex, options));
    (
        fast,
        canonicalize_piecewise_to_vec(doc, apex, options),
        copied,
    )
}

#[test]
fn fast_path_matches_piecewise_on_the_c14n_corpus() {
    let dir = repository().join("crates/samlgate-xml/tests/c14n");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    let cases = manifest["cases"].as_array().expect("cases");
    assert!(cases.len() >= 479, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["doc"].as_str().expect("doc");
        let input = std::fs::read(dir.join(name)).expect("doc file");
        let doc = Document::parse(&input, &Limits::default()).expect("corpus document parses");
        let method = match case["method"].as_str() {
            Some("exclusive") => C14nMethod::Exclusive,
            Some("inclusive10") => C14nMethod::Inclusive10,
            Some("inclusive11") => C14nMethod::Inclusive11,
            other => panic!("unknown method {other:?}"),
        };
        let prefixes: Vec<&str> = case["inclusive_prefixes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let options = C14nOptions {
            method,
            with_comments: case["with_comments"].as_bool() == Some(true),
            inclusive_prefixes: &prefixes,
            exclude: None,
        };
        let apexes = std::iter::once(None).chain(doc.elements().map(Some));
        for apex in apexes {
            let (fast, piecewise, _) = both(&doc, apex, &options);
            if fast != piecewise {
                failures.push(format!(
                    "{name} {method:?} apex {apex:?}\n  fast:      {}\n  piecewise: {}",
                    escaped(&fast),
                    escaped(&piecewise)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn collect_xml(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_xml(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml" || e == "b64") {
            out.push(path);
        }
    }
}

/// A fixture's document (`.b64` fixtures decoded, whitespace ignored).
fn read_fixture(path: &Path) -> Vec<u8> {
    use base64::Engine;
    let data = std::fs::read(path).expect("fixture");
    if path.extension().is_some_and(|e| e == "b64") {
        let compact: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        return base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap_or_default();
    }
    data
}

/// The InclusiveNamespaces PrefixList under `parent` (a Transform or a
/// CanonicalizationMethod), split.
fn prefix_list<'d>(doc: &'d Document<'_>, parent: NodeId) -> Vec<&'d str> {
    doc.child_elements(parent)
        .filter(|c| doc.is(*c, EXC_C14N, "InclusiveNamespaces"))
        .filter_map(|c| doc.attr(c, "PrefixList"))
        .flat_map(str::split_ascii_whitespace)
        .collect()
}

#[test]
fn fast_path_matches_piecewise_on_signed_fixtures() {
    let root = repository();
    let mut files = Vec::new();
    for dir in ["tests", "fuzz/seeds"] {
        collect_xml(&root.join(dir), &mut files);
    }
    files.sort();
    let mut failures = Vec::new();
    let (mut signed, mut signed_infos) = (0, 0);
    let (mut digest_bytes, mut copied_bytes) = (0, 0);
    for file in &files {
        let input = read_fixture(file);
        let Ok(doc) = Document::parse(&input, &Limits::default()) else {
            continue;
        };
        for signature in doc.elements().filter(|e| doc.is(*e, DSIG, "Signature")) {
            let Some(parent) = doc.parent(signature) else {
                continue;
            };
            signed += 1;
            let signed_info = doc.first_child_named(signature, DSIG, "SignedInfo");
            // The prefix lists the signature itself names, if any.
            let transform_prefixes: Vec<&str> = signed_info
                .and_then(|si| doc.first_child_named(si, DSIG, "Reference"))
                .and_then(|r| doc.first_child_named(r, DSIG, "Transforms"))
                .map(|t| {
                    doc.children_named(t, DSIG, "Transform")
                        .flat_map(|t| prefix_list(&doc, t))
                        .collect()
                })
                .unwrap_or_default();
            let method_prefixes: Vec<&str> = signed_info
                .and_then(|si| doc.first_child_named(si, DSIG, "CanonicalizationMethod"))
                .map(|m| prefix_list(&doc, m))
                .unwrap_or_default();
            let variants: [(C14nMethod, &[&str]); 4] = [
                (C14nMethod::Exclusive, &transform_prefixes),
                (C14nMethod::Exclusive, &[]),
                (C14nMethod::Inclusive10, &[]),
                (C14nMethod::Inclusive11, &[]),
            ];
            for (method, prefixes) in variants {
                let options = C14nOptions {
                    method,
                    with_comments: false,
                    inclusive_prefixes: prefixes,
                    exclude: Some(signature),
                };
                let (fast, piecewise, copied) = both(&doc, Some(parent), &options);
                if method == C14nMethod::Exclusive && prefixes.is_empty() {
                    digest_bytes += fast.len();
                    copied_bytes += copied;
                }
                if fast != piecewise {
                    failures.push(format!(
                        "{} signed {}, {method:?}",
                        file.display(),
                        doc.local_name(parent)
                    ));
                }
            }
            if let Some(si) = signed_info {
                signed_infos += 1;
                for (method, prefixes) in [
                    (C14nMethod::Exclusive, &method_prefixes[..]),
                    (C14nMethod::Inclusive10, &[]),
                    (C14nMethod::Inclusive11, &[]),
                ] {
                    let options = C14nOptions {
                        inclusive_prefixes: prefixes,
                        ..C14nOptions::new(method)
                    };
                    let (fast, piecewise, _) = both(&doc, Some(si), &options);
                    if fast != piecewise {
                        failures.push(format!("{} SignedInfo, {method:?}", file.display()));
                    }
                }
            }
        }
        for method in [C14nMethod::Exclusive, C14nMethod::Inclusive10] {
            for with_comments in [false, true] {
                let options = C14nOptions {
                    with_comments,
                    ..C14nOptions::new(method)
                };
                let (fast, piecewise, _) = both(&doc, None, &options);
                if fast != piecewise {
                    failures.push(format!("{} whole document, {method:?}", file.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} files, {signed} signed elements, {signed_infos} SignedInfo; \
         {copied_bytes} of {digest_bytes} exclusive digest bytes copied",
        files.len()
    );
    assert!(
        signed >= 600 && signed_infos >= 600,
        "{signed} / {signed_infos}"
    );
    // The fixtures must exercise the fast path, not only agree with it.
    assert!(
        copied_bytes * 10 > digest_bytes * 8,
        "only {copied_bytes} of {digest_bytes} digest bytes copied"
    );
}

/// One condition: the document, the apex and excluded element (by element
/// order), the method, the expected output, and how many of its bytes are
/// copied from the input.
struct Case {
    what: &'static str,
    xml: &'static str,
    apex: usize,
    exclude: Option<usize>,
    method: C14nMethod,
    with_comments: bool,
    prefixes: &'static [&'static str],
    expected: &'static str,
    copied: Copied,
}

enum Copied {
    All,
    Bytes(usize),
}

const fn exc(
    what: &'static str,
    xml: &'static str,
    expected: &'static str,
    copied: Copied,
) -> Case {
    Case {
        what,
        xml,
        apex: 0,
        exclude: None,
        method: C14nMethod::Exclusive,
        with_comments: false,
        prefixes: &[],
        expected,
        copied,
    }
}

#[test]
fn each_condition_that_stops_a_copy() {
    use Copied::*;
    let cases = [
        exc(
            "everything canonical: one copy",
            "<p:r xmlns:p=\"urn:p\" a=\"1\" p:b=\"2\"><p:c>text</p:c></p:r>",
            "<p:r xmlns:p=\"urn:p\" a=\"1\" p:b=\"2\"><p:c>text</p:c></p:r>",
            All,
        ),
        // Attributes: the item is written, `<r`, `>` and `</r>` copied.
        exc(
            "two spaces before an attribute",
            "<r  a=\"1\"></r>",
            "<r a=\"1\"></r>",
            Bytes(7),
        ),
        exc(
            "a tab before an attribute",
            "<r\ta=\"1\"></r>",
            "<r a=\"1\"></r>",
            Bytes(7),
        ),
        exc(
            "a newline before an attribute",
            "<r\na=\"1\"></r>",
            "<r a=\"1\"></r>",
            Bytes(7),
        ),
        exc(
            "spaces around =",
            "<r a = \"1\"></r>",
            "<r a=\"1\"></r>",
            Bytes(7),
        ),
        exc(
            "single quotes",
            "<r a='1'></r>",
            "<r a=\"1\"></r>",
            Bytes(7),
        ),
        exc(
            "an entity in a value",
            "<r a=\"x&amp;y\"></r>",
            "<r a=\"x&amp;y\"></r>",
            Bytes(7),
        ),
        exc(
            "a character reference",
            "<r a=\"&#9;\"></r>",
            "<r a=\"&#x9;\"></r>",
            Bytes(7),
        ),
        exc(
            "a literal tab in a value",
            "<r a=\"x\ty\"></r>",
            "<r a=\"x y\"></r>",
            Bytes(7),
        ),
        exc(
            "`>` in a value needs no escaping",
            "<r a=\"x>y\"></r>",
            "<r a=\"x>y\"></r>",
            All,
        ),
        exc(
            "attributes out of order: copied one by one, reordered",
            "<r b=\"2\" a=\"1\"></r>",
            "<r a=\"1\" b=\"2\"></r>",
            All,
        ),
        exc(
            "order by namespace URI, not prefix",
            "<r xmlns:z=\"urn:a\" xmlns:y=\"urn:b\" y:x=\"1\" z:x=\"2\" c=\"3\"></r>",
            "<r xmlns:y=\"urn:b\" xmlns:z=\"urn:a\" c=\"3\" z:x=\"2\" y:x=\"1\"></r>",
            All,
        ),
        exc(
            "declarations out of order",
            "<r xmlns:b=\"urn:b\" xmlns:a=\"urn:a\" a:x=\"1\" b:y=\"2\"></r>",
            "<r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" a:x=\"1\" b:y=\"2\"></r>",
            All,
        ),
        exc(
            "a declaration after an attribute",
            "<r a:x=\"1\" xmlns:a=\"urn:a\"></r>",
            "<r xmlns:a=\"urn:a\" a:x=\"1\"></r>",
            All,
        ),
        // Tags.
        exc(
            "the empty-element form",
            "<r a=\"1\"/>",
            "<r a=\"1\"></r>",
            Bytes(8),
        ),
        exc("an end tag with a space", "<r></r >", "<r></r>", Bytes(3)),
        // Namespace declarations (exclusive).
        exc(
            "a declaration not used",
            "<r xmlns:u=\"urn:u\"></r>",
            "<r></r>",
            Bytes(7),
        ),
        exc(
            "a redundant redeclaration",
            "<p:r xmlns:p=\"urn:p\"><p:c xmlns:p=\"urn:p\">t</p:c></p:r>",
            "<p:r xmlns:p=\"urn:p\"><p:c>t</p:c></p:r>",
            All,
        ),
        exc(
            "an undeclaration not needed",
            "<r><c xmlns=\"\">t</c></r>",
            "<r><c>t</c></r>",
            All,
        ),
        exc(
            "an undeclaration needed",
            "<r xmlns=\"urn:d\"><c xmlns=\"\">t</c></r>",
            "<r xmlns=\"urn:d\"><c xmlns=\"\">t</c></r>",
            All,
        ),
        exc(
            "the xml prefix declared",
            "<r xmlns:xml=\"http://www.w3.org/XML/1998/namespace\" xml:lang=\"en\"></r>",
            "<r xml:lang=\"en\"></r>",
            All,
        ),
        Case {
            apex: 1,
            ..exc(
                "a declaration from an ancestor of the apex",
                "<p:r xmlns:p=\"urn:p\"><p:c/></p:r>",
                "<p:c xmlns:p=\"urn:p\"></p:c>",
                Bytes(4),
            )
        },
        Case {
            apex: 1,
            prefixes: &["a"],
            ..exc(
                "a declaration the prefix list adds",
                "<r xmlns:a=\"urn:a\"><c>t</c></r>",
                "<c xmlns:a=\"urn:a\">t</c>",
                Bytes(8),
            )
        },
        // An inclusive apex: in-scope declarations and xml:* attributes of
        // ancestors are written; its own attributes are still copied.
        Case {
            apex: 1,
            method: C14nMethod::Inclusive10,
            ..exc(
                "inclusive apex, ancestor declaration",
                "<r xmlns:a=\"urn:a\"><c b=\"1\">t</c></r>",
                "<c xmlns:a=\"urn:a\" b=\"1\">t</c>",
                Bytes(14),
            )
        },
        Case {
            apex: 1,
            method: C14nMethod::Inclusive10,
            ..exc(
                "inclusive apex, inherited xml:lang",
                "<r xml:lang=\"en\"><c>t</c></r>",
                "<c xml:lang=\"en\">t</c>",
                Bytes(8),
            )
        },
        // Text: `<r>` and `</r>` copied, the text written.
        exc(
            "an entity in text",
            "<r>a&amp;b</r>",
            "<r>a&amp;b</r>",
            Bytes(7),
        ),
        exc("`>` in text", "<r>a>b</r>", "<r>a&gt;b</r>", Bytes(7)),
        exc("CRLF in text", "<r>a\r\nb</r>", "<r>a\nb</r>", Bytes(7)),
        exc(
            "a carriage return reference",
            "<r>a&#13;b</r>",
            "<r>a&#xD;b</r>",
            Bytes(7),
        ),
        exc(
            "a CDATA section",
            "<r><![CDATA[a<b]]></r>",
            "<r>a&lt;b</r>",
            Bytes(7),
        ),
        // Comments and PIs are never copied.
        exc("a comment left out", "<r>a<!--c-->b</r>", "<r>ab</r>", All),
        Case {
            with_comments: true,
            ..exc(
                "a comment kept",
                "<r><!--c--></r>",
                "<r><!--c--></r>",
                Bytes(7),
            )
        },
        exc(
            "a processing instruction",
            "<r><?p  d?></r>",
            "<r><?p d?></r>",
            Bytes(7),
        ),
        Case {
            exclude: Some(2),
            ..exc(
                "an excluded subtree",
                "<r ID=\"x\"><a/><s:Signature xmlns:s=\"urn:s\"><v/></s:Signature><b>t</b></r>",
                "<r ID=\"x\"><a></a><b>t</b></r>",
                Bytes(24),
            )
        },
        exc(
            "non-ASCII names and text",
            "<é:r xmlns:é=\"urn:e\" ü=\"ö\">ü</é:r>",
            "<é:r xmlns:é=\"urn:e\" ü=\"ö\">ü</é:r>",
            All,
        ),
    ];
    for case in &cases {
        let doc = Document::parse(case.xml.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.what));
        let element = |i: usize| doc.elements().nth(i).expect("element index");
        let options = C14nOptions {
            method: case.method,
            with_comments: case.with_comments,
            inclusive_prefixes: case.prefixes,
            exclude: case.exclude.map(element),
        };
        let (fast, piecewise, copied) = both(&doc, Some(element(case.apex)), &options);
        assert_eq!(
            escaped(&piecewise),
            escaped(case.expected.as_bytes()),
            "{}",
            case.what
        );
        assert_eq!(escaped(&fast), escaped(&piecewise), "{}", case.what);
        let expected_copied = match case.copied {
            Copied::All => fast.len(),
            Copied::Bytes(n) => n,
        };
        assert_eq!(copied, expected_copied, "{}: bytes copied", case.what);
    }
}
