//! The browsers and HTTP calls of the cluster tests. Nothing follows
//! redirects by itself: every hop is made explicitly, so that each
//! response's `Set-Cookie` headers can be checked (a store error must
//! never clear a cookie).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::blocking::{Client, Response};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::Value;

use super::fleet::{Fleet, Node};
use crate::gateway::form_fields;

/// A client without cookies that shows each redirect.
pub(crate) fn plain() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) fn set_cookies(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `Cookie` header a browser would send after these `Set-Cookie`s
/// (the ones that set a value).
pub(crate) fn cookie_header(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the ACS answered.
pub(crate) struct AcsReply {
    pub(crate) status: u16,
    /// The reason code of a refusal ("" when accepted).
    pub(crate) error: String,
    pub(crate) set_cookies: Vec<String>,
}

impl AcsReply {
    pub(crate) fn accepted(&self) -> bool {
        self.status == 303 && self.error.is_empty()
    }

    /// The session cookie(s) this answer set.
    pub(crate) fn cookie(&self) -> String {
        cookie_header(&self.set_cookies)
    }
}

/// Posts an (unsolicited) SAMLResponse to `node`'s ACS, as JSON.
pub(crate) fn post_acs(client: &Client, node: &Node, saml_response_b64: &str) -> AcsReply {
    let resp = client
        .post(node.url("/saml/acs"))
        .header("accept", "application/json")
        .form(&[("SAMLResponse", saml_response_b64)])
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let set_cookies = set_cookies(&resp);
    let error = if status == 303 {
        String::new()
    } else {
        let body: Value = resp.json().unwrap_or_default();
        body["error"]
            .as_str()
            .unwrap_or("(no JSON error)")
            .to_owned()
    };
    AcsReply {
        status,
        error,
        set_cookies,
    }
}

/// A request to a protected path with `cookie`, as an API client would
/// (no `Accept: text/html`): 200 when the session is honoured, 401 when
/// not. Also the `Set-Cookie` headers of the answer.
pub(crate) fn probe(node: &Node, cookie: &str) -> (u16, Vec<String>) {
    let resp = plain()
        .get(node.url("/whoami"))
        .header("cookie", cookie)
        .send()
        .unwrap();
    (resp.status().as_u16(), set_cookies(&resp))
}

pub(crate) fn status(node: &Node, cookie: &str) -> u16 {
    probe(node, cookie).0
}

/// A browser: a cookie jar, redirects shown (not followed).
pub(crate) struct Browser {
    pub(crate) client: Client,
    jar: Arc<Jar>,
}

/// What a login left behind.
pub(crate) struct Login {
    /// The SessionIndex of the assertion.
    pub(crate) session_index: String,
    /// The ACS form the IdP made the browser post.
    pub(crate) acs_fields: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new() -> Browser {
        let jar = Arc::new(Jar::default());
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Browser { client, jar }
    }

    /// The `Cookie` header this browser sends to `node`.
    pub(crate) fn cookies_for(&self, node: &Node) -> String {
        self.jar
            .cookies(&reqwest::Url::parse(&node.url("/")).unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// A page visit (navigation: `Accept: text/html`).
    pub(crate) fn visit(&self, url: &str) -> Response {
        self.client
            .get(url)
            .header("accept", "text/html")
            .send()
            .unwrap()
    }

    /// An API call with this browser's cookies: (status, Set-Cookie).
    pub(crate) fn probe(&self, node: &Node) -> (u16, Vec<String>) {
        let resp = self.client.get(node.url("/whoami")).send().unwrap();
        (resp.status().as_u16(), set_cookies(&resp))
    }

    /// Up to the IdP's answer: the application URL on `node` sends the
    /// browser to the IdP with an AuthnRequest; the user signs in as
    /// `user`; the IdP answers with the auto-posting ACS form.
    pub(crate) fn start_login(
        &self,
        fleet: &Fleet,
        node: &Node,
        user: &str,
    ) -> Vec<(String, String)> {
        let first = self.visit(&node.url("/app"));
        assert!(
            first.status().is_redirection(),
            "{}: {:?}",
            node.name,
            first
        );
        let location = location(&first);
        assert!(
            location.starts_with(&format!("http://127.0.0.1:{}/sso", fleet.idp_port)),
            "{location}"
        );
        let page = self.visit(&location);
        assert_eq!(page.status(), 200);
        let (_, mut fields) = form_fields(&page.text().unwrap());
        fields.push(("username".into(), user.into()));
        fields.push(("password".into(), user.into()));
        let posted = self
            .client
            .post(format!("http://127.0.0.1:{}/sso", fleet.idp_port))
            .form(&fields)
            .send()
            .unwrap();
        assert_eq!(posted.status(), 200);
        let (action, acs_fields) = form_fields(&posted.text().unwrap());
        assert_eq!(action, format!("{}/saml/acs", fleet.base_url));
        acs_fields
    }

    /// Posts the ACS form to `node` (the load balancer chose it).
    pub(crate) fn post_acs_form(&self, node: &Node, fields: &[(String, String)]) -> Response {
        self.client
            .post(node.url("/saml/acs"))
            .header("accept", "text/html")
            .form(fields)
            .send()
            .unwrap()
    }

    /// A whole SP-initiated login on `node` as `user`.
    pub(crate) fn login(&self, fleet: &Fleet, node: &Node, user: &str) -> Login {
        let acs_fields = self.start_login(fleet, node, user);
        let landed = self.post_acs_form(node, &acs_fields);
        assert_eq!(
            landed.status(),
            303,
            "{}: {}",
            node.name,
            landed.text().unwrap()
        );
        assert_eq!(self.probe(node).0, 200);
        let response = &acs_fields
            .iter()
            .find(|(k, _)| k == "SAMLResponse")
            .unwrap()
            .1;
        Login {
            session_index: session_index_of(response),
            acs_fields,
        }
    }
}

pub(crate) fn location(resp: &Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location: {resp:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The SessionIndex of a base64 Response.
pub(crate) fn session_index_of(b64: &str) -> String {
    let xml = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let xml = String::from_utf8(xml).unwrap();
    let at = xml.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
    xml[at..at + xml[at..].find('"').unwrap()].to_owned()
}
