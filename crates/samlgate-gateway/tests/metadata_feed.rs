//! IdP metadata feeds against a real HTTP server on 127.0.0.1 and real
//! files: key rollover picked up, last good copy kept on every kind of
//! failure (status, garbage, hang, redirect, too large, unsigned, expired,
//! missing file), an expired copy no longer served, parsed keys cached,
//! the refresh task and its jittered delay. Keys are generated per run.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};
use samlgate_dsig::{sign_enveloped, SigningKey, TrustedKey, TrustedKeys};
use samlgate_gateway::key_cache::FingerprintKeyCache;
use samlgate_gateway::metadata_feed::{FeedError, FeedOptions, MetadataFeed, MetadataSource};
use samlgate_saml::{Clock, IdpMetadata, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- keys

struct Cert {
    key: PKey<Private>,
    cert: X509,
}

impl Cert {
    fn der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap()
    }
    fn fingerprint(&self) -> String {
        TrustedKey::from_cert_der(&self.der())
            .unwrap()
            .fingerprint()
    }
    fn trusted(&self) -> TrustedKeys {
        let mut keys = TrustedKeys::new();
        keys.add(TrustedKey::from_cert_der(&self.der()).unwrap());
        keys
    }
    fn signing_key(&self) -> SigningKey {
        SigningKey::from_pem(
            &self.key.private_key_to_pem_pkcs8().unwrap(),
            &self.cert.to_pem().unwrap(),
        )
        .unwrap()
    }
}

fn self_signed(cn: &str, key: PKey<Private>) -> Cert {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    Cert {
        key,
        cert: b.build(),
    }
}

/// A metadata key (only parsed, never used to sign here): EC is quick to
/// generate.
fn ec_cert(cn: &str) -> Cert {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    self_signed(
        cn,
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap(),
    )
}

/// A metadata signing key: sign_enveloped signs with RSA-SHA256.
fn rsa_cert(cn: &str) -> Cert {
    self_signed(cn, PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
}

// ------------------------------------------------------------ metadata

const ENTITY: &str = "https://idp.feed.test/saml2";

/// An EntityDescriptor (ID `_feed`) with one IDPSSODescriptor trusting
/// `certs` for signing; `root_attrs` adds validUntil / cacheDuration.
fn metadata(certs: &[&Cert], root_attrs: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: String = certs
        .iter()
        .map(|c| {
            format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                b64.encode(c.der())
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ID=\"_feed\" entityID=\"{ENTITY}\"{root_attrs}>\
<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{keys}\
<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://idp.feed.test/sso\"/>\
</md:IDPSSODescriptor></md:EntityDescriptor>\n"
    )
    .into_bytes()
}

fn signed(xml: &[u8], by: &Cert) -> Vec<u8> {
    sign_enveloped(xml, "_feed", &by.signing_key()).unwrap()
}

/// validUntil `offset_ms` from now (negative: in the past).
fn valid_until(offset_ms: i64) -> String {
    let at = samlgate_saml::Instant::from_unix_millis(SystemClock.now().unix_millis() + offset_ms);
    format!(" validUntil=\"{at}\"")
}

fn fingerprints(md: &IdpMetadata) -> Vec<String> {
    md.entities
        .iter()
        .flat_map(|e| e.signing_keys.iter().map(TrustedKey::fingerprint))
        .collect()
}

fn current_fingerprints(feed: &MetadataFeed) -> Vec<String> {
    fingerprints(&feed.current().expect("a current copy"))
}

// ------------------------------------------------------------- server

/// What the test server answers next.
#[derive(Clone)]
enum Reply {
    /// 200 with Content-Length.
    Body(Vec<u8>),
    /// 200 without Content-Length: the body ends when the connection does.
    CloseDelimited(Vec<u8>),
    /// Any status, empty body.
    Status(u16),
    /// 302 to another URL.
    Redirect(String),
    /// Reads the request, then never answers.
    Hang,
}

/// A minimal HTTP/1.1 server: one request per connection, the answer
/// chosen by the test.
struct Server {
    url: String,
    reply: Arc<Mutex<Reply>>,
    /// Request heads received, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(first: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/idp/metadata.xml", listener.local_addr().unwrap());
        let reply = Arc::new(Mutex::new(first));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (r, q) = (reply.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, q) = (r.clone(), q.clone());
                tokio::spawn(async move { serve(stream, r, q).await });
            }
        });
        Server {
            url,
            reply,
            requests,
        }
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    let reply = reply.lock().unwrap().clone();
    let mut out = Vec::new();
    match reply {
        Reply::Body(body) => {
            out.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(&body);
        }
        Reply::CloseDelimited(body) => {
            out.extend_from_slice(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nConnection: close\r\n\r\n",
            );
            out.extend_from_slice(&body);
        }
        Reply::Status(code) => out.extend_from_slice(
            format!("HTTP/1.1 {code} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        Reply::Redirect(to) => out.extend_from_slice(
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        ),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
    }
    // The client may hang up first (a refused oversized body): ignore.
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

// -------------------------------------------------------------- feeds

fn options() -> FeedOptions {
    FeedOptions {
        fetch_timeout: Duration::from_millis(300),
        ..FeedOptions::default()
    }
}

fn new_feed(
    source: MetadataSource,
    options: FeedOptions,
) -> (Arc<MetadataFeed>, Arc<FingerprintKeyCache>) {
    let cache = Arc::new(FingerprintKeyCache::new(1000));
    let feed = Arc::new(MetadataFeed::new(
        "test-idp".to_owned(),
        source,
        options,
        cache.clone(),
    ));
    (feed, cache)
}

/// A file path unique to this test run.
fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "samlgate-feed-{}-{}-{name}",
        std::process::id(),
        SystemClock.now().unix_millis()
    ))
}

