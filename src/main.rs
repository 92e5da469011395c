use clap::{Parser, Subcommand};
use stav_gateway::config::Config;
use stav_gateway::keys::cli::KeysCommand;
use stav_gateway::policy::{effective_cap, CapInputs};
use stav_gateway::router;
use stav_gateway::server::{self, RunMode};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// Stav gateway: OpenAI- and Anthropic-compatible API edge on Pingora.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', default_value = "conf/stav.toml", global = true)]
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read a prompt on stdin; print the router's signals and its decision for a team.
    Explain {
        #[arg(long)]
        team: String,
        /// Also apply a key's cap (as `max_tier` on a key would).
        #[arg(long)]
        key_max_tier: Option<String>,
    },
    /// Evaluate the router's signals on a labelled JSONL file.
    EvalRouter { file: PathBuf },
    /// Manage API keys in the configured store (keys file or Redis).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("stav-gateway: invalid configuration: {e}");
        ExitCode::from(2)
    })
}

fn explain(cfg: &Config, team: &str, key_max_tier: Option<String>) -> ExitCode {
    let mut prompt = String::new();
    if std::io::stdin().read_to_string(&mut prompt).is_err() {
        eprintln!("stav-gateway: cannot read the prompt from stdin");
        return ExitCode::from(2);
    }
    let key = match key_max_tier.map(|t| t.parse()).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("stav-gateway: --key-max-tier: {e}");
            return ExitCode::from(2);
        }
    };
    let team = cfg.team(team);
    let conv = router::Conversation {
        last_user: prompt.clone(),
        forwarded: prompt,
    };
    let entities = router::pii::scan(&conv.forwarded);
    let signals = router::classify(&conv, &entities);
    let cap = effective_cap(&CapInputs {
        team: Some(team.max_tier),
        key,
        header: None,
        sensitive: Some(&entities),
        sensitive_opt_out: team.sensitive_opt_out,
    });
    println!(
        "signals: {}",
        serde_json::to_string(&signals).expect("signals serialize")
    );
    print!("{}", router::explain_signals(&conv.last_user));
    println!("max_tier: {} (set by: {})", cap.tier, cap.causes.join("; "));
    match &team.router {
        None => println!("decision: none (team `{}` has no router policy)", team.name),
        Some(policy) => {
            match router::route(policy, &signals, cap.tier, &cfg.catalogue, &|_| true) {
                Ok(d) => {
                    println!(
                        "decision: {} ({})",
                        d.model_name,
                        d.rule.map_or("default".into(), |r| format!("rule {r}"))
                    );
                    println!("reason: {}", d.reason);
                    for s in d.skipped {
                        println!("skipped: {s}");
                    }
                }
                Err(skipped) => println!(
                    "decision: none fits the cap; skipped: {}",
                    skipped.join(", ")
                ),
            }
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if let Some(Command::EvalRouter { file }) = &cli.command {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("stav-gateway: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        return match router::eval::evaluate(&text) {
            Ok(r) => {
                print!("{}", r.render());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("stav-gateway: {}: {e}", file.display());
                ExitCode::from(2)
            }
        };
    }
    let cfg = match load(&cli.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command {
        Some(Command::Explain { team, key_max_tier }) => {
            return explain(&cfg, &team, key_max_tier);
        }
        Some(Command::Keys { command }) => {
            return match stav_gateway::keys::cli::run(&cfg, command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("stav-gateway keys: {e}");
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    if cli.check {
        println!(
            "configuration OK: {} providers, {} models, {} keys{}, {} teams ({})",
            cfg.providers.len(),
            cfg.catalogue.len(),
            cfg.keys.len(),
            if matches!(
                cfg.store.kind,
                stav_gateway::config::StoreKind::Redis { .. }
            ) {
                " (keys live in Redis; not contacted by --check)"
            } else {
                ""
            },
            cfg.teams.len(),
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
