//! Tests of the canonical path: the vectors in `vectors.txt`, the bytes a
//! text file cannot hold, long inputs, an RFC 3986 §5.2.4 oracle, and a
//! generated sweep of risky pieces checked for the properties the router
//! relies on.

use percent_encoding::percent_decode;
use unicode_normalization::UnicodeNormalization;

use super::*;

const VECTORS: &str = include_str!("vectors.txt");

/// Variant name of an error (`EncodedSlash { at: 3 }` -> `EncodedSlash`).
fn variant(e: &PathError) -> String {
    let debug = format!("{e:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_vector_has_its_outcome() {
    let mut count = 0;
    for line in VECTORS.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        let mut fields = line.split_whitespace();
        let raw = fields.next().unwrap();
        let expect = fields
            .next()
            .unwrap_or_else(|| panic!("{line}: no outcome"));
        let extra: Vec<&str> = fields.collect();
        let got = canonical_path(raw);
        if let Some(want) = expect.strip_prefix('!') {
            let err = got.expect_err(line);
            assert_eq!(variant(&err), want, "{line}: {err}");
            assert_eq!(err.reason(), "path_invalid");
            assert_eq!(err.status(), 400);
            continue;
        }
        let want = expect.strip_prefix('=').unwrap();
        let got = got.unwrap_or_else(|e| panic!("{line}: refused: {e}"));
        assert_eq!(got.target(), want, "{line}");
        let route = extra
            .iter()
            .find_map(|f| f.strip_prefix("route="))
            .unwrap_or_else(|| got.path());
        assert_eq!(got.routing_path(), route, "{line}");
        assert_eq!(got.has_params(), extra.contains(&"params"), "{line}");
        assert_eq!(got.is_unchanged(), got.target() == raw, "{line}");
        check_accepted(raw, &got);
    }
    assert!(count > 100, "only {count} vectors read");
}

#[test]
fn bytes_a_text_file_cannot_hold() {
    assert_eq!(canonical_path(""), Err(PathError::Empty));
    for (raw, byte) in [
        ("/a\0b", 0),
        ("/a\tb", b'\t'),
        ("/a b", b' '),
        ("/a\x7fb", 0x7F),
        ("/a\r\nSet-Cookie:x", b'\r'),
        ("/a\nb", b'\n'),
    ] {
        assert_eq!(
            canonical_path(raw),
            Err(PathError::Control { at: 2, byte }),
            "{raw:?}"
        );
    }
    for (raw, byte) in [
        ("/a?b c", b' '),
        ("/a?b\0", 0),
        ("/a?\r\n", b'\r'),
        ("/a?\t", b'\t'),
    ] {
        assert!(
            matches!(canonical_path(raw), Err(PathError::QueryByte { byte: b, .. }) if b == byte),
            "{raw:?}"
        );
    }
    assert!(matches!(
        canonical_path("/a\u{85}b"),
        Err(PathError::UnicodeControl {
            code_point: 0x85,
            ..
        })
    ));
    assert!(matches!(
        canonical_path("/a\u{a0}"),
        Err(PathError::AsciiLookalike { .. })
    ));
}

#[test]
fn errors_say_where() {
    let err = canonical_path("/ok/a%2Fb").unwrap_err();
    assert_eq!(err, PathError::EncodedSlash { at: 5 });
    assert_eq!(err.to_string(), "encoded slash (%2F) at byte 5");
    let err = canonical_path("/ok/%2e%2e/x").unwrap_err();
    assert_eq!(err, PathError::EscapedDotSegment { at: 4 });
    assert_eq!(
        canonical_path("/x?a b").unwrap_err().to_string(),
        "byte 0x20 not allowed in the query at byte 4"
    );
    assert_eq!(
        canonical_path("/a%3bb").unwrap_err().to_string(),
        "encoded delimiter ';' at byte 2"
    );
}

#[test]
fn matrix_parameters_are_decided_by_the_route() {
    let plain = canonical_path("/admin/x").unwrap();
    assert!(plain.check_params(false).is_ok() && plain.check_params(true).is_ok());
    let with = canonical_path("/admin;jsessionid=1/x").unwrap();
    assert_eq!(with.check_params(false), Err(PathError::MatrixParams));
    assert!(with.check_params(true).is_ok());
    // A parameter on a segment that `..` removed still counts: the raw
    // path used one, and a route that does not allow them refuses it.
    let removed = canonical_path("/public;/../admin/").unwrap();
    assert_eq!(removed.target(), "/admin/");
    assert_eq!(removed.check_params(false), Err(PathError::MatrixParams));
}

