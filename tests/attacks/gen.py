#!/usr/bin/env python3
"""Generates the crafted attack fixtures run by tests/attacks.rs.

Every signature is made by Debian's xmlsec1 (an independent signer), and
every EncryptedAssertion is encrypted by it too; lxml only builds templates
and applies the attack edits afterwards, as an attacker would (the few MACs
of §12 are computed here, because xmlsec1 is the thing being imitated: an
attacker who keys HMAC with public bytes). Keys are made once with openssl
and kept (keys/), so reruns are stable: RSA PKCS#1 v1.5 signatures are
deterministic, so only the §15 ciphertexts (random session keys, OAEP)
and the two DSA/ECDSA signatures of §14 change on a rerun.

Each case is tests/attacks/cases/<id>/{case.json, response.xml|response.b64,
idp-cert.pem[, sp-key.pem, idp-metadata.xml]}, in the format of the
conformance corpus. The expected reason is the right behaviour per
ATTACKS.md (section in `description`) and DESIGN.md, not whatever samlgate
happens to say. One reason per case; several only where the catalog itself
says that whichever of these guards trips first is right (§1 "depending on
which guard trips first", §5a "digest_mismatch or multiple_assertions", §4
"untrusted_key or signature_invalid", §6 "schema_violation /
signature_invalid", §14 "unsupported_algorithm / weak_algorithm", §15
"decryption_failed / unsupported_algorithm"), and then only the guards that
the input really violates.

Run: python3 tests/attacks/gen.py   (needs xmlsec1, openssl, python3-lxml)
"""
import base64
import copy
import hashlib
import hmac
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
XENC = "http://www.w3.org/2001/04/xmlenc#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS, "xenc": XENC}

IDP = "https://idp.attack.test/saml2"
SP = "https://sp.attack.test/saml/metadata"
ACS = "https://sp.attack.test/saml/acs"
OTHER_SP = "https://other-sp.attack.test/saml/metadata"
OTHER_ACS = "https://other-sp.attack.test/saml/acs"
NOW = "2024-06-01T12:01:00Z"
BASE_ARGS = ["--idp-cert", "idp-cert.pem", "--sp-entity-id", SP, "--acs-url", ACS, "--now", NOW]
DEC_ARGS = BASE_ARGS + ["--decryption-key", "sp-key.pem"]
MODES = ["assertion", "response", "both"]

EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_WC = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ENV = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
MD5 = "http://www.w3.org/2001/04/xmldsig-more#md5"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH2 = "http://www.w3.org/2002/06/xmldsig-filter2"
HMAC_SHA1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
STD_TRANSFORMS = [(ENV, ""), (EXC, "")]
EVIL = "admin@example.com"


# ---------------------------------------------------------------- keys

