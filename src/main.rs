use bytes::Bytes;
use clap::{Parser, Subcommand};
use stav_gateway::config::Config;
use stav_gateway::contract::routes::ClientApi;
use stav_gateway::contract::GatewayError;
use stav_gateway::keys::cli::KeysCommand;
use stav_gateway::ledger::cli::{Finding, LedgerCommand, UsageArgs};
use stav_gateway::plan::{self, Caller};
use stav_gateway::request::ClientRequest;
use stav_gateway::router;
use stav_gateway::server::{self, RunMode};
use stav_gateway::tier::Tier;
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
    /// Read a prompt on stdin; print the signals, the cap and the decision a request with that
    /// prompt and `model: "auto"` (or `--model`) would get — the request path's own selection.
    Explain {
        /// The team (ignored with --key, which names its own).
        #[arg(long, default_value = "")]
        team: String,
        /// A key id from the keys file: its team, model allowlist and cap apply.
        #[arg(long)]
        key: Option<String>,
        /// Also apply a key's cap (as `max_tier` on a key would).
        #[arg(long)]
        key_max_tier: Option<String>,
        /// As the `X-Stav-Max-Tier` request header.
        #[arg(long)]
        max_tier: Option<String>,
        /// The model requested (default `auto`).
        #[arg(long, default_value = "auto")]
        model: String,
    },
    /// Evaluate the router's signals on a labelled JSONL file.
    EvalRouter { file: PathBuf },
    /// Manage API keys in the configured store (keys file or Redis).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The request ledger: verify its hash chain, export its records.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Token usage per key, team, model or day (from PostgreSQL when the ledger ships there,
    /// else from this node's journal).
    Usage(UsageArgs),
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("stav-gateway: invalid configuration: {e}");
        ExitCode::from(2)
    })
}

struct ExplainArgs {
    team: String,
    key: Option<String>,
    key_max_tier: Option<String>,
    max_tier: Option<String>,
    model: String,
}

fn parse_tier(flag: &str, v: Option<String>) -> Result<Option<Tier>, ExitCode> {
    v.map(|t| t.parse::<Tier>()).transpose().map_err(|e| {
        eprintln!("stav-gateway: {flag}: {e}");
        ExitCode::from(2)
    })
}

fn explain(cfg: &Config, args: ExplainArgs) -> Result<(), ExitCode> {
    let mut prompt = String::new();
    if std::io::stdin().read_to_string(&mut prompt).is_err() {
        eprintln!("stav-gateway: cannot read the prompt from stdin");
        return Err(ExitCode::from(2));
    }
    let key = match &args.key {
        None => None,
        Some(id) => Some(cfg.keys.get(id).cloned().ok_or_else(|| {
            eprintln!("stav-gateway: --key: no key {id:?} in the keys file");
            ExitCode::from(2)
        })?),
    };
    let key_max_tier =
        parse_tier("--key-max-tier", args.key_max_tier)?.or(key.as_ref().and_then(|k| k.max_tier));
    let header_max_tier = parse_tier("--max-tier", args.max_tier)?;
    let team = cfg.team(key.as_ref().map_or(args.team.as_str(), |k| k.team.as_str()));
    let caller = Caller {
        team: &team,
        key_max_tier,
        header_max_tier,
        models: key.as_ref().map_or(&[][..], |k| &k.models),
    };
    // The prompt as a chat request would carry it: the same selection code as a live request.
    let body = Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "model": args.model,
            "messages": [{"role": "user", "content": prompt}],
        }))
        .expect("json serializes"),
    );
    let report = |e: GatewayError| {
        println!("decision: refused ({} {})", e.status(), e.message);
    };
    let req = match ClientRequest::new(ClientApi::ChatCompletions, &body, None) {
        Ok(r) => r,
        Err(e) => {
            report(e);
            return Ok(());
        }
    };
    let assessment = match plan::assess(cfg, &caller, &req) {
        Ok(a) => a,
        Err(e) => {
            report(e);
            return Ok(());
        }
    };
    if let Some(signals) = &assessment.signals {
        println!(
            "signals: {}",
            serde_json::to_string(signals).expect("signals serialize")
        );
    }
    let kinds: Vec<&str> = assessment.entities.iter().map(|e| e.as_str()).collect();
    println!(
        "sensitive: {}",
        if kinds.is_empty() {
            "none found".to_string()
        } else {
            kinds.join(", ")
        }
    );
    print!("{}", router::explain_signals(&prompt));
    println!(
        "max_tier: {} (set by: {})",
        assessment.cap.tier,
        assessment.cap.causes.join("; ")
    );
    match plan::decide(cfg, &caller, &req.view.model, assessment) {
        Ok(sel) => {
            match &sel.routing {
                Some(r) => {
                    let rule = r.rule.map_or("default".into(), |i| format!("rule {i}"));
                    println!("decision: {} ({rule})", sel.name);
                    println!("reason: {}", r.reason);
                }
                None => println!("decision: {} (explicit model)", sel.name),
            }
            println!("tier: {}", sel.entry.tier);
            for s in sel.skipped {
                println!("skipped: {s}");
            }
        }
        Err(e) => report(e),
    }
    Ok(())
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
        Some(Command::Explain {
            team,
            key,
            key_max_tier,
            max_tier,
            model,
        }) => {
            let args = ExplainArgs {
                team,
                key,
                key_max_tier,
                max_tier,
                model,
            };
            return match explain(&cfg, args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            };
        }
        Some(Command::Ledger { command }) => {
            return match stav_gateway::ledger::cli::run_ledger(&cfg, command) {
                Ok(Finding::Clean) => ExitCode::SUCCESS,
                Ok(Finding::Tampered) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("stav-gateway ledger: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Usage(args)) => {
            return match stav_gateway::ledger::cli::run_usage(&cfg, args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("stav-gateway usage: {e}");
                    ExitCode::from(2)
                }
            };
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
            "configuration OK: {} providers, {} models, {} keys{}, {} teams, ledger {} ({})",
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
            match &cfg.ledger {
                None => "off".to_string(),
                Some(l) => format!(
                    "in {}{}",
                    l.dir.display(),
                    if l.postgres_url.is_some() {
                        ", shipped to PostgreSQL"
                    } else {
                        ""
                    }
                ),
            },
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
