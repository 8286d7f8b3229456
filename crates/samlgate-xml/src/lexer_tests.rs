//! Unit tests of the lexer.

use super::*;
use crate::scan::NameShape;

fn tokens(text: &str) -> Vec<String> {
    let mut lexer = Lexer::new(text);
    let mut out = Vec::new();
    while let Some(token) = lexer.next_token("").expect("lexes") {
        out.push(format!("{token:?}"));
        if let Token::StartTag { .. } = token {
            loop {
                let item = lexer.tag_item().expect("tag item");
                out.push(format!("{item:?}"));
                if let TagItem::End { .. } = item {
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn exactness_follows_the_canonical_layout() {
    let t = tokens("<a x=\"1\" y = \"2\"\tz='3'  >t</a ><b/>");
    assert!(t[1].contains("exact: true"), "{t:?}");
    assert!(t[2].contains("exact: false"), "{t:?}");
    assert!(t[3].contains("exact: false"), "{t:?}");
    assert!(t[4].contains("End { empty: false"), "{t:?}");
    assert!(t[6].contains("EndTag") && t[6].contains("exact: false"));
    assert!(t[8].contains("empty: true"), "{t:?}");
}

#[test]
fn markup_ends_where_quick_xml_ends_it() {
    assert_eq!(
        tokens("<!--->x--><![CDATA[a]]b]]><?p d?>")[..3],
        [
            "Comment { body: \"->x\", start: 0, end: 10 }",
            "CData { body: \"a]]b\", start: 10, end: 26 }",
            "Pi { content: \"p d\", start: 26, end: 33 }",
        ]
    );
    let mut lexer = Lexer::new("<!DOCTYPE r [<!ENTITY x 'y'>]><r/>");
    assert_eq!(lexer.next_token(""), Ok(Some(Token::Doctype)));
    for bad in [
        "<!-- a -- b -->",
        "<!--->",
        "<?>",
        "<!DOCTYPE>",
        "<!x>",
        "<![CDAT[x]]>",
    ] {
        assert!(Lexer::new(bad).next_token("").is_err(), "{bad:?}");
    }
}

/// The O(1) check of a scanned ASCII name agrees with the full QName
/// check, on every name of up to three bytes over an alphabet that has
/// each class of byte, and on longer samples.
#[test]
fn scanned_name_shape_agrees_with_the_full_check() {
    use crate::scan::{split_name, split_qname};
    let alphabet = ["a", "Z", "_", "1", "-", ".", ":", "é", "\u{300}", "·"];
    let mut names: Vec<String> = vec![String::new()];
    for _ in 0..3 {
        let longer: Vec<String> = names
            .iter()
            .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
            .collect();
        names.extend(longer);
    }
    names.extend(
        [
            "saml:Assertion",
            "a:b:c",
            ":a",
            "a:",
            "xml:lang",
            "p1:x.y-z",
            "é:é",
            "a:1b",
        ]
        .map(String::from),
    );
    for name in &names {
        let mut lexer = Lexer::new(name);
        let scanned = lexer.name().expect("scans");
        if scanned.text.len() == name.len() {
            assert_eq!(split_name(scanned), split_qname(name), "{name:?}");
        }
    }
    assert!(names.len() > 1000);
}

/// The eight-at-a-time scan agrees with a byte-at-a-time reference on
/// every byte value at every position of a name, and on names running
/// to the end of the input.
#[test]
fn word_scan_agrees_with_bytewise_scan() {
    fn reference(bytes: &[u8]) -> NameShape {
        let len = bytes.iter().take_while(|b| is_name_byte(**b)).count();
        let name = &bytes[..len];
        let colons = name.iter().filter(|b| **b == b':').count();
        NameShape {
            len,
            colon: name.iter().position(|b| *b == b':'),
            simple: name.is_ascii() && colons <= 1,
        }
    }
    let base = b"saml:AttributeValue_x-1.2".to_vec();
    for at in 0..base.len() + 1 {
        for b in 0..=255u8 {
            let mut input = base.clone();
            input.insert(at, b);
            for end in [input.len(), at + 1, at + 3] {
                let slice = &input[..end.min(input.len())];
                assert_eq!(scan_name(slice), reference(slice), "{slice:?}");
                let mut tail = slice.to_vec();
                tail.extend_from_slice(b" x=\"1\">");
                assert_eq!(scan_name(&tail), reference(&tail), "{tail:?}");
            }
        }
    }
}

#[test]
fn same_bytes_is_equality() {
    let text = "abcdefghijklmnopqrstuvwxyz";
    for a in 0..text.len() {
        for b in a..text.len() {
            for c in 0..text.len() {
                let (x, y) = (&text.as_bytes()[a..b], &text.as_bytes()[c..]);
                let y = &y[..y.len().min(b - a)];
                assert_eq!(same_bytes(x, y), x == y);
            }
        }
    }
}

/// Without line controls in the document, a value is reported plain
/// exactly when it holds neither `&` nor `<`; with them, never.
#[test]
fn plain_values_are_found_with_the_closing_quote() {
    let text = "<a b=\"x\" c='y\"z' d=\"1&amp;2\" e='' f=\"&\" g=\"<\">";
    for (lexer, expected) in [
        (
            Lexer::without_line_controls(text),
            [true, true, false, true, false, false],
        ),
        (Lexer::new(text), [false; 6]),
    ] {
        let mut lexer = lexer;
        let _ = lexer.next_token("");
        for plain_expected in expected {
            match lexer.tag_item() {
                Ok(TagItem::Attribute { plain, value, .. }) => {
                    assert_eq!(plain, plain_expected, "{value:?}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn attributes_need_whitespace_quotes_and_equals() {
    for bad in [
        "<a b=\"1\"c=\"2\">",
        "<a b>",
        "<a b=1>",
        "<a b=\"1>",
        "<a/ >",
    ] {
        let mut lexer = Lexer::new(bad);
        let _ = lexer.next_token("");
        let mut result = Ok(());
        for _ in 0..4 {
            match lexer.tag_item() {
                Ok(TagItem::End { .. }) => break,
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert!(result.is_err(), "{bad:?}");
    }
}