def ensure_key(name, newkey="rsa:2048"):
    """Makes keys/<name>-{key,cert}.pem once with openssl; reuses them."""
    key, cert = os.path.join(KEYS, f"{name}-key.pem"), os.path.join(KEYS, f"{name}-cert.pem")
    if not os.path.exists(key):
        os.makedirs(KEYS, exist_ok=True)
        extra = []
        if newkey == "ec":
            extra = ["-pkeyopt", "ec_paramgen_curve:P-256"]
        elif newkey == "dsa":
            params = os.path.join(KEYS, "dsa-params.pem")
            subprocess.run(["openssl", "dsaparam", "-out", params, "2048"], check=True, capture_output=True)
            newkey = f"dsa:{params}"
        subprocess.run(["openssl", "req", "-x509", "-newkey", newkey, *extra, "-nodes", "-days", "36500",
                        "-subj", f"/CN={name}.attack.test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    return key, cert


def ensure_clone_cert():
    """§4(2): the IdP certificate cloned (subject, issuer, serial, validity)
    onto the attacker's key, SAML Raider's "clone certificate"."""
    clone = os.path.join(KEYS, "clone-cert.pem")
    if not os.path.exists(clone):
        subprocess.run(["openssl", "x509", "-in", os.path.join(KEYS, "idp-cert.pem"),
                        "-key", os.path.join(KEYS, "attacker-key.pem"), "-preserve_dates", "-out", clone],
                       check=True, capture_output=True)
    return os.path.join(KEYS, "attacker-key.pem"), clone


def cert_b64(path):
    return "".join(l for l in open(path).read().splitlines() if "---" not in l)


# ------------------------------------------------------------ base fixture

ATTRS_DEFAULT = [("groups", ["staff"])]


def response_xml(name_id="alice@example.com", destination=ACS, recipient=ACS, status="Success",
                 version="2.0", response_issuer=IDP, assertion_issuer=IDP, audiences=None,
                 attrs=None, irt="_req", scd_not_on_or_after="2024-06-01T12:05:00Z",
                 status_inner=None, subject_id=None, assertion_id="_a"):
    """ATTACKS.md §0: R, with fixed instants (IssueInstant 12:00:00Z,
    NotBefore 11:59, NotOnOrAfter 12:05) evaluated at NOW = 12:01."""
    audiences = audiences if audiences is not None else [[SP]]
    attrs = attrs if attrs is not None else ATTRS_DEFAULT
    irt_attr = f' InResponseTo="{irt}"' if irt else ""
    dest_attr = f' Destination="{destination}"' if destination else ""
    scd_noa = f' NotOnOrAfter="{scd_not_on_or_after}"' if scd_not_on_or_after else ""
    inner = f'<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status_inner}"/>' if status_inner else ""
    a_issuer = f"<saml:Issuer>{assertion_issuer}</saml:Issuer>" if assertion_issuer else ""
    subject_id = subject_id or (f'<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
                                f'{name_id}</saml:NameID>')
    restr = "".join("<saml:AudienceRestriction>" + "".join(f"<saml:Audience>{a}</saml:Audience>" for a in r)
                    + "</saml:AudienceRestriction>" for r in audiences)
    attr_xml = "".join(f'<saml:Attribute Name="{n}">' + "".join(f"<saml:AttributeValue>{v}</saml:AttributeValue>"
                                                               for v in vs) + "</saml:Attribute>" for n, vs in attrs)
    return (f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r" Version="{version}" '
            f'IssueInstant="2024-06-01T12:00:00Z"{dest_attr}{irt_attr}><saml:Issuer>{response_issuer}</saml:Issuer>'
            f'<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status}">{inner}'
            f'</samlp:StatusCode></samlp:Status>'
            f'<saml:Assertion ID="{assertion_id}" Version="2.0" IssueInstant="2024-06-01T12:00:00Z">{a_issuer}'
            f'<saml:Subject>{subject_id}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData{irt_attr} Recipient="{recipient}"{scd_noa}/>'
            f'</saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2024-06-01T11:59:00Z" '
            f'NotOnOrAfter="2024-06-01T12:05:00Z">{restr}</saml:Conditions>'
            f'<saml:AuthnStatement AuthnInstant="2024-06-01T12:00:00Z" SessionIndex="_s1"><saml:AuthnContext>'
            f'<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'
            f'</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
            f'<saml:AttributeStatement>{attr_xml}</saml:AttributeStatement></saml:Assertion></samlp:Response>')


# ---------------------------------------------------------------- signing

def signature_template(ref, sig_alg=RSA_SHA256, digest=SHA256, c14n=EXC, transforms=None,
                       keyinfo="<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>", extra_refs=()):
    transforms = STD_TRANSFORMS if transforms is None else transforms
    tr = "".join(f'<ds:Transform Algorithm="{a}">{inner}</ds:Transform>' for a, inner in transforms)
    refs = "".join(f'<ds:Reference URI="{u}"><ds:Transforms>{tr}</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/>'
                   f'<ds:DigestValue/></ds:Reference>' for u in [f"#{ref}", *extra_refs])
    return etree.fromstring(
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/>'
        f'<ds:SignatureMethod Algorithm="{sig_alg}"/>{refs}</ds:SignedInfo><ds:SignatureValue/>{keyinfo}'
        f'</ds:Signature>')


def xmlsec_sign(xml_bytes, key="idp", id_attr="Response", keypair=None):
    k, c = keypair or ensure_key(key)
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.xml"), os.path.join(d, "out.xml")
        open(src, "wb").write(xml_bytes)
        ids = {"Assertion": "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
               "Response": "urn:oasis:names:tc:SAML:2.0:protocol:Response"}
        # Both ID attributes registered (attacks reference across elements);
        # xmlsec1 refuses a document whose IDs clash, so then only the target's.
        err = b""
        for names in (list(ids.values()), [ids[id_attr]]):
            cmd = ["xmlsec1", "--sign", "--privkey-pem", f"{k},{c}"]
            for n in names:
                cmd += ["--id-attr:ID", n]
            r = subprocess.run(cmd + ["--output", out, src], capture_output=True)
            if r.returncode == 0:
                return strip_decl(open(out, "rb").read())
            err = r.stderr
        raise RuntimeError(err.decode())


def strip_decl(data):
    if data.startswith(b"<?xml"):
        data = data[data.index(b"?>") + 2:].lstrip()
    return data.strip()


def insert_after_issuer(parent, sig):
    issuer = parent.find("saml:Issuer", NS)
    if issuer is None:
        parent.insert(0, sig)
    else:
        issuer.addnext(sig)


def sign(xml, mode, key="idp", keypair=None, assertion_ref="_a", response_ref="_r", **tmpl):
    """Signs per mode with xmlsec1: the assertion first, then the Response."""
    data = xml.encode() if isinstance(xml, str) else xml
    if mode in ("assertion", "both"):
        root = etree.fromstring(data)
        a = root.find("saml:Assertion", NS)
        if a is None:
            a = next(root.iter(f"{{{SAML}}}Assertion"))
        insert_after_issuer(a, signature_template(assertion_ref, **tmpl))
        data = xmlsec_sign(etree.tostring(root), key, "Assertion", keypair)
    if mode in ("response", "both"):
        root = etree.fromstring(data)
        insert_after_issuer(root, signature_template(response_ref, **tmpl))
        data = xmlsec_sign(etree.tostring(root), key, "Response", keypair)
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


def outer_signature(root):
    s = root.find("ds:Signature", NS)
    return s if s is not None else assertion_of(root).find("ds:Signature", NS)


def exc_c14n(el):
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


# ------------------------------------------------------------ encryption

def xmlsec_encrypt(plaintext, data_alg="aes128-gcm", key_alg="rsa-oaep-mgf1p"):
    """EncryptedData (Type Element) of `plaintext` bytes for the SP key,
    made by xmlsec1 --encrypt --binary-data."""
    _, sp_cert = ensure_key("sp")
    session = {"aes128-gcm": "aes-128", "aes128-cbc": "aes-128", "aes256-gcm": "aes-256"}[data_alg]
    tmpl = (f'<xenc:EncryptedData xmlns:xenc="{XENC}" xmlns:ds="{DS}" Type="{XENC}Element">'
            f'<xenc:EncryptionMethod Algorithm="{enc_uri(data_alg)}"/><ds:KeyInfo><xenc:EncryptedKey>'
            f'<xenc:EncryptionMethod Algorithm="{XENC}{key_alg}"/><xenc:CipherData><xenc:CipherValue/>'
            f'</xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/>'
            f'</xenc:CipherData></xenc:EncryptedData>')
    with tempfile.TemporaryDirectory() as d:
        t, p, out = (os.path.join(d, n) for n in ("t.xml", "p.bin", "out.xml"))
        open(t, "w").write(tmpl)
        open(p, "wb").write(plaintext)
        subprocess.run(["xmlsec1", "--encrypt", "--pubkey-cert-pem", sp_cert, "--session-key",
                        f"{session}", "--binary-data", p, "--output", out, t], check=True, capture_output=True)
        return etree.fromstring(strip_decl(open(out, "rb").read()))


def enc_uri(alg):
    return {"aes128-gcm": "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            "aes256-gcm": "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            "aes128-cbc": f"{XENC}aes128-cbc"}[alg]


def encrypt_assertion(root, data_alg="aes128-gcm", key_alg="rsa-oaep-mgf1p", plaintext=None):
    """Replaces the (signed or not) assertion of `root` by an
    EncryptedAssertion holding its serialization."""
    a = assertion_of(root)
    pt = plaintext if plaintext is not None else etree.tostring(a)
    ea = etree.Element(f"{{{SAML}}}EncryptedAssertion")
    ea.append(xmlsec_encrypt(pt, data_alg, key_alg))
    a.addprevious(ea)
    root.remove(a)
    return ea


# ---------------------------------------------------------------- cases

cases = []


def case(cid, section, mode, data, expect, description, args=None, fname="response.xml", cert=None,
         files=None):
    assert not any(c["id"] == cid for c in cases), cid
    cases.append(dict(id=cid, section=section, mode=mode, data=data, expect=expect, description=description,
                      args=args or BASE_ARGS, fname=fname, cert=cert, files=files or {}))


def invalid(*reasons):
    return {"valid": False, "reasons": list(reasons)}


def valid(name_id="alice@example.com", **extra):
    return {"valid": True, "name_id": name_id, **extra}


def with_now(now, args=BASE_ARGS):
    a = list(args)
    a[a.index("--now") + 1] = now
    return a


_signed = {}


def signed_of(mode, **kw):
    key = (mode, tuple(sorted((k, repr(v)) for k, v in kw.items())))
    if key not in _signed:
        _signed[key] = sign(response_xml(**kw), mode)
    return _signed[key]


def evil_copy(a, new_id=None):
    e = copy.deepcopy(a)
    remove_signature(e)
    set_name_id(e, EVIL)
    if new_id:
        e.set("ID", new_id)
    return e


def s00_controls(signed):
    for m in MODES:
        case(f"s00-control-{m}", "§0", m, signed[m],
             valid(attributes={"groups": ["staff"]}, issuer=IDP, assertion_id="_a", session_index="_s1"),
             "untouched base fixture R: must verify (proves the fixtures are real signatures)")


def s01_xsw(signed):
    why = "; the catalog accepts whichever listed guard trips first"
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
            where = "as the last child of the Response ds:Signature" if variant == "xsw1" else \
                "before the Response ds:Signature as its sibling"
            case(f"s01-{variant}-{m}", "§1", m, ser(root), invalid("reference_invalid"),
                 f"{variant.upper()}: clean copy of the signed Response {where}, root Response evil with "
                 f"ID _evil_response_ID; the copy repeats the assertion ID _a, so IDs are not unique "
                 f"(DESIGN 2: reference_invalid, before any signature work)")
    for m in ("assertion", "both"):
        sr = ["digest_mismatch"] if m == "both" else []
        sr_note = "; the Response signature (both mode) no longer matches its digest" if sr else ""
        # XSW3
        root = parse(signed[m])
        a = assertion_of(root)
        a.addprevious(evil_copy(a, "_evil_assertion_ID"))
        case(f"s01-xsw3-{m}", "§1", m, ser(root), invalid("multiple_assertions", *sr),
             "XSW3: unsigned evil assertion (ID _evil_assertion_ID) inserted before the signed one" + sr_note
             + (why if sr else ""))
        # XSW4
        root = parse(signed[m])
        a = assertion_of(root)
        evil = evil_copy(a, "_evil_assertion_ID")
        root.remove(a)
        evil.append(a)
        root.append(evil)
        case(f"s01-xsw4-{m}", "§1", m, ser(root), invalid("multiple_assertions", *sr),
             "XSW4: signed assertion moved inside an evil unsigned assertion (assertion that is not a direct "
             "child of Response, guard 2)" + sr_note + (why if sr else ""))
        # XSW5
        root = parse(signed[m])
        a = assertion_of(root)
        clean = copy.deepcopy(a)
        remove_signature(clean)
        set_name_id(a, EVIL)
        a.set("ID", "_evil_assertion_ID")
        root.append(clean)
        case(f"s01-xsw5-{m}", "§1", m, ser(root), invalid("reference_invalid", "multiple_assertions", *sr),
             "XSW5: evil assertion keeps the Signature (Reference #_a is not its parent's ID: guard 1), clean "
             "copy _a appended to Response (two assertions: guard 2)" + sr_note + why)
        # XSW6
        root = parse(signed[m])
        a = assertion_of(root)
        clean = copy.deepcopy(a)
        remove_signature(clean)
        set_name_id(a, EVIL)
        a.set("ID", "_evil_assertion_ID")
        a.find("ds:Signature", NS).append(clean)
        case(f"s01-xsw6-{m}", "§1", m, ser(root),
             invalid("reference_invalid", "multiple_assertions", "schema_violation", *sr),
             "XSW6: clean copy _a nested in the evil assertion's own ds:Signature (Reference not the parent: "
             "guard 1; assertion outside its place: guard 2; Assertion is no ds:Signature child: schema)"
             + sr_note + why)
        # XSW7
        root = parse(signed[m])
        a = assertion_of(root)
        ext = etree.Element("Extensions")
        ext.append(evil_copy(a))
        a.addprevious(ext)
        case(f"s01-xsw7-{m}", "§1", m, ser(root), invalid("reference_invalid"),
             "XSW7: unqualified <Extensions> before the assertion holding an evil clone with the same ID _a: "
             "duplicate IDs (§7, DESIGN 2: reference_invalid, found while parsing)")
        # XSW8
        root = parse(signed[m])
        a = assertion_of(root)
        clean = copy.deepcopy(a)
        remove_signature(clean)
        set_name_id(a, EVIL)
        obj = etree.SubElement(a.find("ds:Signature", NS), f"{{{DS}}}Object")
        obj.append(clean)
        case(f"s01-xsw8-{m}", "§1", m, ser(root), invalid("reference_invalid"),
             "XSW8: evil assertion keeps ID _a and its Signature; clean clone _a in a ds:Object of that "
             "Signature: duplicate IDs (DESIGN 2: reference_invalid)")
    # Additional wrapping placements: the signed assertion moved into a
    # wrapper, an evil unsigned assertion in its place.
    for where in ("extensions", "statusdetail", "foreign-wrapper", "evidence"):
        root = parse(signed["assertion"])
        a = assertion_of(root)
        evil = evil_copy(a, "_evil_assertion_ID")
        a.addprevious(evil)
        root.remove(a)
        if where == "extensions":
            ext = etree.Element(f"{{{SAMLP}}}Extensions")
            root.find("saml:Issuer", NS).addnext(ext)
            ext.append(a)
        elif where == "statusdetail":
            det = etree.SubElement(root.find("samlp:Status", NS), f"{{{SAMLP}}}StatusDetail")
            det.append(a)
        elif where == "foreign-wrapper":
            ext = etree.Element(f"{{{SAMLP}}}Extensions")
            root.find("saml:Issuer", NS).addnext(ext)
            etree.SubElement(ext, "{urn:x}Wrap").append(a)
        else:
            ev = etree.SubElement(evil.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData",
                                            NS), f"{{{SAML}}}Evidence")
            ev.append(a)
        case(f"s01-wrap-{where}-assertion", "§1", "assertion", ser(root), invalid("multiple_assertions"),
             f"wrapping placement ({where}): the signed assertion moved into it, an evil unsigned assertion "
             f"takes its place; guard 2: exactly one assertion, only as a direct child of Response")


def s02_comments():
    full = "admin@example.com.evil.test"
    variants = [
        ("comment", b"admin@example.com<!---->.evil.test", "empty comment inside the NameID"),
        ("comment-x", b"admin@example.com<!--x-->.evil.test", "comment <!--x--> inside the NameID"),
        ("cdata", b"<!--x-->admin@example.com<![CDATA[]]>.evil.test",
         "leading comment and an empty CDATA section splitting the NameID"),
        ("charref", b"admin@example&#46;com.evil.test", "character reference &#46; in the NameID"),
    ]
    for m in MODES:
        for name, repl, what in variants:
            data = signed_of(m, name_id=full).replace(f">{full}<".encode(), b">" + repl + b"<")
            case(f"s02-{name}-nameid-{m}", "§2", m, data, valid(full),
                 f"{what}: c14n drops it, the signature stays valid; the whole value is the identity "
                 f"(DESIGN 6)")
        data = signed_of(m, name_id=full).replace(f">{full}<".encode(), b">admin@example.com<?x?>.evil.test<")
        case(f"s02-pi-nameid-{m}", "§2", m, data, invalid("digest_mismatch"),
             "processing instruction in the NameID: c14n keeps PIs, so the digest breaks (negative control)")
        data = signed_of(m, attrs=[("mail", [full]), ("groups", ["staff"])])
        data = data.replace(f">{full}<".encode(), b">admin@example.com<!---->.evil.test<")
        case(f"s02-comment-attribute-{m}", "§2", m, data,
             valid(attributes={"mail": [full], "groups": ["staff"]}),
             "comment inside the signed `mail` AttributeValue: valid, the whole value is returned")


def s03_stripping(signed):
    for m in MODES:
        root = parse(signed[m])
        for s in list(root.iter(f"{{{DS}}}Signature")):
            s.getparent().remove(s)
        set_name_id(root, EVIL)
        case(f"s03-stripped-{m}", "§3", m, ser(root), invalid("unsigned"),
             "§3(1): every ds:Signature removed, NameID edited")
        for kind, value in (("empty", ""), ("zero-bytes", base64.b64encode(bytes(256)).decode())):
            root = parse(signed[m])
            # Only the outermost signature: in both mode the assertion's
            # SignatureValue is also inside the Response signature's digest.
            outer_signature(root).find("ds:SignatureValue", NS).text = value
            case(f"s03-{kind}-signature-value-{m}", "§3", m, ser(root), invalid("signature_invalid"),
                 f"§3(2): SignatureValue of the outermost signature "
                 f"{'emptied' if not value else 'set to base64 of 256 zero bytes'}")
        root = parse(signed[m])
        for r in list(root.iter(f"{{{DS}}}Reference")):
            r.getparent().remove(r)
        case(f"s03-no-reference-{m}", "§3", m, ser(root), invalid("reference_invalid"),
             "§3(3): SignedInfo without any Reference (DESIGN 3: exactly one Reference)")
        root = parse(signed[m])
        for s in list(root.iter(f"{{{DS}}}Signature")):
            s.tag = "{http://www.w3.org/2000/09/xmldsig#-evil}Signature"
        set_name_id(root, EVIL)
        case(f"s03-wrong-namespace-signature-{m}", "§3", m, ser(root), invalid("unsigned"),
             "§3(7): every Signature moved to the namespace xmldsig#-evil (so no XML-DSig signature), "
             "NameID edited")
    root = parse(signed["both"])
    remove_signature(assertion_of(root))
    set_name_id(root, EVIL)
    case("s03-keep-response-sig-edit-assertion-both", "§3", "both", ser(root), invalid("digest_mismatch"),
         "§3(4): assertion signature removed and assertion edited; the Response signature covers it")


def s04_keys(signed):
    att = ensure_key("attacker")
    clone = ensure_clone_cert()
    either = ("untrusted_key", "signature_invalid")
    for m in MODES:
        case(f"s04-attacker-cert-{m}", "§4", m, sign(response_xml(EVIL), m, keypair=att), invalid(*either),
             "§4(1): evil R re-signed with the attacker's key, attacker cert in KeyInfo/X509Data")
        case(f"s04-cloned-cert-{m}", "§4", m, sign(response_xml(EVIL), m, keypair=clone), invalid(*either),
             "§4(2): evil R re-signed with the attacker's key; KeyInfo holds a clone of the IdP cert "
             "(same subject, issuer, serial, validity; attacker key)")
        root = parse(signed[m])
        for c in outer_signature(root).iter(f"{{{DS}}}X509Certificate"):
            c.text = cert_b64(att[1])
        case(f"s04-keyinfo-swapped-{m}", "§4", m, ser(root), valid(),
             "§4(5): legitimate signature, KeyInfo of the outermost signature replaced by the attacker cert: "
             "KeyInfo is only a hint, accept (only the outermost: in both mode the assertion's KeyInfo is "
             "covered by the Response signature)")
    case("s04-rsakeyvalue-assertion", "§4", "assertion",
         sign(response_xml(EVIL), "assertion", keypair=att, keyinfo="<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>"),
         invalid(*either), "§4(3): evil R re-signed with the attacker key, only KeyInfo/KeyValue/RSAKeyValue")
    # §4(4): the real IdP cert and the attacker's KeyValue in one KeyInfo.
    root = parse(sign(response_xml(EVIL), "assertion", keypair=att,
                      keyinfo="<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>"))
    ki = assertion_of(root).find("ds:Signature/ds:KeyInfo", NS)
    x = etree.SubElement(ki, f"{{{DS}}}X509Data")
    etree.SubElement(x, f"{{{DS}}}X509Certificate").text = cert_b64(ensure_key("idp")[1])
    case("s04-real-cert-plus-attacker-keyvalue-assertion", "§4", "assertion", ser(root), invalid(*either),
         "§4(4): signed by the attacker; KeyInfo holds the attacker's RSAKeyValue and the real IdP cert")
    root = parse(sign(response_xml(EVIL), "assertion", keypair=att))
    ki = assertion_of(root).find("ds:Signature/ds:KeyInfo", NS)
    for c in list(ki):
        ki.remove(c)
    rm = etree.SubElement(ki, f"{{{DS}}}RetrievalMethod")
    rm.set("URI", "http://127.0.0.1:9/attacker-key.der")
    rm.set("Type", "http://www.w3.org/2000/09/xmldsig#rawX509Certificate")
    case("s04-retrievalmethod-assertion", "§4", "assertion", ser(root), invalid(*either),
         "§4(6): signed by the attacker; KeyInfo/RetrievalMethod to a loopback URL (must not be fetched)")


def s05_mixed(signed):
    for m in MODES:
        root = parse(signed[m])
        a = assertion_of(root)
        a.addnext(evil_copy(a, "_a2"))
        sr = ["digest_mismatch"] if m != "assertion" else []
        case(f"s05-unsigned-beside-signed-{m}", "§5", m, ser(root), invalid("multiple_assertions", *sr),
             "§5a/§5d: copy of the assertion, new ID _a2, Signature removed, NameID evil, appended after the "
             "signed one" + ("; the Response signature breaks too (§5a: digest_mismatch or multiple_assertions)"
                             if sr else ""))
    root = parse(signed["assertion"])
    root.find("saml:Issuer", NS).text = "https://other-idp.attack.test"
    case("s05-response-issuer-changed-assertion", "§5", "assertion", ser(root), invalid("issuer_mismatch"),
         "§5b: assertion signed; unsigned Response Issuer set to another IdP")
    root = parse(signed["assertion"])
    root.set("Destination", OTHER_ACS)
    case("s05-response-destination-changed-assertion", "§5", "assertion", ser(root),
         invalid("destination_mismatch"), "§5b: assertion signed; unsigned Response Destination set to another SP")
    root = parse(signed["assertion"])
    root.set("InResponseTo", "_victim_req")
    case("s05-response-in-response-to-changed-assertion", "§5", "assertion", ser(root),
         invalid("in_response_to_mismatch"),
         "§5b: assertion signed for request _req; unsigned Response InResponseTo set to the victim's outstanding "
         "request _victim_req (which the gateway expects): the signed SubjectConfirmationData still says _req",
         args=BASE_ARGS + ["--in-response-to", "_victim_req"])


def s06_multiple():
    for m in MODES:
        # Two assertions that the IdP itself signed (two logins): the only
        # defect is that there are two.
        base = parse(response_xml())
        other = parse(response_xml("bob@example.com", assertion_id="_b"))
        if m in ("assertion", "both"):
            base = parse(sign(ser(base), "assertion"))
            other = parse(sign(ser(other), "assertion", assertion_ref="_b"))
        assertion_of(base).addnext(assertion_of(other))
        data = ser(base)
        if m in ("response", "both"):
            root = parse(data)
            insert_after_issuer(root, signature_template("_r"))
            data = xmlsec_sign(ser(root), "idp", "Response")
        case(f"s06-two-assertions-{m}", "§6", m, data, invalid("multiple_assertions"),
             "§6(a): two IdP-signed assertions (alice _a, bob _b) in one Response, every signature valid")
        # An assertion nested in Advice, signed over by the IdP.
        root = parse(response_xml())
        adv = etree.Element(f"{{{SAML}}}Advice")
        assertion_of(root).find("saml:Conditions", NS).addnext(adv)
        adv.append(assertion_of(parse(response_xml(EVIL, assertion_id="_n"))))
        case(f"s06-assertion-in-advice-{m}", "§6", m, sign(ser(root), m), invalid("multiple_assertions"),
             "§6(f): an (evil) assertion nested in the Advice of the signed assertion, signatures valid "
             "(catalog: prefer reject; guard 2 of §1: none in Advice)")
    two_nameids = response_xml().replace("</saml:NameID>", "</saml:NameID><saml:NameID>" + EVIL + "</saml:NameID>", 1)
    case("s06-two-nameids-assertion", "§6", "assertion", sign(two_nameids, "assertion"), invalid("schema_violation"),
         "§6(d): a Subject with two NameIDs (alice, admin), signed")
    root = parse(signed_of("assertion"))
    a = assertion_of(root)
    a.find("ds:Signature", NS).addnext(copy.deepcopy(a.find("ds:Signature", NS)))
    case("s06-two-signatures-assertion", "§6", "assertion", ser(root),
         invalid("schema_violation", "signature_invalid"),
         "§6(g): two identical ds:Signature children on the assertion (GHSA-q547-gmf8-8jr7 shape)")
    root = parse(signed_of("assertion"))
    si = assertion_of(root).find("ds:Signature/ds:SignedInfo", NS)
    si.addnext(copy.deepcopy(si))
    case("s06-two-signedinfo-assertion", "§6", "assertion", ser(root),
         invalid("schema_violation", "signature_invalid"), "§6(h): a Signature with two SignedInfo children")
    root = parse(signed_of("assertion"))
    sv = assertion_of(root).find("ds:Signature/ds:SignatureValue", NS)
    sv.addnext(copy.deepcopy(sv))
    case("s06-two-signaturevalues-assertion", "§6", "assertion", ser(root),
         invalid("schema_violation", "signature_invalid"), "§6(h): a Signature with two SignatureValue children")


def s07_ids(signed):
    for m in MODES:
        root = parse(signed[m])
        ext = etree.Element(f"{{{SAMLP}}}Extensions")
        foo = etree.SubElement(ext, "{urn:x}Foo")
        foo.set("ID", "_a")
        root.find("saml:Issuer", NS).addnext(ext)
        case(f"s07-duplicate-id-{m}", "§7", m, ser(root), invalid("reference_invalid"),
             "§7(3): a foreign element in samlp:Extensions carries ID=\"_a\", the assertion's ID: IDs are not "
             "unique (DESIGN 2: reference_invalid, while parsing, before signatures)")
    root = parse(signed["assertion"])
    root.set("ID", "_a")
    case("s07-response-id-equals-assertion-id-assertion", "§7", "assertion", ser(root),
         invalid("reference_invalid"), "§7(2): the (unsigned) Response ID set equal to the assertion ID _a")
    case("s07-reference-to-response-assertion", "§7", "assertion",
         sign(response_xml(), "assertion", assertion_ref="_r"), invalid("reference_invalid"),
         "§7/DESIGN 3: the assertion's Signature has Reference #_r, the Response, not its parent "
         "(signed by xmlsec1)")
    case("s07-reference-to-assertion-response", "§7", "response",
         sign(response_xml(), "response", response_ref="_a"), invalid("reference_invalid"),
         "§7/DESIGN 3: the Response's Signature has Reference #_a, the assertion, not its parent "
         "(signed by xmlsec1)")
    case("s07-reference-xpointer-assertion", "§7", "assertion",
         sign(response_xml(), "assertion", assertion_ref="xpointer(id('_a'))"), invalid("reference_invalid"),
         "§7(7): Reference URI=\"#xpointer(id('_a'))\" (signed by xmlsec1): not exactly #<ID>")
    for m in MODES:
        root = parse(signed[m])
        for r in root.iter(f"{{{DS}}}Reference"):
            r.set("URI", "")
        case(f"s07-empty-reference-uri-{m}", "§7", m, ser(root), invalid("reference_invalid"),
             "§7(7)/DESIGN contract: every Reference URI set to \"\" (whole document); the URI check comes "
             "before crypto (R2)")
    for label, uri in (("space-after", "#_a "), ("space-before", "# _a"), ("percent", "#%5Fa")):
        root = parse(signed["assertion"])
        assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:Reference", NS).set("URI", uri)
        case(f"s07-reference-uri-{label}-assertion", "§7", "assertion", ser(root), invalid("reference_invalid"),
             f"§7(7): Reference URI {uri!r} instead of '#_a' (profile check before crypto, R2)")
    root = parse(signed["assertion"])
    ext = etree.Element(f"{{{SAMLP}}}Extensions")
    w = etree.SubElement(ext, "{urn:x}Foo")
    w.set("{http://www.w3.org/XML/1998/namespace}id", "_a")
    w.set("Id", "_a")
    w.set("AssertionID", "_a")
    w.append(evil_copy(assertion_of(root), "_evil_assertion_ID"))
    root.find("saml:Issuer", NS).addnext(ext)
    case("s07-id-attribute-confusion-assertion", "§7", "assertion", ser(root), invalid("multiple_assertions"),
         "§7(4): a foreign element carrying xml:id/Id/AssertionID=\"_a\" (not IDs) wraps an evil assertion in "
         "samlp:Extensions; the signed assertion is intact, so the only guard tripped is the one-assertion "
         "rule (none in Extensions)")
    case("s07-id-not-ncname-assertion", "§7", "assertion",
         sign(response_xml(assertion_id="1a"), "assertion", assertion_ref="1a"), valid(),
         "§7: assertion ID \"1a\" is not an NCName, signed by xmlsec1 over #1a. Accepted by design: "
         "deployed IdPs send UUID IDs with a leading digit (the conformance corpus's real crewjam capture "
         "rw-crewjam-testsprealworldassertionsignednotresponse-* does and expects acceptance); samlgate "
         "requires an exact token instead (non-empty, <= 1024 bytes, no whitespace, control characters or "
         "'#') and unique IDs, which is what reference safety needs")
    body = signed["assertion"]
    case("s07-dtd-declared-id-assertion", "§7", "assertion",
         b'<!DOCTYPE samlp:Response [<!ATTLIST Foo bar ID #IMPLIED>]>' + body, invalid("forbidden_dtd"),
         "§7(5): DTD-declared ID attribute (any DOCTYPE is forbidden_dtd, first)")
    # §7(6) CVE-2025-23369 recipe (SAML Raider).
    root = parse(signed["assertion"])
    a = assertion_of(root)
    sig = copy.deepcopy(a.find("ds:Signature", NS))
    obj = etree.SubElement(sig, f"{{{DS}}}Object")
    orig = copy.deepcopy(a)
    obj.append(orig)
    root.find("saml:Issuer", NS).addnext(sig)
    a.set("ID", "_affff")
    remove_signature(a)
    set_name_id(a, EVIL)
    data = ser(root).replace(b'ID="_r"', b'ID="&idViaEntity;"', 1)
    case("s07-cve-2025-23369-assertion", "§7", "assertion",
         b'<!DOCTYPE samlp:Response [<!ENTITY idViaEntity "_a">]>' + data, invalid("forbidden_dtd"),
         "§7(6) CVE-2025-23369: Signature cloned into the Response with the original assertion in ds:Object, "
         "real assertion renamed _affff and made evil, Response ID=\"&idViaEntity;\" from a DOCTYPE entity")


def s08_decoy_digest():
    for m in MODES:
        root = parse(signed_of(m))
        a = assertion_of(root)
        set_name_id(a, EVIL)
        tmp = copy.deepcopy(a)
        remove_signature(tmp)
        dv = base64.b64encode(hashlib.sha256(exc_c14n(tmp)).digest()).decode()
        decoy = etree.fromstring(
            f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo><ds:Reference URI="#_a"><ds:Transforms>'
            f'<ds:Transform Algorithm="{ENV}"/><ds:Transform Algorithm="{EXC}"/></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>{dv}</ds:DigestValue></ds:Reference>'
            f'</ds:SignedInfo></ds:Signature>')
        det = etree.SubElement(root.find("samlp:Status", NS), f"{{{SAMLP}}}StatusDetail")
        det.append(decoy)
        case(f"s08-decoy-digest-statusdetail-{m}", "§8", m, ser(root), invalid("digest_mismatch"),
             "§8 CVE-2024-45409: NameID edited, a fake ds:Reference whose DigestValue is the evil assertion's "
             "digest placed before it in samlp:Status/StatusDetail; the real SignedInfo is untouched")
    for where in ("after-assertion", "extensions"):
        root = parse(signed_of("assertion"))
        a = assertion_of(root)
        set_name_id(a, EVIL)
        tmp = copy.deepcopy(a)
        remove_signature(tmp)
        dv = base64.b64encode(hashlib.sha256(exc_c14n(tmp)).digest()).decode()
        decoy = etree.fromstring(
            f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo><ds:Reference URI="#_a">'
            f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>{dv}</ds:DigestValue></ds:Reference>'
            f'</ds:SignedInfo></ds:Signature>')
        if where == "after-assertion":
            wrap = etree.SubElement(a.find("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", NS),
                                    "{urn:x}Decoy")
            wrap.append(decoy)
        else:
            ext = etree.Element(f"{{{SAMLP}}}Extensions")
            root.find("saml:Issuer", NS).addnext(ext)
            ext.append(decoy)
        case(f"s08-decoy-digest-{where}-assertion", "§8", "assertion", ser(root), invalid("digest_mismatch"),
             f"§8: as the StatusDetail variant, the decoy Reference placed {where.replace('-', ' ')}")


def s09_differential():
    for m in MODES:
        orig = signed_of(m)
        evil = signed_of(m)
        r = parse(evil)
        for s in list(r.iter(f"{{{DS}}}Signature")):
            s.getparent().remove(s)
        set_name_id(r, EVIL)
        evil = ser(r)
        close = b"</samlp:Response>"
        data = (b"<!DOCTYPE response SYSTEM 'x\"><!--'>\n" + evil[:-len(close)] + b"\n<![CDATA[-->\n"
                + orig[:-len(close)] + b"\n<!--]]>-->\n" + close)
        case(f"s09-cve-2025-25291-{m}", "§9", m, data, invalid("forbidden_dtd"),
             "§9 CVE-2025-25291: DOCTYPE SYSTEM literal differential (evil body, then the original signed "
             "body behind a CDATA/comment split)")
    root = parse(sign(response_xml(EVIL), "assertion"))
    a = assertion_of(root)
    sig = a.find("ds:Signature", NS)
    det = etree.SubElement(root.find("samlp:Status", NS), f"{{{SAMLP}}}StatusDetail")
    un = etree.SubElement(det, "Signature")
    for c in sig:
        un.append(copy.deepcopy(c))
    data = ser(root).replace(b'<saml:Assertion ', b'<saml:Assertion xmlns:example="http://example.com\xc2\x80" ', 1)
    dtd = (b'<!DOCTYPE samlp:Response [<!ATTLIST Signature xmlns CDATA #FIXED '
           b'"http://www.w3.org/2000/09/xmldsig#">]>')
    case("s09-cve-2025-25292-assertion", "§9", "assertion", dtd + data, invalid("forbidden_dtd"),
         "§9 CVE-2025-25292: namespace differential (DTD #FIXED xmlns on an unprefixed Signature copy in "
         "StatusDetail, an odd namespace URI on the Assertion); one case: the DOCTYPE decides, in any mode")


def s10_namespaces():
    for m in MODES:
        root = parse(response_xml())
        ext = etree.Element(f"{{{SAMLP}}}Extensions")
        root.find("saml:Issuer", NS).addnext(ext)
        fake = etree.fromstring(
            f'<x:W xmlns:x="urn:x" xmlns:saml="urn:evil"><saml:Assertion ID="_fake"><saml:Subject>'
            f'<saml:NameID>{EVIL}</saml:NameID></saml:Subject></saml:Assertion></x:W>')
        ext.append(fake)
        case(f"s10-prefix-rebound-lookalike-{m}", "§10", m, sign(ser(root), m), valid(),
             "§10(1): a look-alike saml:Assertion (prefix saml rebound to urn:evil) in samlp:Extensions before "
             "the real one, all signed: it is no SAML assertion, the real identity (alice) is returned")
        xml = response_xml().replace("saml:", "foo:").replace("xmlns:saml=", "xmlns:foo=")
        case(f"s10-unusual-prefix-{m}", "§10", m, sign_foo(xml, m), valid(),
             "§10(1) positive: the SAML assertion namespace under prefix foo: must be found by (URI, local name)")
    body = signed_of("assertion")
    case("s10-undeclare-prefix-assertion", "§10", "assertion",
         body.replace(b"<samlp:Response ", b'<samlp:Response xmlns:foo="" ', 1), invalid("malformed_xml"),
         "§10(6): xmlns:foo=\"\" (undeclaring a prefix is illegal in XML 1.0 namespaces)")
    ext = b'<samlp:Extensions><x:a:b xmlns:x="urn:x"/></samlp:Extensions>'
    case("s10-colon-in-local-name-assertion", "§10", "assertion",
         body.replace(b"</saml:Issuer>", b"</saml:Issuer>" + ext, 1), invalid("malformed_xml"),
         "§10(5): element x:a:b (colon in the local name) in samlp:Extensions")
    ext = b'<samlp:Extensions><x:a xmlns:x="urn:x" xmlns:xmlns="urn:y"/></samlp:Extensions>'
    case("s10-xmlns-prefix-declared-assertion", "§10", "assertion",
         body.replace(b"</saml:Issuer>", b"</saml:Issuer>" + ext, 1), invalid("malformed_xml"),
         "§10(5): xmlns:xmlns=\"urn:y\" (binding the reserved xmlns prefix)")


def sign_foo(xml, mode):
    """sign() for a fixture whose assertion prefix is foo:."""
    data = xml.encode()
    if mode in ("assertion", "both"):
        root = etree.fromstring(data)
        a = root.find(f"{{{SAML}}}Assertion")
        a.find(f"{{{SAML}}}Issuer").addnext(signature_template("_a"))
        data = xmlsec_sign(etree.tostring(root), "idp", "Assertion")
    if mode in ("response", "both"):
        root = etree.fromstring(data)
        root.find(f"{{{SAML}}}Issuer").addnext(signature_template("_r"))
        data = xmlsec_sign(etree.tostring(root), "idp", "Response")
    return data


def s11_dtd():
    note = " (one case: a DOCTYPE is refused before signatures, in any mode)"
    body = signed_of("assertion")
    name = b">alice@example.com<"
    case("s11-doctype-assertion", "§11", "assertion", b'<!DOCTYPE r [<!ELEMENT r ANY>]>' + body,
         invalid("forbidden_dtd"), "harmless internal DTD subset" + note)
    case("s11-xxe-assertion", "§11", "assertion",
         b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + body.replace(name, b">&xxe;<"),
         invalid("forbidden_dtd"), "§11(1): external entity file:///etc/passwd in the NameID" + note)
    case("s11-parameter-entity-oob-assertion", "§11", "assertion",
         b'<!DOCTYPE foo [ <!ENTITY % xxe SYSTEM "http://127.0.0.1:9/collab"> %xxe; ]>' + body,
         invalid("forbidden_dtd"), "§11(2): SAML Raider's out-of-band parameter entity (loopback URL)" + note)
    lol = b'<!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)) + b"]>"
    case("s11-billion-laughs-assertion", "§11", "assertion", lol + body.replace(name, b">&lol9;<"),
         invalid("forbidden_dtd"), "§11(3): billion laughs, 10 levels x 10" + note)
    big = b"a" * 50_000
    case("s11-quadratic-blowup-assertion", "§11", "assertion",
         b'<!DOCTYPE r [<!ENTITY a "' + big + b'">]>' + body.replace(name, b">" + b"&a;" * 50_000 + b"<"),
         invalid("forbidden_dtd"), "§11(4): one 50 KB entity referenced 50,000 times" + note)
    for m in MODES:
        full = "admin@example.com.evil.test"
        data = signed_of(m, name_id=full).replace(f">{full}<".encode(), b">admin@example.com&d;<")
        case(f"s11-entity-split-nameid-{m}", "§11", m, b'<!DOCTYPE r [<!ENTITY d ".evil.test">]>' + data,
             invalid("forbidden_dtd"),
             "§11(5) CVE-2018-0486 class: an internal entity supplies part of the signed NameID")
    case("s11-system-doctype-assertion", "§11", "assertion",
         b'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/attacker.dtd">' + body, invalid("forbidden_dtd"),
         "§11(7): DOCTYPE with an external subset only (SSRF; loopback URL, never fetched)" + note)


def hmac_resign(root, sig, method, key, out_len=None):
    sm = sig.find("ds:SignedInfo/ds:SignatureMethod", NS)
    sm.set("Algorithm", method)
    if out_len is not None:
        etree.SubElement(sm, f"{{{DS}}}HMACOutputLength").text = str(out_len)
    if key is None:
        sig.find("ds:SignatureValue", NS).text = ""
        return
    h = hashlib.sha256 if method == HMAC_SHA256 else hashlib.sha1
    mac = hmac.new(key, exc_c14n(sig.find("ds:SignedInfo", NS)), h).digest()
    sig.find("ds:SignatureValue", NS).text = base64.b64encode(mac).decode()


def s12_hmac():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    pem = open(ensure_key("idp")[1], "rb").read()
    cert = x509.load_pem_x509_certificate(pem)
    keys = {
        "cert-der": cert.public_bytes(serialization.Encoding.DER),
        "cert-pem": pem,
        "spki-der": cert.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "modulus": cert.public_key().public_numbers().n.to_bytes(256, "big"),
    }
    for m in MODES:
        # Re-MAC from the inside out so that in both mode the Response
        # digest covers the final assertion signature.
        root = parse(signed_of(m, name_id=EVIL))
        sigs = list(root.iter(f"{{{DS}}}Signature"))
        for s in reversed(sigs):
            hmac_resign(root, s, HMAC_SHA1, None, 0)
        case(f"s12-hmac-outputlength-0-{m}", "§12", m, resign_outer_digests(root), invalid("unsupported_algorithm"),
             "§12(1) CVE-2009-0217: SignatureMethod hmac-sha1, HMACOutputLength 0, empty SignatureValue")
        root = parse(signed_of(m, name_id=EVIL))
        for s in reversed(list(root.iter(f"{{{DS}}}Signature"))):
            hmac_resign(root, s, HMAC_SHA256, keys["cert-der"])
        case(f"s12-hmac-key-confusion-cert-der-{m}", "§12", m, resign_outer_digests(root, HMAC_SHA256,
                                                                                   keys["cert-der"]),
             invalid("unsupported_algorithm"),
             "§12(3): SignatureMethod hmac-sha256 with a real MAC keyed with the IdP certificate DER "
             "(the public key as HMAC secret), over an evil NameID with correct digests")
    for name in ("cert-pem", "spki-der", "modulus"):
        root = parse(signed_of("assertion", name_id=EVIL))
        s = assertion_of(root).find("ds:Signature", NS)
        hmac_resign(root, s, HMAC_SHA256, keys[name])
        case(f"s12-hmac-key-confusion-{name}-assertion", "§12", "assertion", ser(root),
             invalid("unsupported_algorithm"), f"§12(3): hmac-sha256 keyed with the IdP key as {name}")
    root = parse(signed_of("assertion", name_id=EVIL))
    s = assertion_of(root).find("ds:Signature", NS)
    hmac_resign(root, s, HMAC_SHA1, keys["cert-der"], 8)
    sv = s.find("ds:SignatureValue", NS)
    sv.text = base64.b64encode(base64.b64decode(sv.text)[:1]).decode()
    case("s12-hmac-outputlength-8-assertion", "§12", "assertion", ser(root), invalid("unsupported_algorithm"),
         "§12(2): hmac-sha1 truncated to HMACOutputLength 8 (one byte, brute-forceable)")
    root = parse(signed_of("assertion"))
    assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).set(
        "Algorithm", "urn:x-attack:unknown-signature-method")
    case("s12-unknown-signature-method-assertion", "§12", "assertion", ser(root), invalid("unsupported_algorithm"),
         "§12(4): unknown SignatureMethod URI (algorithm allow-list before crypto, R2)")


