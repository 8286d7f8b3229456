//! The pages the gateway answers itself: errors (HTML, or JSON when the
//! client asked for it), the IdP discovery page.
//!
//! Error pages say what happened in words and give the reason code and a
//! request ID that the log line also carries; they never show keys,
//! certificates, parser details or the Response itself.

use samlgate_saml::xml_escape;

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
    accept.is_some_and(|a| {
        let a = a.to_ascii_lowercase();
        a.contains("application/json") && !a.contains("text/html")
    })
}

/// A human sentence per reason; the codes themselves are the contract.
fn explain(reason: &str) -> &'static str {
    match reason {
        "replayed" => "This sign-in response was already used. Please sign in again.",
        "expired" | "not_yet_valid" => {
            "The sign-in response is outside its validity period. Check that the clocks of the identity provider and this server agree, then sign in again."
        }
        "unknown_issuer" => "The sign-in response comes from an identity provider that this service does not trust.",
        "audience_mismatch" | "destination_mismatch" | "recipient_mismatch" => {
            "The sign-in response was meant for another service."
        }
        "in_response_to_mismatch" | "relay_state_invalid" => {
            "The sign-in response does not match a sign-in started in this browser. Please start again from the application."
        }
        "too_large" => "The request is too large.",
        "malformed_input" | "malformed_xml" | "schema_violation" => "The sign-in response could not be read.",
        "session_too_large" => {
            "Your account carries more information (for example group memberships) than fits in a browser session. Ask your administrator to reduce the attributes released to this service."
        }
        "access_denied" => "You are signed in, but not allowed to use this application.",
        "invalid_attribute_value" => "Your account data contains characters that cannot be passed on to the application.",
        "unauthenticated" => "Authentication is required.",
        "upstream_unavailable" => "The application behind this gateway is not reachable right now.",
        "upstream_timeout" => "The application behind this gateway did not answer in time.",
        "not_found" => "There is nothing at this address.",
        "method_not_allowed" => "This address does not accept that method.",
        "idp_unavailable" => "The identity provider is not available (its metadata could not be loaded).",
        "store_unavailable" => "The sign-in could not be checked right now. Please try again.",
        _ => "The sign-in response was rejected.",
    }
}

/// An error page for `reason`.
pub fn error(status: u16, reason: &str, request_id: &str, json: bool) -> Page {
    if json {
        let body = serde_json::json!({
            "error": reason,
            "message": explain(reason),
            "request_id": request_id,
        });
        return Page {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        };
    }
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>{status} — sign-in problem</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto;color:#222}}code{{background:#eee;padding:0 .3em}}</style>\
</head><body><h1>{}</h1><p>{}</p>\
<p>Reason: <code>{}</code><br>Request ID: <code>{}</code></p>\
<p>Give the request ID to your administrator if the problem persists.</p></body></html>",
        status_title(status),
        xml_escape(explain(reason)),
        xml_escape(reason),
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
        let p = error(403, "replayed", "r<1>", true);
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["error"], "replayed");
        let h = error(403, "replayed", "r<1>", false);
        let text = String::from_utf8(h.body).unwrap();
        assert!(text.contains("r&lt;1&gt;") && !text.contains("r<1>"));
    }
}
