#!/usr/bin/env python3
"""Generates the Single Logout vectors run by tests/slo_vectors.rs.

Every signature is made by a tool other than samlgate: the HTTP-Redirect
query signatures by the `openssl dgst` command line over the exact octets
this script puts in the query (its own percent-encoding: upper- or
lowercase escapes, any parameter order), the HTTP-POST enveloped
signatures by Debian's xmlsec1. DEFLATE is Python's zlib (raw, wbits=-15).
The attacks are then applied to the signed output, as an attacker would.
Only the HMAC cases compute a MAC here: the attacker keys HMAC with the
IdP's public certificate (SSPSA 201802-01).

Keys are the attack fixtures' (tests/attacks/keys, made once with openssl):
idp (the trusted IdP), attacker (the key of another, also trusted, IdP),
ec256 and rsa1024 (also trusted for the IdP, for ECDSA and the key-size
rule). RSA PKCS#1 v1.5 is deterministic, so reruns give the same files,
except the ECDSA case.

Each case is cases/<name>.query (the raw query string, Redirect binding)
or cases/<name>.form (the raw form body, POST binding), with
cases/<name>.json: what it is and the expected outcome.

Run: python3 crates/samlgate-saml/tests/slo/gen.py   (needs openssl, xmlsec1)
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.normpath(os.path.join(HERE, "../../../../tests/attacks/keys"))
CASES = os.path.join(HERE, "cases")

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
IDP = "https://idp.slo.test/idp"
OTHER_IDP = "https://other-idp.slo.test/idp"
SP = "https://sp.slo.test/saml/metadata"
SLO = "https://sp.slo.test/saml/logout"
T = "2026-01-15T10:00:00Z"
NOA = "2026-01-15T10:05:00Z"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
PARTIAL = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
DEFLATE_ENC = "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE"

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_MD5 = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
HMAC_SHA1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
DIGEST = {RSA_SHA256: "sha256", RSA_SHA512: "sha512", RSA_SHA1: "sha1", ECDSA_SHA256: "sha256"}

ALICE = {"value": "8f2c6c1e-alice", "format": PERSISTENT, "name_qualifier": IDP,
         "sp_name_qualifier": SP}


def key(name):
    return os.path.join(KEYS, f"{name}-key.pem")


def cert(name):
    return os.path.join(KEYS, f"{name}-cert.pem")


# ---------------------------------------------------------------- messages

def name_id_xml(n):
    attrs = "".join(f' {a}="{n[k]}"' for a, k in
                    [("Format", "format"), ("NameQualifier", "name_qualifier"),
                     ("SPNameQualifier", "sp_name_qualifier")] if n.get(k))
    return f"<saml:NameID{attrs}>{n['value']}</saml:NameID>"


def logout_request(id="_idp-lr-1", issuer=IDP, destination=SLO, instant=T, noa=NOA,
                   name_id=ALICE, sessions=("_s-alice-1",), body=None, doctype=False,
                   signature=""):
    dest = f' Destination="{destination}"' if destination else ""
    noa_attr = f' NotOnOrAfter="{noa}"' if noa else ""
    if body is None:
        body = name_id_xml(name_id) + "".join(
            f"<samlp:SessionIndex>{s}</samlp:SessionIndex>" for s in sessions)
    head = '<!DOCTYPE r [<!ENTITY e "x">]>' if doctype else ""
    return (f'{head}<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" '
            f'Version="2.0" IssueInstant="{instant}"{dest}{noa_attr}>'
            f"<saml:Issuer>{issuer}</saml:Issuer>{signature}{body}</samlp:LogoutRequest>")


def logout_response(id="_idp-lresp-1", issuer=IDP, destination=SLO, instant=T,
                    in_response_to="_sp-lr-1", status=(SUCCESS, None), signature=""):
    dest = f' Destination="{destination}"' if destination else ""
    irt = f' InResponseTo="{in_response_to}"' if in_response_to else ""
    top, second = status
    inner = f'<samlp:StatusCode Value="{second}"/>' if second else ""
    return (f'<samlp:LogoutResponse xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{id}" '
            f'Version="2.0" IssueInstant="{instant}"{dest}{irt}>'
            f"<saml:Issuer>{issuer}</saml:Issuer>{signature}"
            f'<samlp:Status><samlp:StatusCode Value="{top}">{inner}</samlp:StatusCode>'
            f"</samlp:Status></samlp:LogoutResponse>")


# ---------------------------------------------------------------- crypto

def deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def der_to_raw(der, size):
    """ECDSA-Sig-Value (DER) to r || s, as XML-DSig and the bindings carry it."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\x00").rjust(size, b"\x00")
        i += 2 + n
    return out


