//! Criterion benches of the gateway's per-request work, beside each other
//! in one run: what an authenticated pass-through request costs on top of
//! proxying (read the session, strip and inject headers), and the session
//! cache that keeps the sealed-cookie opening off the hot path.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use samlgate_gateway::config::{HeaderMapping, HeadersConfig};
use samlgate_gateway::headers::HeaderPolicy;
use samlgate_gateway::seal::KeyRing;
use samlgate_gateway::session::{CookieSettings, Cookies, Session};

fn session(groups: usize) -> Session {
    Session {
        idp: "corp".into(),
        issuer: "https://idp.example.com/adfs/services/trust".into(),
        name_id: "alice@example.com".into(),
        name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
        session_index: Some("_5f3c1a0e-8b7d-4c2a-9e61-0d4f2b8a7c11".into()),
        attributes: vec![
            ("email".into(), vec!["alice@example.com".into()]),
            ("displayName".into(), vec!["Alice Example".into()]),
            (
                "groups".into(),
                (0..groups)
                    .map(|i| format!("{i:08x}-1111-2222-3333-444455556666"))
                    .collect(),
            ),
        ],
        issued: 1_700_000_000,
        expires: 4_000_000_000,
        name_qualifier: None,
        sp_name_qualifier: None,
        session_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        assertion_issued_ms: 1_700_000_000_000,
    }
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::new(&[[9; 32]]).unwrap();
    let settings = CookieSettings {
        name: "samlgate_session".into(),
        max_bytes: 16 * 1024,
        secure: true,
        acs_path: "/saml/acs".into(),
        slo_path: "/saml/logout".into(),
    };
    let set = settings.session_cookies(&ring, &session(10), 3600).unwrap();
    let cookie_header = set
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
        + "; _ga=GA1.2.123456789.1700000000; theme=dark";
    let policy = HeaderPolicy::new(&HeadersConfig {
        separator: ";".into(),
        strip: vec!["X-Auth-Roles".into()],
        inject: [
            "name_id",
            "idp",
            "attribute:email",
            "attribute:displayName",
            "attribute:groups",
        ]
        .iter()
        .zip([
            "X-Remote-User",
            "X-Remote-Idp",
            "X-Remote-Email",
            "X-Remote-Name",
            "X-Remote-Groups",
        ])
        .map(|(from, name)| HeaderMapping {
            name: name.into(),
            from: (*from).into(),
        })
        .collect(),
    })
    .unwrap();
    let request_headers = [
        "host",
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "referer",
        "cookie",
        "sec-fetch-mode",
        "sec-fetch-site",
        "upgrade-insecure-requests",
        "x-remote-user",
    ];
    // The gateway's session cache is a RwLock'd HashMap keyed by the sealed
    // text (state.rs, SessionCache): the same structure here.
    let cache: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<Session>>> =
        Default::default();
    let cookies = Cookies::parse(std::iter::once(cookie_header.as_bytes()));
    let sealed = settings.sealed_session(&cookies).unwrap();
    cache
        .write()
        .unwrap()
        .insert(sealed.into_owned(), std::sync::Arc::new(session(10)));

    let mut g = c.benchmark_group("gateway");
    g.bench_function("session_open_uncached", |b| {
        b.iter(|| {
            let cookies = Cookies::parse(std::iter::once(black_box(cookie_header.as_bytes())));
            let sealed = settings.sealed_session(&cookies).unwrap();
            settings
                .open_session(&ring, &sealed, 1_800_000_000)
                .unwrap()
        })
    });
    g.bench_function("session_cached", |b| {
        b.iter(|| {
            let cookies = Cookies::parse(std::iter::once(black_box(cookie_header.as_bytes())));
            let sealed = settings.sealed_session(&cookies).unwrap();
            cache.read().unwrap().get(&*sealed).cloned().unwrap()
        })
    });
    g.bench_function("strip_headers", |b| {
        b.iter(|| policy.to_strip(black_box(request_headers.iter().copied())))
    });
    let s = session(10);
    g.bench_function("inject_values", |b| {
        b.iter(|| policy.values(black_box(&s)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench, acs);
criterion_main!(benches);

/// The ACS beside the bare verification of the same Response, in one run:
/// what the gateway adds to `verify` (form decode, replay store, session
/// sealing, metrics), without HTTP.
fn acs(c: &mut Criterion) {
    use base64::Engine;
    use samlgate_gateway::demo::idp::{DemoIdp, USERS};
    use samlgate_gateway::state::Shared;
    use samlgate_saml::{Clock, SystemClock};

    let base = "http://127.0.0.1:1";
    let idp = DemoIdp::new(
        "http://127.0.0.1:2",
        &format!("{base}/saml/metadata"),
        &format!("{base}/saml/acs"),
    )
    .unwrap();
    let gateway = samlgate_gateway::demo::offline_gateway(&idp, base).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = runtime
        .block_on(Shared::with_memory_store(gateway, 10_000_000))
        .unwrap();
    // Unique Responses: the replay store refuses a second use.
    let bodies: Vec<Vec<u8>> = (0..4000)
        .map(|_| {
            let xml = idp
                .response_for(&USERS[0], None, SystemClock.now())
                .unwrap();
            let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
            form_urlencoded::Serializer::new(String::new())
                .append_pair("SAMLResponse", &b64)
                .finish()
                .into_bytes()
        })
        .collect();
    let gateway = shared.gateway.load_full();
    let trust = gateway.trust();
    let cookies = Cookies::default();
    let mut g = c.benchmark_group("acs");
    let mut next = 0usize;
    g.bench_function("consume", |b| {
        b.iter(|| {
            let body = &bodies[next % bodies.len()];
            next += 1;
            runtime.block_on(samlgate_gateway::acs::consume(
                &gateway, &shared, body, &cookies,
            ))
        })
    });
    let xml = idp
        .response_for(&USERS[0], None, SystemClock.now())
        .unwrap();
    g.bench_function("verify_only", |b| {
        b.iter(|| {
            let v = gateway.validator(&trust, &SystemClock, None, false);
            v.validate(black_box(&xml)).unwrap()
        })
    });
    g.finish();
}
