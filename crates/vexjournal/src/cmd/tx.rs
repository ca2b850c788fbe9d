//! `vexjournal tx`: the transactions of a coordinator (`--dir` is the coordinator's
//! directory, whose journal is its log; see `docs/coordinator.md`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use vexfs_journal::tx::{TxRole, role_of, role_of_record};
use vexfs_journal::{JournalReader, Query, SemanticOp};
use vexfs_journal_coordinator::{
    Coordinator, CoordinatorConfig, JournalParticipant, Participant, TxSummary, participant_dirs,
    summarize,
};

use crate::Cli;
use crate::output::{ReportFormat, fit_table};

/// Inspect and resolve cross-journal transactions.
#[derive(Debug, clap::Subcommand)]
pub enum TxCommand {
    /// List the transactions not finished (every one with --all), oldest first.
    List(ListArgs),
    /// Show one transaction and whether each participant journal holds its decision.
    Show(ShowArgs),
    /// Finish what a crash left open: deliver logged decisions and abort undecided
    /// transactions (presumed abort). Needs the coordinator and its participant
    /// journals not open in another process.
    Resolve(ResolveArgs),
}

/// `tx list`
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also list finished transactions.
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

/// `tx show`
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Transaction id (as `tx list` prints it).
    tx: u64,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

/// `tx resolve`
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// A participant journal, as NAME=DIR (repeatable); overrides what the coordinator
    /// recorded in its participants file.
    #[arg(long = "participant", value_name = "NAME=DIR")]
    participants: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, command: &TxCommand) -> Result<ExitCode> {
    match command {
        TxCommand::List(a) => list(cli, a),
        TxCommand::Show(a) => show(cli, a),
        TxCommand::Resolve(a) => resolve(cli, a),
    }
}

pub(crate) fn log(dir: &Path) -> Result<BTreeMap<u64, TxSummary>> {
    let reader = JournalReader::open(dir).with_context(|| {
        format!(
            "opening the coordinator log in {} (--dir must be a coordinator's directory)",
            dir.display()
        )
    })?;
    let tag = vexfs_journal_coordinator::log::tag_of(reader.journal_id());
    summarize(tag, reader.scan(1..reader.visible_end()))
        .with_context(|| format!("reading the coordinator log in {}", dir.display()))
}

fn time(ns: i64) -> String {
    if ns == 0 {
        "-".into()
    } else {
        vexfs_journal::json::format_time(ns)
    }
}

fn summary_json(t: &TxSummary) -> Value {
    json!({
        "tx": t.id,
        "state": t.state(),
        "began": (t.began_ns != 0).then(|| time(t.began_ns)),
        "decided": t.decided_ns.map(time),
        "participants": t.participants,
        "timeout_ms": t.timeout_ms,
        "written": t.written.iter().map(|(k, (a, b))| (k.clone(), json!([a, b]))).collect::<serde_json::Map<_, _>>(),
    })
}

