//! `vexjournal history PATH`: the life of one path.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use vexfs_journal::{Query, StoredEvent};

use crate::Cli;
use crate::output::{ReportFormat, fit_table};

/// Show every event that touched PATH, following renames backwards and forwards:
/// when, what, who (pid, process, uid) and the result.
///
/// PATH is as the mount journals it: relative to the mirrored directory, from `/`.
/// The files that held the name are found by their inode numbers (the source's), so
/// their events under other names and through hard links show too; events without an
/// inode number (from older mounts) are followed by name through renames. A name that
/// several files held over time shows all of them, each from its `create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The path, e.g. `/models/a.bin`.
    path: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

/// A filesystem event with its metadata parsed.
struct Row {
    ev: StoredEvent,
    meta: Value,
}

impl Row {
    fn path(&self) -> String {
        String::from_utf8_lossy(&self.ev.event.context.path).into_owned()
    }

    fn to(&self) -> Option<&str> {
        self.meta.get("to").and_then(Value::as_str)
    }
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut rows = Vec::new();
    reader.query_visit(&Query::new(), |v| {
        let ev = StoredEvent::from(v);
        if ev.event.event_type.to_string().starts_with("filesystem.") {
            let meta = serde_json::from_slice(&ev.event.metadata).unwrap_or(Value::Null);
            rows.push(Row { ev, meta });
        }
        true
    })?;
    // Every name the file had: follow renames to and from the names found, until no
    // new name appears.
    let mut names: BTreeSet<String> = BTreeSet::from([args.path.clone()]);
    loop {
        let before = names.len();
        for r in &rows {
            if let Some(to) = r.to() {
                let from = r.path();
                if names.contains(to) || names.contains(&from) {
                    names.insert(to.to_string());
                    names.insert(from);
                }
            }
        }
        if names.len() == before {
            break;
        }
    }
    let by_name = |r: &Row| names.contains(&r.path()) || r.to().is_some_and(|t| names.contains(t));
    // The files that held PATH, by inode number and life: a life starts when the
    // object is made (create, mkdir, symlink) and ends when its last name goes, so an
    // inode number the source reuses for a new file starts a new life.
    let mut life_of: HashMap<u64, usize> = HashMap::new();
    let mut life_names: Vec<BTreeSet<String>> = Vec::new();
    let mut held: Vec<bool> = Vec::new();
    let mut row_life: Vec<Option<usize>> = Vec::with_capacity(rows.len());
    for r in &rows {
        let ino = r.ev.event.context.inode_number;
        if ino == 0 {
            row_life.push(None);
            continue;
        }
        let ok = r.meta.get("errno").and_then(Value::as_i64).unwrap_or(0) == 0;
        let ty = r.ev.event.event_type.to_string();
        let made = matches!(
            ty.as_str(),
            "filesystem.create" | "filesystem.mkdir" | "filesystem.symlink"
        );
        let mut new_life = |life_of: &mut HashMap<u64, usize>| {
            life_names.push(BTreeSet::from([r.path()]));
            held.push(false);
            life_of.insert(ino, life_names.len() - 1);
            life_names.len() - 1
        };
        let life = match life_of.get(&ino) {
            Some(l) if !(made && ok) => *l,
            _ => new_life(&mut life_of),
        };
        row_life.push(Some(life));
        if r.path() == args.path || r.to() == Some(args.path.as_str()) {
            held[life] = true;
        }
        if !ok {
            continue;
        }
        match ty.as_str() {
            "filesystem.hardlink" => {
                life_names[life].insert(r.path());
            }
            "filesystem.rename" => {
                life_names[life].remove(&r.path());
                if let Some(to) = r.to() {
                    life_names[life].insert(to.to_string());
                }
            }
            "filesystem.delete" | "filesystem.rmdir" => {
                life_names[life].remove(&r.path());
                if life_names[life].is_empty() {
                    life_of.remove(&ino);
                }
            }
            _ => {}
        }
    }
    let touched: Vec<&Row> = rows
        .iter()
        .zip(&row_life)
        .filter(|(r, life)| match life {
            Some(l) => held[*l],
            None => by_name(r),
        })
        .map(|(r, _)| r)
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let list: Vec<Value> = touched
                .iter()
                .map(|r| {
                    json!({
                        "seq": r.ev.seq,
                        "time": vexfs_journal::json::format_time(r.ev.event.timestamp.ktime_ns),
                        "type": r.ev.event.event_type.to_string(),
                        "op": r.meta.get("op"),
                        "path": r.path(),
                        "to": r.to(),
                        "inode": r.ev.event.context.inode_number,
                        "pid": r.ev.event.timestamp.process_id,
                        "comm": r.meta.get("comm"),
                        "uid": r.meta.get("uid"),
                        "errno": r.meta.get("errno"),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        ReportFormat::Table => {
            if touched.is_empty() {
                writeln!(out, "no event touched {}", args.path)?;
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                t.set_header(["seq", "time (UTC)", "event", "path", "who", "result"]);
                for r in &touched {
                    let path = match r.to() {
                        Some(to) => format!("{} → {to}", r.path()),
                        None => r.path(),
                    };
                    let who = format!(
                        "{} [{}] uid {}",
                        r.meta.get("comm").and_then(Value::as_str).unwrap_or("?"),
                        r.ev.event.timestamp.process_id,
                        r.meta.get("uid").map_or("?".into(), Value::to_string)
                    );
                    let result = match r.meta.get("errno").and_then(Value::as_i64) {
                        Some(0) | None => "ok".to_string(),
                        Some(e) => std::io::Error::from_raw_os_error(e as i32).to_string(),
                    };
                    let event = match r.meta.get("op").and_then(Value::as_str) {
                        Some(op) => format!("{} ({op})", r.ev.event.event_type),
                        None => r.ev.event.event_type.to_string(),
                    };
                    t.add_row([
                        r.ev.seq.to_string(),
                        vexfs_journal::json::format_time(r.ev.event.timestamp.ktime_ns),
                        event,
                        path,
                        who,
                        result,
                    ]);
                }
                fit_table(&mut t);
                writeln!(out, "{t}")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
