//! `cargo xtask fuzz [--seconds N] [--target NAME]`: coverage-guided fuzzing of every
//! decoder of bytes from disk or users, with the cargo-fuzz crate in `fuzz/`.
//!
//! Each target's seed corpus is made at run time from the golden fixtures (and from the
//! format crate's encoders for the structures that have no fixture), plus the small
//! committed seeds in `fuzz/seeds/<target>/`. The corpus a run grows is kept in
//! `fuzz/corpus/<target>/` (not committed), crashes in `fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use vexfs_journal_format::checkpoint::{CheckpointData, encode_checkpoint};
use vexfs_journal_format::footer::{BlockEntry, encode_clean_marker, encode_footer};
use vexfs_journal_format::record::peek_record;

/// One fuzz target: its name (a `[[bin]]` of `fuzz/Cargo.toml`, source in
/// `fuzz/fuzz_targets/<name>.rs`) and where its seeds come from.
pub(crate) struct Target {
    /// The cargo-fuzz target name.
    pub(crate) name: &'static str,
    /// Fixture files (relative to the workspace root) used as seeds as they are.
    fixtures: &'static [&'static str],
    /// Seeds made by the format crate's encoders.
    generated: fn() -> Vec<(String, Vec<u8>)>,
}

const KERNEL_EVENTS: &[&str] = &[
    "fixtures/kernel_event_agent.bin",
    "fixtures/kernel_event_empty.bin",
    "fixtures/kernel_event_filesystem.bin",
    "fixtures/kernel_event_graph.bin",
    "fixtures/kernel_event_observability.bin",
    "fixtures/kernel_event_semantic.bin",
    "fixtures/kernel_event_system.bin",
    "fixtures/kernel_event_vector.bin",
];

/// Every fuzz target, in the order `cargo xtask fuzz` runs them.
///
/// To add one: write `fuzz/fuzz_targets/<name>.rs`, add its `[[bin]]` to
/// `fuzz/Cargo.toml`, and add a line here naming its fixtures or a seed generator.
pub(crate) const TARGETS: &[Target] = &[
    Target {
        name: "kernel_event",
        fixtures: KERNEL_EVENTS,
        generated: none,
    },
    Target {
        name: "record",
        fixtures: &["fixtures/record_empty.bin", "fixtures/records.bin"],
        generated: single_records,
    },
    Target {
        name: "block",
        fixtures: &[
            "fixtures/storage_block_none.bin",
            "fixtures/storage_block_lz4.bin",
            "fixtures/storage_block_lz4_framed.bin",
            "fixtures/kernel/image_lz4.img",
        ],
        generated: none,
    },
    Target {
        name: "file_header",
        fixtures: &["fixtures/file_header.bin"],
        generated: none,
    },
    Target {
        name: "footer",
        fixtures: &[],
        generated: footers,
    },
    Target {
        name: "checkpoint",
        fixtures: &[],
        generated: checkpoints,
    },
    Target {
        name: "manifest",
        fixtures: &["fixtures/manifest.bin"],
        generated: none,
    },
    Target {
        name: "index_file",
        fixtures: &[],
        generated: none,
    },
    Target {
        name: "kernel_image",
        fixtures: &[
            "fixtures/kernel/image_lz4.img",
            "fixtures/kernel/image_none.img",
        ],
        generated: none,
    },
    Target {
        name: "ndjson",
        fixtures: &[],
        generated: none,
    },
    Target {
        name: "cursor",
        fixtures: &[],
        generated: none,
    },
    Target {
        name: "lz4_prefix",
        fixtures: &[],
        generated: lz4_blocks,
    },
    Target {
        name: "seal_documents",
        fixtures: &["fixtures/seal/head.json", "fixtures/seal/proof.json"],
        generated: none,
    },
];

fn none() -> Vec<(String, Vec<u8>)> {
    Vec::new()
}

/// LZ4 blocks as the `lz4_prefix` target reads them: the uncompressed size (2 bytes,
/// little-endian), a decoding step, then the compressed bytes.
fn lz4_blocks() -> Vec<(String, Vec<u8>)> {
    let texts: [&[u8]; 3] = [
        b"",
        b"vector.search /models/llama-3-8b/weights.safetensors agent-7 agent-7 agent-7",
        &[b'x'; 3000],
    ];
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut packed = Vec::new();
        let compressed = vexfs_journal_format::block::compress(
            vexfs_journal_format::Compression::Lz4,
            text,
            0,
            &mut packed,
        );
        if compressed.is_err() {
            continue;
        }
        let Ok(len) = u16::try_from(text.len()) else {
            continue;
        };
        let mut seed = len.to_le_bytes().to_vec();
        seed.push(16);
        seed.extend_from_slice(&packed);
        out.push((format!("lz4-{i}"), seed));
    }
    out
}

