//! Runs corpus cases (case.json + input) against the built `samlgate
//! verify`, the way outside harnesses call it. Shared by the conformance
//! and attack tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

pub(crate) fn case_dirs(corpus: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(corpus);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Runs one case; returns a failure description or None.
pub(crate) fn run_case(dir: &Path) -> Option<String> {
    let case: Value = serde_json::from_slice(&std::fs::read(dir.join("case.json")).ok()?).ok()?;
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let args: Vec<String> = case["args"]
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let input = case["input"].as_str()?;
    let use_stdin = case["stdin"].as_bool().unwrap_or(false);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_samlgate"));
    cmd.current_dir(dir).arg("verify").args(&args);
    cmd.arg(if use_stdin { "-" } else { input });
    cmd.stdin(if use_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn samlgate");
    if use_stdin {
        let data = std::fs::read(dir.join(input)).expect("read input");
        let mut stdin = child.stdin.take().expect("stdin");
        // A refused oversized input may close stdin early.
        let _ = stdin.write_all(&data);
    }
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Some(format!(
                "{name}: stdout is not one JSON object: {stdout:?} stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let valid = got["valid"].as_bool() == Some(true);
    let want_code = if valid { 0 } else { 1 };
    if out.status.code() != Some(want_code) {
        return Some(format!(
            "{name}: exit code {:?} for valid={valid}",
            out.status.code()
        ));
    }
    let expect = &case["expect"];
    let want_valid = expect["valid"].as_bool() == Some(true);
    if valid != want_valid {
        return Some(format!("{name}: expected valid={want_valid}, got {got}"));
    }
    if want_valid {
        for key in [
            "name_id",
            "issuer",
            "name_id_format",
            "session_index",
            "assertion_id",
        ] {
            if let Some(want) = expect.get(key) {
                if &got[key] != want {
                    return Some(format!("{name}: {key}: expected {want}, got {}", got[key]));
                }
            }
        }
        if let Some(attrs) = expect["attributes"].as_object() {
            for (k, want) in attrs {
                if &got["attributes"][k] != want {
                    return Some(format!(
                        "{name}: attribute {k}: expected {want}, got {}",
                        got["attributes"][k]
                    ));
                }
            }
        }
    } else if let Some(reasons) = expect["reasons"].as_array() {
        if !reasons.is_empty() && !reasons.contains(&got["reason"]) {
            return Some(format!(
                "{name}: reason {} not in {reasons:?}",
                got["reason"]
            ));
        }
    }
    None
}

pub(crate) fn run_corpus(corpus: &str, minimum: usize) {
    let dirs = case_dirs(corpus);
    assert!(
        dirs.len() >= minimum,
        "{corpus}: only {} cases found",
        dirs.len()
    );
    let failures: Vec<String> = dirs.iter().filter_map(|d| run_case(d)).collect();
    assert!(
        failures.is_empty(),
        "{corpus}: {} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
    eprintln!("{corpus}: {} cases passed", dirs.len());
}
