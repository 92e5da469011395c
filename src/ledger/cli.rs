//! `stav-gateway ledger verify|export` and `stav-gateway usage`.

use super::report::{self, By, Range};
use super::verify::{self, VerifyError};
use super::{LedgerError, LedgerSettings};
use crate::config::Config;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Check the journal's hash chain; name the first record that was changed, removed or
    /// reordered (exit status 1).
    Verify,
    /// Print the journal's records (this node's), oldest first.
    Export {
        /// From this time on: 2026-05-01 or an RFC 3339 time (UTC).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The journal's own lines, seals included.
    Jsonl,
    Csv,
}

/// `stav-gateway usage`: token totals per key, team, model or day.
#[derive(Args, Debug)]
pub struct UsageArgs {
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long, value_enum, default_value = "key")]
    by: By,
    #[arg(long)]
    json: bool,
}

/// What a command ends with: success, or a finding (tampering) that is not an error of the
/// command itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    Clean,
    Tampered,
}

fn settings(cfg: &Config) -> Result<&LedgerSettings, LedgerError> {
    cfg.ledger.as_ref().ok_or(LedgerError::Argument {
        flag: "--config",
        message: format!("{} has no [ledger] section", cfg.path.display()),
    })
}

fn range(since: Option<String>, until: Option<String>) -> Result<Range, LedgerError> {
    Ok(Range {
        since: since
            .map(|s| report::parse_time("--since", &s))
            .transpose()?,
        until: until
            .map(|s| report::parse_time("--until", &s))
            .transpose()?,
    })
}

pub fn run_ledger(cfg: &Config, cmd: LedgerCommand) -> Result<Finding, LedgerError> {
    let s = settings(cfg)?;
    match cmd {
        LedgerCommand::Verify => match verify::verify(&s.dir) {
            Ok(v) => {
                println!(
                    "ledger OK: {} records (seq {}..{}) in {} segments, chain intact",
                    v.records, v.first_seq, v.last_seq, v.segments
                );
                Ok(Finding::Clean)
            }
            Err(VerifyError::Tampered(t)) => {
                println!("ledger TAMPERED: {t}");
                Ok(Finding::Tampered)
            }
            Err(VerifyError::Ledger(e)) => Err(e),
        },
        LedgerCommand::Export {
            since,
            until,
            format,
        } => {
            let range = range(since, until)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let io = |e: std::io::Error| LedgerError::io(std::path::Path::new("stdout"), e);
            match format {
                ExportFormat::Jsonl => {
                    let mut err = None;
                    report::scan(&s.dir, &range, |line, _| {
                        if err.is_none() {
                            err = out.write_all(line).and_then(|_| out.write_all(b"\n")).err();
                        }
                    })?;
                    if let Some(e) = err {
                        return Err(io(e));
                    }
                }
                ExportFormat::Csv => {
                    let node = super::ship::node_name(&s.dir);
                    let mut w = csv::Writer::from_writer(out);
                    let mut err = w.write_record(report::CSV_COLUMNS).err();
                    report::scan(&s.dir, &range, |_, r| {
                        if err.is_none() {
                            err = w.write_record(report::csv_row(&r, &node)).err();
                        }
                    })?;
                    if let Some(e) = err {
                        return Err(io(e.into()));
                    }
                    w.flush().map_err(io)?;
                    return Ok(Finding::Clean);
                }
            }
            out.flush().map_err(io)?;
            Ok(Finding::Clean)
        }
    }
}

pub fn run_usage(cfg: &Config, args: UsageArgs) -> Result<(), LedgerError> {
    let s = settings(cfg)?;
    let range = range(args.since, args.until)?;
    let (groups, source) = match &s.postgres_url {
        Some(url) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LedgerError::io(std::path::Path::new("tokio runtime"), e))?;
            let groups = rt.block_on(async {
                let client = super::ship::connect(url).await?;
                report::from_postgres(&client, &range, args.by).await
            })?;
            (groups, "postgres")
        }
        None => (report::from_journal(&s.dir, &range, args.by)?, "journal"),
    };
    if args.json {
        let rows: Vec<serde_json::Value> = groups
            .iter()
            .map(|(g, t)| {
                let mut v = serde_json::to_value(t).expect("totals serialize");
                v[args.by.as_str()] = serde_json::json!(g);
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"by": args.by.as_str(), "source": source, "since": range.since,
                               "until": range.until, "groups": rows})
        );
    } else {
        print!("{}", report::render(args.by, &groups));
    }
    Ok(())
}
