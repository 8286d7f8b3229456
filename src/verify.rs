//! `samlgate verify`: one Response in, one JSON object out.
//! Exit codes: 0 valid, 1 invalid, 2 usage or configuration error.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use samlgate_dsig::{AlgorithmPolicy, DecryptionKeys, DecryptionPolicy, TrustedKeys};
use samlgate_saml::{
    decode_input, load_idp_metadata, Clock, FixedClock, Instant, MetadataPolicy, SamlError,
    SystemClock, Trust, Validator, VerifiedAssertion,
};
use samlgate_xml::Limits;
use serde_json::{json, Map, Value};

/// Largest file read from disk or stdin; the decoded limit is enforced
/// after, this only bounds memory.
const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Trusted IdP metadata (EntityDescriptor or EntitiesDescriptor).
    #[arg(long = "idp-metadata", value_name = "FILE")]
    idp_metadata: Vec<PathBuf>,
    /// PEM X.509 certificate trusted for signing (repeatable).
    #[arg(long = "idp-cert", value_name = "FILE")]
    idp_cert: Vec<PathBuf>,
    /// Expected Audience.
    #[arg(long = "sp-entity-id", value_name = "ID")]
    sp_entity_id: Option<String>,
    /// Expected Destination and SubjectConfirmationData Recipient.
    #[arg(long = "acs-url", value_name = "URL")]
    acs_url: Option<String>,
    /// Evaluate time conditions at this instant (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Allowed clock skew in seconds.
    #[arg(long = "clock-skew", value_name = "SECONDS", default_value_t = 180)]
    clock_skew: u32,
    /// Expected InResponseTo; omitted: unsolicited responses are accepted.
    #[arg(long = "in-response-to", value_name = "ID")]
    in_response_to: Option<String>,
    /// Accept SHA-1 (otherwise weak_algorithm).
    #[arg(long = "allow-sha1")]
    allow_sha1: bool,
    /// Smallest RSA signing key accepted, in bits.
    #[arg(long = "min-rsa-bits", value_name = "N", default_value_t = 2048)]
    min_rsa_bits: u32,
    /// PEM certificate that must have signed the IdP metadata (repeatable);
    /// with it, unsigned metadata is refused.
    #[arg(long = "metadata-signing-cert", value_name = "FILE")]
    metadata_signing_cert: Vec<PathBuf>,
    /// Refuse IdP metadata without validUntil (saml2int).
    #[arg(long = "require-metadata-valid-until")]
    require_metadata_valid_until: bool,
    /// SP private key (PEM) for EncryptedAssertion (repeatable for rollover).
    #[arg(long = "decryption-key", value_name = "FILE")]
    decryption_key: Vec<PathBuf>,
    /// The Response file, or - for standard input.
    #[arg(value_name = "RESPONSE_FILE")]
    input: PathBuf,
}

/// A usage or configuration problem: exit 2, message on stderr.
struct UsageError(String);

fn read_limited(path: &PathBuf) -> Result<Vec<u8>, UsageError> {
    let mut buf = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_READ_BYTES + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_READ_BYTES + 1).read_to_end(&mut buf))
    };
    result.map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    Ok(buf)
}

fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read {what} {}: {e}", path.display())))
}

struct Setup {
    trust: Trust,
    decryption_keys: DecryptionKeys,
    clock: Box<dyn Clock>,
}

fn setup(args: &VerifyArgs) -> Result<Setup, UsageError> {
    let clock: Box<dyn Clock> = match &args.now {
        Some(s) => Box::new(FixedClock(Instant::parse(s).ok_or_else(|| {
            UsageError(format!("--now {s:?} is not an RFC 3339 timestamp"))
        })?)),
        None => Box::new(SystemClock),
    };
    let mut metadata_policy = MetadataPolicy::at(clock.now());
    metadata_policy.require_valid_until = args.require_metadata_valid_until;
    if !args.metadata_signing_cert.is_empty() {
        let mut keys = TrustedKeys::new();
        for path in &args.metadata_signing_cert {
            let pem = read_file(path, "metadata signing certificate")?;
            keys.add_pem_certificates(&pem)
                .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        }
        metadata_policy.signing_keys = Some(keys);
    }
    let mut trust = Trust::new();
    for path in &args.idp_metadata {
        let xml = read_file(path, "IdP metadata")?;
        let metadata = load_idp_metadata(&xml, &metadata_policy)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        for idp in metadata.entities {
            trust.add_idp(idp);
        }
    }
    let mut certs = TrustedKeys::new();
    for path in &args.idp_cert {
        let pem = read_file(path, "IdP certificate")?;
        certs
            .add_pem_certificates(&pem)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    }
    trust.add_any_issuer_keys(&certs);
    if trust.is_empty() {
        return Err(UsageError(
            "no trusted key: give --idp-cert or --idp-metadata".into(),
        ));
    }
    let mut decryption_keys = DecryptionKeys::new();
    for path in &args.decryption_key {
        let pem = read_file(path, "decryption key")?;
        decryption_keys
            .add_pem(&pem)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    }
    Ok(Setup {
        trust,
        decryption_keys,
        clock,
    })
}

pub(crate) fn run(args: VerifyArgs) -> ExitCode {
    let setup = match setup(&args) {
        Ok(s) => s,
        Err(UsageError(msg)) => {
            eprintln!("samlgate verify: {msg}");
            return ExitCode::from(2);
        }
    };
    let data = match read_limited(&args.input) {
        Ok(d) => d,
        Err(UsageError(msg)) => {
            eprintln!("samlgate verify: {msg}");
            return ExitCode::from(2);
        }
    };
    let limits = Limits::default();
    let validator = Validator {
        trust: &setup.trust,
        sp_entity_id: args.sp_entity_id.as_deref(),
        acs_url: args.acs_url.as_deref(),
        in_response_to: args.in_response_to.as_deref(),
        clock: setup.clock.as_ref(),
        clock_skew_seconds: i64::from(args.clock_skew),
        algorithms: AlgorithmPolicy {
            allow_sha1: args.allow_sha1,
            min_rsa_bits: args.min_rsa_bits,
            ..AlgorithmPolicy::default()
        },
        decryption_keys: &setup.decryption_keys,
        decryption: DecryptionPolicy::default(),
        limits,
        replay: None,
        refuse_solicited: false,
    };
    let result =
        decode_input(&data, limits.max_document_bytes).and_then(|xml| validator.validate(&xml));
    let (value, code) = match result {
        Ok(a) => (valid_json(&a), 0),
        Err(e) => (invalid_json(&e), 1),
    };
    println!("{value}");
    ExitCode::from(code)
}

fn valid_json(a: &VerifiedAssertion) -> Value {
    let attributes: Map<String, Value> = a
        .attributes()
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "valid": true,
        "issuer": a.issuer(),
        "name_id": a.name_id(),
        "name_id_format": a.name_id_format(),
        "assertion_id": a.assertion_id(),
        "session_index": a.session_index(),
        "not_on_or_after": a.not_on_or_after().map(|t| t.to_string()),
        "attributes": attributes,
    })
}

fn invalid_json(e: &SamlError) -> Value {
    json!({
        "valid": false,
        "reason": e.reason().as_str(),
        "detail": e.to_string(),
    })
}
