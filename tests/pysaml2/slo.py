#!/usr/bin/python3
"""A pysaml2 IdP on the other end of samlgate's Single Logout.

Used by tests/pysaml2_slo.rs, run with /usr/bin/python3 (Debian's
python3-pysaml2). The IdP reads the SP metadata written by `samlgate
metadata` (its signing certificate and its SingleLogoutService endpoints,
HTTP-Redirect and HTTP-POST) and works in two phases:

  phase 1  --samlgate-request-redirect FILE --samlgate-request-post FILE
           Verifies samlgate's LogoutRequest in both bindings: the Redirect
           query signature with pysaml2's verify_redirect_signature (which
           re-encodes the parameters with urlencode), the POST enveloped
           signature with xmlsec1 (correctly_signed_logout_request with
           must=True), then parses each with parse_logout_request (Destination
           and IssueInstant checks). The same messages with one signed byte
           changed must fail. Writes checked-requests.json, and pysaml2's own
           messages for samlgate to verify:
             idp-request.query     IdP-initiated LogoutRequest, HTTP-Redirect,
                                   signed rsa-sha256, RelayState
             idp-request.form      the same, HTTP-POST, enveloped signature
             idp-response.query    LogoutResponse (Success) to samlgate's
                                   request, HTTP-Redirect, signed
             idp-response.form     the same, HTTP-POST, enveloped signature
             idp.xml               the IdP metadata (signing certificate)
  phase 2  --samlgate-response-redirect FILE --samlgate-response-post FILE
           Verifies and parses samlgate's LogoutResponses (answers to the
           IdP-initiated request) the same way; writes checked-responses.json.

Every verification result is written as JSON; the Rust test asserts on it.
"""

import argparse
import base64
import json
import os
import sys
import urllib.parse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor, metadata_tostring_fix
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.time_util import in_a_while
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

IDP_ENTITY_ID = "https://idp.example.test/idp"
IDP_SLO_REDIRECT = "https://idp.example.test/slo/redirect"
IDP_SLO_POST = "https://idp.example.test/slo/post"
NAME_ID_VALUE = "8f2c6c1e-alice-persistent"
SESSION_INDEX = "_pysaml2-session-1"


def server_for(args):
    conf = {
        "entityid": IDP_ENTITY_ID,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [
                        ("https://idp.example.test/sso", BINDING_HTTP_REDIRECT),
                    ],
                    "single_logout_service": [
                        (IDP_SLO_REDIRECT, BINDING_HTTP_REDIRECT),
                        (IDP_SLO_POST, BINDING_HTTP_POST),
                    ],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            },
        },
        "key_file": args.idp_key,
        "cert_file": args.idp_cert,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "metadata": {"local": [args.sp_metadata]},
        "accepted_time_diff": 180,
        "delete_tmpfiles": True,
    }
    config = IdPConfig()
    config.load(conf)
    return config, Server(config=config)


def the_sp(server):
    sps = list(server.metadata.with_descriptor("spsso"))
    if len(sps) != 1:
        sys.exit("expected one SP in the metadata, found %r" % sps)
    return sps[0]