/// Each record of `fixtures/records.bin` on its own.
fn single_records() -> Vec<(String, Vec<u8>)> {
    let Ok(all) = vexfs_journal_format::samples::fixtures() else {
        return Vec::new();
    };
    let Some((_, records)) = all.into_iter().find(|(name, _)| name == "records.bin") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = &records[..];
    while let Some((size, seq)) = peek_record(rest) {
        out.push((format!("record-{seq}"), rest[..size].to_vec()));
        rest = &rest[size..];
    }
    out
}

fn sample_entries(n: u64) -> Vec<BlockEntry> {
    (0..n)
        .map(|i| BlockEntry {
            first_seq: 1 + i * 100,
            last_seq: 100 + i * 100,
            offset: 128 + i * 4000,
            min_time: 1_767_225_600_000_000_000 + i as i64 * 1000,
            max_time: 1_767_225_600_000_000_999 + i as i64 * 1000,
            size: 4000,
            event_count: 100,
            raw_size: 9000,
            reserved: 0,
        })
        .collect()
}

/// Segment footers and clean-shutdown markers of 0, 1 and 3 blocks.
fn footers() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for n in [0, 1, 3] {
        let mut footer = Vec::new();
        encode_footer(&sample_entries(n), &mut footer);
        out.push((format!("footer-{n}"), footer));
        out.push((
            format!("clean-{n}"),
            encode_clean_marker(1, 128 + n * 4000, &sample_entries(n)),
        ));
    }
    out
}

/// Checkpoints with and without consumers and blocks.
fn checkpoints() -> Vec<(String, Vec<u8>)> {
    let full = CheckpointData {
        id: 3,
        created_ns: 1_767_225_600_000_000_000,
        journal_id: [7; 16],
        durable_seq: 301,
        segment_first_seq: 1,
        segment_end: 128 + 3 * 4000,
        consumers: vec![("indexer".into(), 250), ("backup".into(), 0)],
        blocks: sample_entries(3),
    };
    vec![
        (
            "checkpoint-empty".into(),
            encode_checkpoint(&CheckpointData::default()),
        ),
        ("checkpoint-full".into(), encode_checkpoint(&full)),
    ]
}

struct Options {
    seconds: u64,
    target: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let usage = "usage: cargo xtask fuzz [--seconds N] [--target NAME]";
    let mut opts = Options {
        seconds: 60,
        target: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let n = it
                    .next()
                    .with_context(|| format!("--seconds needs a number ({usage})"))?;
                opts.seconds = n
                    .parse()
                    .with_context(|| format!("--seconds {n:?} is not a whole number of seconds"))?;
                if opts.seconds == 0 {
                    bail!("--seconds must be at least 1");
                }
            }
            "--target" => {
                let n = it
                    .next()
                    .with_context(|| format!("--target needs a name ({usage})"))?;
                if !TARGETS.iter().any(|t| t.name == n) {
                    bail!(
                        "unknown fuzz target {n:?}; the targets are {}",
                        target_names()
                    );
                }
                opts.target = Some(n.clone());
            }
            other => bail!("unknown argument {other:?} ({usage})"),
        }
    }
    Ok(opts)
}

fn target_names() -> String {
    TARGETS
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `cargo +nightly` and cargo-fuzz can run; `Err` says which is missing.
pub(crate) fn available() -> std::result::Result<(), &'static str> {
    if !succeeds(Command::new("cargo").args(["+nightly", "--version"])) {
        return Err("no nightly toolchain");
    }
    if !succeeds(Command::new("cargo").args(["+nightly", "fuzz", "--version"])) {
        return Err("no cargo-fuzz");
    }
    Ok(())
}

/// Whether a nightly toolchain is installed (cargo-fuzz may still be missing).
pub(crate) fn has_nightly() -> bool {
    succeeds(Command::new("cargo").args(["+nightly", "--version"]))
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What one target's run did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    name: &'static str,
    seconds: f64,
    runs: Option<u64>,
    execs_per_sec: Option<u64>,
    coverage: Option<u64>,
    features: Option<u64>,
    corpus: Option<String>,
    crash: Option<String>,
}