// -------------------------------------------------------------- tests

#[test]
fn feed_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MetadataFeed>();
    assert_send_sync::<FeedError>();
}

#[tokio::test]
async fn url_feed_follows_rollover_and_keeps_last_good_copy_on_failures() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let server = Server::start(Reply::Body(metadata(&[&a], ""))).await;
    let (feed, _) = new_feed(MetadataSource::Url(server.url.clone()), options());
    assert!(feed.current().is_none(), "nothing before the first load");
    assert_eq!(feed.last_success_unix(), None);

    feed.load().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    assert_eq!(feed.current().unwrap().entities[0].entity_id, ENTITY);
    let now = SystemClock.now().unix_millis() / 1000;
    let t = feed.last_success_unix().unwrap();
    assert!((now - 5..=now).contains(&t), "{t} vs {now}");
    let head = &server.requests()[0];
    assert!(
        head.starts_with("GET /idp/metadata.xml HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("accept: application/samlmetadata+xml, application/xml, text/xml\r\n"),
        "{head}"
    );

    // Rollover: the IdP now publishes key B only.
    server.set(Reply::Body(metadata(&[&b], "")));
    feed.refresh().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 0);

    server.set(Reply::Status(500));
    let e = feed.refresh().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Fetch(m) if m.contains("500")),
        "{e}"
    );
    assert_eq!(e.kind(), "fetch");
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 1);

    server.set(Reply::Body(b"\x00<<garbage, not metadata".to_vec()));
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::Invalid(_)), "{e}");
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 2);

    // Well-formed XML that is not metadata is refused too.
    server.set(Reply::Body(
        b"<html><body>maintenance</body></html>".to_vec(),
    ));
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::Invalid(_)), "{e}");
    assert_eq!(feed.refresh_failures(), 3);

    server.set(Reply::Hang);
    let started = std::time::Instant::now();
    let e = feed.refresh().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&e, FeedError::Fetch(m) if m.contains("timed out")),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 4);

    server.set(Reply::Redirect(
        "http://127.0.0.1:9/elsewhere.xml".to_owned(),
    ));
    let e = feed.refresh().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Fetch(m) if m.contains("302") && m.contains("redirect") && m.contains("elsewhere.xml")),
        "{e}"
    );
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 5);

    // Back to normal: the next refresh succeeds again.
    server.set(Reply::Body(metadata(&[&a, &b], "")));
    feed.refresh().await.unwrap();
    assert_eq!(
        current_fingerprints(&feed),
        [a.fingerprint(), b.fingerprint()]
    );
    assert_eq!(feed.refresh_failures(), 5);
}

#[tokio::test]
async fn unreachable_url_fails_the_first_load() {
    // Bind then drop: nothing listens on that port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (feed, _) = new_feed(
        MetadataSource::Url(format!("http://127.0.0.1:{port}/md.xml")),
        options(),
    );
    let e = feed.load().await.unwrap_err();
    assert!(matches!(e, FeedError::Fetch(_)), "{e}");
    assert!(feed.current().is_none());
    // load() is reported by its caller, not counted as a refresh failure.
    assert_eq!(feed.refresh_failures(), 0);

    let (feed, _) = feed_for("ftp://127.0.0.1/md.xml");
    let e = feed.load().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Fetch(m) if m.contains("http")),
        "{e}"
    );
}

