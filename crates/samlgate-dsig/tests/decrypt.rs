//! XML-Enc decryption against fixtures made by independent tools (xmlsec1
//! and the openssl CLI; see tests/data/encrypted/gen.sh): every algorithm
//! combination decrypts to the known plaintext, and every failure is the
//! same opaque `DecryptionFailed`.

use std::path::{Path, PathBuf};

use samlgate_dsig::{decrypt_encrypted_data, DecryptionKeys, DecryptionPolicy, DsigError, XENC_NS};
use samlgate_xml::{Document, Limits};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/encrypted")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn keys(names: &[&str]) -> DecryptionKeys {
    let mut keys = DecryptionKeys::new();
    for n in names {
        keys.add_pem(&read(n)).unwrap();
    }
    keys
}

const RSA_1_5_ON: DecryptionPolicy = DecryptionPolicy {
    allow_rsa_1_5: true,
};

fn decrypt(
    xml: &[u8],
    keys: &DecryptionKeys,
    policy: &DecryptionPolicy,
) -> Result<Vec<u8>, DsigError> {
    let doc = Document::parse(xml, &Limits::default()).expect("fixture parses");
    let data = doc
        .elements()
        .find(|e| doc.is(*e, XENC_NS, "EncryptedData"))
        .expect("an EncryptedData");
    decrypt_encrypted_data(&doc, data, keys, policy)
}

const TRANSPORTS: [&str; 4] = [
    "oaep-mgf1p-sha1",
    "oaep-mgf1p-sha256",
    "oaep11-mgf1sha256",
    "rsa-1_5",
];
const CONTENTS: [&str; 5] = [
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "aes128-gcm",
    "aes256-gcm",
];

fn all_fixtures() -> Vec<String> {
    let mut names: Vec<String> = TRANSPORTS
        .iter()
        .flat_map(|t| CONTENTS.iter().map(move |c| format!("{t}__{c}.xml")))
        .collect();
    for t in ["oaep-mgf1p-sha1", "rsa-1_5"] {
        for c in CONTENTS {
            names.push(format!("xmlsec1-{t}__{c}.xml"));
        }
    }
    names.push("xmlsec1-oaep-mgf1p-label__aes128-gcm.xml".into());
    names.push("xmlsec1-oaep-mgf1p-sha1__tripledes-cbc.xml".into());
    names.push("oaep11-mgf1sha256-label__aes256-gcm.xml".into());
    names.push("sibling-retrieval-method.xml".into());
    names.push("sibling-reference-list.xml".into());
    names
}

#[test]
fn every_algorithm_combination_decrypts_to_the_plaintext() {
    let plaintext = read("plaintext.xml");
    let sp = keys(&["sp-key.pem"]);
    let names = all_fixtures();
    assert_eq!(names.len(), 4 * 5 + 2 * 5 + 1 + 2 + 2);
    for name in &names {
        let got = decrypt(&read(name), &sp, &RSA_1_5_ON).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, plaintext, "{name}");
    }
}

#[test]
fn rollover_tries_every_key() {
    let plaintext = read("plaintext.xml");
    // The right key second: the wrong one is tried first and fails.
    let both = keys(&["sp-rollover-key.pem", "sp-key.pem"]);
    for name in [
        "oaep-mgf1p-sha256__aes256-gcm.xml",
        "oaep11-mgf1sha256__aes128-cbc.xml",
    ] {
        assert_eq!(
            decrypt(&read(name), &both, &DecryptionPolicy::default()).unwrap(),
            plaintext
        );
    }
}

#[test]
fn rollover_with_rsa_1_5_and_cbc() {
    // Implicit rejection turns the wrong SP key into a random content key;
    // a random CBC key yields a valid-looking pad 1 time in 16, which must
    // not end the search before the right key. Repeated, because the
    // random key differs every time.
    let plaintext = read("plaintext.xml");
    let both = keys(&["sp-rollover-key.pem", "sp-key.pem"]);
    for name in ["rsa-1_5__aes128-cbc.xml", "xmlsec1-rsa-1_5__aes256-cbc.xml"] {
        let xml = read(name);
        for _ in 0..64 {
            assert_eq!(
                decrypt(&xml, &both, &RSA_1_5_ON).unwrap(),
                plaintext,
                "{name}"
            );
        }
    }
}

