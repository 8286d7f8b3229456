//! Load-test data for `loadtest/`: an IdP (key, certificate, metadata), N
//! unique signed unsolicited Responses, a sealed session cookie and the
//! samlgate configuration that trusts that IdP and opens that cookie.
//!
//! ```text
//! cargo run --release --example gen_responses -- --out loadtest/out --count 40000 \
//!     --gateway-port 18080 --admin-port 18090 --backend-port 18081 --threads 2
//! ```
//!
//! Writes into `--out`:
//! - `idp-metadata.xml`: the IdP's EntityDescriptor (signing certificate);
//! - `responses.txt`: one base64 SAMLResponse per line, each with its own
//!   Response and Assertion IDs (the replay cache never rejects one),
//!   valid for `--lifetime` seconds from now;
//! - `acs-bodies.txt`, `acs-bodies.json`: the same Responses as ACS form
//!   bodies (`SAMLResponse=<url-encoded>&pad=x...`), one fixed-width line
//!   each, and that width and count (what `loadtest/acs.js` reads);
//! - `cookie.txt`: a `Cookie` header value (`samlgate_session=...`) that the
//!   gateway opens as alice's session;
//! - `samlgate.toml`: the gateway configuration (IdP-initiated login
//!   allowed, `max_response_age_seconds` = `--lifetime`, one `/` route to
//!   the backend, the session key of `cookie.txt`).
//!
//! For another SP (`loadtest/compare/`): `--sp-entity-id` and `--acs-url`
//! set the Audience, Destination and Recipient, `--responses-only` leaves
//! out the cookie and the samlgate config, and `--idp-key`/`--idp-cert`
//! keep the IdP key in files, so that every SP trusts the same IdP.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as MonoInstant;

use base64::Engine;
use clap::Parser;
use samlgate_dsig::SigningKey;
use samlgate_gateway::demo::idp::{generate_signing_key_pem, DemoIdp, ResponseSpec};
use samlgate_gateway::seal::KeyRing;
use samlgate_gateway::session::{CookieSettings, Session};
use samlgate_saml::{Clock, SystemClock};

#[derive(Parser, Debug)]
#[command(
    about = "Generates IdP metadata, signed Responses, a session cookie and a samlgate config"
)]
struct Args {
    /// Output directory (created).
    #[arg(long, default_value = "loadtest/out")]
    out: PathBuf,
    /// Number of signed Responses.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Validity of each Response (assertion lifetime and accepted age), seconds.
    #[arg(long, default_value_t = 3600)]
    lifetime: i64,
    /// Group values in each Response (sizes it: 17 gives ~6.4 KB of XML, as the issue's reference Response).
    #[arg(long, default_value_t = 17)]
    groups: usize,
    /// Gateway listener port (127.0.0.1).
    #[arg(long, default_value_t = 18080)]
    gateway_port: u16,
    /// Gateway admin port.
    #[arg(long, default_value_t = 18090)]
    admin_port: u16,
    /// Backend port.
    #[arg(long, default_value_t = 18081)]
    backend_port: u16,
    /// Gateway worker threads (`[server] threads`).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Signing threads.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// The IdP's private key (PEM): read if the file exists, else made and
    /// written (with `--idp-cert`), so that several runs, one per SP, sign
    /// with one IdP key (`loadtest/compare/`). Default: a new key per run.
    #[arg(long, requires = "idp_cert")]
    idp_key: Option<PathBuf>,
    /// The IdP's certificate (PEM), with `--idp-key`.
    #[arg(long, requires = "idp_key")]
    idp_cert: Option<PathBuf>,
    /// SP entity ID (the Audience). Default: samlgate's, `http://127.0.0.1:PORT/saml/metadata`.
    #[arg(long)]
    sp_entity_id: Option<String>,
    /// ACS URL (Destination and Recipient). Default: samlgate's, `http://127.0.0.1:PORT/saml/acs`.
    #[arg(long)]
    acs_url: Option<String>,
    /// Response i is for user `user<i>` (NameID `user<i>@example.org`)
    /// instead of alice: a flood of logins by different people. An SP that
    /// indexes sessions by NameID for logout (Shibboleth) otherwise piles
    /// every session onto one record.
    #[arg(long)]
    distinct_users: bool,
    /// Write only the IdP metadata and the Responses (no samlgate cookie or
    /// config): Responses for another SP (`--sp-entity-id`, `--acs-url`).
    #[arg(long)]
    responses_only: bool,
}

