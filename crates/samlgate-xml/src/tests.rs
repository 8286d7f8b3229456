//! Unit tests of the parser and canonicalizer.

use crate::*;

fn parse(s: &str) -> Result<Document<'_>, XmlError> {
    Document::parse(s.as_bytes(), &Limits::default())
}

fn reason(s: &str) -> Reason {
    parse(s).expect_err("must be refused").reason()
}

fn c14n(s: &str, method: C14nMethod, comments: bool, apex: Option<usize>) -> String {
    let doc = parse(s).expect("parses");
    let apex = apex.map(|i| doc.elements().nth(i).expect("element index"));
    let options = C14nOptions {
        method,
        with_comments: comments,
        inclusive_prefixes: &[],
        exclude: None,
    };
    String::from_utf8(canonicalize_to_vec(&doc, apex, &options)).expect("utf-8")
}

#[test]
fn doctype_is_forbidden_in_every_form() {
    assert_eq!(
        reason("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>"),
        Reason::ForbiddenDtd
    );
    assert_eq!(
        reason("<!DOCTYPE r SYSTEM \"http://attacker/\"><r/>"),
        Reason::ForbiddenDtd
    );
    assert_eq!(
        reason("<?xml version=\"1.0\"?>\n<!DOCTYPE r><r/>"),
        Reason::ForbiddenDtd
    );
}

#[test]
fn undefined_entities_are_malformed() {
    assert_eq!(reason("<r>&x;</r>"), Reason::MalformedXml);
    assert_eq!(reason("<r a=\"&x;\"/>"), Reason::MalformedXml);
    assert_eq!(reason("<r>&#0;</r>"), Reason::MalformedXml);
    assert_eq!(reason("<r>a & b</r>"), Reason::MalformedXml);
}

#[test]
fn predefined_entities_and_char_refs_expand() {
    let doc = parse("<r>&lt;&gt;&amp;&apos;&quot;&#233;&#x1F600;</r>").unwrap();
    assert_eq!(doc.text_content(doc.root()), "<>&'\"é😀");
}

#[test]
fn depth_limit_is_too_large() {
    let deep = "<a>".repeat(100_000);
    assert_eq!(reason(&deep), Reason::TooLarge);
    let ok = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
    assert!(parse(&ok).is_ok());
    let over = format!("{}{}", "<a>".repeat(65), "</a>".repeat(65));
    assert_eq!(reason(&over), Reason::TooLarge);
}

#[test]
fn size_and_attribute_limits_are_too_large() {
    let big = format!("<r>{}</r>", "x".repeat(1024 * 1024));
    assert_eq!(reason(&big), Reason::TooLarge);
    let attrs: String = (0..300).map(|i| format!(" a{i}=\"1\"")).collect();
    assert_eq!(reason(&format!("<r{attrs}/>")), Reason::TooLarge);
    let limits = Limits {
        max_nodes: 10,
        ..Limits::default()
    };
    let many = format!("<r>{}</r>", "<a/>".repeat(20));
    let err = Document::parse(many.as_bytes(), &limits).unwrap_err();
    assert_eq!(err.reason(), Reason::TooLarge);
}

#[test]
fn namespace_errors_are_malformed() {
    assert_eq!(reason("<p:r/>"), Reason::MalformedXml);
    assert_eq!(reason("<r xmlns:p=\"\"/>"), Reason::MalformedXml);
    assert_eq!(
        reason("<r xmlns:p=\"urn:a\" p:x=\"1\" xmlns:q=\"urn:a\" q:x=\"2\"/>"),
        Reason::MalformedXml
    );
    assert_eq!(
        reason("<saml:Assertion:x xmlns:saml=\"urn:a\"/>"),
        Reason::MalformedXml
    );
    assert_eq!(reason("<r xmlns:xmlns=\"urn:a\"/>"), Reason::MalformedXml);
    assert_eq!(reason("<r xmlns:xml=\"urn:a\"/>"), Reason::MalformedXml);
    assert_eq!(reason("<r a=\"1\" a=\"2\"/>"), Reason::MalformedXml);
}

#[test]
fn structure_errors_are_malformed() {
    for bad in [
        "",
        "<r>",
        "<r></s>",
        "<r/><r/>",
        "x<r/>",
        "<r/>x",
        "<r a=\"<\"/>",
        "<r>\u{1}</r>",
        "<r><!-- a -- b --></r>",
    ] {
        assert_eq!(reason(bad), Reason::MalformedXml, "{bad:?}");
    }
    assert_eq!(
        Document::parse(b"<r>\xff</r>", &Limits::default())
            .unwrap_err()
            .reason(),
        Reason::MalformedXml
    );
    assert_eq!(
        reason("<?xml version=\"1.0\" encoding=\"EBCDIC\"?><r/>"),
        Reason::MalformedXml
    );
}

