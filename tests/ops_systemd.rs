//! The systemd unit in `config/` is one systemd accepts without a warning,
//! hardened under an exposure threshold, and its low-ports drop-in adds
//! exactly the capability it is for. Needs `systemd-analyze` (Debian
//! `systemd`; `scripts/deps.sh` installs it): the test fails without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNIT: &str = include_str!("../config/samlgate.service");
const LOW_PORTS: &str = include_str!("../config/samlgate.service.d/low-ports.conf");
/// Where the unit expects the binary (its install instructions put it there).
const INSTALLED_BINARY: &str = "/usr/local/bin/samlgate";
/// `systemd-analyze security` exposure, in tenths (10.0 = fully exposed).
/// The unit measures 1.2 (systemd 252, Debian 12); the threshold leaves a
/// little room and fails on any real loosening.
const EXPOSURE_THRESHOLD: &str = "15";

fn analyze(args: &[&str], dir: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .current_dir(dir)
        // Drop-ins are looked up beside the unit as well.
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .output()
        .expect("systemd-analyze (apt-get install systemd; scripts/deps.sh does)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory with the unit, its `ExecStart` pointed at the binary this
/// test run built (`verify` checks that the command exists).
fn unit_dir(name: &str, unit: &str, drop_in: Option<&str>) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("systemd-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(unit.contains(INSTALLED_BINARY));
    let unit = unit.replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_samlgate"));
    std::fs::write(dir.join("samlgate.service"), unit).unwrap();
    if let Some(conf) = drop_in {
        let d = dir.join("samlgate.service.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("low-ports.conf"), conf).unwrap();
    }
    dir
}

/// `systemd-analyze verify` exits 0 even for unknown keys and bad values
/// (it only warns), so a clean result is exit 0 and no output at all.
fn verify_clean(dir: &Path) -> Result<(), String> {
    let out = analyze(&["verify", "--man=no", "./samlgate.service"], dir);
    let said = text(&out);
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

#[test]
fn the_unit_verifies_without_a_warning() {
    let dir = unit_dir("plain", UNIT, None);
    verify_clean(&dir).unwrap_or_else(|e| panic!("systemd-analyze verify:\n{e}"));
    let dir = unit_dir("low-ports", UNIT, Some(LOW_PORTS));
    verify_clean(&dir).unwrap_or_else(|e| panic!("verify with low-ports.conf:\n{e}"));
}

#[test]
fn a_misspelt_directive_is_caught() {
    // The check above can fail: a typo in a key and in a value both show.
    let typo = UNIT.replace("ProtectSystem=strict", "ProtectSytem=strict");
    let said = verify_clean(&unit_dir("typo-key", &typo, None)).unwrap_err();
    assert!(said.contains("Unknown key"), "{said}");
    let bad_value = UNIT.replace("ProtectSystem=strict", "ProtectSystem=strictly");
    let said = verify_clean(&unit_dir("typo-value", &bad_value, None)).unwrap_err();
    assert!(
        said.contains("ProtectSystem") || said.contains("protect system"),
        "{said}"
    );
}

#[test]
fn the_unit_is_hardened_and_the_drop_in_adds_only_bind_service() {
    let security = |dir: &Path| {
        analyze(
            &[
                "security",
                "--offline=yes",
                "--no-pager",
                &format!("--threshold={EXPOSURE_THRESHOLD}"),
                "./samlgate.service",
            ],
            dir,
        )
    };
    let plain = security(&unit_dir("sec-plain", UNIT, None));
    let said = text(&plain);
    assert!(plain.status.success(), "exposure over threshold:\n{said}");
    // No capability at all without the drop-in.
    assert!(
        said.lines()
            .any(|l| l.starts_with('✓') && l.contains("CAP_NET_(BIND_SERVICE")),
        "{said}"
    );
    let low = security(&unit_dir("sec-low", UNIT, Some(LOW_PORTS)));
    let said_low = text(&low);
    assert!(low.status.success(), "exposure over threshold:\n{said_low}");
    assert!(
        said_low
            .lines()
            .any(|l| l.starts_with('✗') && l.contains("CAP_NET_(BIND_SERVICE")),
        "the drop-in grants CAP_NET_BIND_SERVICE:\n{said_low}"
    );
    // Every other capability stays out of the bounding set.
    let granted: Vec<&str> = said_low
        .lines()
        .filter(|l| l.starts_with('✗') && l.contains("CapabilityBoundingSet"))
        .collect();
    assert_eq!(granted.len(), 1, "{granted:#?}");

    // And the threshold bites: the same unit without its sandbox is refused.
    let loose: String = UNIT
        .lines()
        .filter(|l| {
            !l.starts_with("Protect")
                && !l.starts_with("Private")
                && !l.starts_with("SystemCall")
                && !l.starts_with("Restrict")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let out = security(&unit_dir("sec-loose", &loose, None));
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn the_stop_timeout_covers_the_drain() {
    // systemd must not SIGKILL a drain in progress: TimeoutStopSec above
    // the documented defaults of shutdown_delay_seconds +
    // shutdown_grace_seconds, and SIGHUP is the reload.
    let value = |key: &str| {
        UNIT.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_owned()
    };
    let stop: u64 = value("TimeoutStopSec").parse().unwrap();
    let example = include_str!("../config/samlgate.example.toml");
    let setting = |key: &str, default: u64| {
        example
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.split('#').next()?.trim().parse().ok())?
            })
            .unwrap_or(default)
    };
    let drain = setting("shutdown_delay_seconds", 5) + setting("shutdown_grace_seconds", 10);
    assert!(stop > drain, "TimeoutStopSec={stop} <= {drain}");
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value("NoNewPrivileges"), "yes");
    assert_eq!(value("ProtectSystem"), "strict");
    assert_eq!(value("ReadOnlyPaths"), "/etc/samlgate");
}
