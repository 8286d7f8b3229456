//! `samlgate demo`, the README's first command: one process with the
//! gateway, the demo IdP and the echo backend. Scripted as the README says:
//! open the URL, POST username/password to the IdP's login URL, post the
//! signed Response on to the ACS, land on the backend with the headers.

mod gateway;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway::{browser, echoed_headers, form_fields, free_port, header, plain_client};

struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn demo_signs_alice_in_through_the_demo_idp() {
    let (port, admin, idp, backend) = (free_port(), free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_samlgate"))
        .arg("demo")
        .args([
            "--port",
            &port.to_string(),
            "--admin-port",
            &admin.to_string(),
        ])
        .args([
            "--idp-port",
            &idp.to_string(),
            "--backend-port",
            &backend.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _demo = Demo(child);
    let ready = format!("http://127.0.0.1:{admin}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    while plain_client()
        .get(&ready)
        .send()
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "demo not ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    let client = browser();
    let base = format!("http://127.0.0.1:{port}");
    let page = client.get(format!("{base}/")).send().unwrap();
    assert!(page
        .url()
        .as_str()
        .starts_with(&format!("http://127.0.0.1:{idp}/sso")));
    let (action, mut fields) = form_fields(&page.text().unwrap());
    assert_eq!(action, "/sso");
    // A wrong password shows the form again.
    let mut wrong = fields.clone();
    wrong.extend([
        ("username".into(), "alice".into()),
        ("password".into(), "bob".into()),
    ]);
    let again = client
        .post(format!("http://127.0.0.1:{idp}/sso"))
        .form(&wrong)
        .send()
        .unwrap();
    assert!(again.text().unwrap().contains("wrong password"));

    fields.extend([
        ("username".into(), "alice".into()),
        ("password".into(), "alice".into()),
    ]);
    let posted = client
        .post(format!("http://127.0.0.1:{idp}/sso"))
        .form(&fields)
        .send()
        .unwrap();
    let (acs, acs_fields) = form_fields(&posted.text().unwrap());
    assert_eq!(acs, format!("{base}/saml/acs"));
    let landed = client.post(acs).form(&acs_fields).send().unwrap();
    assert_eq!(landed.status(), 200);
    assert!(landed.text().unwrap().contains("Echo backend"));

    let echo: serde_json::Value = client
        .get(format!("{base}/"))
        .header("accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let headers = echoed_headers(&echo);
    assert_eq!(header(&headers, "x-remote-user"), ["alice"]);
    assert_eq!(header(&headers, "x-remote-email"), ["alice@example.org"]);
    assert_eq!(header(&headers, "x-remote-groups"), ["staff;admins"]);
    assert_eq!(header(&headers, "x-remote-idp"), ["demo"]);
    // alice may see the admin-only page.
    let admin_page = client.get(format!("{base}/admin/")).send().unwrap();
    assert_eq!(admin_page.status(), 200);
    // A sign-out link followed from another site gets a confirmation page,
    // not a logout.
    let cross_site = client
        .get(format!("{base}/saml/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .unwrap();
    assert_eq!(cross_site.status(), 200);
    assert!(cross_site.text().unwrap().contains("Sign out?"));
    let still = client.get(format!("{base}/admin/")).send().unwrap();
    assert_eq!(still.status(), 200, "still signed in");
    // Signing out from the application (same origin): SAML Single Logout
    // through the demo IdP (signed LogoutRequest, its signed
    // LogoutResponse back) to the signed-out page.
    let out = client
        .get(format!("{base}/saml/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(
        out.url()
            .as_str()
            .starts_with(&format!("{base}/saml/logout")),
        "{}",
        out.url()
    );
    let page = out.text().unwrap();
    assert!(page.contains("You are signed out"), "{page}");
    assert!(!page.contains("did not confirm"), "{page}");
    // The session is gone here and at the IdP: back to its login form.
    let again = client.get(format!("{base}/")).send().unwrap();
    assert!(
        again
            .url()
            .as_str()
            .starts_with(&format!("http://127.0.0.1:{idp}/sso")),
        "{}",
        again.url()
    );
    assert!(
        again.text().unwrap().contains("password"),
        "the IdP asks to sign in again"
    );
}
