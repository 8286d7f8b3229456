//! The pages the gateway answers itself: errors (HTML, or JSON when the
//! client asked for it), the IdP discovery page.
//!
//! Error pages say what happened in words and give the reason code and a
//! request ID that the log line also carries; they never show keys,
//! certificates, parser details or the Response itself.

use samlgate_saml::xml_escape;

use crate::reason::GatewayReason;

/// A response body with its content type.
#[derive(Debug, Clone)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// `text/html; charset=utf-8` or `application/json`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// True when the client prefers JSON (API clients, XHR).
pub fn wants_json(accept: Option<&str>) -> bool {
    let has = |a: &str, needle: &str| {
        a.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    accept.is_some_and(|a| has(a, "application/json") && !has(a, "text/html"))
}

/// What a hint code tells the user and the operator to change.
fn hint_text(hint: &str) -> &'static str {
    match hint {
        crate::acs::HINT_LOGIN_COOKIE_OVER_HTTP => {
            "This gateway is served over plain HTTP and the identity provider is on another site, so the browser did not send back the cookie that ties the sign-in to this browser. Serve the gateway over HTTPS, or set an https:// sp.base_url behind a TLS load balancer."
        }
        _ => "",
    }
}

/// An error page for `reason`, with an optional hint code saying what to
/// change.
pub fn error(reason: GatewayReason, request_id: &str, json: bool, hint: Option<&str>) -> Page {
    let status = reason.status();
    let code = reason.code();
    if json {
        let mut body = serde_json::json!({
            "error": code,
            "message": reason.explanation(),
            "request_id": request_id,
        });
        if let (Some(hint), Some(fields)) = (hint, body.as_object_mut()) {
            fields.insert("hint".into(), serde_json::Value::from(hint));
            fields.insert("remedy".into(), serde_json::Value::from(hint_text(hint)));
        }
        return Page {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        };
    }
    let hint_html = hint.map_or(String::new(), |h| {
        format!(
            "<p>{}</p><p>Hint: <code>{}</code></p>",
            xml_escape(hint_text(h)),
            xml_escape(h)
        )
    });
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>{status} — sign-in problem</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto;color:#222}}code{{background:#eee;padding:0 .3em}}</style>\
</head><body><h1>{}</h1><p>{}</p>{hint_html}\
<p>Reason: <code>{}</code><br>Request ID: <code>{}</code></p>\
<p>Give the request ID to your administrator if the problem persists.</p></body></html>",
        status_title(status),
        xml_escape(reason.explanation()),
        xml_escape(code),
        xml_escape(request_id)
    );
    Page {
        status,
        content_type: "text/html; charset=utf-8",
        body: body.into_bytes(),
    }
}

fn status_title(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Sign-in required",
        403 => "Access denied",
        404 => "Not found",
        405 => "Method not allowed",
        413 => "Request too large",
        500 => "Internal error",
        502 => "Bad gateway",
        503 => "Service unavailable",
        504 => "Gateway timeout",
        _ => "Error",
    }
}

/// The discovery page: several IdPs and the route names none.
pub fn discovery(choices: &[(String, String)], return_to: &str) -> Page {
    let mut items = String::new();
    for (name, label) in choices {
        let href = format!(
            "?samlgate_idp={}",
            form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        items.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>",
            xml_escape(&href),
            xml_escape(label)
        ));
    }
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Choose your sign-in</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto}}</style></head>\
<body><h1>Choose where to sign in</h1><p>To continue to <code>{}</code>:</p><ul>{items}</ul></body></html>",
        xml_escape(return_to)
    );
    Page {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: body.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_when_asked_and_html_escaped() {
        assert!(wants_json(Some("application/json")));
        assert!(!wants_json(Some(
            "text/html,application/xhtml+xml,application/json;q=0.9"
        )));
        assert!(!wants_json(None));
        let replayed = GatewayReason::Engine(samlgate_saml::Reason::Replayed);
        let p = error(replayed, "r<1>", true, None);
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["error"], "replayed");
        assert_eq!(p.status, 403);
        let h = error(replayed, "r<1>", false, None);
        let text = String::from_utf8(h.body).unwrap();
        assert!(text.contains("r&lt;1&gt;") && !text.contains("r<1>"));
    }
}