fn feed_for(url: &str) -> (Arc<MetadataFeed>, Arc<FingerprintKeyCache>) {
    new_feed(MetadataSource::Url(url.to_owned()), options())
}

#[tokio::test]
async fn signing_keys_configured_require_signed_metadata() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let (signer, impostor) = (rsa_cert("metadata signer"), rsa_cert("impostor"));
    let server = Server::start(Reply::Body(signed(&metadata(&[&a], ""), &signer))).await;
    let (feed, _) = new_feed(
        MetadataSource::Url(server.url.clone()),
        FeedOptions {
            signing_keys: Some(signer.trusted()),
            ..options()
        },
    );
    feed.load().await.unwrap();
    let md = feed.current().unwrap();
    assert_eq!(fingerprints(&md), [a.fingerprint()]);
    assert_eq!(md.signed_by.as_deref(), Some(signer.fingerprint().as_str()));

    // Unsigned metadata naming key B: refused, A kept.
    server.set(Reply::Body(metadata(&[&b], "")));
    let e = feed.refresh().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Invalid(m) if m.0.contains("unsigned")),
        "{e}"
    );
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);

    // Signed, but by a key that is not configured.
    server.set(Reply::Body(signed(&metadata(&[&b], ""), &impostor)));
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::Invalid(_)), "{e}");
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);

    // Signed by the right key, then altered: key B swapped in.
    let tampered = String::from_utf8(signed(&metadata(&[&a], ""), &signer))
        .unwrap()
        .replace(
            &base64::engine::general_purpose::STANDARD.encode(a.der()),
            &base64::engine::general_purpose::STANDARD.encode(b.der()),
        );
    server.set(Reply::Body(tampered.into_bytes()));
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::Invalid(_)), "{e}");
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 3);

    // Properly signed rollover: accepted.
    server.set(Reply::Body(signed(&metadata(&[&b], ""), &signer)));
    feed.refresh().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
}

#[tokio::test]
async fn expired_metadata_is_refused_and_an_expired_copy_is_not_served() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let server = Server::start(Reply::Body(metadata(&[&a], &valid_until(3_600_000)))).await;
    let (feed, _) = new_feed(MetadataSource::Url(server.url.clone()), options());
    feed.load().await.unwrap();

    // A refresh that has already expired: refused, A kept.
    server.set(Reply::Body(metadata(&[&b], &valid_until(-60_000))));
    let e = feed.refresh().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Invalid(m) if m.0.contains("expired")),
        "{e}"
    );
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);

    // A copy valid for a little longer: served now, not once it has
    // expired, even though no refresh replaced it.
    let expires_at = SystemClock.now().unix_millis() + 1_500;
    let until = samlgate_saml::Instant::from_unix_millis(expires_at);
    server.set(Reply::Body(metadata(
        &[&b],
        &format!(" validUntil=\"{until}\""),
    )));
    feed.refresh().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    let left = expires_at + 50 - SystemClock.now().unix_millis();
    tokio::time::sleep(Duration::from_millis(left.max(0) as u64)).await;
    assert!(
        feed.current().is_none(),
        "an expired copy must not be served"
    );
    assert!(feed.current().is_none(), "and stays withheld");

    // The IdP is fixed: a valid copy is served again.
    server.set(Reply::Body(metadata(&[&a], &valid_until(3_600_000))));
    feed.refresh().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
}