def query_params(query):
    """The query as pysaml2's callers hand it over: decoded values, one each."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=True)
    for k, v in params.items():
        if len(v) != 1:
            sys.exit("parameter %s given %d times" % (k, len(v)))
    return {k: v[0] for k, v in params.items()}


def read(path):
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def sp_cert(server, sp):
    certs = server.metadata.certs(sp, "spsso", "signing")
    if not certs:
        sys.exit("no signing certificate for %s in the SP metadata" % sp)
    return certs[0]


def redirect_ok(server, cert, query):
    try:
        return bool(verify_redirect_signature(query_params(query), server.sec.sec_backend, cert=cert))
    except Exception as e:  # a refused signature is a result, not a crash
        return "error: %s" % e


def post_xml(form_body):
    params = query_params(form_body)
    field = "SAMLRequest" if "SAMLRequest" in params else "SAMLResponse"
    return params, base64.b64decode(params[field]).decode("utf-8")


def post_signed(server, xml, kind):
    check = (server.sec.correctly_signed_logout_request if kind == "request"
             else server.sec.correctly_signed_logout_response)
    try:
        return check(xml, must=True) is not None
    except Exception as e:
        return "error: %s" % e


def describe_request(req):
    msg = req.message
    return {
        "id": msg.id,
        "issuer": msg.issuer.text,
        "destination": msg.destination,
        "name_id": msg.name_id.text,
        "format": msg.name_id.format,
        "name_qualifier": msg.name_id.name_qualifier,
        "sp_name_qualifier": msg.name_id.sp_name_qualifier,
        "session_indexes": [s.text for s in msg.session_index],
        "not_on_or_after": msg.not_on_or_after,
    }


def phase1(args, config, server, sp):
    cert = sp_cert(server, sp)
    result = {}
    requests = {}
    # HTTP-Redirect.
    query = read(args.samlgate_request_redirect)
    params = query_params(query)
    req = server.parse_logout_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
    requests["redirect"] = req
    result["redirect"] = dict(describe_request(req), signature_ok=redirect_ok(server, cert, query),
                              relay_state=params.get("RelayState"))
    tampered = query.replace("RelayState=", "RelayState=x", 1)
    result["redirect"]["tampered_signature_ok"] = redirect_ok(server, cert, tampered)
    # HTTP-POST.
    params, xml = post_xml(read(args.samlgate_request_post))
    req = server.parse_logout_request(params["SAMLRequest"], BINDING_HTTP_POST)
    requests["post"] = req
    result["post"] = dict(describe_request(req), signature_ok=post_signed(server, xml, "request"),
                          relay_state=params.get("RelayState"))
    tampered = xml.replace(NAME_ID_VALUE, NAME_ID_VALUE.replace("alice", "mallo"), 1)
    assert tampered != xml
    result["post"]["tampered_signature_ok"] = post_signed(server, tampered, "request")
    write_json(args, "checked-requests.json", result)

    # pysaml2's LogoutResponses to samlgate's request, one per binding.
    for binding, ext in [(BINDING_HTTP_REDIRECT, "query"), (BINDING_HTTP_POST, "form")]:
        req = requests["redirect" if ext == "query" else "post"]
        sign_xml = binding == BINDING_HTTP_POST
        resp = server.create_logout_response(req.message, [binding], sign=sign_xml,
                                             sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
        destination = server.metadata.single_logout_service(sp, binding, "spsso")[0]
        location = destination.get("response_location") or destination["location"]
        write_message(args, "idp-response." + ext, binding, str(resp), location,
                      "SAMLResponse", "pysaml2-relay-" + ext)

    # IdP-initiated LogoutRequests to samlgate's SLO, one per binding.
    for binding, ext in [(BINDING_HTTP_REDIRECT, "query"), (BINDING_HTTP_POST, "form")]:
        destination = server.metadata.single_logout_service(sp, binding, "spsso")[0]["location"]
        name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, name_qualifier=IDP_ENTITY_ID,
                         sp_name_qualifier=sp, text=NAME_ID_VALUE)
        req_id, req = server.create_logout_request(
            destination, sp, name_id=name_id, session_indexes=[SESSION_INDEX],
            expire=in_a_while(minutes=5), sign=binding == BINDING_HTTP_POST,
            sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
        write_message(args, "idp-request." + ext, binding, str(req), destination,
                      "SAMLRequest", "pysaml2 relay " + ext)
        with open(os.path.join(args.out_dir, "idp-request-id." + ext), "w") as f:
            f.write(req_id)

    ed = entity_descriptor(config)
    xml = metadata_tostring_fix(ed, {"xs": "http://www.w3.org/2001/XMLSchema"})
    with open(os.path.join(args.out_dir, "idp.xml"), "wb") as f:
        f.write(xml if isinstance(xml, bytes) else xml.encode("utf-8"))


def write_message(args, name, binding, xml, destination, field, relay_state):
    """The raw query (Redirect: pysaml2's own signed URL) or form body."""
    if binding == BINDING_HTTP_REDIRECT:
        info = pysaml2_redirect(args, xml, destination, field, relay_state)
        body = info.split("?", 1)[1]
    else:
        body = urllib.parse.urlencode({field: base64.b64encode(xml.encode()).decode(),
                                       "RelayState": relay_state})
    with open(os.path.join(args.out_dir, name), "w") as f:
        f.write(body)
    print("wrote " + name)


def pysaml2_redirect(args, xml, destination, field, relay_state):
    info = SERVER.apply_binding(BINDING_HTTP_REDIRECT, xml, destination, relay_state,
                                response=field == "SAMLResponse", sign=True,
                                sigalg=SIG_RSA_SHA256)
    return dict(info["headers"])["Location"]


def phase2(args, server, sp):
    cert = sp_cert(server, sp)
    result = {}
    query = read(args.samlgate_response_redirect)
    params = query_params(query)
    resp = server.parse_logout_request_response(params["SAMLResponse"], BINDING_HTTP_REDIRECT)
    result["redirect"] = dict(describe_response(resp), signature_ok=redirect_ok(server, cert, query),
                              relay_state=params.get("RelayState"))
    result["redirect"]["tampered_signature_ok"] = redirect_ok(
        server, cert, query.replace("RelayState=", "RelayState=x", 1))
    params, xml = post_xml(read(args.samlgate_response_post))
    resp = server.parse_logout_request_response(params["SAMLResponse"], BINDING_HTTP_POST)
    result["post"] = dict(describe_response(resp), signature_ok=post_signed(server, xml, "response"),
                          relay_state=params.get("RelayState"))
    in_response_to = resp.response.in_response_to
    result["post"]["tampered_signature_ok"] = post_signed(
        server, xml.replace(in_response_to, in_response_to + "x", 1), "response")
    write_json(args, "checked-responses.json", result)


def describe_response(resp):
    if resp is None:
        return {"parsed": False}
    r = resp.response
    return {
        "parsed": True,
        "id": r.id,
        "issuer": r.issuer.text,
        "destination": r.destination,
        "in_response_to": r.in_response_to,
        "status": r.status.status_code.value,
    }


def write_json(args, name, value):
    with open(os.path.join(args.out_dir, name), "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
    print("wrote " + name)


SERVER = None


def main():
    global SERVER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sp-metadata", required=True)
    parser.add_argument("--idp-key", required=True)
    parser.add_argument("--idp-cert", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--samlgate-request-redirect")
    parser.add_argument("--samlgate-request-post")
    parser.add_argument("--samlgate-response-redirect")
    parser.add_argument("--samlgate-response-post")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    config, SERVER = server_for(args)
    sp = the_sp(SERVER)
    if args.samlgate_request_redirect:
        phase1(args, config, SERVER, sp)
    if args.samlgate_response_redirect:
        phase2(args, SERVER, sp)


if __name__ == "__main__":
    main()
