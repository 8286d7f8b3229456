#!/usr/bin/env bash
# Regenerates the XML-Enc fixtures of crates/samlgate-dsig/tests/decrypt.rs
# with independent tools, never with samlgate:
#  - content encryption: Debian's xmlsec1 (--encrypt with a known AES key);
#  - key transport: the openssl CLI (pkeyutl) wraps that AES key with the SP
#    public key (xmlsec1 1.2.37 cannot write OAEP with SHA-256 or xmlenc11
#    rsa-oaep), python inserts the EncryptedKey;
#  - xmlsec1-only files (xmlsec1-*.xml): xmlsec1 makes both layers, with a
#    random session key (rsa-oaep-mgf1p and rsa-1_5, all it can write).
# SP keys are made once with openssl and kept. The plaintext (plaintext.xml)
# is encrypted as binary data so that it is known byte for byte.
set -euo pipefail
cd "$(dirname "$0")"
for k in sp sp-rollover; do
  [ -f "$k-key.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 36500 \
    -subj "/CN=$k.decrypt.test" -keyout "$k-key.pem" -out "$k-cert.pem" 2>/dev/null
done
openssl x509 -in sp-cert.pem -pubkey -noout > sp-pub.pem
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%s' '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_enc1" Version="2.0" IssueInstant="2024-03-01T10:00:00Z"><saml:Issuer>https://idp.decrypt.test</saml:Issuer><saml:Subject><saml:NameID>dave@decrypt.test</saml:NameID></saml:Subject></saml:Assertion>' > plaintext.xml

NS='xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
content_uri() {
  case "$1" in
    aes128-cbc|aes192-cbc|aes256-cbc) echo "http://www.w3.org/2001/04/xmlenc#$1" ;;
    aes128-gcm|aes256-gcm) echo "http://www.w3.org/2009/xmlenc11#$1" ;;
    tripledes-cbc) echo "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" ;;
  esac
}
key_bytes() { case "$1" in aes128*) echo 16 ;; aes192*) echo 24 ;; aes256*) echo 32 ;; esac; }
# transport name -> EncryptionMethod element and pkeyutl options
method() {
  case "$1" in
    oaep-mgf1p-sha1) echo '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>' ;;
    oaep-mgf1p-sha256) echo '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></xenc:EncryptionMethod>' ;;
    oaep11-mgf1sha256) echo '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></xenc:EncryptionMethod>' ;;
    rsa-1_5) echo '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/>' ;;
  esac
}
pkeyopts() {
  case "$1" in
    oaep-mgf1p-sha1) echo "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1" ;;
    oaep-mgf1p-sha256) echo "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha1" ;;
    oaep11-mgf1sha256) echo "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256" ;;
    rsa-1_5) echo "-pkeyopt rsa_padding_mode:pkcs1" ;;
  esac
}

for c in aes128-cbc aes192-cbc aes256-cbc aes128-gcm aes256-gcm; do
  openssl rand "$(key_bytes $c)" > "$work/key.bin"
  printf '%s' "<xenc:EncryptedData $NS Id=\"_ed1\"><xenc:EncryptionMethod Algorithm=\"$(content_uri $c)\"/><ds:KeyInfo><ds:KeyName>content</ds:KeyName></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>" > "$work/template.xml"
  xmlsec1 --encrypt --aeskey:content "$work/key.bin" --binary-data plaintext.xml \
    --output "$work/data.xml" "$work/template.xml"
  for t in oaep-mgf1p-sha1 oaep-mgf1p-sha256 oaep11-mgf1sha256 rsa-1_5; do
    # shellcheck disable=SC2046
    openssl pkeyutl -encrypt -pubin -inkey sp-pub.pem $(pkeyopts $t) \
      -in "$work/key.bin" -out "$work/wrapped.bin"
    wrapped=$(base64 -w 64 "$work/wrapped.bin")
    ek="<xenc:EncryptedKey Id=\"_ek1\">$(method $t)<xenc:CipherData><xenc:CipherValue>$wrapped</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"
    EK="$ek" python3 - "$work/data.xml" "${t}__${c}.xml" <<'PY'
import os, re, sys
s = open(sys.argv[1]).read()
s = re.sub(r"<\?xml[^>]*\?>\s*", "", s)
s = s.replace("<ds:KeyName>content</ds:KeyName>", os.environ["EK"], 1)
open(sys.argv[2], "w").write(s)
PY
  done
done

# xmlsec1 alone, both layers, random session key: every content algorithm
# with the two transports xmlsec1 1.2.37 can write, and rsa-oaep-mgf1p with
# an OAEPparams label ("samlgate-label").
xmlsec1_only() { # transport-name EncryptionMethod-element content output
  printf '%s' "<xenc:EncryptedData $NS Id=\"_ed1\"><xenc:EncryptionMethod Algorithm=\"$(content_uri $3)\"/><ds:KeyInfo><xenc:EncryptedKey Id=\"_ek1\">$2<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>" > "$work/template.xml"
  if [ "$3" = tripledes-cbc ]; then session=des-192; else session="aes-$(( $(key_bytes $3) * 8 ))"; fi
  xmlsec1 --encrypt --pubkey-cert-pem sp-cert.pem --session-key "$session" \
    --binary-data plaintext.xml --output "$4" "$work/template.xml"
}
for t in oaep-mgf1p-sha1 rsa-1_5; do
  for c in aes128-cbc aes192-cbc aes256-cbc aes128-gcm aes256-gcm; do
    xmlsec1_only "$t" "$(method $t)" "$c" "xmlsec1-${t}__${c}.xml"
  done
