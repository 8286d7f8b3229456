//! samlgate: a SAML 2.0 validation gateway. This file is the thin clap
//! front end; the work happens in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: measured paired on the same core
/// (loadtest/RESULTS.md), it gave the proxy 8-10% more pass-through
/// requests and 4% more ACS per CPU-second; the data plane allocates per
/// request in pingora and in the kernel-facing buffers.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod gateway;
mod metadata;
mod verify;

#[derive(Parser)]
#[command(
    name = "samlgate",
    version,
    about = "SAML 2.0 validation gateway",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a SAML Response (XML or the base64 SAMLResponse form value).
    Verify(verify::VerifyArgs),
    /// Write this SP's metadata (EntityDescriptor) for the IdP.
    Metadata(metadata::MetadataArgs),
    /// Run the gateway (reverse proxy with SAML login) from a config file.
    Run(gateway::RunArgs),
    /// Check a configuration file: every problem with its field path (exit 2).
    CheckConfig(gateway::CheckArgs),
    /// Run the gateway, a demo IdP and an echo backend on loopback.
    Demo(gateway::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Metadata(args) => metadata::run(args),
        Command::Run(args) => gateway::run(args),
        Command::CheckConfig(args) => gateway::check(args),
        Command::Demo(args) => gateway::demo(args),
    }
}