def resign_outer_digests(root, method=None, key=None):
    """In both mode the assertion signature was rewritten after the
    Response was signed: recompute the Response Reference digest (and its
    MAC) as an attacker would, so that only the algorithm is wrong."""
    rs = root.find("ds:Signature", NS)
    if rs is None or assertion_of(root).find("ds:Signature", NS) is None:
        return ser(root)
    tmp = copy.deepcopy(root)
    remove_signature(tmp)
    rs.find("ds:SignedInfo/ds:Reference/ds:DigestValue", NS).text = \
        base64.b64encode(hashlib.sha256(exc_c14n(tmp)).digest()).decode()
    if method:
        hmac_resign(root, rs, method, key)
    else:
        rs.find("ds:SignatureValue", NS).text = ""
    return ser(root)


def s13_transforms():
    xsl = ('<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
           '<xsl:template match="/"><xsl:copy-of select="."/></xsl:template></xsl:stylesheet>')
    for m in MODES:
        case(f"s13-xslt-transform-{m}", "§13", m,
             sign(response_xml(), m, transforms=[(ENV, ""), (XSLT, xsl)]), invalid("unsupported_algorithm"),
             "§13(a): Reference transforms enveloped + XSLT (identity stylesheet), signed by xmlsec1 "
             "(xmlsec1 ran the XSLT; a verifier must refuse it before running anything)")
        xp = f'<ds:XPath xmlns:saml="{SAML}">not(ancestor-or-self::saml:AttributeStatement)</ds:XPath>'
        data = sign(response_xml(attrs=[("groups", ["staff"])]), m, transforms=[(ENV, ""), (XPATH, xp)])
        data = data.replace(b">staff<", b">ccmadmin<")
        case(f"s13-xpath-filter-{m}", "§13", m, data, invalid("unsupported_algorithm"),
             "§13(b): XPath filter not(ancestor-or-self::saml:AttributeStatement) signed by xmlsec1, then "
             "groups edited to ccmadmin (the digest does not cover it)")
        case(f"s13-with-comments-{m}", "§13", m,
             sign(response_xml(name_id="admin@example.com<!---->.evil.test"), m, c14n=EXC_WC,
                  transforms=[(ENV, ""), (EXC_WC, "")]),
             invalid("unsupported_algorithm"),
             "§13(g): SignedInfo CanonicalizationMethod and the Reference transform are exc-c14n#WithComments "
             "(rejected by default; the NameID holds a comment, the differential it would enable)")
    xp2 = (f'<dsig-xpath:XPath xmlns:dsig-xpath="{XPATH2}" Filter="subtract" xmlns:saml="{SAML}">'
           f'//saml:AttributeStatement</dsig-xpath:XPath>')
    data = sign(response_xml(), "assertion", transforms=[(ENV, ""), (XPATH2, xp2), (EXC, "")])
    case("s13-xpath2-subtract-assertion", "§13", "assertion", data.replace(b">staff<", b">ccmadmin<"),
         invalid("unsupported_algorithm"),
         "§13(b): XPath Filter 2.0 subtract //saml:AttributeStatement signed by xmlsec1, then groups edited")
    root = parse(signed_of("assertion"))
    tr = assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NS)
    for _ in range(1000):
        etree.SubElement(tr, f"{{{DS}}}Transform").set("Algorithm", EXC)
    case("s13-1000-transforms-assertion", "§13", "assertion", ser(root), invalid("unsupported_algorithm"),
         "§13(d): 1000 extra exc-c14n transforms (DoS); transforms are checked before running any (R2)")
    root = parse(signed_of("assertion"))
    tr = assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NS)
    tr.append(tr[0])  # enveloped moves after exc-c14n
    case("s13-transforms-wrong-order-assertion", "§13", "assertion", ser(root), invalid("unsupported_algorithm"),
         "§13(e): transforms exc-c14n then enveloped-signature (wrong order; xmlsec1 cannot sign this order, "
         "so the signed fixture's transforms were swapped: transforms are checked before crypto, R2)")
    case("s13-base64-transform-assertion", "§13", "assertion",
         post_edit_transform("http://www.w3.org/2000/09/xmldsig#base64"), invalid("unsupported_algorithm"),
         "§13(c): a base64 transform appended to the Reference")
    case("s13-two-references-assertion", "§13", "assertion",
         sign(response_xml(), "assertion", extra_refs=["#_a"]), invalid("reference_invalid"),
         "§13(h): two References in one SignedInfo, both #_a, signed by xmlsec1 (exactly one Reference)")
    for label, uri in (("file", "file:///etc/passwd"), ("http", "http://127.0.0.1:9/x")):
        root = parse(signed_of("assertion"))
        assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:Reference", NS).set("URI", uri)
        case(f"s13-external-reference-{label}-assertion", "§13", "assertion", ser(root),
             invalid("reference_invalid"), f"§13(f): Reference URI {uri} (never dereferenced)")
    root = parse(signed_of("assertion"))
    assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod", NS).set("Algorithm", XSLT)
    case("s13-signedinfo-c14n-xslt-assertion", "§13", "assertion", ser(root), invalid("unsupported_algorithm"),
         "§13(g): SignedInfo CanonicalizationMethod set to XSLT")


