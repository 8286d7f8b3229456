#!/usr/bin/env bash
# Regenerates the IdP-metadata fixtures of tests/metadata.rs with
# independent tools: openssl (keys), xmlsec1 (signatures). Keys are kept
# once made, so reruns only re-sign. Run from anywhere:
#   tests/metadata/gen.sh
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p keys data

key() { # name
  [ -f "keys/$1-key.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 36500 \
    -subj "/CN=$1.metadata.test" -keyout "keys/$1-key.pem" -out "keys/$1-cert.pem" 2>/dev/null
}
key idp-old; key idp-new; key stranger; key federation; key impostor

b64cert() { grep -v -- '-----' "keys/$1-cert.pem" | tr -d '\n'; }

IDP=https://idp.metadata.test/saml2
SP=https://sp.metadata.test/saml/metadata
ACS=https://sp.metadata.test/saml/acs

# A Response with an assertion to be signed (fixed times; tests use --now 2024-03-01T10:01:00Z).
response() { # id-suffix
  cat <<XML
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp$1" Version="2.0" IssueInstant="2024-03-01T10:00:00Z" Destination="$ACS"><saml:Issuer>$IDP</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_assert$1" Version="2.0" IssueInstant="2024-03-01T10:00:00Z"><saml:Issuer>$IDP</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_assert$1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">carol@metadata.test</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2024-03-01T10:05:00Z" Recipient="$ACS"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2024-03-01T09:59:00Z" NotOnOrAfter="2024-03-01T10:05:00Z"><saml:AudienceRestriction><saml:Audience>$SP</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="2024-03-01T10:00:00Z" SessionIndex="_s$1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement></saml:Assertion></samlp:Response>
XML
}

sign_response() { # signer out
  response "-$1" > "data/tmpl-$1.xml"
  xmlsec1 --sign --privkey-pem "keys/$1-key.pem,keys/$1-cert.pem" \
    --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion \
    --output "data/$2" "data/tmpl-$1.xml"
  rm "data/tmpl-$1.xml"
}
sign_response idp-old response-signed-by-old-key.xml
sign_response idp-new response-signed-by-new-key.xml
sign_response stranger response-signed-by-stranger.xml

# IdP metadata with two signing certificates (rollover), unsigned.
metadata() { # valid-until-attribute signature-template(0/1)
  local sig=""
  if [ "$2" = 1 ]; then
    sig='<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_md1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>'
  fi
  cat <<XML
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_md1" entityID="$IDP" $1 cacheDuration="PT6H">$sig
  <md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$(b64cert idp-old)</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$(b64cert idp-new)</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$(b64cert stranger)</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.metadata.test/saml2/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.metadata.test/saml2/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.metadata.test/saml2/sso-post"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
XML
}
metadata 'validUntil="2099-01-01T00:00:00Z"' 0 > data/idp-two-keys.xml
metadata '' 0 > data/idp-no-valid-until.xml
metadata 'validUntil="2024-02-01T00:00:00Z"' 0 > data/idp-expired.xml

metadata 'validUntil="2099-01-01T00:00:00Z"' 1 > data/tmpl-signed.xml
xmlsec1 --sign --privkey-pem keys/federation-key.pem,keys/federation-cert.pem \
  --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor \
  --output data/idp-signed.xml data/tmpl-signed.xml
xmlsec1 --sign --privkey-pem keys/impostor-key.pem,keys/impostor-cert.pem \
  --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor \
  --output data/idp-signed-by-impostor.xml data/tmpl-signed.xml
rm data/tmpl-signed.xml
# Signed, then altered: an attacker adds their key after signing.
python3 - <<'PY'
import re
s = open("data/idp-signed.xml").read()
stranger = "".join(l for l in open("keys/stranger-cert.pem").read().splitlines() if "-----" not in l)
extra = ('<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
         + stranger + '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>')
s = s.replace('<md:KeyDescriptor use="signing">', extra + '<md:KeyDescriptor use="signing">', 1)
open("data/idp-signed-tampered.xml", "w").write(s)
PY
echo "fixtures written to $(pwd)/data"