done
# Triple DES: what stock pysaml2 always sends (tests/pysaml2.rs).
xmlsec1_only oaep-mgf1p-sha1 "$(method oaep-mgf1p-sha1)" tripledes-cbc "xmlsec1-oaep-mgf1p-sha1__tripledes-cbc.xml"
LABEL_B64=$(printf 'samlgate-label' | base64)
LABEL_HEX=$(printf 'samlgate-label' | od -An -tx1 | tr -d ' \n')
xmlsec1_only oaep-mgf1p-label \
  "<xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"><xenc:OAEPparams>$LABEL_B64</xenc:OAEPparams></xenc:EncryptionMethod>" \
  aes128-gcm "xmlsec1-oaep-mgf1p-label__aes128-gcm.xml"
# The check: xmlsec1 itself decrypts what it wrote, and the openssl-wrapped
# files whose transport it can read (rsa-oaep-mgf1p SHA-1, rsa-1_5).
for f in xmlsec1-*.xml oaep-mgf1p-sha1__*.xml rsa-1_5__*.xml; do
  xmlsec1 --decrypt --privkey-pem sp-key.pem --output "$work/check.bin" "$f"
  cmp -s "$work/check.bin" plaintext.xml || { echo "xmlsec1 round trip failed: $f" >&2; exit 1; }
done

# xmlenc11 rsa-oaep with an OAEPparams label, wrapped by openssl (xmlsec1
# 1.2.37 cannot write xmlenc11 rsa-oaep), content by xmlsec1 as above.
openssl rand 32 > "$work/key.bin"
printf '%s' "<xenc:EncryptedData $NS Id=\"_ed1\"><xenc:EncryptionMethod Algorithm=\"$(content_uri aes256-gcm)\"/><ds:KeyInfo><ds:KeyName>content</ds:KeyName></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>" > "$work/template.xml"
xmlsec1 --encrypt --aeskey:content "$work/key.bin" --binary-data plaintext.xml \
  --output "$work/data.xml" "$work/template.xml"
openssl pkeyutl -encrypt -pubin -inkey sp-pub.pem -pkeyopt rsa_padding_mode:oaep \
  -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -pkeyopt "rsa_oaep_label:$LABEL_HEX" \
  -in "$work/key.bin" -out "$work/wrapped.bin"
ek="<xenc:EncryptedKey Id=\"_ek1\"><xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#rsa-oaep\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><xenc11:MGF Algorithm=\"http://www.w3.org/2009/xmlenc11#mgf1sha256\"/><xenc:OAEPparams>$LABEL_B64</xenc:OAEPparams></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>$(base64 -w 64 "$work/wrapped.bin")</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"
EK="$ek" python3 - "$work/data.xml" "oaep11-mgf1sha256-label__aes256-gcm.xml" <<'PY2'
import os, re, sys
s = open(sys.argv[1]).read()
s = re.sub(r"<\?xml[^>]*\?>\s*", "", s)
s = s.replace("<ds:KeyName>content</ds:KeyName>", os.environ["EK"], 1)
open(sys.argv[2], "w").write(s)
PY2

# The EncryptedKey moved beside the EncryptedData inside a SAML
# EncryptedAssertion (XML-Enc structure is not integrity-protected, so the
# ciphertexts stay exactly as made): reached by RetrievalMethod, or by its
# ReferenceList.
python3 - <<'PY'
import re
src = open("oaep-mgf1p-sha256__aes256-gcm.xml").read()
key = re.search(r"<xenc:EncryptedKey.*?</xenc:EncryptedKey>", src, re.S).group(0)
data = src.replace(key, "")
ns = ('xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" '
      'xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"')
wrap = lambda d, k: f"<saml:EncryptedAssertion {ns}>{d}{k}</saml:EncryptedAssertion>\n"
retrieval = data.replace("<ds:KeyInfo></ds:KeyInfo>",
    '<ds:KeyInfo><ds:RetrievalMethod Type="http://www.w3.org/2001/04/xmlenc#EncryptedKey" URI="#_ek1"/></ds:KeyInfo>')
open("sibling-retrieval-method.xml", "w").write(wrap(retrieval, key))
referenced = key.replace("</xenc:CipherData>",
    '</xenc:CipherData><xenc:ReferenceList><xenc:DataReference URI="#_ed1"/></xenc:ReferenceList>', 1)
open("sibling-reference-list.xml", "w").write(wrap(data.replace("<ds:KeyInfo></ds:KeyInfo>", ""), referenced))
PY
rm -f sp-pub.pem
echo "fixtures written to $(pwd)"
