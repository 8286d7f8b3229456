#!/usr/bin/python3
"""A pysaml2 IdP that issues Responses for the SP described by our metadata.

Used by tests/pysaml2.rs: Debian's python3-pysaml2 (run with /usr/bin/python3)
reads the SP metadata written by `samlgate metadata`, takes the ACS URL and
the SP's encryption certificate from it, and writes base64 SAMLResponse form
values (what the IdP would POST to the ACS) plus its own IdP metadata.

Signing is RSA-SHA256 with SHA-256 digests, done by the xmlsec1 binary as
pysaml2 always does. Each case is <out-dir>/<case>.b64 (the base64 form
value) and <out-dir>/<case>.xml (the same Response as XML):

  signed-both        Response signed, Assertion signed, not encrypted
  encrypted-3des     Assertion signed, then encrypted to the SP's encryption
                     certificate (EncryptedAssertion), Response signed; stock
                     pysaml2 encryption: tripledes-cbc content, rsa-oaep-mgf1p
                     key transport (hard-wired in pysaml2 7.0)
  encrypted-aes256   the same with aes256-cbc content (pysaml2's own
                     pre_encryption_part/encrypt_assertion with AES arguments)
  response-signed    only the Response signed
  assertion-signed   only the Assertion signed

Writes <out-dir>/idp.xml (the IdP metadata) and prints each file written.
"""

import argparse
import base64
import os
import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor, metadata_tostring_fix
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import get_pem_wrapped_unwrapped, make_temp, pre_encryption_part
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

IDP_ENTITY_ID = "https://idp.example.test/idp"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
PASSWORD_PROTECTED_TRANSPORT = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
)

IDENTITY = {
    "uid": ["alice"],
    "mail": ["alice@example.test"],
    "eduPersonAffiliation": ["member", "staff"],
    "displayName": ["Alice Example"],
}
NAME_ID_VALUE = "8f2c6c1e-alice-persistent"


class AesServer(Server):
    """Encrypts with AES-256-CBC instead of pysaml2's default triple DES.

    pysaml2 7.0 offers no configuration for the content algorithm: the
    stock Entity._encrypt_assertion calls pre_encryption_part() with its
    default msg_enc (tripledes-cbc) and encrypt_assertion() with the
    default session key (des-192). This is that method with the two
    algorithm arguments set, everything else unchanged."""

    def _encrypt_assertion(self, encrypt_cert, sp_entity_id, response, node_xpath=None):
        certs = [encrypt_cert] if encrypt_cert else self.metadata.certs(
            sp_entity_id, "any", "encryption"
        )
        if not certs:
            raise RuntimeError("no encryption certificate for " + sp_entity_id)
        wrapped, unwrapped = get_pem_wrapped_unwrapped(certs[0])
        tmp = make_temp(
            wrapped.encode("ascii"),
            decode=False,
            delete_tmpfiles=self.config.delete_tmpfiles,
        )
        return self.sec.encrypt_assertion(
            response,
            tmp.name,
            pre_encryption_part(msg_enc=AES256_CBC, encrypt_cert=unwrapped),
            key_type="aes-256",
            node_xpath=node_xpath,
        )


def idp_config(args):
    conf = {
        "entityid": IDP_ENTITY_ID,
        "description": "samlgate interop test IdP (pysaml2)",
        "service": {
            "idp": {
                "name": "samlgate interop IdP",
                "endpoints": {
                    "single_sign_on_service": [
                        ("https://idp.example.test/sso/redirect", BINDING_HTTP_REDIRECT),
                        ("https://idp.example.test/sso/post", BINDING_HTTP_POST),
                    ],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 15},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_URI,
                    },
                },
            },
        },
        "key_file": args.idp_key,
        "cert_file": args.idp_cert,
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "metadata": {"local": [args.sp_metadata]},
        "valid_for": 24,  # hours: the IdP metadata gets a validUntil
        "delete_tmpfiles": True,
    }
    config = IdPConfig()
    config.load(conf)
    return config


def sp_from_metadata(server):
    """The one SP entity in the metadata, its HTTP-POST ACS URL."""
    sps = list(server.metadata.with_descriptor("spsso"))
    if len(sps) != 1:
        sys.exit("expected one SP in the metadata, found %r" % sps)
    sp = sps[0]
    acs = server.metadata.assertion_consumer_service(sp, binding=BINDING_HTTP_POST)
    if not acs:
        sys.exit("no HTTP-POST AssertionConsumerService for %s" % sp)
    if not server.metadata.certs(sp, "any", "encryption"):
        sys.exit("no encryption certificate for %s in the SP metadata" % sp)
    return sp, acs[0]["location"]


def response(server, sp, acs, in_response_to, **flags):
    name_id = NameID(
        format=NAMEID_FORMAT_PERSISTENT,
        name_qualifier=IDP_ENTITY_ID,
        sp_name_qualifier=sp,
        text=NAME_ID_VALUE,
    )
    return server.create_authn_response(
        identity=IDENTITY,
        in_response_to=in_response_to,
        destination=acs,
        sp_entity_id=sp,
        name_id=name_id,
        authn={
            "class_ref": PASSWORD_PROTECTED_TRANSPORT,
            "authn_auth": IDP_ENTITY_ID,
        },
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
        **flags,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sp-metadata", required=True, help="SP metadata (samlgate metadata)")
    parser.add_argument("--idp-key", required=True, help="IdP signing key (PEM)")
    parser.add_argument("--idp-cert", required=True, help="IdP signing certificate (PEM)")
    parser.add_argument("--out-dir", required=True, help="where the files go")
    parser.add_argument(
        "--in-response-to",
        default=None,
        help="ID of the AuthnRequest answered (omitted: unsolicited)",
    )
    args = parser.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    config = idp_config(args)
    server = Server(config=config)
    aes_server = AesServer(config=config)
    sp, acs = sp_from_metadata(server)
    print("pysaml2 %s, xmlsec1 %s" % (pysaml2_version(), server.sec.crypto.version()))
    print("SP %s, ACS %s" % (sp, acs))

    cases = [
        ("signed-both", server,
         dict(sign_response=True, sign_assertion=True, encrypt_assertion=False)),
        ("encrypted-3des", server,
         dict(sign_response=True, sign_assertion=True, encrypt_assertion=True)),
        ("encrypted-aes256", aes_server,
         dict(sign_response=True, sign_assertion=True, encrypt_assertion=True)),
        ("response-signed", server,
         dict(sign_response=True, sign_assertion=False, encrypt_assertion=False)),
        ("assertion-signed", server,
         dict(sign_response=False, sign_assertion=True, encrypt_assertion=False)),
    ]
    for name, srv, flags in cases:
        xml = str(response(srv, sp, acs, args.in_response_to, **flags))
        path = os.path.join(args.out_dir, name + ".b64")
        with open(path, "wb") as f:
            f.write(base64.b64encode(xml.encode("utf-8")))
        with open(os.path.join(args.out_dir, name + ".xml"), "w", encoding="utf-8") as f:
            f.write(xml)
        print("wrote " + path)

    ed = entity_descriptor(config)
    path = os.path.join(args.out_dir, "idp.xml")
    xml = metadata_tostring_fix(ed, {"xs": "http://www.w3.org/2001/XMLSchema"})
    with open(path, "wb") as f:
        f.write(xml if isinstance(xml, bytes) else xml.encode("utf-8"))
    print("wrote " + path)


def pysaml2_version():
    from importlib.metadata import version

    return version("pysaml2")


if __name__ == "__main__":
    main()
