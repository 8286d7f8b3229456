//! The Single Logout vectors (tests/slo/cases, made by tests/slo/gen.py
//! with openssl and xmlsec1 as the signers): each raw query string
//! (HTTP-Redirect) or form body (HTTP-POST) goes through
//! `LogoutValidator`, and the outcome must be what its .json says: the
//! reason code of a refusal, or every field of the verified message.

use std::path::{Path, PathBuf};

use samlgate_dsig::{AlgorithmPolicy, TrustedKeys};
use samlgate_saml::{
    FixedClock, IdpEntity, Instant, LogoutValidator, NameId, Trust, VerifiedLogout,
};
use samlgate_xml::Limits;
use serde_json::Value;

const IDP: &str = "https://idp.slo.test/idp";
const OTHER_IDP: &str = "https://other-idp.slo.test/idp";
const SLO: &str = "https://sp.slo.test/saml/logout";
const NOW: &str = "2026-01-15T10:01:00Z";

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/attacks/keys")
}

fn certs(names: &[&str]) -> TrustedKeys {
    let mut keys = TrustedKeys::new();
    for n in names {
        let pem = std::fs::read(keys_dir().join(format!("{n}-cert.pem"))).unwrap();
        keys.add_pem_certificates(&pem).unwrap();
    }
    keys
}

/// The IdP trusts three keys (idp, an EC key, a 1024-bit RSA key the policy
/// refuses); the other IdP trusts the attacker key.
fn trust() -> Trust {
    let mut trust = Trust::new();
    for (entity_id, names) in [
        (IDP, &["idp", "ec256", "rsa1024"][..]),
        (OTHER_IDP, &["attacker"][..]),
    ] {
        trust.add_idp(IdpEntity {
            entity_id: entity_id.into(),
            signing_keys: certs(names),
            ..IdpEntity::default()
        });
    }
    trust
}

fn opt(v: &Value) -> Option<&str> {
    v.as_str()
}

fn check_name_id(got: &NameId, want: &Value, case: &str) {
    assert_eq!(got.value, want["value"].as_str().unwrap(), "{case}");
    assert_eq!(got.format.as_deref(), opt(&want["format"]), "{case}");
    assert_eq!(
        got.name_qualifier.as_deref(),
        opt(&want["name_qualifier"]),
        "{case}"
    );
    assert_eq!(
        got.sp_name_qualifier.as_deref(),
        opt(&want["sp_name_qualifier"]),
        "{case}"
    );
}

fn check_valid(got: &VerifiedLogout, want: &Value, case: &str) {
    let instant = |v: &Value| v.as_str().map(|s| Instant::parse(s).unwrap());
    match (got, want["kind"].as_str().unwrap()) {
        (VerifiedLogout::Request(r), "request") => {
            assert_eq!(r.issuer(), want["issuer"], "{case}");
            assert_eq!(r.id(), want["id"], "{case}");
            assert_eq!(
                Some(r.issue_instant()),
                instant(&want["issue_instant"]),
                "{case}"
            );
            assert_eq!(
                r.not_on_or_after(),
                instant(&want["not_on_or_after"]),
                "{case}"
            );
            check_name_id(r.name_id(), &want["name_id"], case);
            let sessions: Vec<&str> = want["session_indexes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(r.session_indexes(), sessions, "{case}");
            assert_eq!(r.relay_state(), opt(&want["relay_state"]), "{case}");
            assert_eq!(r.signing_key().len(), 64, "{case}");
        }
        (VerifiedLogout::Response(r), "response") => {
            assert_eq!(r.issuer(), want["issuer"], "{case}");
            assert_eq!(r.id(), want["id"], "{case}");
            assert_eq!(
                Some(r.issue_instant()),
                instant(&want["issue_instant"]),
                "{case}"
            );
            assert_eq!(r.in_response_to(), want["in_response_to"], "{case}");
            assert_eq!(r.status().top_level, want["status"]["top_level"], "{case}");
            assert_eq!(
                r.status().second_level.as_deref(),
                opt(&want["status"]["second_level"]),
                "{case}"
            );
            assert_eq!(
                r.ensure_success().is_ok(),
                want["status"]["second_level"].is_null(),
                "{case}"
            );
            assert_eq!(r.relay_state(), opt(&want["relay_state"]), "{case}");
        }
        (other, kind) => panic!("{case}: expected a {kind}, got {other:?}"),
    }
}

#[test]
fn every_vector_has_its_expected_outcome() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slo/cases");
    let trust = trust();
    let clock = FixedClock(Instant::parse(NOW).unwrap());
    let slo_urls = [SLO.to_owned()];
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    for expected_path in entries {
        let case = expected_path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let want: Value = serde_json::from_slice(&std::fs::read(&expected_path).unwrap()).unwrap();
        let options = &want["options"];
        let validator = LogoutValidator {
            trust: &trust,
            slo_urls: &slo_urls,
            in_response_to: options["in_response_to"].as_str(),
            clock: &clock,
            clock_skew_seconds: 180,
            max_age_seconds: 300,
            algorithms: AlgorithmPolicy {
                allow_sha1: options["allow_sha1"].as_bool().unwrap_or(false),
                ..AlgorithmPolicy::default()
            },
            limits: Limits::default(),
        };
        let query = dir.join(format!("{case}.query"));
        let got = if query.exists() {
            validator.validate_redirect(std::fs::read_to_string(&query).unwrap().trim_end())
        } else {
            validator.validate_post(&std::fs::read(dir.join(format!("{case}.form"))).unwrap())
        };
        let what = want["what"].as_str().unwrap_or_default();
        if want["valid"] == true {
            let got = got.unwrap_or_else(|e| {
                panic!("{case} ({what}): refused as {} ({e})", e.reason().as_str())
            });
            check_valid(&got, &want, &case);
        } else {
            let err = got.expect_err(&format!("{case} ({what}) was accepted"));
            assert_eq!(
                err.reason().as_str(),
                want["reason"],
                "{case} ({what}): {err}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 70, "only {seen} vectors in {}", dir.display());
}
