//! `samlgate metadata`: writes this SP's EntityDescriptor for the IdP
//! administrator. Until the gateway configuration exists the inputs are
//! flags; the builder lives in samlgate-saml.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use openssl::x509::X509;
use samlgate_dsig::SigningKey;
use samlgate_saml::{AcsEndpoint, Clock, SpMetadata, SystemClock};

#[derive(Args, Debug)]
pub(crate) struct MetadataArgs {
    /// The SP entityID (the Audience the IdP will use).
    #[arg(long = "entity-id", value_name = "ID")]
    entity_id: String,
    /// AssertionConsumerService URL (repeatable: one per gateway node gets
    /// index 0, 1, ... in order; the first is the default).
    #[arg(long = "acs-url", value_name = "URL", required = true)]
    acs_url: Vec<String>,
    /// Index of the first ACS entry (some IdPs, e.g. CUCM clusters, count from 1).
    #[arg(long = "acs-first-index", value_name = "N", default_value_t = 0)]
    acs_first_index: u16,
    /// SingleLogoutService URL (HTTP-Redirect and HTTP-POST; repeatable).
    #[arg(long = "slo-url", value_name = "URL")]
    slo_url: Vec<String>,
    /// PEM certificate published for signing (repeatable: rollover).
    #[arg(long = "signing-cert", value_name = "FILE")]
    signing_cert: Vec<PathBuf>,
    /// PEM certificate published for encryption (repeatable: rollover).
    #[arg(long = "encryption-cert", value_name = "FILE")]
    encryption_cert: Vec<PathBuf>,
    /// NameIDFormat to publish (repeatable, in preference order).
    #[arg(long = "name-id-format", value_name = "URI")]
    name_id_format: Vec<String>,
    /// Publish AuthnRequestsSigned="true" (default: true when a signing
    /// certificate is published).
    #[arg(long = "authn-requests-signed", value_name = "BOOL")]
    authn_requests_signed: Option<bool>,
    /// WantAssertionsSigned.
    #[arg(
        long = "want-assertions-signed",
        value_name = "BOOL",
        default_value_t = true
    )]
    want_assertions_signed: bool,
    /// validUntil this many days from now (omitted: no validUntil).
    #[arg(long = "valid-days", value_name = "DAYS")]
    valid_days: Option<u32>,
    /// Sign the metadata with this PEM private key (its certificate is the
    /// first --signing-cert, or --sign-cert).
    #[arg(long = "sign-key", value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Certificate of --sign-key, when it is not the first --signing-cert.
    #[arg(long = "sign-cert", value_name = "FILE")]
    sign_cert: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

fn certificate_der(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    let pem = read(path, what)?;
    X509::from_pem(&pem)
        .and_then(|c| c.to_der())
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))
}

fn build(args: &MetadataArgs) -> Result<Vec<u8>, String> {
    let signing_certs = args
        .signing_cert
        .iter()
        .map(|p| certificate_der(p, "signing certificate"))
        .collect::<Result<Vec<_>, _>>()?;
    let encryption_certs = args
        .encryption_cert
        .iter()
        .map(|p| certificate_der(p, "encryption certificate"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acs = Vec::new();
    for (i, url) in args.acs_url.iter().enumerate() {
        let index = u16::try_from(i)
            .ok()
            .and_then(|i| i.checked_add(args.acs_first_index))
            .ok_or("too many ACS URLs")?;
        acs.push(AcsEndpoint {
            index,
            url: url.clone(),
            is_default: i == 0,
        });
    }
    let metadata = SpMetadata {
        entity_id: args.entity_id.clone(),
        acs,
        slo: args.slo_url.clone(),
        authn_requests_signed: args
            .authn_requests_signed
            .unwrap_or(!signing_certs.is_empty()),
        want_assertions_signed: args.want_assertions_signed,
        signing_certs,
        encryption_certs,
        name_id_formats: args.name_id_format.clone(),
        valid_until: args
            .valid_days
            .map(|d| SystemClock.now().plus_seconds(i64::from(d) * 86_400)),
        id: String::new(),
    };
    match &args.sign_key {
        None => metadata
            .to_xml()
            .map(String::into_bytes)
            .map_err(|e| e.to_string()),
        Some(key_path) => {
            let key_pem = read(key_path, "signing key")?;
            let cert_path = args
                .sign_cert
                .as_ref()
                .or(args.signing_cert.first())
                .ok_or("--sign-key needs --sign-cert or a --signing-cert")?;
            let cert_pem = read(cert_path, "signing certificate")?;
            let key = SigningKey::from_pem(&key_pem, &cert_pem)
                .map_err(|e| format!("{}: {e}", key_path.display()))?;
            metadata.to_signed_xml(&key).map_err(|e| e.to_string())
        }
    }
}

pub(crate) fn run(args: MetadataArgs) -> ExitCode {
    let xml = match build(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("samlgate metadata: {e}");
            return ExitCode::from(2);
        }
    };
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, &xml).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&xml)
                .map_err(|e| format!("cannot write stdout: {e}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samlgate metadata: {e}");
            ExitCode::from(2)
        }
    }
}