#[tokio::test]
async fn require_valid_until_refuses_metadata_without_it() {
    let a = ec_cert("key A");
    let path = temp_file("valid-until.xml");
    std::fs::write(&path, metadata(&[&a], "")).unwrap();
    let (feed, _) = new_feed(
        MetadataSource::File(path.clone()),
        FeedOptions {
            require_valid_until: true,
            ..options()
        },
    );
    let e = feed.load().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Invalid(m) if m.0.contains("validUntil")),
        "{e}"
    );
    std::fs::write(&path, metadata(&[&a], &valid_until(3_600_000))).unwrap();
    feed.load().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn file_feed_picks_up_changes_and_keeps_last_good_copy_when_missing() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let path = temp_file("idp.xml");
    std::fs::write(&path, metadata(&[&a], "")).unwrap();
    let (feed, _) = new_feed(MetadataSource::File(path.clone()), options());
    feed.load().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);

    std::fs::write(&path, metadata(&[&b], "")).unwrap();
    feed.refresh().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);

    std::fs::remove_file(&path).unwrap();
    let e = feed.refresh().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Io(io) if io.kind() == std::io::ErrorKind::NotFound),
        "{e}"
    );
    assert!(e.to_string().contains("idp.xml"), "names the file: {e}");
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 1);

    // A half-written file (a non-atomic deploy) is refused the same way.
    let whole = metadata(&[&a], "");
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::Invalid(_)), "{e}");
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn metadata_over_max_bytes_is_too_large() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let max_bytes = 16 * 1024;
    // Valid metadata, padded past the limit with a comment: only the size
    // is wrong with it.
    let mut big = metadata(&[&b], "");
    big.extend_from_slice(b"<!--");
    big.resize(max_bytes + 100, b'x');
    big.extend_from_slice(b"-->\n");
    let opts = || FeedOptions {
        max_bytes,
        ..options()
    };

    let server = Server::start(Reply::Body(metadata(&[&a], ""))).await;
    let (feed, _) = new_feed(MetadataSource::Url(server.url.clone()), opts());
    feed.load().await.unwrap();
    // Declared by Content-Length: refused before reading the body.
    server.set(Reply::Body(big.clone()));
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::TooLarge), "{e}");
    assert_eq!(e.kind(), "too_large");
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    // No length announced: refused while reading.
    server.set(Reply::CloseDelimited(big.clone()));
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::TooLarge), "{e}");
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    assert_eq!(feed.refresh_failures(), 2);
    // A close-delimited body within the limit is fine.
    server.set(Reply::CloseDelimited(metadata(&[&b], "")));
    feed.refresh().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [b.fingerprint()]);

    let path = temp_file("big.xml");
    std::fs::write(&path, metadata(&[&a], "")).unwrap();
    let (feed, _) = new_feed(MetadataSource::File(path.clone()), opts());
    feed.load().await.unwrap();
    std::fs::write(&path, &big).unwrap();
    let e = feed.refresh().await.unwrap_err();
    assert!(matches!(e, FeedError::TooLarge), "{e}");
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    std::fs::remove_file(&path).unwrap();

    let (feed, _) = new_feed(MetadataSource::Inline(big), opts());
    assert!(matches!(feed.load().await, Err(FeedError::TooLarge)));
}

#[tokio::test]
async fn parsed_keys_are_cached_by_fingerprint() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let server = Server::start(Reply::Body(metadata(&[&a, &b], ""))).await;
    let (feed, cache) = new_feed(MetadataSource::Url(server.url.clone()), options());
    assert!(cache.is_empty());
    feed.load().await.unwrap();
    let first = feed.current().unwrap();
    assert_eq!(cache.len(), 2);

    feed.refresh().await.unwrap();
    feed.refresh().await.unwrap();
    let third = feed.current().unwrap();
    assert!(
        !Arc::ptr_eq(&first, &third),
        "each refresh swaps in a new copy"
    );
    assert_eq!(cache.len(), 2, "the same two certificates, cached once");
    assert_eq!(fingerprints(&first), fingerprints(&third));
    // The very same parsed key object, not a re-parse of the certificate.
    let keys = |md: &IdpMetadata| -> Vec<TrustedKey> {
        md.entities[0].signing_keys.iter().cloned().collect()
    };
    for (old, new) in keys(&first).iter().zip(keys(&third).iter()) {
        assert!(std::ptr::eq(old.public_key(), new.public_key()));
    }

    // A new certificate adds one entry.
    let c = ec_cert("key C");
    server.set(Reply::Body(metadata(&[&b, &c], "")));
    feed.refresh().await.unwrap();
    assert_eq!(cache.len(), 3);
}

#[tokio::test]
async fn run_refreshes_on_its_own_and_stops_on_shutdown() {
    let (a, b) = (ec_cert("key A"), ec_cert("key B"));
    let server = Server::start(Reply::Body(metadata(&[&a], ""))).await;
    let (feed, _) = new_feed(
        MetadataSource::Url(server.url.clone()),
        FeedOptions {
            refresh_interval: Duration::from_millis(200),
            jitter: 0.0,
            ..options()
        },
    );
    feed.load().await.unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(feed.clone().run(shutdown));

    server.set(Reply::Body(metadata(&[&b], "")));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while current_fingerprints(&feed) != [b.fingerprint()] {
        assert!(
            std::time::Instant::now() < deadline,
            "run() did not pick up the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run() stops on shutdown")
        .unwrap();
    let seen = server.requests().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.requests().len(), seen, "no fetch after shutdown");
}