#[test]
fn already_canonical_targets_are_borrowed() {
    for raw in ["/", "/admin/", "/a/b.c?x=1&y=%2F", "/caf%C3%A9", "/a;x/b"] {
        let c = canonical_path(raw).unwrap();
        assert!(c.is_unchanged(), "{raw}");
        assert_eq!(c.target(), raw);
    }
    let c = canonical_path("//a").unwrap();
    assert!(!c.is_unchanged());
    let owned: CanonicalPath<'static> = c.into_owned();
    assert_eq!(owned.target(), "/a");
    assert_eq!(canonical_path("/a?q").unwrap().query(), Some("q"));
    assert_eq!(canonical_path("//a?q").unwrap().query(), Some("q"));
    assert_eq!(canonical_path("//a?").unwrap().query(), Some(""));
    assert_eq!(canonical_path("//a").unwrap().query(), None);
}

#[test]
fn long_paths_and_many_segments() {
    let long = "/a".repeat(500_000);
    assert_eq!(canonical_path(&long).unwrap().target(), long);
    let long_slashes = "/".repeat(1_000_000);
    assert_eq!(canonical_path(&long_slashes).unwrap().target(), "/");
    let up = format!("{}{}", "/d".repeat(100_000), "/..".repeat(100_000));
    assert_eq!(canonical_path(&up).unwrap().target(), "/");
    let above_root = format!("{}/etc/passwd", "/..".repeat(200_000));
    assert_eq!(canonical_path(&above_root).unwrap().target(), "/etc/passwd");
    let zigzag = "/a/../b/./c;x/..".repeat(50_000);
    let z = canonical_path(&zigzag).unwrap();
    assert_eq!(z.routing_path(), "/b/".repeat(50_000).replace("//", "/"));
    let escapes = format!("/{}", "%C3%A9".repeat(200_000));
    assert_eq!(canonical_path(&escapes).unwrap().target(), escapes);
    let segment = format!("/{}/x", "x".repeat(1_000_000));
    assert_eq!(canonical_path(&segment).unwrap().target(), segment);
}

/// RFC 3986 §5.2.4 as written (the input buffer algorithm), applied after
/// merging slashes: an independent oracle for paths of plain bytes.
fn rfc_remove_dot_segments(path: &str) -> String {
    let mut input = path.to_owned();
    while input.contains("//") {
        input = input.replace("//", "/");
    }
    let mut output = String::new();
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../").or(input.strip_prefix("./")) {
            input = rest.to_owned();
        } else if input.starts_with("/./") {
            input.replace_range(..3, "/");
        } else if input == "/." {
            input = "/".into();
        } else if input.starts_with("/../") || input == "/.." {
            input.replace_range(..if input == "/.." { 3 } else { 4 }, "/");
            output.truncate(output.rfind('/').unwrap_or(0));
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input.replace_range(..end, "");
        }
    }
    output
}

#[test]
fn dot_segment_removal_agrees_with_the_rfc_algorithm() {
    let pieces = ["/", "/", "a", "b", ".", "..", "/.", "/..", "x.", ".y"];
    let mut rng = SplitMix(7);
    for _ in 0..20_000 {
        let mut raw = String::from("/");
        for _ in 0..rng.below(10) {
            raw.push_str(pieces[rng.below(pieces.len())]);
        }
        match canonical_path(&raw) {
            Ok(c) => assert_eq!(c.target(), rfc_remove_dot_segments(&raw), "{raw}"),
            // `...` and friends: refused, never silently resolved.
            Err(e) => assert_eq!(variant(&e), "DotLikeSegment", "{raw}"),
        }
    }
}

/// splitmix64: a deterministic generator, so a failure reproduces.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces attackers combine; the sweep strings them together.
const RISKY: &[&str] = &[
    "/",
    "//",
    "\\",
    ".",
    "..",
    "...",
    "a",
    "admin",
    "public",
    ";",
    ";x",
    ";x=1",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%3b",
    "%3B",
    "%3f",
    "%23",
    "%25",
    "%252e",
    "%252f",
    "%2561",
    "%61",
    "%41",
    "%7e",
    "%20",
    "%00",
    "%0a",
    "%7f",
    "%",
    "%4",
    "%zz",
    "%C0%AE",
    "%C0%AF",
    "%C3%A9",
    "é",
    "%c3%a9",
    "%EF%BC%8F",
    "%EF%BC%8E",
    "‥",
    "ａ",
    "%E2%80%AE",
    "%C2%85",
    "~",
    ":",
    "::$DATA",
    "@",
    "+",
    "?",
    "?q=..%2f",
    "#",
    "\"",
    "<",
    "|",
    "\u{0}",
    " ",
    "\t",
    "*",
    "%u002e",
];

