#!/usr/bin/env python3
"""Generates the crafted attack fixtures of tests/attacks.rs.

Every signature is made by Debian's xmlsec1 (an independent signer); lxml
only builds templates and applies the attack edits afterwards, as an
attacker would. Keys are made once with openssl and kept (keys/), so reruns
are stable. Each case is tests/attacks/cases/<id>/{case.json, response.*,
idp-cert.pem}, in the format of the conformance corpus; the expected reason
is the right behaviour per ../shared/ATTACKS.md (section in `description`),
not whatever samlgate happens to say.

Run: python3 tests/attacks/gen.py   (needs xmlsec1, openssl, python3-lxml)
"""
import base64
import copy
import json
import os
import shutil
import subprocess
import tempfile

from lxml import etree

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
CASES = os.path.join(HERE, "cases")

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}

IDP = "https://idp.attack.test/saml2"
SP = "https://sp.attack.test/saml/metadata"
ACS = "https://sp.attack.test/saml/acs"
NOW = "2024-06-01T12:01:00Z"
BASE_ARGS = ["--idp-cert", "idp-cert.pem", "--sp-entity-id", SP, "--acs-url", ACS, "--now", NOW]
MODES = ["assertion", "response", "both"]
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def ensure_key(name):
    key, cert = os.path.join(KEYS, f"{name}-key.pem"), os.path.join(KEYS, f"{name}-cert.pem")
    if not os.path.exists(key):
        os.makedirs(KEYS, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "36500",
                        "-subj", f"/CN={name}.attack.test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    return key, cert


def response_xml(name_id="alice@example.com", destination=ACS, recipient=ACS, status="Success",
                 version="2.0", response_issuer=IDP):
    return f"""<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r" Version="{version}" IssueInstant="2024-06-01T12:00:00Z" Destination="{destination}" InResponseTo="_req"><saml:Issuer>{response_issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status}"/></samlp:Status><saml:Assertion ID="_a" Version="2.0" IssueInstant="2024-06-01T12:00:00Z"><saml:Issuer>{IDP}</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="_req" Recipient="{recipient}" NotOnOrAfter="2024-06-01T12:05:00Z"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2024-06-01T11:59:00Z" NotOnOrAfter="2024-06-01T12:05:00Z"><saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="2024-06-01T12:00:00Z" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="groups"><saml:AttributeValue>staff</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"""


def signature_template(ref, sig_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                       digest="http://www.w3.org/2001/04/xmlenc#sha256"):
    return etree.fromstring(
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC}"/>'
        f'<ds:SignatureMethod Algorithm="{sig_alg}"/><ds:Reference URI="#{ref}"><ds:Transforms>'
        f'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        f'<ds:Transform Algorithm="{EXC}"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/>'
        f'<ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/>'
        f'<ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>')


def xmlsec_sign(xml_bytes, key="idp", id_attr="Response"):
    k, c = ensure_key(key)
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.xml"), os.path.join(d, "out.xml")
        open(src, "wb").write(xml_bytes)
        ids = {"Assertion": "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
               "Response": "urn:oasis:names:tc:SAML:2.0:protocol:Response"}
        # Both ID attributes registered (attacks reference across elements);
        # xmlsec1 refuses a document whose IDs clash, so then only the target's.
        for names in (list(ids.values()), [ids[id_attr]]):
            cmd = ["xmlsec1", "--sign", "--privkey-pem", f"{k},{c}"]
            for n in names:
                cmd += ["--id-attr:ID", n]
            r = subprocess.run(cmd + ["--output", out, src], capture_output=True)
            if r.returncode == 0:
                return open(out, "rb").read()
        raise RuntimeError(r.stderr.decode())


def insert_after_issuer(parent, sig):
    issuer = parent.find("saml:Issuer", NS)
    issuer.addnext(sig)