/// `cargo xtask fuzz [--seconds N] [--target NAME]`.
pub(crate) fn fuzz(root: &Path, args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    if let Err(missing) = available() {
        bail!(
            "cargo xtask fuzz needs a nightly toolchain and cargo-fuzz ({missing}): \
             rustup toolchain install nightly && cargo install cargo-fuzz --locked"
        );
    }
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| opts.target.as_deref().is_none_or(|n| n == t.name))
        .collect();
    run_targets(root, &targets, opts.seconds)
}

/// Builds the fuzz crate, then fuzzes each target for `seconds`, printing a summary
/// line per target; fails when any target crashed (or could not run).
pub(crate) fn run_targets(root: &Path, targets: &[&Target], seconds: u64) -> Result<()> {
    let started = Instant::now();
    let mut build = Command::new("cargo");
    build.current_dir(root).args(["+nightly", "fuzz", "build"]);
    if let [one] = targets {
        build.arg(one.name);
    }
    crate::run(&mut build).context("building the fuzz targets")?;
    eprintln!(
        "fuzz: built in {:.1} s; {} target(s), {seconds} s each",
        started.elapsed().as_secs_f64(),
        targets.len()
    );
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(run_one(root, target, seconds)?);
    }
    println!();
    println!(
        "fuzz summary ({seconds} s per target, {:.0} s in all):",
        started.elapsed().as_secs_f64()
    );
    let show = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    for o in &outcomes {
        println!(
            "  {:<13} {:>6.0} s  runs {:>10}  exec/s {:>7}  cov {:>5}  ft {:>6}  corpus {:<14} {}",
            o.name,
            o.seconds,
            show(o.runs),
            show(o.execs_per_sec),
            show(o.coverage),
            show(o.features),
            o.corpus.as_deref().unwrap_or("?"),
            o.crash
                .as_deref()
                .map_or_else(|| "ok".to_string(), |c| format!("CRASH {c}")),
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crash.is_some())
        .map(|o| o.name)
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzz targets crashed: {} (inputs in fuzz/artifacts/<target>/; reproduce with \
             `cargo +nightly fuzz run <target> <file>`)",
            crashed.join(", ")
        );
    }
    println!("  no crash");
    Ok(())
}

/// Writes the target's seeds to a fresh directory and returns it.
fn write_seeds(root: &Path, target: &Target) -> Result<PathBuf> {
    let dir = root.join("target").join("fuzz-seeds").join(target.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for fixture in target.fixtures {
        let from = root.join(fixture);
        let name = Path::new(fixture)
            .file_name()
            .context("fixture path without a file name")?;
        std::fs::copy(&from, dir.join(name))
            .with_context(|| format!("copying seed {}", from.display()))?;
    }
    for (name, bytes) in (target.generated)() {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

fn run_one(root: &Path, target: &Target, seconds: u64) -> Result<Outcome> {
    use std::io::{BufRead, BufReader};

    let seeds = write_seeds(root, target)?;
    let corpus = root.join("fuzz").join("corpus").join(target.name);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let committed = root.join("fuzz").join("seeds").join(target.name);
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["+nightly", "fuzz", "run", target.name])
        .arg(&corpus)
        .arg(&seeds);
    if committed.is_dir() {
        cmd.arg(&committed);
    }
    cmd.arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // An input that takes this long is a hang: reported as a crash.
        .arg("-timeout=20")
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped());
    eprintln!("$ {cmd:?}");
    let t = Instant::now();
    let mut child = cmd.spawn().context("starting cargo fuzz run")?;
    let stderr = child.stderr.take().context("no stderr from cargo fuzz")?;
    let mut out = Outcome {
        name: target.name,
        ..Outcome::default()
    };
    let mut tail: Vec<String> = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        parse_line(&line, &mut out);
        if !is_noise(&line) {
            eprintln!("{line}");
        }
        tail.push(line);
        if tail.len() > 40 {
            tail.remove(0);
        }
    }
    let status = child.wait()?;
    out.seconds = t.elapsed().as_secs_f64();
    if !status.success() && out.crash.is_none() {
        out.crash = Some(format!("(exit {status}; see the output above)"));
    }
    Ok(out)
}