#[test]
fn generated_sweep_keeps_every_property() {
    let mut rng = SplitMix(0x5A17_6A7E);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..50_000 {
        let mut raw = String::new();
        if rng.below(20) != 0 {
            raw.push('/');
        }
        for _ in 0..rng.below(12) {
            raw.push_str(RISKY[rng.below(RISKY.len())]);
        }
        match canonical_path(&raw) {
            Ok(c) => {
                accepted += 1;
                check_accepted(&raw, &c);
            }
            Err(e) => {
                refused += 1;
                assert_eq!(e.reason(), "path_invalid");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Both sides of the decision are exercised.
    assert!(
        accepted > 5_000 && refused > 5_000,
        "{accepted} / {refused}"
    );
}

#[test]
fn arbitrary_text_never_panics() {
    let mut rng = SplitMix(99);
    for _ in 0..20_000 {
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let raw = format!("/{}", String::from_utf8_lossy(&bytes));
        if let Ok(c) = canonical_path(&raw) {
            check_accepted(&raw, &c);
        }
    }
}

/// Everything the router and the backend rely on, for one accepted target.
fn check_accepted(raw: &str, c: &CanonicalPath<'_>) {
    let (path, routing) = (c.path(), c.routing_path());
    // The fast path and the rewrite agree.
    let raw_path = raw.split_once('?').map_or(raw, |(p, _)| p);
    let (forward, routed) = rebuild(raw_path).unwrap();
    assert_eq!(forward, path, "{raw}");
    assert_eq!(routed.as_deref().unwrap_or(&forward), routing, "{raw}");
    // Idempotent: the canonical target is its own canonical form, and so
    // is the routing path.
    let again = canonical_path(c.target()).unwrap_or_else(|e| panic!("{raw}: {e}"));
    assert_eq!(again.target(), c.target(), "{raw}");
    assert_eq!(again.routing_path(), routing, "{raw}");
    assert!(again.is_unchanged(), "{raw}");
    let route_again = canonical_path(routing).unwrap();
    assert_eq!(route_again.target(), routing);
    assert!(!route_again.has_params());
    // A backend that strips `;params` sees exactly the routing path.
    let stripped: Vec<&str> = path
        .split('/')
        .map(|s| s.split(';').next().unwrap_or_default())
        .collect();
    assert_eq!(stripped.join("/"), routing, "{raw}");
    if !c.has_params() {
        assert_eq!(path, routing, "{raw}");
    }
    for p in [path, routing] {
        check_shape(raw, p);
        // Decoded once, or twice by a sloppy backend: no new separator,
        // no dot segment, nothing that normalizes into one.
        let once = percent_decode(p.as_bytes()).collect::<Vec<u8>>();
        let twice = percent_decode(&once).collect::<Vec<u8>>();
        for decoded in [once, twice] {
            let text = String::from_utf8(decoded).unwrap_or_else(|_| panic!("{raw}: not UTF-8"));
            assert_eq!(text.matches('/').count(), p.matches('/').count(), "{raw}");
            let nfkc: String = text.nfkc().collect();
            for view in [&text, &nfkc] {
                assert!(!view.contains('\\') && !view.contains('\0'), "{raw}");
                for segment in view.split('/') {
                    let name = segment.split(';').next().unwrap_or_default();
                    for s in [segment, name] {
                        let windows = s.trim_end_matches(['.', ' ']);
                        let dotlike = !s.is_empty() && windows.is_empty();
                        assert!(!dotlike, "{raw}: {p} decodes to segment {s:?}");
                    }
                }
            }
        }
    }
}

/// The canonical spelling: no `//`, no dot segment, no backslash, no
/// control, ASCII only, escapes upper-case and only where needed.
fn check_shape(raw: &str, p: &str) {
    assert!(p.starts_with('/'), "{raw}: {p}");
    assert!(!p.contains("//"), "{raw}: {p}");
    assert!(p.is_ascii(), "{raw}: {p}");
    assert!(!p.bytes().any(|b| b <= b' ' || b == 0x7F), "{raw}: {p}");
    assert!(!p.contains(['\\', '#', '?']), "{raw}: {p}");
    for segment in p.split('/') {
        assert!(segment != "." && segment != "..", "{raw}: {p}");
    }
    let bytes = p.as_bytes();
    for (i, _) in p.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).unwrap();
        assert!(
            hex.iter()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
            "{raw}: {p}: lower-case or broken escape"
        );
        let value = u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap();
        assert!(!is_unreserved(value), "{raw}: {p}: escaped unreserved");
        assert!(
            !matches!(
                value,
                b'/' | b'\\' | b';' | b'?' | b'#' | b'%' | 0..=0x1F | 0x7F
            ),
            "{raw}: {p}: escaped delimiter or control"
        );
    }
}
