#!/usr/bin/env python3
"""Generates the c14n differential corpus of tests/c14n_corpus.rs.

Expected outputs come from libxml2, never from samlgate:
  - exclusive and inclusive C14N 1.0, with and without comments: python lxml
    (`etree.tostring(..., method="c14n", exclusive=..., with_comments=...,
    inclusive_ns_prefixes=...)`), for whole documents and for subsets rooted
    at a deep element (lxml canonicalizes the element's subtree);
  - C14N 1.1 (which lxml does not offer): `xmllint --c14n11` (libxml2-utils),
    whole documents only.
Inclusive subsets are generated only for documents without xml:* attributes
on the subset's ancestors: lxml's element canonicalization does not copy
inherited xml:* attributes onto the apex as the Canonical XML document-subset
rule does, so libxml2's output there is not the spec's answer for our use.

Run: python3 crates/samlgate-xml/tests/c14n/gen.py   (rewrites docs/, expected/, manifest.json)
"""
import json
import os
import shutil
import subprocess

from lxml import etree

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS, EXPECTED = os.path.join(HERE, "docs"), os.path.join(HERE, "expected")

SAML = 'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
SAMLP = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
DS = 'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'

# (name, document, subset element index or None, inclusive prefix list for exclusive c14n)
DOCUMENTS = [
    ("simple", "<a><b>text</b></a>", 1, []),
    ("empty-elements", "<a><b/><c></c><d x='1'/></a>", 3, []),
    ("attr-order", "<a z='1' a='2' m='3' b=\"4\"/>", None, []),
    ("attr-order-ns", "<a xmlns:p='urn:p' xmlns:q='urn:a' p:z='1' q:y='2' b='3' p:a='4'/>", None, []),
    ("attr-order-ns-uri-not-prefix", "<a xmlns:z='urn:a' xmlns:a='urn:z' a:x='1' z:x='2'/>", None, []),
    ("default-ns", "<a xmlns='urn:d'><b><c/></b></a>", 2, []),
    ("default-ns-undeclare", "<a xmlns='urn:d'><b xmlns=''><c/></b></a>", 1, []),
    ("default-ns-undeclare-unneeded", "<a><b xmlns=''><c/></b></a>", 1, []),
    ("default-ns-redeclare-same", "<a xmlns='urn:d'><b xmlns='urn:d'><c/></b></a>", 1, []),
    ("default-ns-change", "<a xmlns='urn:1'><b xmlns='urn:2'><c xmlns='urn:1'/></b></a>", 2, []),
    ("prefix-redeclare-same", "<p:a xmlns:p='urn:p'><p:b xmlns:p='urn:p'/></p:a>", 1, []),
    ("prefix-redeclare-other", "<p:a xmlns:p='urn:p'><p:b xmlns:p='urn:q'><p:c/></p:b></p:a>", 2, []),
    ("prefix-unused", "<a xmlns:u='urn:unused'><b/></a>", 1, []),
    ("prefix-unused-inclusive-list", "<a xmlns:u='urn:unused'><b/></a>", 1, ["u"]),
    ("prefix-used-in-attr-only", "<a xmlns:p='urn:p'><b p:x='1'/></a>", 1, []),
    ("prefix-used-in-attr-deep", "<a xmlns:p='urn:p' xmlns:q='urn:q'><b><c q:y='2' p:x='1'/></b></a>", 2, []),
    ("prefix-in-attr-value-qname", f"<samlp:R {SAMLP} xmlns:xs='http://www.w3.org/2001/XMLSchema' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'><v xsi:type='xs:string'>x</v></samlp:R>", 1, []),
    ("prefix-in-attr-value-inclusive", f"<samlp:R {SAMLP} xmlns:xs='http://www.w3.org/2001/XMLSchema' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'><v xsi:type='xs:string'>x</v></samlp:R>", 1, ["xs"]),
    # lxml silently drops "#default" from inclusive_ns_prefixes (it keeps
    # only prefixes found in the document's name dictionary), so the
    # default namespace in a PrefixList is covered by the conformance
    # corpus's real signatures instead; here the lists name prefixes.
    ("inclusive-prefix-unused-at-apex", "<a xmlns='urn:d' xmlns:p='urn:p'><p:b><c/></p:b></a>", 1, ["p"]),
    ("inclusive-prefix-list-two", "<a xmlns='urn:d' xmlns:p='urn:p' xmlns:q='urn:q' xmlns:r='urn:r'><p:b/></a>", 1, ["q", "r"]),
    ("ns-decl-order", "<a xmlns:z='urn:z' xmlns:b='urn:b' xmlns='urn:d' xmlns:m='urn:m' z:x='1' b:y='2' m:w='3'/>", None, []),
    ("ns-on-ancestor-used-deep", "<p:a xmlns:p='urn:p'><x><y><p:z/></y></x></p:a>", 3, []),
    ("ns-many-levels", "<a xmlns:a='urn:a'><b xmlns:b='urn:b'><c xmlns:c='urn:c'><a:d b:x='1' c:y='2'/></c></b></a>", 3, []),
    ("ns-sibling-redeclare", "<r xmlns:p='urn:p'><p:a/><p:b xmlns:p='urn:p2'/><p:c/></r>", 2, []),
    ("xml-lang", "<a xml:lang='en'><b>t</b></a>", None, []),
    ("xml-lang-ancestor-subset-exc", "<a xml:lang='en' xml:space='preserve'><b><c>t</c></b></a>", 1, []),
    ("xml-space-nested", "<a xml:space='preserve'><b xml:space='default'> x </b></a>", None, []),
    ("xml-base", "<a xml:base='http://e.test/a/'><b xml:base='b/'/></a>", None, []),
    ("xml-id", "<a xml:id='i1'><b/></a>", None, []),
    ("text-escaping", "<a>&amp; &lt; &gt; \" ' &#x9; x</a>", None, []),
    ("text-gt-literal", "<a>a > b</a>", None, []),
    ("attr-escaping", "<a x='&amp;&lt;&gt;&quot;' y=\"'\" z='&#9;&#10;&#13;'/>", None, []),
    ("attr-whitespace-normalized", "<a x='a\tb\nc  d'/>", None, []),
    ("attr-quote-styles", "<a x='\"' y=\"'\" z=\"&quot;\"/>", None, []),
    ("char-refs", "<a>&#65;&#x42;&#x10000;&#xe9;</a>", None, []),
    ("char-ref-cr", "<a>x&#xD;y&#13;z</a>", None, []),
    ("crlf-text", "<a>line1\r\nline2\rline3\nline4</a>", None, []),
    ("crlf-in-attr", "<a x='1\r\n2'/>", None, []),
    ("crlf-between-elements", "<a>\r\n  <b/>\r\n</a>", None, []),
    ("comment-in-root", "<a><!-- c1 --><b/><!--c2--></a>", 1, []),
    ("comment-outside-root", "<!-- before --><a/><!-- after -->", None, []),
    ("comment-in-text", "<a>user@evil.com<!---->.example.com</a>", None, []),
    ("comment-deep-subset", "<a><b><!-- in b --><c>x<!--y-->z</c></b></a>", 1, []),
    ("pi-in-root", "<a><?target data?><b/></a>", None, []),
    ("pi-outside-root", "<?pi1 x?><a/><?pi2?>", None, []),
    ("pi-no-data", "<a><?t?></a>", None, []),
    ("pi-and-comment-outside", "<?xml version='1.0'?>\n<!--c--><?p d?>\n<a/>\n<!--e-->", None, []),
    ("cdata", "<a><![CDATA[<b>&amp;</b> ]]]]><![CDATA[>]]></a>", None, []),
    ("cdata-mixed", "<a>x<![CDATA[y<]]>z</a>", None, []),
    ("cdata-crlf", "<a><![CDATA[1\r\n2]]></a>", None, []),
    ("xml-decl-dropped", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>", None, []),
    ("whitespace-outside-root", "\n\n<a/>\n\n", None, []),
    ("whitespace-in-tags", "<a   x = '1'   ><b\n/></a   >", None, []),
    ("utf8", "<a x='Zoë'>山田太郎 Ångström — ✓</a>", None, []),
    ("utf8-names", "<é xmlns:ñ='urn:n'><ñ:ü/></é>", 1, []),
    ("mixed-content", "<a>t1<b>t2</b>t3<c/>t4</a>", 1, []),
    ("deep-subset", "<a><b><c><d><e><f>deep</f></e></d></c></b></a>", 4, []),
    ("deep-subset-ns", "<a xmlns='urn:d' xmlns:p='urn:p'><b><c><p:d><e p:x='1'>v</e></p:d></c></b></a>", 4, []),
    ("sibling-subsets", "<r><a xmlns:p='urn:p'><p:x/></a><b><p:y xmlns:p='urn:p'/></b></r>", 3, []),
    ("empty-text", "<a></a>", None, []),
    ("only-whitespace-text", "<a> \t </a>", None, []),
    ("saml-assertion", f"<saml:Assertion {SAML} ID='_a' Version='2.0'><saml:Issuer>https://idp</saml:Issuer><saml:Subject><saml:NameID Format='urn:f'>alice</saml:NameID></saml:Subject></saml:Assertion>", 2, []),
    ("saml-response-subset", f"<samlp:Response {SAMLP} {SAML} ID='_r'><saml:Issuer>i</saml:Issuer><saml:Assertion ID='_a'><saml:Issuer>i</saml:Issuer></saml:Assertion></samlp:Response>", 2, []),
    ("saml-signature", f"<saml:Assertion {SAML} ID='_a'><ds:Signature {DS}><ds:SignedInfo><ds:CanonicalizationMethod Algorithm='http://www.w3.org/2001/10/xml-exc-c14n#'/><ds:Reference URI='#_a'/></ds:SignedInfo></ds:Signature></saml:Assertion>", 2, []),
    ("saml-signedinfo-default-ns", "<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'><SignedInfo><CanonicalizationMethod Algorithm='x'/></SignedInfo><SignatureValue>AA==</SignatureValue></Signature>", 1, []),
    ("saml-attribute-values", f"<saml:AttributeStatement {SAML}><saml:Attribute Name='roles'><saml:AttributeValue xmlns:xs='http://www.w3.org/2001/XMLSchema' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:type='xs:string'>r&amp;d &lt;team&gt;</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>", 2, []),
    ("saml-pretty-printed", f"<saml:Assertion {SAML}>\n  <saml:Issuer>i</saml:Issuer>\n  <saml:Subject>\n    <saml:NameID>n</saml:NameID>\n  </saml:Subject>\n</saml:Assertion>\n", 2, []),
    ("attr-same-local-different-ns", "<a xmlns:p='urn:p' xmlns:q='urn:q' p:x='1' q:x='2' x='3'/>", None, []),
    ("many-attrs", "<a " + " ".join(f"a{i:02d}='{i}'" for i in range(30, 0, -1)) + "/>", None, []),
]


def c14n_lxml(node, exclusive, comments, prefixes):
    kw = {"method": "c14n", "exclusive": exclusive, "with_comments": comments}
    if exclusive and prefixes:
        kw["inclusive_ns_prefixes"] = prefixes
    return etree.tostring(node, **kw)


def c14n11_xmllint(path, comments):
    # xmllint --c14n11 keeps comments; without them is not offered, so 1.1
    # outputs are generated only with comments.
    return subprocess.run(["xmllint", "--c14n11", path], check=True, capture_output=True).stdout


def main():
    for d in (DOCS, EXPECTED):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    lxml_version = ".".join(map(str, etree.LXML_VERSION))
    libxml_version = ".".join(map(str, etree.LIBXML_VERSION))
    xmllint_version = subprocess.run(["xmllint", "--version"], capture_output=True, text=True).stderr.splitlines()[0]
    manifest = []
    for name, text, subset, prefixes in DOCUMENTS:
        doc_path = os.path.join(DOCS, f"{name}.xml")
        with open(doc_path, "wb") as f:
            f.write(text.encode("utf-8"))
        tree = etree.parse(doc_path, etree.XMLParser(resolve_entities=False, remove_blank_text=False))
        elements = list(tree.getroot().iter(tag=etree.Element))
        ancestors_have_xml_attrs = False
        if subset is not None:
            ancestors_have_xml_attrs = any(
                k.startswith("{http://www.w3.org/XML/1998/namespace}")
                for a in elements[subset].iterancestors() for k in a.attrib)
        for method, exclusive in (("exclusive", True), ("inclusive10", False)):
            for comments in (False, True):
                targets = [(None, tree)]
                if subset is not None and (exclusive or not ancestors_have_xml_attrs):
                    targets.append((subset, elements[subset]))
                for index, node in targets:
                    out = c14n_lxml(node, exclusive, comments, prefixes)
                    fname = f"{name}.{method}{'.comments' if comments else ''}{'.subset' if index is not None else ''}.out"
                    with open(os.path.join(EXPECTED, fname), "wb") as f:
                        f.write(out)
                    manifest.append({"doc": f"docs/{name}.xml", "method": method, "with_comments": comments,
                                     "inclusive_prefixes": prefixes if exclusive else [],
                                     "subset_element_index": index, "expected": f"expected/{fname}",
                                     "tool": f"lxml {lxml_version} (libxml2 {libxml_version})"})
        out = c14n11_xmllint(doc_path, True)
        fname = f"{name}.inclusive11.comments.out"
        with open(os.path.join(EXPECTED, fname), "wb") as f:
            f.write(out)
        manifest.append({"doc": f"docs/{name}.xml", "method": "inclusive11", "with_comments": True,
                         "inclusive_prefixes": [], "subset_element_index": None,
                         "expected": f"expected/{fname}", "tool": xmllint_version})
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"documents": len(DOCUMENTS), "cases": manifest}, f, indent=1, ensure_ascii=False)
    print(f"{len(DOCUMENTS)} documents, {len(manifest)} cases")


if __name__ == "__main__":
    main()