#[tokio::test]
async fn run_stops_when_the_shutdown_sender_is_dropped_and_inline_is_never_refreshed() {
    let a = ec_cert("key A");
    let path = temp_file("run.xml");
    std::fs::write(&path, metadata(&[&a], "")).unwrap();
    let (feed, _) = new_feed(MetadataSource::File(path.clone()), options());
    feed.load().await.unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(feed.clone().run(shutdown));
    drop(stop);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run() stops when the sender is gone")
        .unwrap();
    std::fs::remove_file(&path).unwrap();

    let (feed, _) = new_feed(MetadataSource::Inline(metadata(&[&a], "")), options());
    feed.load().await.unwrap();
    assert_eq!(current_fingerprints(&feed), [a.fingerprint()]);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::time::timeout(Duration::from_secs(1), feed.clone().run(shutdown))
        .await
        .expect("run() returns at once for inline metadata");
}

#[test]
fn next_delay_is_jittered_within_bounds() {
    let (feed, _) = new_feed(
        MetadataSource::Inline(Vec::new()),
        FeedOptions {
            refresh_interval: Duration::from_secs(100),
            jitter: 0.1,
            ..FeedOptions::default()
        },
    );
    let samples: Vec<Duration> = (0..200).map(|_| feed.next_delay()).collect();
    for d in &samples {
        assert!(
            (Duration::from_secs(90)..=Duration::from_secs(110)).contains(d),
            "{d:?}"
        );
    }
    assert!(samples.iter().any(|d| *d != samples[0]), "not jittered");
    // Both halves of the range are used.
    assert!(samples.iter().any(|d| *d < Duration::from_secs(100)));
    assert!(samples.iter().any(|d| *d > Duration::from_secs(100)));
}

#[tokio::test]
async fn next_delay_follows_cache_duration_and_retries_sooner_after_a_failure() {
    let a = ec_cert("key A");
    let path = temp_file("delay.xml");
    let opts = FeedOptions {
        jitter: 0.0,
        ..FeedOptions::default()
    };
    assert_eq!(opts.refresh_interval, Duration::from_secs(3600));

    std::fs::write(&path, metadata(&[&a], "")).unwrap();
    let (feed, _) = new_feed(MetadataSource::File(path.clone()), opts.clone());
    feed.load().await.unwrap();
    assert_eq!(feed.next_delay(), Duration::from_secs(3600));

    // A shorter cacheDuration is honoured...
    std::fs::write(&path, metadata(&[&a], " cacheDuration=\"PT10M\"")).unwrap();
    feed.refresh().await.unwrap();
    assert_eq!(feed.next_delay(), Duration::from_secs(600));
    // ...but not below a minute.
    std::fs::write(&path, metadata(&[&a], " cacheDuration=\"PT5S\"")).unwrap();
    feed.refresh().await.unwrap();
    assert_eq!(feed.next_delay(), Duration::from_secs(60));
    // A longer one does not stretch the interval.
    std::fs::write(&path, metadata(&[&a], " cacheDuration=\"P1D\"")).unwrap();
    feed.refresh().await.unwrap();
    assert_eq!(feed.next_delay(), Duration::from_secs(3600));

    // After a failure the next attempt comes sooner, until one succeeds.
    std::fs::write(&path, b"not metadata").unwrap();
    feed.refresh().await.unwrap_err();
    assert_eq!(feed.next_delay(), Duration::from_secs(300));
    std::fs::write(&path, metadata(&[&a], "")).unwrap();
    feed.refresh().await.unwrap();
    assert_eq!(feed.next_delay(), Duration::from_secs(3600));
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn https_url_with_an_untrusted_certificate_is_refused() {
    use openssl::ssl::{SslAcceptor, SslMethod};
    // A TLS server whose self-signed certificate no system root vouches
    // for: the handshake must fail on the client's verification.
    let server = ec_cert("localhost");
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor.set_private_key(&server.key).unwrap();
    acceptor.set_certificate(&server.cert).unwrap();
    let acceptor = acceptor.build();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        acceptor.accept(stream).is_ok()
    });

    let (feed, _) = new_feed(
        MetadataSource::Url(format!("https://127.0.0.1:{port}/md.xml")),
        FeedOptions {
            fetch_timeout: Duration::from_secs(5),
            ..options()
        },
    );
    let e = feed.load().await.unwrap_err();
    assert!(
        matches!(&e, FeedError::Fetch(m) if m.contains("certificate verify failed")),
        "{e}"
    );
    assert!(
        !handshakes.join().unwrap(),
        "the client must abort the handshake"
    );
}
