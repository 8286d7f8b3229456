use super::*;
use crate::session::CookieSettings;

fn gw() -> GatewayCookies {
    GatewayCookies::new("samlgate_session")
}

fn replaced(text: &str) -> UpstreamCookie {
    UpstreamCookie::Replace(HeaderValue::from_str(text).unwrap())
}

#[test]
fn gateway_names_in_every_spelling() {
    for configured in [
        "samlgate_session",
        "__Host-samlgate_session",
        "__Secure-samlgate_session",
    ] {
        let g = GatewayCookies::new(configured);
        for name in [
            "samlgate_session",
            "samlgate_session_1",
            "samlgate_session_12",
            "samlgate_session_login_0123abcd",
            "SAMLGATE_SESSION",
            "Samlgate_Session_1",
            "__Host-samlgate_session",
            "__host-samlgate_session",
            "__HOST-SAMLGATE_SESSION_2",
            "__Secure-samlgate_session_login_x",
            "__secure-samlgate_session",
            "samlgate_session_",
        ] {
            assert!(g.is_gateway_name(name.as_bytes()), "{configured}: {name}");
        }
        for name in [
            "samlgate_sessionx",
            "samlgate_session1",
            "samlgate_sessio",
            "xsamlgate_session",
            "samlgate",
            "",
            "__Host-",
            "__Host-other",
            "__Host-__Secure-samlgate_session",
            "JSESSIONID",
        ] {
            assert!(!g.is_gateway_name(name.as_bytes()), "{configured}: {name}");
        }
    }
    // A name that is only a prefix keeps its whole text as the base.
    let odd = GatewayCookies::new("__Host-");
    assert!(odd.is_gateway_name(b"__Host-") && !odd.is_gateway_name(b"other"));
}

#[test]
fn no_gateway_cookie_leaves_the_header_alone() {
    let g = gw();
    for values in [
        &[][..],
        &[&b"a=1; b=2"[..]][..],
        &[&b"a=1;b=2;;  ;"[..], &b"samlgate_sessionx=1"[..]][..],
        &[&b"other=samlgate_session"[..]][..],
        &[&b"\xff\xfe=1"[..]][..],
    ] {
        assert_eq!(g.upstream_cookie_values(values), UpstreamCookie::Unchanged);
    }
}

#[test]
fn gateway_cookies_are_removed_and_the_rest_kept_byte_for_byte() {
    let g = gw();
    let header = b"a=1; samlgate_session=1.xyz; b=\"q w\"; samlgate_session_1=abc;c=%41==;  d = 4 ";
    assert_eq!(
        g.upstream_cookie_values(&[header]),
        replaced("a=1; b=\"q w\"; c=%41==; d = 4")
    );
    // Several Cookie headers (HTTP/2 splits them) become one, in order.
    let values: [&[u8]; 3] = [
        b"a=1",
        b"samlgate_session=x",
        b"b=2; __Host-samlgate_session_login_tok=z; c",
    ];
    assert_eq!(g.upstream_cookie_values(&values), replaced("a=1; b=2; c"));
    // Bytes that are not UTF-8 (obs-text) survive as they were.
    let latin: [&[u8]; 1] = [b"samlgate_session=1; n=caf\xe9"];
    let UpstreamCookie::Replace(v) = g.upstream_cookie_values(&latin) else {
        panic!("expected a replacement")
    };
    assert_eq!(v.as_bytes(), b"n=caf\xe9");
}

#[test]
fn only_gateway_cookies_remove_the_header() {
    let g = gw();
    let values: [&[u8]; 2] = [
        b"samlgate_session=2.aaa; samlgate_session_1=bbb",
        b" ; samlgate_session_login_t=c;",
    ];
    assert_eq!(g.upstream_cookie_values(&values), UpstreamCookie::Remove);
    // A nameless cookie whose text is a gateway name goes too.
    assert_eq!(
        g.upstream_cookie_values(&[&b"samlgate_session"[..]]),
        UpstreamCookie::Remove
    );
}