fn list(cli: &Cli, args: &ListArgs) -> Result<ExitCode> {
    let txs = log(&cli.dir)?;
    let shown: Vec<&TxSummary> = txs.values().filter(|t| args.all || !t.complete).collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let list: Vec<Value> = shown.iter().map(|t| summary_json(t)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        ReportFormat::Table => {
            if shown.is_empty() {
                writeln!(
                    out,
                    "no {}transactions in {} ({} in the log)",
                    if args.all { "" } else { "unfinished " },
                    cli.dir.display(),
                    txs.len()
                )?;
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                fit_table(&mut t);
                t.set_header(["tx", "state", "began", "participants", "events written"]);
                for s in &shown {
                    let events: u64 = s.written.values().map(|(a, b)| b.saturating_sub(*a)).sum();
                    t.add_row([
                        s.id.to_string(),
                        s.state().to_string(),
                        time(s.began_ns),
                        s.participants.join(", "),
                        // The log records what was written with the decision; a
                        // transaction aborted on restart has no record of it.
                        if s.written.is_empty() {
                            "-".into()
                        } else {
                            events.to_string()
                        },
                    ]);
                }
                writeln!(out, "{t}")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What one participant journal holds of a transaction.
fn participant_view(dir: &Path, tx: u64, written: Option<(u64, u64)>) -> Result<Value> {
    let reader = JournalReader::open(dir)
        .with_context(|| format!("opening participant journal {}", dir.display()))?;
    // Read uncommitted: the marker of a transaction behind an undecided one is there,
    // though a read-committed reader does not deliver it yet.
    let mut marker = None;
    vexfs_journal::ext::query_uncommitted(
        &reader,
        &Query::new()
            .tx(tx)
            .types([vexfs_journal::EventType::from(SemanticOp::TransactionEnd)]),
        |v| match role_of_record(v) {
            TxRole::Marker(t, d) if t == tx => {
                marker = Some((v.raw_ext.userspace_sequence.get(), d));
                false
            }
            _ => true,
        },
    )?;
    // The log records where a participant's events are with the decision only.
    let events = written.map(|(a, b)| {
        reader
            .scan(a..b)
            .filter_map(|e| e.ok())
            .filter(|e| role_of(e) == TxRole::Member(tx))
            .count()
    });
    Ok(json!({
        "dir": dir.display().to_string(),
        "events_found": events,
        "marker": marker.map(|(seq, d)| json!({"seq": seq, "decision": d.as_str()})),
    }))
}

fn show(cli: &Cli, args: &ShowArgs) -> Result<ExitCode> {
    let txs = log(&cli.dir)?;
    let Some(t) = txs.get(&args.tx) else {
        bail!(
            "no transaction {} in the coordinator log in {} (`vexjournal tx list --all` lists them)",
            args.tx,
            cli.dir.display()
        );
    };
    let dirs = participant_dirs(&cli.dir)?;
    let mut per = serde_json::Map::new();
    let mut names = t.participants.clone();
    for name in t.written.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    if names.is_empty() {
        // No begin record (a crash lost it; the open that settled the transaction
        // logged only its decision): look in every participant journal recorded.
        names = dirs.keys().cloned().collect();
    }
    for name in &names {
        let v = match dirs.get(name) {
            Some(dir) => participant_view(dir, t.id, t.written.get(name).copied()).unwrap_or_else(
                |e| json!({"dir": dir.display().to_string(), "error": format!("{e:#}")}),
            ),
            None => {
                json!({"error": "its directory is not recorded (it has no journal directory, or the coordinator never opened it)"})
            }
        };
        per.insert(name.clone(), v);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let mut v = summary_json(t);
            v["at_participants"] = Value::Object(per);
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            writeln!(
                out,
                "transaction {}: {}, began {}, decided {}",
                t.id,
                t.state(),
                time(t.began_ns),
                t.decided_ns.map_or("-".into(), time)
            )?;
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            fit_table(&mut table);
            table.set_header([
                "participant",
                "journal",
                "written",
                "events found",
                "marker",
            ]);
            for name in &t.participants {
                let v = &per[name];
                let written = t
                    .written
                    .get(name)
                    .map_or("-".into(), |(a, b)| format!("{a}..{b}"));
                let marker = match (&v["marker"], &v["error"]) {
                    (Value::Object(m), _) => {
                        format!("{} at {}", m["decision"].as_str().unwrap_or("?"), m["seq"])
                    }
                    (_, Value::String(e)) => format!("unknown: {e}"),
                    _ => "none".into(),
                };
                table.add_row([
                    name.clone(),
                    v["dir"].as_str().unwrap_or("-").to_string(),
                    written,
                    v["events_found"]
                        .as_u64()
                        .map_or("-".into(), |n| n.to_string()),
                    marker,
                ]);
            }
            writeln!(out, "{table}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The participant journals of the coordinator in `dir`: what it recorded in its
/// participants file, overridden by `NAME=DIR` arguments.
pub(crate) fn participants(dir: &Path, given: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut dirs: BTreeMap<String, PathBuf> = participant_dirs(dir)?;
    for p in given {
        let Some((name, pdir)) = p.split_once('=') else {
            bail!("--participant {p:?}: expected NAME=DIR");
        };
        if name.is_empty() || pdir.is_empty() {
            bail!("--participant {p:?}: expected NAME=DIR");
        }
        // A journal that opens must be the one recorded under that name; one that does
        // not is reported by the command itself (it cannot be recovered or read).
        if let Ok(reader) = JournalReader::open(pdir) {
            vexfs_journal_coordinator::check_participant_id(
                dir,
                name,
                Path::new(pdir),
                reader.journal_id(),
            )
            .with_context(|| format!("--participant {p:?}"))?;
        }
        dirs.insert(name.to_string(), PathBuf::from(pdir));
    }
    Ok(dirs)
}

fn resolve(cli: &Cli, args: &ResolveArgs) -> Result<ExitCode> {
    // Refuse a directory that holds no coordinator log rather than create one.
    log(&cli.dir)?;
    let dirs = participants(&cli.dir, &args.participants)?;
    let mut journals = Vec::new();
    let mut parts: Vec<Arc<dyn Participant>> = Vec::new();
    for (name, dir) in &dirs {
        let j = cli
            .open_existing(dir)
            .with_context(|| format!("opening participant {name} ({})", dir.display()))?;
        journals.push(j.clone());
        parts.push(Arc::new(JournalParticipant::new(name.clone(), j)));
    }
    // The log as `Coordinator::open` opens it (fsync `never`: the coordinator waits
    // for what must be durable), and as --allow-others-writable says.
    let log_config = vexfs_journal::Config {
        fsync: vexfs_journal::FsyncPolicy::Never,
        allow_others_writable: cli.allow_others_writable,
        encryption_key: cli.key()?,
        ..vexfs_journal::Config::default()
    };
    let log = vexfs_journal::Journal::open(&cli.dir, log_config)
        .with_context(|| format!("opening the coordinator's log in {}", cli.dir.display()))?;
    let (coordinator, report) =
        Coordinator::open_with_log(log, parts, CoordinatorConfig::default())
            .with_context(|| format!("opening the coordinator in {}", cli.dir.display()))?;
    coordinator.close()?;
    for j in journals {
        j.close()?;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let v = json!({
                "log_records": report.log_records,
                "committed": report.committed,
                "aborted": report.aborted,
                "orphans": report.orphans,
                "in_doubt": report.in_doubt.iter().map(|d| json!({
                    "tx": d.tx, "decision": d.decision.as_str(), "missing": d.missing,
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            let ids = |v: &[u64]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                }
            };
            writeln!(
                out,
                "committed (decision delivered): {}",
                ids(&report.committed)
            )?;
            writeln!(out, "aborted: {}", ids(&report.aborted))?;
            if !report.orphans.is_empty() {
                writeln!(
                    out,
                    "of these, found only in participants (begin record lost in a crash): {}",
                    ids(&report.orphans)
                )?;
            }
            for d in &report.in_doubt {
                writeln!(
                    out,
                    "in doubt: {} ({}) — no marker yet at {}; give their journals with --participant NAME=DIR",
                    d.tx,
                    d.decision.as_str(),
                    d.missing.join(", ")
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if report.in_doubt.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