#[test]
fn bom_and_declaration_are_accepted() {
    let doc = Document::parse(
        b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r/>",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(doc.local_name(doc.root()), "r");
}

#[test]
fn text_content_skips_comments_but_keeps_all_text() {
    let doc = parse("<n>admin@example.com<!---->.evil.test</n>").unwrap();
    assert_eq!(doc.text_content(doc.root()), "admin@example.com.evil.test");
    let doc = parse("<n>admin@example.com<![CDATA[]]>.evil.test</n>").unwrap();
    assert_eq!(doc.text_content(doc.root()), "admin@example.com.evil.test");
    let doc = parse("<n><!---->a</n>").unwrap();
    assert_eq!(doc.text_content(doc.root()), "a");
}

#[test]
fn namespaces_resolve_by_uri_not_prefix() {
    let doc =
        parse("<foo:A xmlns:foo=\"urn:x\"><B xmlns=\"urn:y\"><C xmlns=\"\"/></B></foo:A>").unwrap();
    let a = doc.root();
    assert!(doc.is(a, "urn:x", "A"));
    let b = doc.child_elements(a).next().unwrap();
    assert!(doc.is(b, "urn:y", "B"));
    let c = doc.child_elements(b).next().unwrap();
    assert_eq!(doc.namespace(c), None);
}

#[test]
fn line_ends_and_attribute_whitespace_are_normalized() {
    let doc = parse("<r a=\"x\ty\r\nz&#10;\">1\r\n2\r3</r>").unwrap();
    assert_eq!(doc.attr(doc.root(), "a"), Some("x y z\n"));
    assert_eq!(doc.text_content(doc.root()), "1\n2\n3");
}

#[test]
fn exclusive_c14n_emits_only_visibly_used_namespaces() {
    let s = "<a:r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns:c=\"urn:c\"><a:x b:at=\"1\" z=\"2\"/></a:r>";
    assert_eq!(
        c14n(s, C14nMethod::Exclusive, false, Some(1)),
        "<a:x xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" z=\"2\" b:at=\"1\"></a:x>"
    );
    assert_eq!(
        c14n(s, C14nMethod::Inclusive10, false, Some(1)),
        "<a:x xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns:c=\"urn:c\" z=\"2\" b:at=\"1\"></a:x>"
    );
}

#[test]
fn c14n_escapes_and_sorts() {
    let s = "<r b=\"&quot;&#9;&#13;\" a=\"&lt;&gt;\">&lt;&gt;&amp;&#13;</r>";
    assert_eq!(
        c14n(s, C14nMethod::Inclusive10, false, None),
        "<r a=\"&lt;>\" b=\"&quot;&#x9;&#xD;\">&lt;&gt;&amp;&#xD;</r>"
    );
}

#[test]
fn c14n_document_comments_and_pis() {
    let s = "<?xml version=\"1.0\"?>\n<!--c1--><?p d?>\n<r><!--in--></r>\n<!--c2-->";
    assert_eq!(
        c14n(s, C14nMethod::Inclusive10, false, None),
        "<?p d?>\n<r></r>"
    );
    assert_eq!(
        c14n(s, C14nMethod::Inclusive10, true, None),
        "<!--c1-->\n<?p d?>\n<r><!--in--></r>\n<!--c2-->"
    );
}

#[test]
fn c14n_excludes_the_enveloped_subtree() {
    let s = "<r ID=\"x\"><a/><ds:Signature xmlns:ds=\"urn:ds\"><v/></ds:Signature><b/></r>";
    let doc = parse(s).unwrap();
    let sig = doc.elements().nth(2).unwrap();
    let options = C14nOptions {
        exclude: Some(sig),
        ..C14nOptions::new(C14nMethod::Exclusive)
    };
    assert_eq!(
        canonicalize_to_vec(&doc, Some(doc.root()), &options),
        b"<r ID=\"x\"><a></a><b></b></r>"
    );
}

#[test]
fn reason_codes_are_unique_and_match_design() {
    let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let design = "malformed_input malformed_xml forbidden_dtd too_large schema_violation \
status_not_success unknown_issuer issuer_mismatch destination_mismatch \
in_response_to_mismatch no_assertion multiple_assertions unsigned \
signature_invalid digest_mismatch untrusted_key unsupported_algorithm \
weak_algorithm reference_invalid decryption_failed expired not_yet_valid \
audience_mismatch recipient_mismatch subject_confirmation_invalid replayed \
missing_attribute nameid_format_mismatch";
    assert_eq!(codes.join(" "), design);
}

/// `#default` in an InclusiveNamespaces PrefixList: the in-scope default
/// namespace is rendered at the apex by the inclusive rule (Exc-C14N §3).
/// lxml cannot express `#default`, so this case is derived from the spec
/// rather than from the libxml2 differential corpus.
#[test]
fn exclusive_prefix_list_default_namespace() {
    let xml = b"<a xmlns='urn:d' xmlns:p='urn:p'><p:b><c/></p:b></a>";
    let doc = crate::Document::parse(xml, &crate::Limits::default()).unwrap();
    let apex = doc.elements().nth(1).unwrap();
    let prefixes = ["#default"];
    let options = crate::C14nOptions {
        inclusive_prefixes: &prefixes,
        ..crate::C14nOptions::new(crate::C14nMethod::Exclusive)
    };
    assert_eq!(
        crate::canonicalize_to_vec(&doc, Some(apex), &options),
        b"<p:b xmlns=\"urn:d\" xmlns:p=\"urn:p\"><c></c></p:b>"
    );
}