def post_edit_transform(alg):
    root = parse(signed_of("assertion"))
    tr = assertion_of(root).find("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NS)
    etree.SubElement(tr, f"{{{DS}}}Transform").set("Algorithm", alg)
    return ser(root)


def s14_weak():
    for m in MODES:
        data = sign(response_xml(), m, sig_alg=RSA_SHA1, digest=SHA1)
        case(f"s14-sha1-{m}", "§14", m, data, invalid("weak_algorithm"),
             "rsa-sha1 signature and SHA-1 digest, no --allow-sha1")
        case(f"s14-sha1-allowed-{m}", "§14", m, data, valid(),
             "the same with --allow-sha1: accepted (control)", args=BASE_ARGS + ["--allow-sha1"])
        k1024 = ensure_key("rsa1024", "rsa:1024")
        case(f"s14-rsa1024-{m}", "§14", m, sign(response_xml(), m, keypair=k1024), invalid("weak_algorithm"),
             "signed with a trusted RSA-1024 key (default --min-rsa-bits 2048)", cert=k1024[1])
    case("s14-sha1-digest-only-assertion", "§14", "assertion",
         sign(response_xml(), "assertion", digest=SHA1), invalid("weak_algorithm"),
         "rsa-sha256 signature with a SHA-1 digest (SHA-1 in either slot)")
    either = ("unsupported_algorithm", "weak_algorithm")
    case("s14-md5-digest-assertion", "§14", "assertion",
         sign(response_xml(), "assertion", digest=MD5), invalid(*either),
         "rsa-sha256 with an MD5 digest, signed by xmlsec1 (§12(5), §14: MD5 always refused)")
    case("s14-rsa-md5-assertion", "§14", "assertion",
         sign(response_xml(), "assertion", sig_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-md5", digest=MD5),
         invalid(*either), "rsa-md5 signature, MD5 digest, signed by xmlsec1")
    dsa = ensure_key("dsa", "dsa")
    case("s14-dsa-sha1-assertion", "§14", "assertion",
         sign(response_xml(), "assertion", keypair=dsa, sig_alg="http://www.w3.org/2000/09/xmldsig#dsa-sha1",
              digest=SHA1), invalid(*either),
         "dsa-sha1 signature (DSA key, its cert in KeyInfo; the trusted cert is the IdP's RSA one, since a "
         "trusted DSA cert is a configuration error, exit 2): DSA is always refused, even with --allow-sha1",
         args=BASE_ARGS + ["--allow-sha1"])
    ec = ensure_key("ec256", "ec")
    case("s14-ecdsa-sha1-assertion", "§14", "assertion",
         sign(response_xml(), "assertion", keypair=ec, sig_alg="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
              digest=SHA256), invalid("weak_algorithm"), "ecdsa-sha1 by a trusted P-256 key, no --allow-sha1",
         cert=ec[1])


def s15_encryption():
    sp_key = open(ensure_key("sp")[0], "rb").read()
    files = {"sp-key.pem": sp_key}

    def enc_case(cid, mode, data, expect, desc, args=DEC_ARGS):
        case(cid, "§15", mode, data, expect, desc, args=args, files=files)

    for m in MODES:
        # Assertion signed (if) first, then encrypted, then Response signed (if).
        root = parse(sign(response_xml(), "assertion") if m != "response" else response_xml().encode())
        encrypt_assertion(root)
        data = ser(root)
        if m != "assertion":
            data = sign(data, "response")
        enc_case(f"s15-control-encrypted-{m}", m, data, valid(),
                 "EncryptedAssertion (aes128-gcm, rsa-oaep-mgf1p to the SP key) made by xmlsec1: must verify "
                 "(control; in response mode the Response signature covers the EncryptedAssertion)")
    root = parse(sign(response_xml(), "assertion"))
    encrypt_assertion(root, key_alg="rsa-1_5")
    enc_case("s15-rsa-1_5-assertion", "assertion", ser(root), invalid("decryption_failed"),
             "§15(2): key transport rsa-1_5 (Bleichenbacher); refused, the CLI has no flag to enable it. "
             "ATTACKS.md suggests unsupported_algorithm, but the trust issue's required tests say \"an "
             "rsa-1_5 message while disabled: decryption_failed\"; the issue is followed (one code for "
             "every decryption-stage refusal)")
    root = parse(response_xml(EVIL))
    encrypt_assertion(root)
    enc_case("s15-encryption-not-authentication-none", "none", ser(root), invalid("unsigned"),
             "§15(5): an attacker-made unsigned evil assertion encrypted to the SP's public key, unsigned "
             "Response")
    root = parse(sign(response_xml(), "assertion"))
    ea = encrypt_assertion(root, data_alg="aes128-cbc")
    cv = ea.find("xenc:EncryptedData/xenc:CipherData/xenc:CipherValue", NS)
    raw = bytearray(base64.b64decode(cv.text))
    raw[-17] ^= 0x01  # last byte of the second-to-last block: flips the pad byte
    cv.text = base64.b64encode(bytes(raw)).decode()
    enc_case("s15-cbc-bitflip-assertion", "assertion", ser(root), invalid("decryption_failed"),
             "§15(1): aes128-cbc ciphertext with one bit flipped in the next-to-last block (padding oracle probe)")
    root = parse(sign(response_xml(), "assertion"))
    ea = encrypt_assertion(root)
    cv = ea.find("xenc:EncryptedData/xenc:CipherData/xenc:CipherValue", NS)
    raw = bytearray(base64.b64decode(cv.text))
    raw[-1] ^= 0x01
    cv.text = base64.b64encode(bytes(raw)).decode()
    enc_case("s15-gcm-tag-tamper-assertion", "assertion", ser(root), invalid("decryption_failed"),
             "§15(1): aes128-gcm authentication tag with one bit flipped")
    root = parse(sign(response_xml(), "assertion"))
    ea = encrypt_assertion(root)
    ea.find("xenc:EncryptedData/xenc:EncryptionMethod", NS).set("Algorithm", enc_uri("aes128-cbc"))
    enc_case("s15-downgrade-gcm-to-cbc-assertion", "assertion", ser(root),
             invalid("decryption_failed", "unsupported_algorithm"),
             "§15(3): EncryptionMethod changed from aes128-gcm to aes128-cbc, nothing recomputed")
    root = parse(sign(response_xml(), "assertion"))
    ea = encrypt_assertion(root)
    other = parse(sign(response_xml("bob@example.com", assertion_id="_b"), "assertion", assertion_ref="_b"))
    ea2 = encrypt_assertion(other)
    ea.addnext(ea2)
    enc_case("s15-two-encrypted-assertions-assertion", "assertion", ser(root), invalid("multiple_assertions"),
             "§6(c): two EncryptedAssertions (alice, bob), each a validly signed assertion")
    root = parse(sign(response_xml(), "assertion"))
    other = parse(sign(response_xml("bob@example.com", assertion_id="_b"), "assertion", assertion_ref="_b"))
    assertion_of(root).addnext(encrypt_assertion(other))
    enc_case("s15-assertion-plus-encrypted-assertion", "assertion", ser(root), invalid("multiple_assertions"),
             "§6(b): a signed Assertion and an EncryptedAssertion (of another signed assertion) in one Response")
    root = parse(sign(response_xml(), "assertion"))
    ea = encrypt_assertion(root)
    cd = ea.find("xenc:EncryptedData/xenc:CipherData", NS)
    for c in list(cd):
        cd.remove(c)
    etree.SubElement(cd, f"{{{XENC}}}CipherReference").set("URI", "http://127.0.0.1:9/cipher")
    enc_case("s15-cipher-reference-assertion", "assertion", ser(root), invalid("decryption_failed"),
             "§15(4f): EncryptedData with an external CipherReference (loopback URL, never fetched)")
    root = parse(sign(response_xml(), "assertion"))
    a = etree.tostring(assertion_of(root))
    encrypt_assertion(root, plaintext=b'<!DOCTYPE x [<!ENTITY e "evil">]>' + a)
    enc_case("s15-doctype-in-plaintext-assertion", "assertion", ser(root), invalid("forbidden_dtd"),
             "§11(8): the decrypted assertion plaintext starts with a DOCTYPE. Content is aes-gcm "
             "(authenticated), so reporting the parse result is no oracle; for CBC content the same "
             "plaintext is decryption_failed (see tests/attacks.rs)")


def s16_replay(signed):
    for m in MODES:
        case(f"s16-replay-after-expiry-{m}", "§16", m, signed[m], invalid("expired"),
             "§16(f): a captured valid Response replayed after NotOnOrAfter + skew (12:05 + 180 s + 1 h)",
             args=with_now("2024-06-01T13:08:01Z"))


def s17_audience(signed):
    for m in MODES:
        args = list(BASE_ARGS)
        args[args.index("--sp-entity-id") + 1] = OTHER_SP
        case(f"s17-wrong-audience-{m}", "§17", m, signed[m], invalid("audience_mismatch"),
             "§17(a): a Response issued for this SP, presented to another SP (our Audience is not in it)",
             args=args)
        case(f"s17-wrong-destination-{m}", "§17", m, signed_of(m, destination=OTHER_ACS),
             invalid("destination_mismatch"), "§17(b): signed Destination is another SP's ACS")
        case(f"s17-wrong-recipient-{m}", "§17", m, signed_of(m, recipient=OTHER_ACS),
             invalid("recipient_mismatch"), "§17(b): signed bearer Recipient is another SP's ACS")
        case(f"s17-in-response-to-mismatch-{m}", "§17", m, signed[m], invalid("in_response_to_mismatch"),
             "§17(f): InResponseTo names another request",
             args=BASE_ARGS + ["--in-response-to", "_other_request"])
        case(f"s17-in-response-to-match-{m}", "§17", m, signed[m], valid(),
             "InResponseTo matches (control)", args=BASE_ARGS + ["--in-response-to", "_req"])
        case(f"s17-unsolicited-when-expected-{m}", "§17", m, signed_of(m, irt=None),
             invalid("in_response_to_mismatch"),
             "§17(g): unsolicited Response (no InResponseTo anywhere) while a request _req is outstanding",
             args=BASE_ARGS + ["--in-response-to", "_req"])
    case("s17-audience-or-within-restriction-assertion", "§17", "assertion",
         signed_of("assertion", audiences=[[OTHER_SP, SP]]), valid(),
         "§17(c): one AudienceRestriction with another SP and ours (OR): accepted (control)")
    case("s17-audience-and-across-restrictions-assertion", "§17", "assertion",
         signed_of("assertion", audiences=[[SP], [OTHER_SP]]), invalid("audience_mismatch"),
         "§17(c): two AudienceRestrictions, the second without ours (AND): rejected")
    for label, aud in (("trailing-slash", SP + "/"), ("case", SP.upper().replace("HTTPS://", "https://")),
                       ("port", SP.replace("sp.attack.test", "sp.attack.test:443")),
                       ("http", SP.replace("https:", "http:"))):
        case(f"s17-audience-{label}-assertion", "§17", "assertion", signed_of("assertion", audiences=[[aud]]),
             invalid("audience_mismatch"), f"§17(d): Audience {aud} (ours up to {label}): exact match only")
    case("s17-recipient-query-assertion", "§17", "assertion", signed_of("assertion", recipient=ACS + "?x=1"),
         invalid("recipient_mismatch"), "§17(e): Recipient is our ACS plus a query string: exact match only")
    case("s17-destination-fragment-assertion", "§17", "assertion",
         signed_of("assertion", destination=ACS + "#x"), invalid("destination_mismatch"),
         "§17(e): Destination is our ACS plus a fragment: exact match only")


def s20_limits(signed):
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    case("s20-100k-deep", "§20", "none", deep, invalid("too_large"),
         "100,000 nested <a> elements, bare (one case: a parser limit, before any signature; DESIGN 1)")
    body = signed["assertion"]
    deep = b"<samlp:Extensions><x:a xmlns:x='urn:x'>" + b"<a>" * 99_999 + b"</a>" * 99_999 + \
        b"</x:a></samlp:Extensions>"
    case("s20-100k-deep-in-response-assertion", "§20", "assertion",
         body.replace(b"</saml:Issuer>", b"</saml:Issuer>" + deep, 1), invalid("too_large"),
         "100,000 nested elements inside samlp:Extensions of the assertion-signed Response")
    attrs = b"".join(b' a%x=""' % i for i in range(100_000))
    case("s20-100k-attributes-assertion", "§20", "assertion",
         body.replace(b"</saml:Issuer>", b"</saml:Issuer><samlp:Extensions><x:e xmlns:x='urn:x'" + attrs +
                      b"/></samlp:Extensions>", 1), invalid("too_large"),
         "100,000 attributes on one element in samlp:Extensions")
    nsd = b"".join(b' xmlns:n%x="u:%x"' % (i, i) for i in range(50_000))
    case("s20-100k-namespaces-assertion", "§20", "assertion",
         body.replace(b"</saml:Issuer>", b"</saml:Issuer><samlp:Extensions><x:e xmlns:x='urn:x'" + nsd +
                      b"/></samlp:Extensions>", 1), invalid("too_large"),
         "50,000 namespace declarations (under the 1 MiB size limit, so the count limit must trip) on one element in samlp:Extensions")
    case("s20-malformed-base64", "§20", "none", b"PHNhbWxwOlJlc3BvbnNl*&^%$#@!notbase64==",
         invalid("malformed_input"), "SAMLResponse that is not base64 (one case: no signature is reached)",
         fname="response.b64")
    b64 = base64.b64encode(signed["assertion"])
    case("s20-base64-bad-padding-assertion", "§20", "assertion", b64[:40] + b"=" + b64[40:],
         invalid("malformed_input"), "base64 of the signed Response with a '=' in the middle",
         fname="response.b64")
    case("s20-base64-whitespace-every-byte-assertion", "§20", "assertion",
         b" ".join(b64[i:i + 1] for i in range(len(b64))), valid(),
         "base64 of the signed Response with a space after every character: whitespace is ignored "
         "(DESIGN contract), decoded it is far below the 1 MiB limit: valid", fname="response.b64")


def s23_time(signed):
    for m in MODES:
        case(f"s23-expired-{m}", "§23", m, signed[m], invalid("expired"),
             "evaluated 3 min 1 s after NotOnOrAfter (past the 180 s skew)", args=with_now("2024-06-01T12:08:01Z"))
        case(f"s23-not-yet-valid-{m}", "§23", m, signed[m], invalid("not_yet_valid"),
             "evaluated 3 min 1 s before NotBefore", args=with_now("2024-06-01T11:55:59Z"))
        case(f"s23-within-skew-{m}", "§23", m, signed[m], valid(),
             "2 min 59 s after NotOnOrAfter: inside the skew, accepted (control)", args=with_now("2024-06-01T12:07:59Z"))
        case(f"s23-no-scd-not-on-or-after-{m}", "§23", m, signed_of(m, scd_not_on_or_after=None),
             invalid("subject_confirmation_invalid"),
             "bearer SubjectConfirmationData without NotOnOrAfter (SAMLProf 4.1.4.2)")
    case("s23-not-on-or-after-exactly-at-skew-assertion", "§23", "assertion", signed["assertion"], invalid("expired"),
         "now = NotOnOrAfter + 180 s exactly: NotOnOrAfter is exclusive, so expired",
         args=with_now("2024-06-01T12:08:00Z"))
    case("s23-not-before-exactly-at-skew-assertion", "§23", "assertion", signed["assertion"], valid(),
         "now = NotBefore - 180 s exactly: NotBefore is inclusive, so valid (control)",
         args=with_now("2024-06-01T11:56:00Z"))


def s24_status(signed):
    for m in MODES:
        case(f"s24-status-responder-{m}", "§24", m, signed_of(m, status="Responder"), invalid("status_not_success"),
             "top-level StatusCode Responder with a valid signed assertion attached")
        case(f"s24-status-nested-success-{m}", "§24", m,
             signed_of(m, status="Requester", status_inner="Success"), invalid("status_not_success"),
             "top-level Requester with a nested second-level StatusCode Success")
        case(f"s24-version-1-1-{m}", "§24", m, signed_of(m, version="1.1"), invalid("schema_violation"),
             "Response Version 1.1")
    case("s24-version-2-1-assertion", "§24", "assertion", signed_of("assertion", version="2.1"),
         invalid("schema_violation"), "Response Version 2.1")
    case("s24-issuer-mismatch-both", "§24", "both", signed_of("both", response_issuer="https://other-idp.attack.test"),
         invalid("issuer_mismatch"), "§5b/§24: Response and Assertion issuers differ, both signed by the IdP")
    case("s24-missing-assertion-issuer-assertion", "§24", "assertion", signed_of("assertion", assertion_issuer=None),
         invalid("schema_violation"), "assertion without Issuer (signed)")
    cert = cert_b64(ensure_key("idp")[1])
    md = (f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="{DS}" entityID="{IDP}">'
          f'<md:IDPSSODescriptor protocolSupportEnumeration="{SAMLP}"><md:KeyDescriptor use="signing"><ds:KeyInfo>'
          f'<ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
          f'</md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
          f'Location="{IDP}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>').encode()
    md_args = ["--idp-metadata", "idp-metadata.xml"] + BASE_ARGS[2:]
    case("s24-metadata-control-both", "§24", "both", signed["both"], valid(issuer=IDP),
         "trust from IdP metadata whose entityID is the Issuer (control for the unknown-issuer case)",
         args=md_args, files={"idp-metadata.xml": md})
    other = "https://unknown-idp.attack.test"
    case("s24-unknown-issuer-both", "§24", "both",
         signed_of("both", response_issuer=other, assertion_issuer=other), invalid("unknown_issuer"),
         "Response and Assertion Issuer an entity not in the trusted metadata (signed with the key that the "
         "metadata trusts for another entity)", args=md_args, files={"idp-metadata.xml": md})
    saml11 = response_xml().replace('<saml:Assertion ID="_a" Version="2.0"',
                                    '<saml:Assertion AssertionID="_a" MajorVersion="1" MinorVersion="1"')
    root = parse(saml11)
    a = assertion_of(root)
    a.find("saml:Issuer", NS).addnext(signature_template("_a"))
    data = xmlsec_sign_attr(ser(root), "AssertionID")
    case("s24-saml11-assertionid-assertion", "§24", "assertion", data, invalid("schema_violation"),
         "SAML 1.1 style assertion (AssertionID, MajorVersion/MinorVersion, no ID/Version), signed by xmlsec1")
    case("s24-baseid-subject-assertion", "§24", "assertion",
         signed_of("assertion", subject_id='<saml:BaseID xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                                           'xsi:type="x:T" xmlns:x="urn:x"/>'),
         invalid("nameid_format_mismatch"), "Subject with a BaseID and no NameID (saml2int: IdPs MUST NOT)")


def xmlsec_sign_attr(xml_bytes, attr):
    k, c = ensure_key("idp")
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.xml"), os.path.join(d, "out.xml")
        open(src, "wb").write(xml_bytes)
        subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{k},{c}", "--id-attr:" + attr,
                        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", "--output", out, src],
                       check=True, capture_output=True)
        return strip_decl(open(out, "rb").read())


def gen():
    signed = {m: signed_of(m) for m in MODES}
    s00_controls(signed)
    s01_xsw(signed)
    s02_comments()
    s03_stripping(signed)
    s04_keys(signed)
    s05_mixed(signed)
    s06_multiple()
    s07_ids(signed)
    s08_decoy_digest()
    s09_differential()
    s10_namespaces()
    s11_dtd()
    s12_hmac()
    s13_transforms()
    s14_weak()
    s15_encryption()
    s16_replay(signed)
    s17_audience(signed)
    s20_limits(signed)
    s23_time(signed)
    s24_status(signed)


def write():
    if os.path.isdir(CASES):
        shutil.rmtree(CASES)
    _, idp_cert = ensure_key("idp")
    xmlsec_version = subprocess.run(["xmlsec1", "--version"], capture_output=True, text=True).stdout.strip()
    for c in cases:
        d = os.path.join(CASES, c["id"])
        os.makedirs(d)
        open(os.path.join(d, c["fname"]), "wb").write(c["data"])
        shutil.copy(c["cert"] or idp_cert, os.path.join(d, "idp-cert.pem"))
        for name, data in c["files"].items():
            open(os.path.join(d, name), "wb").write(data)
        json.dump({"id": c["id"], "section": c["section"], "mode": c["mode"],
                   "description": f"ATTACKS.md {c['section']}: {c['description']}",
                   "args": c["args"], "input": c["fname"], "expect": c["expect"],
                   "signer": xmlsec_version},
                  open(os.path.join(d, "case.json"), "w"), indent=1, ensure_ascii=False)
    print(f"{len(cases)} cases in {CASES}")
    write_readme_table()


def write_readme_table():
    """Rewrites the case table of README.md between its two markers."""
    readme = os.path.join(HERE, "README.md")
    text = open(readme).read()
    start, end = "<!-- cases:start -->", "<!-- cases:end -->"
    rows = ["| case | section | mode | expected |", "|---|---|---|---|"]
    for c in sorted(cases, key=lambda c: c["id"]):
        e = c["expect"]
        want = f"valid (`{e['name_id']}`)" if e["valid"] else ", ".join(f"`{r}`" for r in e["reasons"])
        rows.append(f"| `{c['id']}` | {c['section']} | {c['mode']} | {want} |")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    open(readme, "w").write(head + start + "\n" + "\n".join(rows) + "\n" + end + tail)


if __name__ == "__main__":
    ensure_key("idp")
    gen()
    write()