/// libFuzzer's lines about each new input, new function and dictionary entry: many,
/// and of no use in a report (the figures are kept, the crash report is shown).
fn is_noise(line: &str) -> bool {
    let progress = line.starts_with('#')
        && line
            .split_whitespace()
            .nth(1)
            .is_some_and(|k| ["NEW", "REDUCE", "pulse", "RELOAD"].contains(&k));
    progress
        || line.starts_with("\tNEW_FUNC")
        || line.contains("# Uses: ")
        || line.starts_with("###### ")
        || line.starts_with("INFO: ")
}

/// Picks the figures out of one line of libFuzzer output.
fn parse_line(line: &str, out: &mut Outcome) {
    let field = |key: &str| -> Option<&str> {
        let at = line.find(key)? + key.len();
        line[at..].split_whitespace().next()
    };
    if line.starts_with('#') {
        if let Some(v) = field("cov: ").and_then(|v| v.parse().ok()) {
            out.coverage = Some(v);
        }
        if let Some(v) = field("ft: ").and_then(|v| v.parse().ok()) {
            out.features = Some(v);
        }
        if let Some(v) = field("corp: ") {
            out.corpus = Some(v.to_string());
        }
    }
    if let Some(v) = field("stat::number_of_executed_units: ").and_then(|v| v.parse().ok()) {
        out.runs = Some(v);
    }
    if let Some(v) = field("stat::average_exec_per_sec: ").and_then(|v| v.parse().ok()) {
        out.execs_per_sec = Some(v);
    }
    if let Some(path) = field("Test unit written to ") {
        out.crash = Some(path.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_figures() {
        let mut o = Outcome::default();
        for line in [
            "#1048576 pulse  cov: 812 ft: 2301 corp: 140/52Kb lim: 4096 exec/s: 9000 rss: 80Mb",
            "#2000000 DONE   cov: 815 ft: 2310 corp: 142/53Kb lim: 4096 exec/s: 9100 rss: 81Mb",
            "stat::number_of_executed_units: 2000000",
            "stat::average_exec_per_sec:     9100",
        ] {
            parse_line(line, &mut o);
        }
        assert_eq!(o.coverage, Some(815));
        assert_eq!(o.features, Some(2310));
        assert_eq!(o.corpus.as_deref(), Some("142/53Kb"));
        assert_eq!(o.runs, Some(2_000_000));
        assert_eq!(o.execs_per_sec, Some(9100));
        assert_eq!(o.crash, None);
        parse_line(
            "artifact_prefix='fuzz/artifacts/x/'; Test unit written to fuzz/artifacts/x/crash-ab12",
            &mut o,
        );
        assert_eq!(o.crash.as_deref(), Some("fuzz/artifacts/x/crash-ab12"));
    }

    #[test]
    fn hides_only_progress_noise() {
        assert!(is_noise(
            "#671451\tREDUCE cov: 2936 ft: 7327 corp: 1268/128Kb"
        ));
        assert!(is_noise("#2\tNEW    cov: 5 ft: 6 corp: 2/3b"));
        assert!(is_noise("\tNEW_FUNC[1/2]: 0x55 in f"));
        assert!(!is_noise(
            "#2000000\tDONE   cov: 815 ft: 2310 corp: 142/53Kb"
        ));
        assert!(!is_noise("==1234== ERROR: libFuzzer: deadly signal"));
        assert!(!is_noise("stat::number_of_executed_units: 2000000"));
    }

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let root = crate::workspace_root();
        let manifest =
            std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
        for t in TARGETS {
            let src = root
                .join("fuzz/fuzz_targets")
                .join(format!("{}.rs", t.name));
            assert!(src.is_file(), "{} has no {}", t.name, src.display());
            assert!(
                manifest.contains(&format!("name = \"{}\"", t.name)),
                "{} has no [[bin]] in fuzz/Cargo.toml",
                t.name
            );
            let committed = root.join("fuzz/seeds").join(t.name);
            let seeds = t.fixtures.len()
                + (t.generated)().len()
                + std::fs::read_dir(&committed).map_or(0, |d| d.count());
            assert!(seeds > 0, "{} has no seed", t.name);
            for f in t.fixtures {
                assert!(root.join(f).is_file(), "{} seed {f} is missing", t.name);
            }
        }
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let o = args(&[]).expect("no arguments");
        assert_eq!((o.seconds, o.target), (60, None));
        let o = args(&["--seconds", "5", "--target", "cursor"]).expect("both");
        assert_eq!((o.seconds, o.target.as_deref()), (5, Some("cursor")));
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds", "x"]).is_err());
        assert!(args(&["--target", "nope"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }
}
