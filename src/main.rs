use clap::Parser;
use stav_gateway::config::Config;
use stav_gateway::server::{self, RunMode};
use std::path::PathBuf;
use std::process::ExitCode;

/// Stav gateway: OpenAI- and Anthropic-compatible API edge on Pingora.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', default_value = "conf/stav.toml")]
    config: PathBuf,
    /// Validate the configuration (and the keys file) and exit.
    #[arg(long)]
    check: bool,
    /// Take over the listening sockets of a running instance (zero-downtime upgrade).
    #[arg(long, short = 'u')]
    upgrade: bool,
    /// Run in the background.
    #[arg(long, short = 'd')]
    daemon: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stav-gateway: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!(
            "configuration OK: {} providers, {} models, {} keys ({})",
            cfg.providers.len(),
            cfg.catalogue.len(),
            cfg.keys.len(),
            cli.config.display()
        );
        return ExitCode::SUCCESS;
    }
    let mode = RunMode {
        upgrade: cli.upgrade,
        daemon: cli.daemon,
    };
    log::info!(
        "stav-gateway {} listening on {} (admin {})",
        env!("CARGO_PKG_VERSION"),
        cfg.server.listen,
        cfg.server.admin_listen
    );
    match server::build(cfg, mode) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("stav-gateway: cannot start: {e}");
            ExitCode::from(2)
        }
    }
}