const NAME_ID: &str = "alice@example.org";
const IDP_NAME: &str = "corp";
const IDP_BASE: &str = "https://idp.loadtest.invalid";

/// The IdP key and certificate PEM at these paths; made and written first
/// if the key file does not exist yet.
fn idp_key_pem(
    key: &std::path::Path,
    cert: &std::path::Path,
) -> Result<(Vec<u8>, Vec<u8>), Box<dyn std::error::Error>> {
    if !key.exists() {
        let (key_pem, cert_pem) = generate_signing_key_pem("samlgate load test idp")?;
        std::fs::write(key, &key_pem)?;
        std::fs::write(cert, &cert_pem)?;
    }
    Ok((std::fs::read(key)?, std::fs::read(cert)?))
}

/// The attributes of user `uid` (`alice`, or `user<i>` with `--distinct-users`).
fn attributes(uid: &str, groups: usize) -> Vec<(&'static str, Vec<String>)> {
    let mut display = uid.to_owned();
    if let Some(initial) = display.get_mut(0..1) {
        initial.make_ascii_uppercase();
    }
    vec![
        ("uid", vec![uid.to_owned()]),
        ("email", vec![format!("{uid}@example.org")]),
        ("displayName", vec![format!("{display} Example")]),
        (
            "groups",
            (0..groups)
                .map(|i| {
                    format!(
                        "CN=app-role-{i}-members,OU=Application Roles,OU=EMEA,OU=Groups,DC=corp,DC=example,DC=com"
                    )
                })
                .collect(),
        ),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let gw = format!("http://127.0.0.1:{}", args.gateway_port);
    let sp_entity = args
        .sp_entity_id
        .clone()
        .unwrap_or_else(|| format!("{gw}/saml/metadata"));
    let acs = args
        .acs_url
        .clone()
        .unwrap_or_else(|| format!("{gw}/saml/acs"));
    let idp = match (&args.idp_key, &args.idp_cert) {
        (Some(key), Some(cert)) => {
            let (key_pem, cert_pem) = idp_key_pem(key, cert)?;
            let cert_der = openssl::x509::X509::from_pem(&cert_pem)?.to_der()?;
            DemoIdp::with_key(
                IDP_BASE,
                &sp_entity,
                &acs,
                SigningKey::from_pem(&key_pem, &cert_pem)?,
                cert_der,
            )
        }
        _ => DemoIdp::new(IDP_BASE, &sp_entity, &acs)?,
    };
    std::fs::write(args.out.join("idp-metadata.xml"), idp.metadata())?;

    // The Responses, signed on `jobs` threads, written in order.
    let now = SystemClock.now();
    let attrs = attributes("alice", args.groups);
    let spec = ResponseSpec {
        issuer: &idp.entity_id,
        audience: &sp_entity,
        acs_url: &acs,
        in_response_to: None,
        name_id: NAME_ID,
        attributes: &attrs,
        now,
        lifetime_seconds: args.lifetime,
    };
    let started = MonoInstant::now();
    let jobs = args.jobs.max(1);
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<String>> = vec![None; args.count];
    let results: Vec<Result<Vec<(usize, String)>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= args.count {
                            return Ok(done);
                        }
                        let xml = if args.distinct_users {
                            let uid = format!("user{i}");
                            let name_id = format!("{uid}@example.org");
                            let attrs = attributes(&uid, args.groups);
                            ResponseSpec {
                                name_id: &name_id,
                                attributes: &attrs,
                                ..spec.clone()
                            }
                            .signed_xml(&idp.key)?
                        } else {
                            spec.signed_xml(&idp.key)?
                        };
                        done.push((i, base64::engine::general_purpose::STANDARD.encode(xml)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("signing thread panicked".into()))
            })
            .collect()
    });
    for r in results {
        for (i, b64) in r? {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(b64);
            }
        }
    }
    let mut out = BufWriter::new(std::fs::File::create(args.out.join("responses.txt"))?);
    for line in slots.iter().flatten() {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    // The same Responses as ACS form bodies for k6: URL-encoded once here,
    // every line padded to one width (an ignored `pad` field) so that a
    // script reads record i at offset i * (width + 1) without JavaScript
    // string work (k6's SharedArray costs milliseconds per 8 KB string).
    let bodies: Vec<String> = slots
        .iter()
        .flatten()
        .map(|b64| {
            let mut body = String::with_capacity(b64.len() + 64);
            body.push_str("SAMLResponse=");
            for c in b64.chars() {
                match c {
                    '+' => body.push_str("%2B"),
                    '/' => body.push_str("%2F"),
                    '=' => body.push_str("%3D"),
                    c => body.push(c),
                }
            }
            body
        })
        .collect();
    let width = bodies.iter().map(|b| b.len()).max().unwrap_or(0) + "&pad=".len();
    let mut out = BufWriter::new(std::fs::File::create(args.out.join("acs-bodies.txt"))?);
    for body in &bodies {
        out.write_all(body.as_bytes())?;
        out.write_all(b"&pad=")?;
        for _ in body.len() + "&pad=".len()..width {
            out.write_all(b"x")?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    std::fs::write(
        args.out.join("acs-bodies.json"),
        format!("{{\"width\":{width},\"count\":{}}}\n", bodies.len()),
    )?;

    let first = slots.first().and_then(|s| s.as_deref()).unwrap_or_default();
    let xml_bytes = base64::engine::general_purpose::STANDARD
        .decode(first)
        .map_or(0, |x| x.len());
    eprintln!(
        "{} responses ({xml_bytes} bytes of XML, {} of base64 each) signed in {:.1}s",
        args.count,
        first.len(),
        started.elapsed().as_secs_f64()
    );

    if args.responses_only {
        eprintln!(
            "wrote {}/{{idp-metadata.xml,responses.txt,acs-bodies.*}} for {sp_entity} at {acs}",
            args.out.display()
        );
        return Ok(());
    }

    // The session cookie, as the ACS would have written it for alice.
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key)?;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let ring = KeyRing::new(&[key])?;
    let lifetime = 8 * 3600;
    let now_s = now.unix_millis() / 1000;
    let session = Session {
        idp: IDP_NAME.into(),
        issuer: idp.entity_id.clone(),
        name_id: NAME_ID.into(),
        name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into()),
        session_index: Some("_sloadtest".into()),
        attributes: attrs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect(),
        issued: now_s,
        expires: now_s + lifetime,
        name_qualifier: None,
        sp_name_qualifier: None,
        session_id: samlgate_store::SessionId::random()?.to_b64url(),
        assertion_issued_ms: now.unix_millis(),
    };
    let settings = CookieSettings {
        name: "samlgate_session".into(),
        max_bytes: 16 * 1024,
        secure: false,
        acs_path: "/saml/acs".into(),
        slo_path: "/saml/logout".into(),
    };
    let cookie = settings
        .session_cookies(&ring, &session, lifetime)?
        .iter()
        .filter_map(|set| set.split(';').next())
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect::<Vec<_>>()
        .join("; ");
    std::fs::write(args.out.join("cookie.txt"), format!("{cookie}\n"))?;

    let config = format!(
        r#"# samlgate load test: written by examples/gen_responses.rs
[server]
listen = ["127.0.0.1:{gw_port}"]
admin_listen = "127.0.0.1:{admin}"
threads = {threads}
log_format = "text"

[sp]
entity_id = "{sp_entity}"
base_url = "{gw}"
max_response_age_seconds = {lifetime_r}

[[idp]]
name = "{IDP_NAME}"
metadata_file = "idp-metadata.xml"
allow_idp_initiated = true

[[route]]
path_prefix = "/"
upstreams = ["127.0.0.1:{backend}"]

[headers]
inject = [
  {{ name = "X-Remote-User", from = "name_id" }},
  {{ name = "X-Remote-Idp", from = "idp" }},
  {{ name = "X-Remote-Email", from = "attribute:email" }},
  {{ name = "X-Remote-Groups", from = "attribute:groups" }},
]

[session]
keys = ["{key_b64}"]
lifetime_seconds = {lifetime}
"#,
        gw_port = args.gateway_port,
        admin = args.admin_port,
        threads = args.threads,
        backend = args.backend_port,
        lifetime_r = args.lifetime,
    );
    std::fs::write(args.out.join("samlgate.toml"), config)?;
    eprintln!(
        "wrote {}/{{idp-metadata.xml,responses.txt,acs-bodies.*,cookie.txt,samlgate.toml}}; cookie {} bytes",
        args.out.display(),
        cookie.len()
    );
    Ok(())
}
