//! `samlgate run`, `samlgate check-config` and `samlgate demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use samlgate_gateway::check::Severity;
use samlgate_gateway::config::Config;
use samlgate_gateway::demo::{self, DemoPorts};
use samlgate_gateway::server::{init_logging, Control, ReloadSource, StartError};
use samlgate_gateway::state::BuildOptions;

/// `samlgate run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML; see config/samlgate.example.toml).
    #[arg(long, short = 'c')]
    config: PathBuf,
}

/// `samlgate check-config`.
#[derive(Args)]
pub(crate) struct CheckArgs {
    /// The configuration file to check.
    config: PathBuf,
    /// Also load every IdP's metadata, key and certificate, as `run` would.
    #[arg(long)]
    deep: bool,
}

/// `samlgate demo`.
#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Port of the gateway (the URL to open).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Port of the admin listener (/metrics, /healthz, /readyz).
    #[arg(long, default_value_t = 9090)]
    admin_port: u16,
    /// Port of the demo IdP.
    #[arg(long, default_value_t = 8081)]
    idp_port: u16,
    /// Port of the echo backend.
    #[arg(long, default_value_t = 8082)]
    backend_port: u16,
}

fn report(e: &StartError) -> ExitCode {
    match e {
        StartError::Config(c) => {
            for p in &c.problems {
                eprintln!("samlgate: {p}");
            }
        }
        StartError::Other(m) => eprintln!("samlgate: {m}"),
    }
    ExitCode::from(2)
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => return report(&StartError::Config(e)),
    };
    init_logging(&config.server.log_format);
    let source = ReloadSource {
        path: Some(args.config),
        options: BuildOptions::default(),
    };
    let result = Control::start(config, source).and_then(|c| c.serve(None));
    samlgate_gateway::server::flush_logs();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

pub(crate) fn check(args: CheckArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => return report(&StartError::Config(e)),
    };
    let mut findings = samlgate_gateway::check::static_findings(&config);
    if args.deep {
        let source = ReloadSource {
            path: None,
            options: BuildOptions::default(),
        };
        match Control::start(config, source) {
            Ok(control) => findings.extend(samlgate_gateway::check::deep_findings(&control)),
            Err(e) => return report(&e),
        }
    }
    for finding in &findings {
        eprintln!("samlgate: {finding}");
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return ExitCode::from(2);
    }
    println!("{}: OK", args.config.display());
    ExitCode::SUCCESS
}

pub(crate) fn demo(args: DemoArgs) -> ExitCode {
    let ports = DemoPorts {
        gateway: args.port,
        admin: args.admin_port,
        idp: args.idp_port,
        backend: args.backend_port,
    };
    let result = demo::run(ports);
    samlgate_gateway::server::flush_logs();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}
