//! Every ```` ```toml ```` block under `docs/` is samlgate configuration that
//! `Config::from_toml` accepts, so an operator can paste it.
//!
//! A block with both `[sp]` and `[session]` is a whole file and is checked
//! as written. Any other block is a fragment: it is laid over a minimal
//! valid configuration (`BASE`; tables merge key by key, a fragment's
//! `[[idp]]` or `[[route]]` list replaces the base's list) and the result
//! is checked, so a fragment's keys, values and cross-references (a route's
//! `idp` names an `[[idp]]` of the same block or `corp`) must all be valid.
//! Paths need not exist: `from_toml` does not open files.
//!
//! TOML that is not samlgate configuration, or a deliberately wrong
//! setting, goes in a ```` ```text ```` block.

use std::path::{Path, PathBuf};

use samlgate_gateway::config::Config;

/// The smallest valid configuration: what a fragment is laid over.
const BASE: &str = r#"
[sp]
entity_id = "https://sso.example.com/saml/metadata"
base_url = "https://sso.example.com"

[[idp]]
name = "corp"
metadata_file = "/etc/samlgate/idp-metadata.xml"

[[route]]
path_prefix = "/"
upstreams = ["127.0.0.1:8000"]

[session]
keys_file = "/etc/samlgate/session-keys"
"#;

/// One ```toml block: where it is and what it says.
struct Block {
    file: PathBuf,
    line: usize,
    text: String,
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

fn toml_blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, bool)> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut open {
            None if fence.starts_with("```") => {
                let is_toml = fence.trim_start_matches('`').trim() == "toml";
                open = Some((i + 1, String::new(), is_toml));
            }
            Some((start, body, is_toml)) if fence.starts_with("```") => {
                if *is_toml {
                    blocks.push(Block {
                        file: file.to_owned(),
                        line: *start,
                        text: std::mem::take(body),
                    });
                }
                open = None;
            }
            Some((_, body, _)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(open.is_none(), "{}: unclosed code block", file.display());
    blocks
}

/// `over` laid on `base`: tables merge, everything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The configuration a block stands for, or why it is not one.
fn check(block: &Block) -> Result<(), String> {
    let parsed: toml::Table = block.text.parse().map_err(|e| format!("not TOML: {e}"))?;
    let whole = parsed.contains_key("sp") && parsed.contains_key("session");
    let text = if whole {
        block.text.clone()
    } else {
        let mut base: toml::Table = BASE.parse().expect("BASE is TOML");
        merge(&mut base, parsed);
        toml::to_string(&base).map_err(|e| e.to_string())?
    };
    Config::from_toml(&text)
        .map(|_| ())
        .map_err(|e| format!("{} ({})", e, if whole { "whole file" } else { "fragment" }))
}

#[test]
fn the_base_of_fragments_is_valid() {
    Config::from_toml(BASE).unwrap();
}

#[test]
fn a_wrong_key_in_a_fragment_is_caught() {
    let block = |text: &str| Block {
        file: PathBuf::from("test"),
        line: 1,
        text: text.into(),
    };
    assert!(check(&block("[server]\nlisten = [\"0.0.0.0:8443\"]\n")).is_ok());
    let err = check(&block("[server]\nlsiten = [\"0.0.0.0:8443\"]\n")).unwrap_err();
    assert!(err.contains("lsiten"), "{err}");
    let err = check(&block(
        "[[route]]\npath_prefix = \"/\"\nupstreams = [\"b:80\"]\nidp = \"nope\"\n",
    ))
    .unwrap_err();
    assert!(err.contains("route[0].idp"), "{err}");
    assert!(check(&block("[sp\n")).unwrap_err().starts_with("not TOML"));
}

#[test]
fn every_toml_block_in_docs_is_a_valid_configuration() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut files = Vec::new();
    markdown_files(&docs, &mut files);
    let blocks: Vec<Block> = files.iter().flat_map(|f| toml_blocks(f)).collect();
    assert!(
        blocks.len() >= 10,
        "the guides have configuration in them: found {}",
        blocks.len()
    );
    let failures: Vec<String> = blocks
        .iter()
        .filter_map(|b| {
            check(b).err().map(|e| {
                let file = b.file.strip_prefix(&docs).unwrap_or(&b.file);
                format!(
                    "docs/{}:{}: {}",
                    file.display(),
                    b.line,
                    e.replace('\n', "; ")
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} ```toml blocks are not valid samlgate configuration:\n  {}",
        failures.len(),
        blocks.len(),
        failures.join("\n  ")
    );
}