def openssl_sign(data, keyname, sigalg):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        sig = subprocess.run(["openssl", "dgst", "-" + DIGEST[sigalg], "-sign", key(keyname), f.name],
                             check=True, capture_output=True).stdout
    return der_to_raw(sig, 32) if sigalg == ECDSA_SHA256 else sig


def xmlsec_sign(xml, root, keyname, sigalg=RSA_SHA256, digest="http://www.w3.org/2001/04/xmlenc#sha256",
                ref_uri=None):
    """Signs the root (enveloped, exc-c14n) with xmlsec1; `xml` must hold
    the SIGNATURE placeholder right after the Issuer."""
    id_ = re.search(r' ID="([^"]+)"', xml).group(1)
    uri = f"#{id_}" if ref_uri is None else ref_uri
    template = (
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>'
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        f'<ds:SignatureMethod Algorithm="{sigalg}"/><ds:Reference URI="{uri}"><ds:Transforms>'
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>'
        "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data>"
        "</ds:KeyInfo></ds:Signature>")
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.xml"), os.path.join(d, "out.xml")
        with open(src, "w") as f:
            f.write(xml.replace("SIGNATURE", template))
        subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key(keyname)},{cert(keyname)}",
                        "--id-attr:ID", f"{SAMLP}:{root}", "--output", out, src],
                       check=True, capture_output=True)
        with open(out) as f:
            signed = f.read()
    # xmlsec1 adds an XML declaration; the message starts at the root.
    return signed[signed.index("<samlp:"):].rstrip("\n")


# ---------------------------------------------------------------- encodings

def q(value, lower=False):
    out = urllib.parse.quote_plus(value, safe="")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), out) if lower else out


def redirect(xml, kind="SAMLRequest", relay=None, sigalg=RSA_SHA256, signer="idp",
             lower=False, order=None, extra=(), raw_message=None):
    """A signed Redirect query. Returns (segments dict, query): segments by
    name so that attacks can rebuild the query after signing."""
    message = raw_message if raw_message is not None else deflate(xml.encode())
    seg = {"msg": f"{kind}={q(base64.b64encode(message).decode(), lower)}"}
    if relay is not None:
        seg["relay"] = f"RelayState={q(relay, lower)}"
    seg["sigalg"] = f"SigAlg={q(sigalg, lower)}"
    signed = "&".join(seg[k] for k in ("msg", "relay", "sigalg") if k in seg).encode()
    if sigalg in DIGEST:
        sig = openssl_sign(signed, signer, sigalg)
    else:  # an HMAC keyed with the IdP's public certificate
        with open(cert("idp"), "rb") as f:
            mac_key = f.read()
        digest = hashlib.sha256 if sigalg == HMAC_SHA256 else hashlib.sha1
        sig = hmac.new(mac_key, signed, digest).digest()
    seg["sig"] = f"Signature={q(base64.b64encode(sig).decode(), lower)}"
    return seg, join(seg, order, extra)


def join(seg, order=None, extra=()):
    order = order or ["msg", "relay", "sigalg", "sig"]
    return "&".join([seg[k] for k in order if k in seg] + list(extra))


def form(xml, kind="SAMLRequest", relay=None, extra=()):
    parts = [f"{kind}={q(base64.b64encode(xml.encode()).decode())}"]
    if relay is not None:
        parts.append(f"RelayState={q(relay)}")
    return "&".join(parts + list(extra))


# ---------------------------------------------------------------- cases

CASE_LIST = []


def case(name, binding, body, what, **expected):
    CASE_LIST.append((name, binding, body, what, expected))


def request_ok(relay=None, name_id=ALICE, sessions=("_s-alice-1",), issuer=IDP, **extra):
    fields = {"valid": True, "kind": "request", "issuer": issuer, "id": "_idp-lr-1",
              "issue_instant": T, "not_on_or_after": NOA, "name_id": name_id,
              "session_indexes": list(sessions), "relay_state": relay}
    fields.update(extra)
    return fields


