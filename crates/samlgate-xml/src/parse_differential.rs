//! Differential test of the parser: `Document::parse` (lexer.rs) against
//! the quick-xml based parser it replaced (reference_parse.rs), on every
//! XML file of the repository's corpora (c14n corpus, conformance and
//! attack fixtures, metadata, fuzz seeds) and on seeded mutations of them.
//! Both must accept the same documents and build identical trees (spans
//! and RAW_* flags included: the reference derives the flags on its own,
//! from quick-xml's slice positions), or refuse with the same reason.
//!
//! The lexer is deliberately stricter on three ill-formed shapes that
//! quick-xml lets through ([`known_stricter`]); a document that only the
//! reference accepts must show one of them. The reverse (accepted only by
//! the lexer) is always a failure. Refusals must agree on the reason, but
//! for one order effect (see `compare`).

use std::path::{Path, PathBuf};

use crate::reference_parse::parse_with_quick_xml;
use crate::{Document, Limits, Reason, XmlError};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.xml` and `.b64` file under the corpus directories, sorted.
pub(crate) fn corpus_files() -> Vec<PathBuf> {
    let root = repository();
    let mut files = Vec::new();
    for dir in ["tests", "crates/samlgate-xml/tests/c14n/docs", "fuzz/seeds"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml" || e == "b64") {
            out.push(path);
        }
    }
}

/// A corpus file's document: `.b64` files are decoded (whitespace
/// ignored, as `samlgate verify` does); undecodable ones are kept as they
/// are (both parsers must refuse them alike).
pub(crate) fn read_corpus_file(path: &Path) -> Vec<u8> {
    use base64::Engine;
    let data = std::fs::read(path).expect("read corpus file");
    if path.extension().is_some_and(|e| e == "b64") {
        let compact: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(compact) {
            return decoded;
        }
    }
    data
}

/// Inputs that only the reference accepts must be one of these, all
/// ill-formed XML: attributes not separated by whitespace, a second
/// byte-order mark (quick-xml silently drops one more), or an XML
/// declaration whose pseudo-attributes are not `S name Eq "value"`.
fn known_stricter(error: &XmlError) -> bool {
    match error {
        XmlError::Malformed { detail, .. } => matches!(
            detail.as_str(),
            "attributes must be separated by whitespace"
                | "text outside the root element"
                | "malformed xml declaration"
        ),
        _ => false,
    }
}

/// Compares the two parsers on one input; returns a description of any
/// disagreement that is not a known, stricter refusal.
fn compare(input: &[u8]) -> Option<String> {
    let limits = Limits::default();
    let new = Document::parse(input, &limits);
    let reference = parse_with_quick_xml(input, &limits);
    match (new, reference) {
        (Ok(a), Ok(b)) => {
            let same = a.input == b.input
                && a.nodes == b.nodes
                && a.attrs == b.attrs
                && a.decls == b.decls
                && a.top_level == b.top_level
                && a.root == b.root;
            (!same).then(|| "both accept, trees differ".to_owned())
        }
        (Err(a), Err(b)) if a.reason() == b.reason() => None,
        // Two faults at once: a limit is passed inside a start tag that
        // never closes. quick-xml finds the tag's end before anything else;
        // the lexer reads the tag in order and stops at the limit first.
        (Err(XmlError::TooLarge { .. }), Err(XmlError::Malformed { .. })) => None,
        (Err(a), Err(b)) => Some(format!("reasons differ: lexer {a}, quick-xml {b}")),
        (Err(a), Ok(_)) if known_stricter(&a) => None,
        (Err(a), Ok(_)) => Some(format!("only quick-xml accepts; lexer: {a}")),
        (Ok(_), Err(b)) => Some(format!("only the lexer accepts; quick-xml: {b}")),
    }
}

/// xorshift64*: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments a mutation inserts: markup delimiters, whitespace, references,
/// declarations, and the shapes each parser treats specially.
const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "/",
    "=",
    "\"",
    "'",
    "&",
    ";",
    ":",
    "?",
    "!",
    "-",
    "[",
    "]",
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "x",
    "é",
    "<!--",
    "-->",
    "--",
    "<![CDATA[",
    "]]>",
    "<?",
    "?>",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE r>",
    "<!DOCTYPE r [<!ENTITY e \"x\">]>",
    "<!d",
    " xmlns:a=\"urn:x\"",
    " xmlns=\"\"",
    " xmlns=\"urn:d\"",
    " a=\"1\"",
    " a='1'",
    "a=\"1\"",
    " xml:lang=\"en\"",
    "&amp;",
    "&lt;",
    "&gt;",
    "&#13;",
    "&#x9;",
    "&e;",
    "/>",
    "</",
    "</a>",
    "<a>",
    "<a/>",
    "<b:c xmlns:b=\"urn:b\"/>",
    "\u{FEFF}",
    " = ",
    "<?pi data?>",
];

fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut data = original.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(data.len() + 1);
        match rng.below(4) {
            0 if !data.is_empty() => {
                let len = 1 + rng.below(4.min(data.len() - at.min(data.len() - 1)));
                let at = at.min(data.len() - 1);
                data.drain(at..(at + len).min(data.len()));
            }
            1 => {
                let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
                data.splice(at..at, fragment.iter().copied());
            }
            2 if !data.is_empty() => {
                let from = rng.below(data.len());
                let len = 1 + rng.below(40.min(data.len() - from));
                let copy = data[from..from + len].to_vec();
                data.splice(at..at, copy);
            }
            _ if at < data.len() => {
                let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
                data.splice(at..at + 1, fragment.iter().copied());
            }
            _ => {}
        }
    }
    data
}

#[test]
fn lexer_agrees_with_quick_xml_on_the_corpora() {
    let files = corpus_files();
    assert!(files.len() >= 700, "only {} corpus files", files.len());
    let mut failures = Vec::new();
    let mut accepted = 0;
    for file in &files {
        let input = read_corpus_file(file);
        accepted += usize::from(Document::parse(&input, &Limits::default()).is_ok());
        if let Some(problem) = compare(&input) {
            failures.push(format!("{}: {problem}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(accepted >= 400, "only {accepted} corpus files parse");
}

#[test]
fn lexer_agrees_with_quick_xml_on_mutations() {
    const PER_FILE: usize = 12;
    let mut rng = Rng(0x5A31_6A7E_D1FF_E2E7);
    let mut failures = Vec::new();
    let (mut both_accept, mut both_refuse) = (0, 0);
    for file in corpus_files() {
        let original = read_corpus_file(&file);
        for round in 0..PER_FILE {
            let input = mutate(&mut rng, &original);
            if let Some(problem) = compare(&input) {
                failures.push(format!(
                    "{} mutation {round}: {problem}\n  input: {}",
                    file.display(),
                    String::from_utf8_lossy(&input).escape_debug()
                ));
            }
            match Document::parse(&input, &Limits::default()) {
                Ok(_) => both_accept += 1,
                Err(_) => both_refuse += 1,
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Mutations must exercise both outcomes, or the test proves little.
    assert!(
        both_accept > 1000 && both_refuse > 1000,
        "{both_accept} / {both_refuse}"
    );
}

/// The same mutations, for canonicalization: on every mutant that parses,
/// the fast path must give the piecewise path's bytes (exclusive with and
/// without a prefix list, inclusive 1.0; the whole document and every
/// element up to 24, each also with its first child element left out). Mutations break canonical layouts in every way the lexer can
/// see, so this exercises the copy conditions far beyond the fixtures.
#[test]
fn c14n_fast_path_agrees_on_mutations() {
    use crate::fuzzing::canonicalize_piecewise_to_vec;
    use crate::{canonicalize_to_vec, C14nMethod, C14nOptions};
    let mut rng = Rng(0x0C14_0FA5_7B17_E5ED);
    let (mut compared, mut failures) = (0usize, Vec::new());
    let prefixes = ["#default", "saml", "ds", "xs"];
    for file in corpus_files() {
        let original = read_corpus_file(&file);
        for round in 0..8 {
            let input = mutate(&mut rng, &original);
            let Ok(doc) = Document::parse(&input, &Limits::default()) else {
                continue;
            };
            let apexes = std::iter::once(None).chain(doc.elements().take(24).map(Some));
            for apex in apexes {
                let firsts = [None, apex.and_then(|a| doc.child_elements(a).next())];
                for (method, inclusive_prefixes, exclude) in [
                    (C14nMethod::Exclusive, &[][..], firsts[0]),
                    (C14nMethod::Exclusive, &prefixes[..], firsts[1]),
                    (C14nMethod::Inclusive10, &[][..], firsts[1]),
                ] {
                    let options = C14nOptions {
                        method,
                        with_comments: false,
                        inclusive_prefixes,
                        exclude,
                    };
                    compared += 1;
                    let fast = canonicalize_to_vec(&doc, apex, &options);
                    if fast != canonicalize_piecewise_to_vec(&doc, apex, &options) {
                        failures.push(format!(
                            "{} mutation {round}, {method:?} at {apex:?}\n  input: {}",
                            file.display(),
                            String::from_utf8_lossy(&input).escape_debug()
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared > 100_000, "only {compared} canonicalizations");
}

#[test]
fn known_stricter_shapes_are_refused_by_the_lexer_only() {
    for input in [
        "<r a=\"1\"b=\"2\"/>",
        "\u{FEFF}\u{FEFF}<r/>",
        "<?xml version=\"1.0\"encoding=\"UTF-8\"?><r/>",
    ] {
        let new = Document::parse(input.as_bytes(), &Limits::default());
        assert!(
            new.as_ref().is_err_and(known_stricter),
            "{input:?}: {new:?}"
        );
        assert_eq!(
            new.map_err(|e| e.reason()).err(),
            Some(Reason::MalformedXml)
        );
        assert!(parse_with_quick_xml(input.as_bytes(), &Limits::default()).is_ok());
    }
}