def sign(xml, mode, key="idp", sig_alg=None, digest=None, assertion_ref="_a", response_ref="_r"):
    """Signs per mode with xmlsec1: assertion first, then response."""
    kw = {}
    if sig_alg:
        kw["sig_alg"] = sig_alg
    if digest:
        kw["digest"] = digest
    data = xml.encode()
    if mode in ("assertion", "both"):
        root = etree.fromstring(data)
        insert_after_issuer(root.find("saml:Assertion", NS), signature_template(assertion_ref, **kw))
        data = xmlsec_sign(etree.tostring(root), key, "Assertion")
    if mode in ("response", "both"):
        root = etree.fromstring(data)
        insert_after_issuer(root, signature_template(response_ref, **kw))
        data = xmlsec_sign(etree.tostring(root), key, "Response")
    return data


def parse(data):
    return etree.fromstring(data)


def ser(root):
    return etree.tostring(root)


def set_name_id(el, value):
    for n in el.iter(f"{{{SAML}}}NameID"):
        n.text = value


def assertion_of(root):
    return root.find("saml:Assertion", NS)


def remove_signature(el):
    s = el.find("ds:Signature", NS)
    if s is not None:
        el.remove(s)


cases = []


def case(cid, section, mode, data, expect, description, args=None, stdin=False, fname="response.xml"):
    cases.append((cid, section, mode, data, expect, description, args or BASE_ARGS, stdin, fname))


def invalid(*reasons):
    return {"valid": False, "reasons": list(reasons)}


EVIL = "admin@example.com"