#[test]
fn oaep_label_must_match() {
    let sp = keys(&["sp-key.pem"]);
    let policy = DecryptionPolicy::default();
    let label = "<xenc:OAEPparams>c2FtbGdhdGUtbGFiZWw=</xenc:OAEPparams>";
    for name in [
        "xmlsec1-oaep-mgf1p-label__aes128-gcm.xml",
        "oaep11-mgf1sha256-label__aes256-gcm.xml",
    ] {
        let text = String::from_utf8(read(name)).unwrap();
        assert!(text.contains(label), "{name}");
        assert!(decrypt(text.as_bytes(), &sp, &policy).is_ok(), "{name}");
        for changed in [
            text.replace(label, ""),
            text.replace(label, "<xenc:OAEPparams>b3RoZXI=</xenc:OAEPparams>"),
        ] {
            assert!(
                matches!(
                    decrypt(changed.as_bytes(), &sp, &policy),
                    Err(DsigError::DecryptionFailed)
                ),
                "{name}"
            );
        }
    }
    // A label added where none was used.
    let text = String::from_utf8(read("oaep11-mgf1sha256__aes128-gcm.xml")).unwrap();
    let changed = text.replace(
        "</xenc:EncryptionMethod><xenc:CipherData>",
        &format!("{label}</xenc:EncryptionMethod><xenc:CipherData>"),
    );
    assert_ne!(changed, text);
    assert!(matches!(
        decrypt(changed.as_bytes(), &sp, &policy),
        Err(DsigError::DecryptionFailed)
    ));
}

#[test]
fn rsa_1_5_only_when_enabled() {
    let sp = keys(&["sp-key.pem"]);
    for c in CONTENTS {
        let xml = read(&format!("rsa-1_5__{c}.xml"));
        assert!(matches!(
            decrypt(&xml, &sp, &DecryptionPolicy::default()),
            Err(DsigError::DecryptionFailed)
        ));
        assert!(decrypt(&xml, &sp, &RSA_1_5_ON).is_ok());
    }
}

/// Flips one bit of the n-th CipherValue's decoded bytes at `offset` from
/// the start (negative: from the end), re-encoding it.
fn tamper(xml: &[u8], which: usize, offset: isize) -> Vec<u8> {
    tamper_with(xml, which, offset, 0x01)
}

fn tamper_with(xml: &[u8], which: usize, offset: isize, mask: u8) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let open = "<xenc:CipherValue>";
    let start = text.match_indices(open).nth(which).unwrap().0 + open.len();
    let end = start + text[start..].find("</xenc:CipherValue>").unwrap();
    let compact: String = text[start..end].split_whitespace().collect();
    let mut bytes = b64.decode(compact).unwrap();
    let i = if offset < 0 {
        bytes.len() - offset.unsigned_abs()
    } else {
        offset as usize
    };
    bytes[i] ^= mask;
    format!("{}{}{}", &text[..start], b64.encode(bytes), &text[end..]).into_bytes()
}

/// Replaces the EncryptedData's (last) CipherValue by a CipherReference.
fn cipher_reference(xml: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let start = text.rfind("<xenc:CipherValue>").unwrap();
    let end = text.rfind("</xenc:CipherValue>").unwrap() + "</xenc:CipherValue>".len();
    format!(
        "{}<xenc:CipherReference URI=\"http://127.0.0.1:9/x\"/>{}",
        &text[..start],
        &text[end..]
    )
    .into_bytes()
}

