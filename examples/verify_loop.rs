//! The verify-only rate, measured beside the gateway in `loadtest/pair.sh`:
//! validates the load test's signed Responses in a loop with the trust and
//! checks of a gateway built from the same `samlgate.toml`, but without
//! HTTP, replay store or session. That is the engine's work alone, what
//! criterion's `verify` group measures, taken at the same moment and on the
//! same core as the ACS flood, so host noise affects both alike.
//!
//! ```text
//! cargo run --release --example verify_loop -- loadtest/out/samlgate.toml \
//!     loadtest/out/responses.txt 6
//! ```
//!
//! Prints `validated=N cpu_seconds=S` (this process's user + system CPU
//! over the loop, from `/proc/self/stat`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant as MonoInstant};

use samlgate_gateway::config::Config;
use samlgate_gateway::key_cache::FingerprintKeyCache;
use samlgate_gateway::state::{BuildOptions, Gateway};
use samlgate_saml::{decode_input, SystemClock};
use samlgate_xml::Limits;

/// Responses kept in memory (each is validated many times: no replay
/// store here).
const MAX_RESPONSES: usize = 2000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, responses, seconds] = args.as_slice() else {
        eprintln!("usage: verify_loop SAMLGATE_TOML RESPONSES_TXT SECONDS");
        std::process::exit(2);
    };
    let seconds: u64 = seconds
        .parse()
        .unwrap_or_else(|_| fail("SECONDS: not a number"));
    let config = Config::load(Path::new(config)).unwrap_or_else(|e| fail(&e.to_string()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let key_cache = Arc::new(FingerprintKeyCache::new(100));
    let gateway = runtime
        .block_on(Gateway::build(config, &BuildOptions::default(), &key_cache))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let limits = Limits::default();
    let text = std::fs::read_to_string(responses).unwrap_or_else(|e| fail(&e.to_string()));
    let documents: Vec<Vec<u8>> = text
        .lines()
        .take(MAX_RESPONSES)
        .map(|line| {
            decode_input(line.as_bytes(), limits.max_document_bytes)
                .unwrap_or_else(|e| fail(&e.to_string()))
                .into_owned()
        })
        .collect();
    if documents.is_empty() {
        fail("no Responses");
    }

    let trust = gateway.trust();
    let clock = SystemClock;
    let validator = gateway.validator(&trust, &clock, None, false);
    let started = MonoInstant::now();
    let cpu_before = cpu_ticks();
    let mut validated = 0u64;
    for document in documents.iter().cycle() {
        if let Err(e) = validator.validate(document) {
            fail(&format!("a Response did not validate: {e}"));
        }
        validated += 1;
        if validated % 64 == 0 && started.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    let ticks = cpu_ticks().saturating_sub(cpu_before);
    println!(
        "validated={validated} cpu_seconds={:.2}",
        ticks as f64 / 100.0
    );
}

/// utime + stime of this process in clock ticks (100 per second on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, so
    // utime and stime (fields 14 and 15) are at 11 and 12 from there.
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum()
}

fn fail(message: &str) -> ! {
    eprintln!("verify_loop: {message}");
    std::process::exit(1);
}