def refused(reason, **extra):
    return dict(valid=False, reason=reason, **extra)


def redirect_cases():
    lr = logout_request()
    _, query = redirect(lr, relay="tok-1")
    case("redirect-request-ok", "redirect", query,
         "LogoutRequest, RelayState, rsa-sha256, uppercase escapes, binding order",
         **request_ok(relay="tok-1"))
    _, query = redirect(lr, relay="https://sp.slo.test/after?x=1", lower=True)
    case("redirect-request-lowercase-escapes", "redirect", query,
         "every escape lowercase (%2f, %3a: Entra and ADFS) and signed that way",
         **request_ok(relay="https://sp.slo.test/after?x=1"))
    seg, _ = redirect(lr, relay="tok-1")
    case("redirect-request-sigalg-first", "redirect", join(seg, ["sigalg", "sig", "relay", "msg"]),
         "parameters in another order (SigAlg first): the signed octets follow the binding order",
         **request_ok(relay="tok-1"))
    _, query = redirect(lr, relay="")
    case("redirect-request-empty-relaystate", "redirect", query,
         "an empty RelayState= present and signed", **request_ok(relay=""))
    _, query = redirect(lr, relay="a b/c")
    assert "RelayState=a+b%2Fc" in query
    case("redirect-request-relaystate-plus", "redirect", query,
         "a space in RelayState sent as +", **request_ok(relay="a b/c"))
    seg, _ = redirect(lr, relay="a b/c")
    seg["relay"] = "RelayState=a%20b%2Fc"
    signed = "&".join([seg["msg"], seg["relay"], seg["sigalg"]]).encode()
    seg["sig"] = "Signature=" + q(base64.b64encode(openssl_sign(signed, "idp", RSA_SHA256)).decode())
    case("redirect-request-relaystate-pct20", "redirect", join(seg),
         "a space in RelayState sent as %20 and signed so", **request_ok(relay="a b/c"))
    seg, _ = redirect(lr, relay="tok-1")
    raw_sig = urllib.parse.unquote_plus(seg["sig"][len("Signature="):])
    assert "+" in raw_sig or "/" in raw_sig
    seg["sig"] = "Signature=" + raw_sig
    case("redirect-request-signature-unencoded", "redirect", join(seg),
         "the Signature value with + and / left unescaped", **request_ok(relay="tok-1"))
    _, query = redirect(lr, relay="tok-1", extra=["foo=bar", f"SAMLEncoding={q(DEFLATE_ENC)}"])
    case("redirect-request-extra-parameters", "redirect", query,
         "an unsigned foo=bar and SAMLEncoding=DEFLATE beside the signed parameters",
         **request_ok(relay="tok-1"))
    _, query = redirect(lr, sigalg=RSA_SHA512)
    case("redirect-request-rsa-sha512", "redirect", query, "rsa-sha512, no RelayState",
         **request_ok())
    _, query = redirect(lr, sigalg=ECDSA_SHA256, signer="ec256")
    case("redirect-request-ecdsa-sha256", "redirect", query,
         "ecdsa-sha256 (P-256, r||s) with the IdP's second key", **request_ok())
    two = logout_request(sessions=("_s-alice-1", "_s-alice-2"),
                         name_id={"value": "alice@example.test"}, noa=None)
    _, query = redirect(two)
    case("redirect-request-two-sessions-bare-nameid", "redirect", query,
         "two SessionIndex values, a NameID without Format or qualifiers, no NotOnOrAfter",
         **request_ok(name_id={"value": "alice@example.test", "format": None,
                               "name_qualifier": None, "sp_name_qualifier": None},
                      sessions=("_s-alice-1", "_s-alice-2"), not_on_or_after=None))
    other = logout_request(issuer=OTHER_IDP)
    _, query = redirect(other, signer="attacker")
    case("redirect-request-other-idp-own-key", "redirect", query,
         "the other IdP's request signed with its own key", **request_ok(issuer=OTHER_IDP))
    _, query = redirect(lr, sigalg=RSA_SHA1)
    case("redirect-request-rsa-sha1-allowed", "redirect", query, "rsa-sha1 with allow_sha1",
         **request_ok(options={"allow_sha1": True}))
    case("redirect-request-rsa-sha1-refused", "redirect", query, "rsa-sha1 without allow_sha1",
         **refused("weak_algorithm"))

    # Binding-level refusals.
    seg, query = redirect(lr, relay="tok-1")
    case("redirect-duplicate-samlrequest", "redirect", query + "&" + seg["msg"],
         "SAMLRequest twice (the same value)", **refused("malformed_input"))
    case("redirect-duplicate-encoded-name", "redirect",
         query + "&" + seg["msg"].replace("SAMLRequest", "SAML%52equest"),
         "SAMLRequest and SAML%52equest: one name after percent-decoding",
         **refused("malformed_input"))
    case("redirect-duplicate-relaystate", "redirect", query + "&RelayState=other",
         "RelayState twice", **refused("malformed_input"))
    case("redirect-duplicate-sigalg", "redirect", query + "&" + seg["sigalg"],
         "SigAlg twice", **refused("malformed_input"))
    evil = logout_request(name_id=dict(ALICE, value="8f2c6c1e-mallory"))
    evil_seg, _ = redirect(evil, relay="tok-1", signer="attacker")
    case("redirect-decoy-prefix", "redirect",
         "x" + seg["msg"] + "&" + evil_seg["msg"] + "&" + "&".join([seg["relay"], seg["sigalg"], seg["sig"]]),
         "xSAMLRequest=<signed> before SAMLRequest=<evil>: the signature covers the decoy only",
         **refused("signature_invalid"))
    case("redirect-decoy-suffix", "redirect",
         seg["msg"].replace("SAMLRequest", "SAMLRequestX") + "&" + evil_seg["msg"] + "&"
         + "&".join([seg["relay"], seg["sigalg"], seg["sig"]]),
         "SAMLRequestX=<signed> and SAMLRequest=<evil>", **refused("signature_invalid"))
    case("redirect-decoy-only", "redirect", "x" + query,
         "only xSAMLRequest: no message at all", **refused("malformed_input"))
    resp_seg, _ = redirect(logout_response(), kind="SAMLResponse")
    case("redirect-both-messages", "redirect", query + "&" + resp_seg["msg"],
         "SAMLRequest and SAMLResponse together", **refused("malformed_input"))
    case("redirect-unknown-encoding", "redirect",
         query + "&SAMLEncoding=urn%3Aoasis%3Anames%3Atc%3ASAML%3A2.0%3Abindings%3AURL-Encoding%3Anone",
         "an unknown SAMLEncoding", **refused("malformed_input"))
    case("redirect-unsigned", "redirect", join(seg, ["msg", "relay"]),
         "no SigAlg and no Signature", **refused("unsigned"))
    case("redirect-signature-without-sigalg", "redirect", join(seg, ["msg", "relay", "sig"]),
         "Signature but no SigAlg", **refused("unsigned"))
    case("redirect-bad-percent-escape", "redirect", query + "&RelayStat%zz=1",
         "a broken percent escape", **refused("malformed_input"))
    _, query = redirect(lr, sigalg=HMAC_SHA256)
    case("redirect-hmac-sha256-keyed-with-idp-cert", "redirect", query,
         "hmac-sha256 keyed with the IdP certificate (SSPSA 201802-01)",
         **refused("unsupported_algorithm"))
    _, query = redirect(lr, sigalg=HMAC_SHA1)
    case("redirect-hmac-sha1-keyed-with-idp-cert", "redirect", query,
         "hmac-sha1 keyed with the IdP certificate, even with allow_sha1",
         **refused("unsupported_algorithm", options={"allow_sha1": True}))
    seg_md5, _ = redirect(lr, sigalg=RSA_SHA256)
    seg_md5["sigalg"] = "SigAlg=" + q(RSA_MD5)
    case("redirect-rsa-md5", "redirect", join(seg_md5), "rsa-md5", **refused("unsupported_algorithm"))

    # Signature refusals.
    _, query = redirect(lr, signer="attacker")
    case("redirect-signed-by-other-idp-key", "redirect", query,
         "the IdP's Issuer, signed by the other IdP's key", **refused("signature_invalid"))
    _, query = redirect(lr, signer="rsa1024")
    case("redirect-rsa1024-key", "redirect", query, "a trusted 1024-bit RSA key",
         **refused("weak_algorithm"))
    seg, _ = redirect(lr, relay="tok-1")
    evil = logout_request(name_id=dict(ALICE, value="8f2c6c1e-mallory"))
    tampered = dict(seg, msg=f"SAMLRequest={q(base64.b64encode(deflate(evil.encode())).decode())}")
    case("redirect-tampered-message", "redirect", join(tampered),
         "the message swapped for another after signing", **refused("signature_invalid"))
    case("redirect-tampered-relaystate", "redirect", join(dict(seg, relay="RelayState=tok-2")),
         "RelayState changed after signing", **refused("signature_invalid"))
    seg, _ = redirect(lr, relay="https://sp.slo.test/x", lower=True)
    upper = {k: re.sub(r"%[0-9a-f]{2}", lambda m: m.group(0).upper(), v) for k, v in seg.items()}
    assert upper != seg
    case("redirect-reencoded-escapes", "redirect", join(upper),
         "signed with lowercase escapes, received re-encoded uppercase: octets differ",
         **refused("signature_invalid"))
    _, query = redirect(logout_request(issuer="https://unknown.slo.test/idp"))
    case("redirect-unknown-issuer", "redirect", query, "an Issuer no metadata names",
         **refused("unknown_issuer"))

    # Message checks after the signature.
    for name, xml, what, reason in [
        ("redirect-wrong-destination", logout_request(destination="https://other-sp.slo.test/saml/logout"),
         "Destination is another SP's SLO URL", "destination_mismatch"),
        ("redirect-no-destination", logout_request(destination=None),
         "no Destination on a signed message", "destination_mismatch"),
        ("redirect-expired-issue-instant", logout_request(instant="2026-01-15T09:00:00Z", noa=None),
         "IssueInstant an hour old (max age 300 s)", "expired"),
        ("redirect-future-issue-instant", logout_request(instant="2026-01-15T10:30:00Z"),
         "IssueInstant 29 minutes ahead", "not_yet_valid"),
        ("redirect-not-on-or-after-passed", logout_request(noa="2026-01-15T09:55:00Z"),
         "NotOnOrAfter passed", "expired"),
        ("redirect-doctype", logout_request(doctype=True), "a DOCTYPE", "forbidden_dtd"),
        ("redirect-two-nameids", logout_request(body=name_id_xml(ALICE) * 2),
         "two NameID elements", "schema_violation"),
        ("redirect-no-nameid", logout_request(body="<samlp:SessionIndex>_s</samlp:SessionIndex>"),
         "no NameID", "schema_violation"),
        ("redirect-encrypted-id", logout_request(body="<saml:EncryptedID/>"),
         "an EncryptedID", "nameid_format_mismatch"),
        ("redirect-duplicate-ids", logout_request(
            body=name_id_xml(ALICE) + '<samlp:Extensions><x:y xmlns:x="urn:x" ID="_idp-lr-1"/></samlp:Extensions>'),
         "an element in Extensions with the root's ID", "reference_invalid"),
        ("redirect-authnrequest", f'<samlp:AuthnRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_a" '
         f'Version="2.0" IssueInstant="{T}" Destination="{SLO}"><saml:Issuer>{IDP}</saml:Issuer></samlp:AuthnRequest>',
         "an AuthnRequest sent as SAMLRequest", "schema_violation"),
        ("redirect-response-as-request", logout_response(), "a LogoutResponse sent as SAMLRequest",
         "schema_violation"),
    ]:
        _, query = redirect(xml)
        case(name, "redirect", query, what, **refused(reason))

    # Transport damage.
    bomb = deflate(b"<samlp:LogoutRequest>" + b" " * (4 << 20))
    _, query = redirect(None, raw_message=bomb)
    case("redirect-deflate-bomb", "redirect", query,
         f"{len(bomb)} bytes of DEFLATE that inflate to 4 MiB", **refused("too_large"))
    _, query = redirect(None, raw_message=zlib.compress(lr.encode()))
    case("redirect-zlib-wrapper", "redirect", query, "zlib (RFC 1950) instead of raw DEFLATE",
         **refused("malformed_input"))
    _, query = redirect(None, raw_message=deflate(lr.encode()) + b"trailing")
    case("redirect-trailing-data", "redirect", query, "data after the DEFLATE stream",
         **refused("malformed_input"))
    seg, _ = redirect(lr)
    case("redirect-not-base64", "redirect", join(dict(seg, msg="SAMLRequest=%21%21%21%21")),
         "SAMLRequest is not base64", **refused("malformed_input"))

    # LogoutResponse.
    irt = {"in_response_to": "_sp-lr-1"}
    _, query = redirect(logout_response(), kind="SAMLResponse", relay="tok-9")
    case("redirect-response-ok", "redirect", query, "LogoutResponse Success",
         valid=True, kind="response", issuer=IDP, id="_idp-lresp-1", issue_instant=T,
         in_response_to="_sp-lr-1", status={"top_level": SUCCESS, "second_level": None},
         relay_state="tok-9", options=irt)
    _, query = redirect(logout_response(status=(RESPONDER, PARTIAL)), kind="SAMLResponse")
    case("redirect-response-partial-logout", "redirect", query,
         "LogoutResponse Responder / PartialLogout: verified, not a success",
         valid=True, kind="response", issuer=IDP, id="_idp-lresp-1", issue_instant=T,
         in_response_to="_sp-lr-1", status={"top_level": RESPONDER, "second_level": PARTIAL},
         relay_state=None, options=irt)
    case("redirect-response-wrong-in-response-to", "redirect", query,
         "InResponseTo names another request", **refused("in_response_to_mismatch",
                                                         options={"in_response_to": "_sp-lr-2"}))
    case("redirect-response-nothing-outstanding", "redirect", query,
         "no LogoutRequest outstanding", **refused("in_response_to_mismatch"))
    _, query = redirect(logout_response(in_response_to=None), kind="SAMLResponse")
    case("redirect-response-no-in-response-to", "redirect", query, "no InResponseTo",
         **refused("in_response_to_mismatch", options=irt))
    _, query = redirect(logout_response(destination="https://other-sp.slo.test/saml/logout"),
                        kind="SAMLResponse")
    case("redirect-response-wrong-destination", "redirect", query, "Destination of another SP",
         **refused("destination_mismatch", options=irt))
    _, query = redirect(logout_response(), kind="SAMLResponse", signer="attacker")
    case("redirect-response-signed-by-other-idp-key", "redirect", query,
         "LogoutResponse signed by the other IdP's key", **refused("signature_invalid", options=irt))


