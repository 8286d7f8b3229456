#!/usr/bin/python3
"""A pysaml2 IdP over HTTP, on the other end of real samlgate nodes.

Used by tests/cluster/pysaml2_tests.rs, run with /usr/bin/python3 (Debian's
python3-pysaml2). It serves, on 127.0.0.1:--port:

  GET /metadata   its IdP metadata (signing certificate, SingleSignOnService
                  and SingleLogoutService, HTTP-Redirect)
  GET /sso        an AuthnRequest (HTTP-Redirect): its query signature is
                  checked with the SP's certificate, then a Response for the
                  one user (persistent NameID with NameQualifier and
                  SPNameQualifier), Response and Assertion signed RSA-SHA256,
                  comes back as the auto-posting form to the ACS
  GET /slo        the SP's LogoutRequest (verify_redirect_signature with the
                  SP's certificate, then parse_logout_request: Destination,
                  IssueInstant): the IdP session ends and a signed
                  LogoutResponse (Redirect) goes back to the SP; or the SP's
                  LogoutResponse to our own request (signature, InResponseTo,
                  Status), answered with JSON
  GET /initiate?session_index=...
                  IdP-initiated logout: a signed LogoutRequest (Redirect) for
                  that IdP session, to the SP's SingleLogoutService
  GET /events     what happened, as JSON, for the test to assert on

The SP metadata is read from --sp-metadata-url the first time it is needed
(the gateway starts after this IdP, since it reads this IdP's metadata).
A message whose signature fails is refused with 400 and recorded.
Prints READY once it listens.
"""

import argparse
import base64
import json
import os
import re
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor, metadata_tostring_fix
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.time_util import in_a_while
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

NAME_ID_VALUE = "8f2c6c1e-alice-persistent"
IDENTITY = {"uid": ["alice"], "mail": ["alice@example.test"]}
PASSWORD_PROTECTED_TRANSPORT = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
)


