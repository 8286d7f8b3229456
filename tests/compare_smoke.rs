//! The comparison's setup, checked: `loadtest/compare/compare.sh --check`
//! sets up, from scratch on loopback, nginx, samlgate, Apache with
//! mod_auth_mellon and Apache with Shibboleth SP 3 (mod_shib + shibd) in
//! front of one nginx backend, all trusting one IdP key, and checks each
//! SP: an anonymous GET does not reach the backend, a signed Response is
//! accepted at its ACS, the session it sets reaches the backend as alice,
//! and the same Response replayed or a Response tampered after signing is
//! refused. No load: that is `compare.sh` without `--check`.
//!
//! Needs Debian's apache2-bin, libapache2-mod-auth-mellon,
//! libapache2-mod-shib and nginx (scripts/deps.sh); fails without them.

use std::process::Command;

#[test]
fn mellon_shibboleth_and_samlgate_take_the_same_idp_and_refuse_forgeries() {
    let root = env!("CARGO_MANIFEST_DIR");
    // Apache's workers run as www-data and read the SPs' files here, so
    // not under the clone (which may sit in a directory closed to them).
    let out = std::env::temp_dir().join(format!("samlgate-compare-smoke-{}", std::process::id()));
    let run = Command::new("bash")
        .arg(format!("{root}/loadtest/compare/compare.sh"))
        .arg("--check")
        .env("SAMLGATE", env!("CARGO_BIN_EXE_samlgate"))
        .env("OUT", &out)
        // Away from compare.sh's default ports, which a load run may hold.
        .env("PORT_BASE", "18400")
        .output()
        .expect("bash runs compare.sh");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "compare.sh --check failed:\n{stdout}\n{stderr}"
    );
    // nginx's check, then five per SP (anonymous, login, identity, replay,
    // tampered) for samlgate, mellon, mellon-noca and shib.
    assert!(
        stdout.lines().any(|l| l == "21 passed, 0 failed"),
        "unexpected summary:\n{stdout}\n{stderr}"
    );
    for line in [
        "ok   mellon: tampered Response refused",
        "ok   shib: tampered Response refused",
        "ok   samlgate: tampered Response refused",
        "ok   mellon: GET with the session reached the backend as alice",
        "ok   shib: GET with the session reached the backend as alice",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
    // Kept when the test fails (the servers' logs are there).
    let _ = std::fs::remove_dir_all(&out);
}