#[test]
fn header_map_is_rewritten_in_place() {
    let g = gw();
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, HeaderValue::from_static("a=1; samlgate_session=s"));
    headers.append(
        COOKIE,
        HeaderValue::from_static("samlgate_session_1=t; b=2"),
    );
    headers.append("x-other", HeaderValue::from_static("samlgate_session=keep"));
    g.strip_request(&mut headers);
    let cookies: Vec<&[u8]> = headers
        .get_all(COOKIE)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    assert_eq!(cookies, [&b"a=1; b=2"[..]]);
    assert_eq!(headers.get("x-other").unwrap(), "samlgate_session=keep");

    let mut only = HeaderMap::new();
    only.append(COOKIE, HeaderValue::from_static("samlgate_session=s"));
    g.strip_request(&mut only);
    assert!(only.get(COOKIE).is_none());

    let mut untouched = HeaderMap::new();
    untouched.append(COOKIE, HeaderValue::from_static("a=1;b=2"));
    assert_eq!(g.upstream_cookie(&untouched), UpstreamCookie::Unchanged);
    g.strip_request(&mut untouched);
    assert_eq!(untouched.get(COOKIE).unwrap(), "a=1;b=2");
}

#[test]
fn backend_set_cookie_naming_a_gateway_cookie_is_recognized() {
    let g = gw();
    for value in [
        "samlgate_session=x",
        "samlgate_session=1.abc; Path=/; HttpOnly",
        "SAMLGATE_SESSION=x; Domain=example.com",
        " samlgate_session = x",
        "__Secure-samlgate_session_2=y; Secure",
        "__Host-SAMLGATE_session=y; Secure; Path=/",
        "samlgate_session_login_abc=; Max-Age=0",
        "samlgate_session",
        "samlgate_session; Path=/",
        "foo=1, samlgate_session=evil",
        "foo=1; Path=/,samlgate_session_1=evil; Path=/",
    ] {
        assert!(g.is_gateway_set_cookie(value.as_bytes()), "{value}");
    }
    for value in [
        "foo=bar",
        "foo=bar; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Path=/",
        "other=samlgate_session",
        "samlgate_sessionid=1",
        "foo=1; Comment=samlgate_session",
        "",
    ] {
        assert!(!g.is_gateway_set_cookie(value.as_bytes()), "{value}");
    }
}

/// Every cookie the gateway itself writes is recognized, both ways.
#[test]
fn the_gateways_own_cookies_are_all_caught() {
    for (name, secure) in [
        ("samlgate_session", false),
        ("__Host-samlgate_session", true),
    ] {
        let settings = CookieSettings {
            name: name.into(),
            max_bytes: 16 * 1024,
            secure,
            acs_path: "/saml/acs".into(),
            slo_path: "/saml/logout".into(),
        };
        let g = GatewayCookies::new(name);
        let mut written = settings.clear_session();
        written.push(settings.clear_login("0123456789abcdef"));
        written.push(settings.clear_logout("0123456789abcdef"));
        assert!(written.len() >= 3);
        let mut headers = HeaderMap::new();
        for set_cookie in &written {
            assert!(
                g.is_gateway_set_cookie(set_cookie.as_bytes()),
                "{set_cookie}"
            );
            headers.append(SET_COOKIE, HeaderValue::from_str(set_cookie).unwrap());
        }
        // The browser's Cookie header for them (values filled in).
        let jar: Vec<String> = written
            .iter()
            .map(|c| format!("{}v", c.split(';').next().unwrap()))
            .collect();
        let jar = jar.join("; ");
        assert_eq!(
            g.upstream_cookie_values(&[jar.as_bytes()]),
            UpstreamCookie::Remove
        );
    }
}

#[test]
fn response_set_cookies_naming_gateway_cookies_are_dropped() {
    let g = gw();
    let mut headers = HeaderMap::new();
    for v in [
        "a=1; Path=/",
        "samlgate_session=planted; Path=/; HttpOnly",
        "b=2, samlgate_session_1=x",
        "c=3; Expires=Wed, 09 Jun 2021 10:18:14 GMT",
        "__Host-SAMLGATE_SESSION=y; Secure; Path=/",
    ] {
        headers.append(SET_COOKIE, HeaderValue::from_static(v));
    }
    headers.append("x-other", HeaderValue::from_static("samlgate_session=keep"));
    g.strip_response(&mut headers);
    let kept: Vec<&str> = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        ["a=1; Path=/", "c=3; Expires=Wed, 09 Jun 2021 10:18:14 GMT"]
    );
    assert!(headers.get("x-other").is_some());

    let mut clean = HeaderMap::new();
    clean.append(SET_COOKIE, HeaderValue::from_static("a=1"));
    clean.append(SET_COOKIE, HeaderValue::from_static("b=2"));
    g.strip_response(&mut clean);
    assert_eq!(clean.get_all(SET_COOKIE).iter().count(), 2);
}