#[test]
fn every_failure_is_the_same_opaque_error() {
    let sp = keys(&["sp-key.pem"]);
    let wrong = keys(&["sp-rollover-key.pem"]);
    let none = DecryptionKeys::new();
    let gcm = read("oaep-mgf1p-sha256__aes256-gcm.xml");
    let cbc = read("oaep11-mgf1sha256__aes128-cbc.xml");
    // GCM for the rsa-1_5 failures: with implicit rejection a bad wrapped
    // key becomes a random content key, and with CBC that random key yields
    // a valid-looking pad (and garbage plaintext, which the caller's XML
    // parse refuses) 1 time in 16; the GCM tag always catches it.
    let pkcs1 = read("rsa-1_5__aes256-gcm.xml");
    // In these fixtures the EncryptedKey's CipherValue comes first, then
    // the content's.
    let cases: Vec<(&str, Vec<u8>, &DecryptionKeys, DecryptionPolicy)> = vec![
        (
            "wrong SP key, gcm",
            gcm.clone(),
            &wrong,
            DecryptionPolicy::default(),
        ),
        (
            "wrong SP key, cbc",
            cbc.clone(),
            &wrong,
            DecryptionPolicy::default(),
        ),
        ("no key", gcm.clone(), &none, DecryptionPolicy::default()),
        (
            "key ciphertext flipped",
            tamper(&gcm, 0, 10),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "gcm content flipped",
            tamper(&gcm, 1, 20),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "gcm tag flipped",
            tamper(&gcm, 1, -1),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "gcm iv flipped",
            tamper(&gcm, 1, 0),
            &sp,
            DecryptionPolicy::default(),
        ),
        // The last CBC block's last byte is the pad length; the byte 16
        // before it (previous block) flips it, and xor 0x20 makes it over
        // 16. (CBC has no integrity: a change that keeps the padding valid
        // yields garbage, which the XML parse after decryption refuses.)
        (
            "cbc padding corrupted",
            tamper_with(&cbc, 1, -17, 0x20),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "rsa-1_5 disabled",
            pkcs1.clone(),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "rsa-1_5 key flipped (implicit rejection)",
            tamper(&pkcs1, 0, 5),
            &sp,
            RSA_1_5_ON,
        ),
        (
            "unknown content algorithm",
            String::from_utf8(gcm.clone())
                .unwrap()
                .replace("aes256-gcm", "aes256-xts")
                .into_bytes(),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "unknown key transport digest",
            String::from_utf8(gcm.clone())
                .unwrap()
                .replace("xmlenc#sha256", "xmlenc#ripemd160")
                .into_bytes(),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            // One Bad Apple: the same wrapped 32-byte key relabelled for
            // a 16-byte content algorithm.
            "wrapped key of the wrong length",
            String::from_utf8(gcm.clone())
                .unwrap()
                .replace("xmlenc11#aes256-gcm", "xmlenc11#aes128-gcm")
                .into_bytes(),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "rsa-1_5 wrapped key of the wrong length",
            String::from_utf8(pkcs1.clone())
                .unwrap()
                .replace("xmlenc11#aes256-gcm", "xmlenc11#aes128-gcm")
                .into_bytes(),
            &sp,
            RSA_1_5_ON,
        ),
        (
            "CipherReference instead of CipherValue",
            cipher_reference(&gcm),
            &sp,
            DecryptionPolicy::default(),
        ),
        (
            "rsa-1_5 wrong SP key (implicit rejection)",
            pkcs1.clone(),
            &wrong,
            RSA_1_5_ON,
        ),
        (
            "RetrievalMethod to a missing key",
            String::from_utf8(read("sibling-retrieval-method.xml"))
                .unwrap()
                .replace("URI=\"#_ek1\"", "URI=\"#_nowhere\"")
                .replace("Id=\"_ek1\"", "Id=\"_other\"")
                .into_bytes(),
            &sp,
            DecryptionPolicy::default(),
        ),
    ];
    let mut messages = Vec::new();
    for (what, xml, keys, policy) in &cases {
        match decrypt(xml, keys, policy) {
            Err(e @ DsigError::DecryptionFailed) => messages.push(e.to_string()),
            other => panic!("{what}: expected DecryptionFailed, got {other:?}"),
        }
    }
    messages.dedup();
    assert_eq!(
        messages.len(),
        1,
        "one message for every failure: {messages:?}"
    );
}