class Idp:
    def __init__(self, args):
        self.args = args
        self.base = "http://127.0.0.1:%d" % args.port
        self.entity_id = self.base + "/idp"
        self.lock = threading.Lock()
        self.server = None
        self.sp = None
        self.sessions = {}  # SessionIndex -> NameID value
        self.pending = {}  # our LogoutRequest ID -> SessionIndex
        self.events = []

    def config(self, sp_metadata=None):
        conf = {
            "entityid": self.entity_id,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(self.base + "/sso", BINDING_HTTP_REDIRECT)],
                        "single_logout_service": [(self.base + "/slo", BINDING_HTTP_REDIRECT)],
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                        },
                    },
                },
            },
            "key_file": self.args.key,
            "cert_file": self.args.cert,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "accepted_time_diff": 180,
            "delete_tmpfiles": True,
        }
        if sp_metadata:
            conf["metadata"] = {"local": [sp_metadata]}
        config = IdPConfig()
        config.load(conf)
        return config

    def metadata(self):
        xml = metadata_tostring_fix(
            entity_descriptor(self.config()), {"xs": "http://www.w3.org/2001/XMLSchema"}
        )
        return xml if isinstance(xml, bytes) else xml.encode("utf-8")

    def srv(self):
        with self.lock:
            if self.server is None:
                xml = urllib.request.urlopen(self.args.sp_metadata_url, timeout=10).read()
                path = os.path.join(self.args.work, "sp.xml")
                with open(path, "wb") as f:
                    f.write(xml)
                self.server = Server(config=self.config(path))
                sps = list(self.server.metadata.with_descriptor("spsso"))
                if len(sps) != 1:
                    raise RuntimeError("expected one SP in its metadata, found %r" % sps)
                self.sp = sps[0]
            return self.server

    def sp_cert(self):
        return self.server.metadata.certs(self.sp, "spsso", "signing")[0]

    def signature_ok(self, params):
        try:
            return bool(verify_redirect_signature(params, self.server.sec.sec_backend, cert=self.sp_cert()))
        except Exception as e:  # a refused signature is a result
            return "error: %s" % e

    def tampered_ok(self, params):
        altered = dict(params)
        altered["RelayState"] = params.get("RelayState", "") + "x"
        return self.signature_ok(altered)

    def record(self, event):
        with self.lock:
            self.events.append(event)
        return event

    def name_id(self):
        return NameID(format=NAMEID_FORMAT_PERSISTENT, name_qualifier=self.entity_id,
                      sp_name_qualifier=self.sp, text=NAME_ID_VALUE)

    def sso(self, params):
        server = self.srv()
        signed = self.signature_ok(params)
        if signed is not True:
            return 400, self.record({"event": "authn_request", "signature_ok": signed}), None
        req = server.parse_authn_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
        acs = req.message.assertion_consumer_service_url
        resp = str(server.create_authn_response(
            identity=IDENTITY, in_response_to=req.message.id, destination=acs,
            sp_entity_id=self.sp, name_id=self.name_id(),
            authn={"class_ref": PASSWORD_PROTECTED_TRANSPORT, "authn_auth": self.entity_id},
            sign_response=True, sign_assertion=True,
            sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256))
        session_index = re.search(r'SessionIndex="([^"]+)"', resp).group(1)
        with self.lock:
            self.sessions[session_index] = NAME_ID_VALUE
        self.record({"event": "login", "session_index": session_index, "signature_ok": True})
        fields = {"SAMLResponse": base64.b64encode(resp.encode()).decode()}
        if "RelayState" in params:
            fields["RelayState"] = params["RelayState"]
        inputs = "".join('<input type="hidden" name="%s" value="%s">' % (k, html_escape(v))
                         for k, v in fields.items())
        page = '<form method="post" action="%s">%s</form>' % (html_escape(acs), inputs)
        return 200, None, page

    def slo(self, params):
        server = self.srv()
        signed = self.signature_ok(params)
        if "SAMLRequest" in params:
            event = {"event": "sp_logout_request", "signature_ok": signed,
                     "tampered_signature_ok": self.tampered_ok(params)}
            if signed is not True:
                return 400, self.record(event), None
            req = server.parse_logout_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
            msg = req.message
            indexes = [s.text for s in msg.session_index]
            with self.lock:
                ended = [si for si in indexes if self.sessions.pop(si, None)]
            event.update({
                "id": msg.id, "issuer": msg.issuer.text, "destination": msg.destination,
                "name_id": msg.name_id.text, "format": msg.name_id.format,
                "name_qualifier": msg.name_id.name_qualifier,
                "sp_name_qualifier": msg.name_id.sp_name_qualifier,
                "session_indexes": indexes, "ended": ended,
                "relay_state": params.get("RelayState")})
            self.record(event)
            resp = server.create_logout_response(msg, [BINDING_HTTP_REDIRECT], sign=False)
            where = server.metadata.single_logout_service(self.sp, BINDING_HTTP_REDIRECT, "spsso")[0]
            location = where.get("response_location") or where["location"]
            info = server.apply_binding(BINDING_HTTP_REDIRECT, str(resp), location,
                                        params.get("RelayState", ""), response=True, sign=True,
                                        sigalg=SIG_RSA_SHA256)
            return 303, None, dict(info["headers"])["Location"]
        event = {"event": "sp_logout_response", "signature_ok": signed,
                 "tampered_signature_ok": self.tampered_ok(params)}
        if signed is not True:
            return 400, self.record(event), None
        resp = server.parse_logout_request_response(params["SAMLResponse"], BINDING_HTTP_REDIRECT)
        r = resp.response
        with self.lock:
            answered = self.pending.pop(r.in_response_to, None)
        event.update({"id": r.id, "issuer": r.issuer.text, "destination": r.destination,
                      "in_response_to_known": answered is not None,
                      "status": r.status.status_code.value,
                      "relay_state": params.get("RelayState")})
        return 200, self.record(event), None

    def initiate(self, params):
        server = self.srv()
        session_index = params["session_index"]
        destination = server.metadata.single_logout_service(
            self.sp, BINDING_HTTP_REDIRECT, "spsso")[0]["location"]
        req_id, req = server.create_logout_request(
            destination, self.sp, name_id=self.name_id(), session_indexes=[session_index],
            expire=in_a_while(minutes=5), sign=False)
        with self.lock:
            self.pending[req_id] = session_index
            self.sessions.pop(session_index, None)
        self.record({"event": "idp_logout_request", "id": req_id, "session_index": session_index})
        info = server.apply_binding(BINDING_HTTP_REDIRECT, str(req), destination,
                                    "pysaml2-relay", response=False, sign=True,
                                    sigalg=SIG_RSA_SHA256)
        return 303, None, dict(info["headers"])["Location"]


def html_escape(s):
    return (s.replace("&", "&amp;").replace('"', "&quot;")
            .replace("<", "&lt;").replace(">", "&gt;"))


def one_value_each(query):
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    if any(len(v) != 1 for v in params.values()):
        raise ValueError("a parameter given twice")
    return {k: v[0] for k, v in params.items()}


def handler_for(idp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def answer(self, status, body, content_type):
            data = body if isinstance(body, bytes) else body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            try:
                if path == "/metadata":
                    return self.answer(200, idp.metadata(), "application/samlmetadata+xml")
                if path == "/events":
                    with idp.lock:
                        return self.answer(200, json.dumps(idp.events), "application/json")
                params = one_value_each(query)
                action = {"/sso": idp.sso, "/slo": idp.slo, "/initiate": idp.initiate}.get(path)
                if action is None:
                    return self.answer(404, "not found", "text/plain")
                status, event, body = action(params)
                if status == 303:
                    self.send_response(303)
                    self.send_header("Location", body)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif body is not None:
                    self.answer(status, body, "text/html")
                else:
                    self.answer(status, json.dumps(event), "application/json")
            except Exception as e:  # shown to the test, which fails on it
                idp.record({"event": "error", "path": path, "error": repr(e)})
                self.answer(500, repr(e), "text/plain")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="IdP signing key (PEM)")
    parser.add_argument("--cert", required=True, help="IdP signing certificate (PEM)")
    parser.add_argument("--sp-metadata-url", required=True)
    parser.add_argument("--work", required=True, help="a directory for the SP metadata")
    args = parser.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(Idp(args)))
    print("READY", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