def gen():
    signed = {m: sign(response_xml(), m) for m in MODES}

    # Positive controls: the untouched fixture verifies in every mode.
    for m in MODES:
        case(f"s00-control-{m}", "§0", m, signed[m],
             {"valid": True, "name_id": "alice@example.com", "attributes": {"groups": ["staff"]}},
             "untouched base fixture: must verify (proves the fixtures are real)")

    # §1 XSW1..XSW8 (SAML Raider constructions).
    for m in ("response", "both"):
        for variant in ("xsw1", "xsw2"):
            root = parse(signed[m])
            clone = copy.deepcopy(root)
            remove_signature(clone)
            set_name_id(root, EVIL)
            root.set("ID", "_evil_response_ID")
            sig = root.find("ds:Signature", NS)
            if variant == "xsw1":
                sig.append(clone)
            else:
                sig.addprevious(clone)
            case(f"s01-{variant}-{m}", "§1", m, ser(root),
                 invalid("reference_invalid", "multiple_assertions"),
                 f"{variant.upper()}: clean signed Response copy wrapped, evil root Response")
    for m in ("assertion", "both"):
        # XSW3: evil unsigned assertion before the original.
        root = parse(signed[m])
        a = assertion_of(root)
        evil = copy.deepcopy(a)
        remove_signature(evil)
        set_name_id(evil, EVIL)
        evil.set("ID", "_evil_assertion_ID")
        a.addprevious(evil)
        case(f"s01-xsw3-{m}", "§1", m, ser(root), invalid("multiple_assertions", "digest_mismatch"),
             "XSW3: evil assertion inserted before the signed one")
        # XSW4: evil assertion appended, original moved inside it.
        root = parse(signed[m])
        a = assertion_of(root)
        evil = copy.deepcopy(a)
        remove_signature(evil)
        set_name_id(evil, EVIL)
        evil.set("ID", "_evil_assertion_ID")
        root.remove(a)
        evil.append(a)
        root.append(evil)
        case(f"s01-xsw4-{m}", "§1", m, ser(root), invalid("multiple_assertions", "digest_mismatch"),
             "XSW4: signed assertion moved inside an evil assertion")
        # XSW5: evil edits in place (keeps Signature), clean clone appended.
        root = parse(signed[m])
        a = assertion_of(root)
        clean = copy.deepcopy(a)
        remove_signature(clean)
        set_name_id(a, EVIL)
        a.set("ID", "_evil_assertion_ID")
        root.append(clean)
        case(f"s01-xsw5-{m}", "§1", m, ser(root),
             invalid("multiple_assertions", "reference_invalid", "digest_mismatch"),
             "XSW5: evil assertion keeps the Signature, clean copy appended to Response")
        # XSW6: as XSW5, clean clone inside the original Signature.
        root = parse(signed[m])
        a = assertion_of(root)
        clean = copy.deepcopy(a)
        remove_signature(clean)
        set_name_id(a, EVIL)
        a.set("ID", "_evil_assertion_ID")
        a.find("ds:Signature", NS).append(clean)
        case(f"s01-xsw6-{m}", "§1", m, ser(root),
             invalid("multiple_assertions", "reference_invalid", "schema_violation"),
             "XSW6: clean copy nested in the evil assertion's Signature")
        # XSW7: Extensions before the assertion holding an evil clone with the same ID.
        root = parse(signed[m])
        a = assertion_of(root)
        evil = copy.deepcopy(a)
        remove_signature(evil)
        set_name_id(evil, EVIL)
        ext = etree.Element("Extensions")
        ext.append(evil)
        a.addprevious(ext)
        case(f"s01-xsw7-{m}", "§1", m, ser(root), invalid("reference_invalid", "multiple_assertions"),
             "XSW7: unqualified Extensions with an evil clone carrying the same ID")
        # XSW8: evil in place with same ID, clean clone in ds:Object of the Signature.
        root = parse(signed[m])
        a = assertion_of(root)
        clean = copy.deepcopy(a)
        remove_signature(clean)
        set_name_id(a, EVIL)
        obj = etree.SubElement(a.find("ds:Signature", NS), f"{{{DS}}}Object")
        obj.append(clean)
        case(f"s01-xsw8-{m}", "§1", m, ser(root),
             invalid("reference_invalid", "multiple_assertions", "schema_violation"),
             "XSW8: clean clone with the same ID in a ds:Object of the signature")

    # §2 comment injection: the signature stays valid, the whole text is used.
    for m in MODES:
        data = signed_with_name(m, "admin@example.com.evil.test")
        data = data.replace(b">admin@example.com.evil.test<", b">admin@example.com<!---->.evil.test<")
        case(f"s02-comment-nameid-{m}", "§2", m, data,
             {"valid": True, "name_id": "admin@example.com.evil.test"},
             "comment inside the signed NameID: valid, the full text is returned")
        data = signed_with_name(m, "admin@example.com.evil.test")
        data = data.replace(b">admin@example.com.evil.test<",
                            b"><!--x-->admin@example.com<![CDATA[]]>.evil.test<")
        case(f"s02-comment-cdata-nameid-{m}", "§2", m, data,
             {"valid": True, "name_id": "admin@example.com.evil.test"},
             "leading comment and empty CDATA split in the NameID: valid, whole text")
        data = signed_with_name(m, "admin@example.com.evil.test")
        data = data.replace(b">admin@example.com.evil.test<", b">admin@example.com<?x?>.evil.test<")
        case(f"s02-pi-nameid-{m}", "§2", m, data, invalid("digest_mismatch"),
             "processing instruction in the NameID: c14n keeps PIs, so the digest breaks (negative control)")

    # §3 signature stripping.
    for m in MODES:
        root = parse(signed[m])
        for s in list(root.iter(f"{{{DS}}}Signature")):
            s.getparent().remove(s)
        set_name_id(root, EVIL)
        case(f"s03-stripped-{m}", "§3", m, ser(root), invalid("unsigned"), "every Signature removed, NameID edited")
        root = parse(signed[m])
        for v in root.iter(f"{{{DS}}}SignatureValue"):
            v.text = ""
        # With both signatures, the emptied assertion SignatureValue is inside
        # the Response signature's digest, which may trip first.
        reasons = ["signature_invalid", "schema_violation"] + (["digest_mismatch"] if m == "both" else [])
        case(f"s03-empty-signature-value-{m}", "§3", m, ser(root), invalid(*reasons),
             "SignatureValue emptied")
        root = parse(signed[m])
        for r in list(root.iter(f"{{{DS}}}Reference")):
            r.getparent().remove(r)
        case(f"s03-no-reference-{m}", "§3", m, ser(root), invalid("reference_invalid", "schema_violation"),
             "SignedInfo without Reference")
    root = parse(signed["both"])
    remove_signature(assertion_of(root))
    set_name_id(root, EVIL)
    case("s03-keep-response-sig-edit-assertion-both", "§3", "both", ser(root), invalid("digest_mismatch"),
         "assertion signature removed and assertion edited; the Response signature covers it")

    # §4 attacker certificate in KeyInfo; (5) legitimate signature with KeyInfo swapped.
    ensure_key("attacker")
    for m in MODES:
        case(f"s04-attacker-cert-{m}", "§4", m, sign(response_xml(EVIL), m, key="attacker"),
             invalid("untrusted_key"), "evil response re-signed with the attacker key, attacker cert in KeyInfo")
        root = parse(signed[m])
        att = "".join(l for l in open(os.path.join(KEYS, "attacker-cert.pem")).read().splitlines() if "---" not in l)
        # Only the outermost signature's KeyInfo: in "both" mode the
        # assertion's KeyInfo is inside what the Response signature covers.
        outer = root.find("ds:Signature", NS)
        if outer is None:
            outer = assertion_of(root).find("ds:Signature", NS)
        for c in outer.iter(f"{{{DS}}}X509Certificate"):
            c.text = att
        case(f"s04-keyinfo-swapped-{m}", "§4", m, ser(root),
             {"valid": True, "name_id": "alice@example.com"},
             "legitimate signature, KeyInfo replaced by the attacker cert: KeyInfo is only a hint, accept")

    # §5 unsigned evil assertion beside the signed one (5a/5d).
    for m in MODES:
        root = parse(signed[m])
        a = assertion_of(root)
        evil = copy.deepcopy(a)
        remove_signature(evil)
        set_name_id(evil, EVIL)
        evil.set("ID", "_a2")
        a.addnext(evil)
        case(f"s05-unsigned-beside-signed-{m}", "§5", m, ser(root), invalid("multiple_assertions", "digest_mismatch"),
             "unsigned evil assertion appended after the signed one")
    # 5b: signed assertion, unsigned Response issuer changed.
    root = parse(signed["assertion"])
    root.find("saml:Issuer", NS).text = "https://other-idp.attack.test"
    case("s05-response-issuer-changed-assertion", "§5", "assertion", ser(root), invalid("issuer_mismatch"),
         "assertion signed; unsigned Response Issuer set to another IdP")

    # §6 two signed assertions (two logins) in one Response.
    for m in MODES:
        other = parse(sign(response_xml("bob@example.com").replace('ID="_a"', 'ID="_b"'), "assertion", assertion_ref="_b"))
        root = parse(signed[m])
        assertion_of(root).addnext(assertion_of(other))
        case(f"s06-two-signed-assertions-{m}", "§6", m, ser(root), invalid("multiple_assertions"),
             "two validly signed assertions in one Response")
        root = parse(signed[m])
        adv = etree.SubElement(assertion_of(root), f"{{{SAML}}}Advice")
        nested = copy.deepcopy(assertion_of(parse(signed["assertion"])))
        nested.set("ID", "_n")
        adv.append(nested)
        case(f"s06-assertion-in-advice-{m}", "§6", m, ser(root),
             invalid("multiple_assertions", "digest_mismatch"), "assertion nested in Advice")

    # §7 duplicate IDs.
    for m in MODES:
        root = parse(signed[m])
        ext = etree.Element(f"{{{SAMLP}}}Extensions")
        foo = etree.SubElement(ext, "{urn:x}Foo")
        foo.set("ID", "_a")
        root.find("saml:Issuer", NS).addnext(ext)
        case(f"s07-duplicate-id-{m}", "§7", m, ser(root), invalid("reference_invalid"),
             "a foreign element in Extensions carries the assertion's ID")
    root = parse(signed["assertion"])
    root.set("ID", "_a")  # the Response is unsigned in this mode: an attacker edit
    data = ser(root)
    case("s07-response-id-equals-assertion-id-assertion", "§7", "assertion", data, invalid("reference_invalid"),
         "the Response ID equals the assertion ID")

    # §8 Reference to another element than the signature's parent (signed by xmlsec1).
    case("s08-reference-to-response-assertion", "§8", "assertion",
         sign(response_xml(), "assertion", assertion_ref="_r"), invalid("reference_invalid"),
         "assertion Signature whose Reference names the Response")
    case("s08-reference-to-assertion-response", "§8", "response",
         sign(response_xml(), "response", response_ref="_a"), invalid("reference_invalid", "unsigned"),
         "Response Signature whose Reference names the assertion")
    root = parse(sign(response_xml(), "both"))
    for r in root.iter(f"{{{DS}}}Reference"):
        r.set("URI", "")
    case("s08-empty-reference-uri-both", "§8", "both", ser(root), invalid("reference_invalid"),
         "Reference URI=\"\" (whole document)")

    # §11 DTD / XXE / billion laughs.
    body = signed["assertion"]
    if body.startswith(b"<?xml"):
        body = body[body.index(b"?>") + 2:].lstrip()
    case("s11-doctype-assertion", "§11", "assertion", b'<!DOCTYPE r [<!ELEMENT r ANY>]>' + body,
         invalid("forbidden_dtd"), "harmless internal DTD")
    case("s11-xxe-assertion", "§11", "assertion",
         b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
         body.replace(b">alice@example.com<", b">&xxe;<"), invalid("forbidden_dtd"), "external entity (XXE)")
    lol = b'<!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)) + b"]>"
    case("s11-billion-laughs-assertion", "§11", "assertion", lol + body.replace(b">alice@example.com<", b">&lol9;<"),
         invalid("forbidden_dtd"), "billion laughs")

    # §12 HMAC SignatureMethod and HMACOutputLength.
    for m in MODES:
        root = parse(signed[m])
        for sm in root.iter(f"{{{DS}}}SignatureMethod"):
            sm.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
            etree.SubElement(sm, f"{{{DS}}}HMACOutputLength").text = "0"
        case(f"s12-hmac-{m}", "§12", m, ser(root), invalid("unsupported_algorithm"),
             "HMAC SignatureMethod with HMACOutputLength 0 (CVE-2009-0217)")

    # §13 XSLT and XPath transforms.
    for m in MODES:
        for kind, alg in (("xslt", "http://www.w3.org/TR/1999/REC-xslt-19991116"),
                          ("xpath", "http://www.w3.org/TR/1999/REC-xpath-19991116")):
            root = parse(signed[m])
            for t in root.iter(f"{{{DS}}}Transforms"):
                tr = etree.SubElement(t, f"{{{DS}}}Transform")
                tr.set("Algorithm", alg)
                if kind == "xpath":
                    etree.SubElement(tr, f"{{{DS}}}XPath").text = "not(ancestor-or-self::ds:Signature)"
            case(f"s13-{kind}-transform-{m}", "§13", m, ser(root), invalid("unsupported_algorithm"),
                 f"{kind.upper()} transform added to the Reference")

    # §14 SHA-1 without --allow-sha1 (signed with rsa-sha1 + sha1 by xmlsec1).
    for m in MODES:
        data = sign(response_xml(), m, sig_alg="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                    digest="http://www.w3.org/2000/09/xmldsig#sha1")
        case(f"s14-sha1-{m}", "§14", m, data, invalid("weak_algorithm"), "rsa-sha1 and SHA-1 digest, no --allow-sha1")
        case(f"s14-sha1-allowed-{m}", "§14", m, data, {"valid": True, "name_id": "alice@example.com"},
             "the same with --allow-sha1: accepted", args=BASE_ARGS + ["--allow-sha1"])

    # §17 audience / recipient / destination / InResponseTo.
    for m in MODES:
        other = ["--sp-entity-id", "https://other-sp.attack.test/saml/metadata"]
        args = [a for a in BASE_ARGS]
        args[args.index("--sp-entity-id") + 1] = other[1]
        case(f"s17-wrong-audience-{m}", "§17", m, signed[m], invalid("audience_mismatch"),
             "assertion for another SP (audience)", args=args)
        case(f"s17-wrong-destination-{m}", "§17", m,
             sign(response_xml(destination="https://other-sp.attack.test/saml/acs"), m),
             invalid("destination_mismatch"), "Destination is another SP's ACS")
        case(f"s17-wrong-recipient-{m}", "§17", m,
             sign(response_xml(recipient="https://other-sp.attack.test/saml/acs"), m),
             invalid("recipient_mismatch"), "bearer Recipient is another SP's ACS")
        case(f"s17-in-response-to-mismatch-{m}", "§17", m, signed[m], invalid("in_response_to_mismatch"),
             "InResponseTo names another request", args=BASE_ARGS + ["--in-response-to", "_other_request"])
        case(f"s17-in-response-to-match-{m}", "§17", m, signed[m], {"valid": True, "name_id": "alice@example.com"},
             "InResponseTo matches (control)", args=BASE_ARGS + ["--in-response-to", "_req"])

    # §20 oversized and deeply nested; malformed base64 (10 MB is built by tests/attacks.rs).
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    case("s20-100k-deep", "§20", "none", deep, invalid("too_large"), "100,000 nested elements")
    case("s20-malformed-base64", "§20", "none", b"PHNhbWxwOlJlc3BvbnNl*&^%$#@!notbase64==",
         invalid("malformed_input"), "SAMLResponse that is not base64", fname="response.b64")

    # §23 time conditions (clock skew 180 s).
    for m in MODES:
        args = list(BASE_ARGS)
        args[args.index("--now") + 1] = "2024-06-01T12:08:01Z"
        case(f"s23-expired-{m}", "§23", m, signed[m], invalid("expired"),
             "evaluated 3 min 1 s after NotOnOrAfter (past the 180 s skew)", args=args)
        args = list(BASE_ARGS)
        args[args.index("--now") + 1] = "2024-06-01T11:55:59Z"
        case(f"s23-not-yet-valid-{m}", "§23", m, signed[m], invalid("not_yet_valid"),
             "evaluated 3 min 1 s before NotBefore", args=args)
        args = list(BASE_ARGS)
        args[args.index("--now") + 1] = "2024-06-01T12:07:59Z"
        case(f"s23-within-skew-{m}", "§23", m, signed[m], {"valid": True, "name_id": "alice@example.com"},
             "2 min 59 s after NotOnOrAfter: inside the skew, accepted (control)", args=args)

    # §24 status, issuer, version.
    for m in MODES:
        case(f"s24-status-responder-{m}", "§24", m, sign(response_xml(status="Responder"), m),
             invalid("status_not_success"), "top-level status Responder")
        case(f"s24-version-1-1-{m}", "§24", m, sign(response_xml(version="1.1"), m),
             invalid("schema_violation"), "Response Version 1.1")
    case("s24-issuer-mismatch-both", "§24", "both",
         sign(response_xml(response_issuer="https://other-idp.attack.test"), "both"),
         invalid("issuer_mismatch", "unknown_issuer"), "Response and Assertion issuers differ (both signed)")


_named = {}


def signed_with_name(mode, name):
    key = (mode, name)
    if key not in _named:
        _named[key] = sign(response_xml(name), mode)
    return _named[key]


def write():
    if os.path.isdir(CASES):
        shutil.rmtree(CASES)
    _, cert = ensure_key("idp")
    xmlsec_version = subprocess.run(["xmlsec1", "--version"], capture_output=True, text=True).stdout.strip()
    for cid, section, mode, data, expect, description, args, stdin, fname in cases:
        d = os.path.join(CASES, cid)
        os.makedirs(d)
        open(os.path.join(d, fname), "wb").write(data)
        shutil.copy(cert, os.path.join(d, "idp-cert.pem"))
        json.dump({"id": cid, "section": section, "mode": mode,
                   "description": f"ATTACKS.md {section}: {description}",
                   "args": args, "input": fname, "stdin": stdin, "expect": expect,
                   "signer": xmlsec_version},
                  open(os.path.join(d, "case.json"), "w"), indent=1, ensure_ascii=False)
    print(f"{len(cases)} cases in {CASES}")


if __name__ == "__main__":
    ensure_key("idp")
    gen()
    write()