def post_cases():
    signed = xmlsec_sign(logout_request(signature="SIGNATURE"), "LogoutRequest", "idp")
    case("post-request-ok", "post", form(signed, relay="tok-1"),
         "LogoutRequest, enveloped rsa-sha256 signature by xmlsec1, RelayState",
         **request_ok(relay="tok-1"))
    case("post-request-unsigned", "post", form(logout_request()),
         "no ds:Signature", **refused("unsigned"))
    case("post-request-tampered-nameid", "post",
         form(signed.replace(">8f2c6c1e-alice<", ">8f2c6c1e-mallory<")),
         "NameID changed after signing", **refused("digest_mismatch"))
    other = xmlsec_sign(logout_request(signature="SIGNATURE"), "LogoutRequest", "attacker")
    case("post-request-signed-by-other-idp-key", "post", form(other),
         "the IdP's Issuer, signed (and KeyInfo) by the other IdP's key", **refused("untrusted_key"))
    sha1 = xmlsec_sign(logout_request(signature="SIGNATURE"), "LogoutRequest", "idp", sigalg=RSA_SHA1,
                       digest="http://www.w3.org/2000/09/xmldsig#sha1")
    case("post-request-rsa-sha1", "post", form(sha1), "rsa-sha1 and sha1 digest",
         **refused("weak_algorithm"))
    case("post-request-wrong-destination", "post",
         form(xmlsec_sign(logout_request(destination="https://other-sp.slo.test/saml/logout",
                                         signature="SIGNATURE"), "LogoutRequest", "idp")),
         "Destination of another SP", **refused("destination_mismatch"))
    case("post-request-expired", "post",
         form(xmlsec_sign(logout_request(instant="2026-01-15T09:00:00Z", noa=None, signature="SIGNATURE"),
                          "LogoutRequest", "idp")),
         "IssueInstant an hour old", **refused("expired"))
    case("post-doctype", "post", form('<!DOCTYPE r [<!ENTITY e "x">]>' + signed),
         "a DOCTYPE before the signed request", **refused("forbidden_dtd"))
    case("post-duplicate-field", "post", form(signed) + "&" + form(signed),
         "SAMLRequest twice in the form", **refused("malformed_input"))
    case("post-both-messages", "post", form(signed) + "&" + form(logout_response(), "SAMLResponse"),
         "SAMLRequest and SAMLResponse in one form", **refused("malformed_input"))
    empty_ref = xmlsec_sign(logout_request(signature="SIGNATURE"), "LogoutRequest", "idp", ref_uri="")
    case("post-reference-whole-document", "post", form(empty_ref),
         'Reference URI="" (the whole document)', **refused("reference_invalid"))

    # Wrapping (ATTACKS §1 for a root-signed message): the evil request is
    # what a naive reader would use; the signed one is moved elsewhere.
    sig = re.search(r"<ds:Signature.*</ds:Signature>", signed, re.S).group(0)
    clean = signed.replace(sig, "")
    inner = clean.replace(f' xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}"', "")
    mallory = name_id_xml(dict(ALICE, value="8f2c6c1e-mallory"))
    signed_inner = signed.replace(f' xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}"', "")
    case("post-xsw-signed-request-in-extensions", "post",
         form(logout_request(id="_evil", body=mallory + f"<samlp:Extensions>{signed_inner}</samlp:Extensions>")),
         "evil unsigned request, the signed original inside its Extensions", **refused("unsigned"))
    case("post-xsw-signature-moved-to-evil-root", "post",
         form(logout_request(id="_evil", signature=sig, body=mallory + f"<samlp:Extensions>{inner}</samlp:Extensions>")),
         "evil root (new ID) carrying the original Signature, the clean original in Extensions",
         **refused("reference_invalid"))
    case("post-xsw-same-id-clone-in-extensions", "post",
         form(logout_request(signature=sig, body=mallory + f"<samlp:Extensions>{inner}</samlp:Extensions>")),
         "evil root with the original ID and Signature, a clone with that ID in Extensions",
         **refused("reference_invalid"))
    obj_sig = sig.replace("</ds:Signature>", f"<ds:Object>{inner}</ds:Object></ds:Signature>")
    case("post-xsw-clone-in-signature-object", "post",
         form(logout_request(signature=obj_sig, body=mallory)),
         "evil NameID in place, the clean clone inside ds:Object", **refused("reference_invalid"))
    case("post-xsw-evil-nameid-in-extensions", "post",
         form(signed.replace("</samlp:LogoutRequest>", f"<samlp:Extensions>{mallory}</samlp:Extensions></samlp:LogoutRequest>")),
         "the signed request with an extra NameID in Extensions", **refused("digest_mismatch"))

    resp = xmlsec_sign(logout_response(signature="SIGNATURE"), "LogoutResponse", "idp")
    case("post-response-ok", "post", form(resp, "SAMLResponse", relay="tok-9"),
         "LogoutResponse Success, enveloped signature",
         valid=True, kind="response", issuer=IDP, id="_idp-lresp-1", issue_instant=T,
         in_response_to="_sp-lr-1", status={"top_level": SUCCESS, "second_level": None},
         relay_state="tok-9", options={"in_response_to": "_sp-lr-1"})
    case("post-response-unsigned", "post", form(logout_response(), "SAMLResponse"),
         "LogoutResponse without ds:Signature",
         **refused("unsigned", options={"in_response_to": "_sp-lr-1"}))


def main():
    shutil.rmtree(CASES, ignore_errors=True)
    os.makedirs(CASES)
    redirect_cases()
    post_cases()
    names = set()
    for name, binding, body, what, expected in CASE_LIST:
        assert name not in names, name
        names.add(name)
        ext = "query" if binding == "redirect" else "form"
        with open(os.path.join(CASES, f"{name}.{ext}"), "w") as f:
            f.write(body)
        with open(os.path.join(CASES, f"{name}.json"), "w") as f:
            json.dump(dict(what=what, **expected), f, indent=2, sort_keys=True)
            f.write("\n")
    print(f"wrote {len(CASE_LIST)} cases to {CASES}")


if __name__ == "__main__":
    main()
