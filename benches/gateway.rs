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
    }
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::new(&[[9; 32]]).unwrap();
    let settings = CookieSettings {
        name: "samlgate_session".into(),
        max_bytes: 16 * 1024,
        secure: true,
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
    let cache: moka::sync::Cache<String, std::sync::Arc<Session>> = moka::sync::Cache::new(100_000);
    let cookies = Cookies::parse(std::iter::once(cookie_header.as_bytes()));
    let sealed = settings.sealed_session(&cookies).unwrap();
    cache.insert(sealed.clone(), std::sync::Arc::new(session(10)));

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
            cache.get(&sealed).unwrap()
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

criterion_group!(benches, bench);
criterion_main!(benches);
