//! `vexjournal kernel export|import|sync|inspect|layout`: the kernel bridge.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;
use vexfs_journal::Compression;
use vexfs_journal::format::layout::all_layouts;
use vexfs_journal_kernel::{
    BridgeConfig, Damage, ImageItem, ImageReader, ImageWriter, KernelBridge, OriginFilter,
    ReaderOptions, WriterOptions, export_events,
};

use super::filters::Filters;
use crate::Cli;
use crate::output::{ReportFormat, human_bytes, kv_table};

/// Exit status of `import` and `sync` when the image had damaged regions (every intact
/// block was still imported).
const EXIT_DAMAGED: u8 = 2;

/// Kernel journal images: export, import, synchronise, inspect; struct layouts.
#[derive(Debug, clap::Subcommand)]
pub enum KernelCommand {
    /// Write the events matching the filters as a kernel journal image.
    Export(Box<ExportArgs>),
    /// Import a kernel journal image (file or block device) into the journal.
    ///
    /// Event ids, global sequences and timestamps are kept; kernel events the journal
    /// already holds are skipped, so importing an image twice adds nothing. Damaged
    /// regions are reported with their byte offset and block, and every intact block is
    /// imported; the exit status is then 2.
    Import(ImportArgs),
    /// Synchronise with a kernel journal source: import what is new, report the
    /// sequence offset and drift. Exit status 2 if the source had damaged regions.
    Sync(SyncArgs),
    /// List the blocks and damaged regions of a kernel image without importing it.
    /// Exit status 2 if it has damaged regions.
    Inspect(InspectArgs),
    /// Print every kernel struct's size and field offsets (from the code).
    Layout(LayoutArgs),
}

/// Block compression of an exported image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageCompression {
    /// Raw LZ4 blocks (blocks LZ4 does not shrink are stored uncompressed).
    Lz4,
    /// Uncompressed blocks.
    None,
}

/// Which events of a journal holding imported kernel events to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportOrigin {
    /// Userspace and imported kernel events (two sequence spaces in one image).
    All,
    /// Only events imported from the kernel.
    Kernel,
    /// Only events emitted in userspace.
    Userspace,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    filters: Filters,
    /// Export at most N events.
    #[arg(short = 'n', long = "lines")]
    n: Option<usize>,
    /// Which events by origin (bridge markers are never exported).
    #[arg(long, value_enum, default_value = "all")]
    origin: ExportOrigin,
    /// The image to write: a file (replaced only once the image is complete; never
    /// inside a journal directory), a block device, or `-` for stdout.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Block compression.
    #[arg(long, value_enum, default_value = "lz4")]
    compression: ImageCompression,
    /// Most events per block.
    #[arg(long, default_value_t = 64)]
    block_events: usize,
    /// Id of the first block.
    #[arg(long, default_value_t = 1)]
    first_block_id: u64,
    /// Report format (on stderr when the image goes to stdout).
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The kernel image (file or block device).
    file: PathBuf,
    /// Most kernel events per atomic import batch.
    #[arg(long, default_value_t = 1024)]
    batch_events: usize,
    /// Report format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The kernel journal source (an image of the kernel's journal area, a file exported
    /// by the module, or the block device).
    #[arg(long, value_name = "PATH")]
    source: PathBuf,
    /// Drift magnitude not reported as drift.
    #[arg(long, default_value_t = 0)]
    drift_tolerance: u64,
    /// Report format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The kernel image (file or block device).
    file: PathBuf,
    /// Report format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

#[derive(Debug, clap::Args)]
pub struct LayoutArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

pub fn run(cli: &Cli, cmd: &KernelCommand) -> Result<ExitCode> {
    match cmd {
        KernelCommand::Export(a) => export(cli, a),
        KernelCommand::Import(a) => import(cli, a),
        KernelCommand::Sync(a) => sync(cli, a),
        KernelCommand::Inspect(a) => inspect(a),
        KernelCommand::Layout(a) => layout(a),
    }
}

fn export(cli: &Cli, args: &ExportArgs) -> Result<ExitCode> {
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut q = args.filters.to_query()?;
    q.limit = args.n;
    let opts = WriterOptions {
        compression: match args.compression {
            ImageCompression::Lz4 => Compression::Lz4,
            ImageCompression::None => Compression::None,
        },
        block_events: args.block_events,
        first_block_id: args.first_block_id,
        ..WriterOptions::default()
    };
    let origin = match args.origin {
        ExportOrigin::All => OriginFilter::All,
        ExportOrigin::Kernel => OriginFilter::Kernel,
        ExportOrigin::Userspace => OriginFilter::Userspace,
    };
    let to_stdout = args.out.as_os_str() == "-";
    let name = if to_stdout {
        "stdout".to_string()
    } else {
        args.out.display().to_string()
    };
    let (report, summary) = if to_stdout {
        let mut writer = ImageWriter::new(BufWriter::new(std::io::stdout().lock()), &name, opts)?;
        let report = export_events(&reader, &q, origin, &mut writer)?;
        let (_, summary) = writer.finish()?;
        (report, summary)
    } else {
        crate::outfile::refuse_inside_journal(&args.out, &cli.dir, "--out")?;
        let device = std::fs::metadata(&args.out).is_ok_and(|m| !m.is_file() && !m.is_dir());
        let write = |w: BufWriter<File>| -> Result<_> {
            let mut writer = ImageWriter::new(w, &name, opts)?;
            let report = export_events(&reader, &q, origin, &mut writer)?;
            let (buf, summary) = writer.finish()?;
            let file = crate::outfile::finish(buf).with_context(|| format!("writing {name}"))?;
            Ok((file, report, summary))
        };
        if device {
            // A block device (or other special file) is written in place.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&args.out)
                .with_context(|| format!("opening {name}"))?;
            let (file, report, summary) =
                write(BufWriter::new(file)).with_context(|| format!("exporting to {name}"))?;
            file.sync_all().with_context(|| format!("syncing {name}"))?;
            (report, summary)
        } else {
            // A file is replaced only once the whole image is written and synced.
            let out = crate::outfile::AtomicOut::create(&args.out)?;
            let (_, report, summary) =
                write(out.writer()?).with_context(|| format!("exporting to {name}"))?;
            out.commit()?;
            (report, summary)
        }
    };
    let rows = vec![
        ("image".to_string(), name.clone()),
        ("events".into(), report.events.to_string()),
        (
            "journal sequences".into(),
            report
                .seq_range
                .map_or("-".into(), |(a, b)| format!("{a}..={b}")),
        ),
        ("blocks".into(), summary.blocks.to_string()),
        ("lz4 blocks".into(), summary.compressed_blocks.to_string()),
        ("bytes".into(), human_bytes(summary.bytes)),
        (
            "kernel event bytes".into(),
            human_bytes(summary.event_bytes),
        ),
        (
            "bridge markers left out".into(),
            report.markers_skipped.to_string(),
        ),
    ];
    let v = json!({"image": name, "export": report, "image_summary": summary});
    if to_stdout {
        let mut err = std::io::stderr().lock();
        print_report(&mut err, args.output, &rows, &v)?;
    } else {
        print_report(&mut std::io::stdout().lock(), args.output, &rows, &v)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(
    out: &mut impl Write,
    format: ReportFormat,
    rows: &[(String, String)],
    v: &serde_json::Value,
) -> Result<()> {
    match format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(v)?)?,
        ReportFormat::Table => writeln!(out, "{}", kv_table(rows))?,
    }
    Ok(())
}

fn damage_rows(damage: &[Damage]) -> Vec<(String, String)> {
    damage
        .iter()
        .map(|d| ("damaged".to_string(), d.to_string()))
        .collect()
}

fn open_bridge(cli: &Cli, config: BridgeConfig) -> Result<KernelBridge> {
    // A missing journal's error already says to create it with `vexjournal init`.
    let journal = cli
        .open_existing(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    Ok(KernelBridge::new(journal, config)?)
}

fn import(cli: &Cli, args: &ImportArgs) -> Result<ExitCode> {
    let bridge = open_bridge(
        cli,
        BridgeConfig {
            batch_events: args.batch_events,
            ..BridgeConfig::default()
        },
    )?;
    let report = bridge
        .import_image(&args.file)
        .with_context(|| format!("importing {}", args.file.display()))?;
    bridge.journal().close()?;
    let mut rows = vec![
        ("image".to_string(), report.source.clone()),
        ("intact blocks".into(), report.blocks.to_string()),
        ("events read".into(), report.events_read.to_string()),
        ("imported".into(), report.imported.to_string()),
        ("already present".into(), report.already_present.to_string()),
        (
            "journal sequences".into(),
            match (report.journal_ranges.first(), report.journal_ranges.last()) {
                (Some(a), Some(b)) => format!(
                    "{}..={} ({} batch{})",
                    a.0,
                    b.1,
                    report.batches,
                    if report.batches == 1 { "" } else { "es" }
                ),
                _ => "-".into(),
            },
        ),
        (
            "kernel sequences".into(),
            report
                .kernel_range
                .map_or("-".into(), |(a, b)| format!("{a}..={b}")),
        ),
        (
            "last kernel sync sequence".into(),
            format!("{} -> {}", report.synced_before, report.synced_after),
        ),
        ("damaged regions".into(), report.damage.len().to_string()),
    ];
    if report.unsequenced > 0 {
        rows.push((
            "skipped: global sequence 0".into(),
            format!(
                "{} (event ids {})",
                report.unsequenced,
                report
                    .unsequenced_ids
                    .iter()
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    rows.extend(damage_rows(&report.damage));
    print_report(
        &mut std::io::stdout().lock(),
        args.output,
        &rows,
        &json!(report),
    )?;
    Ok(if report.damage.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DAMAGED)
    })
}

fn sync(cli: &Cli, args: &SyncArgs) -> Result<ExitCode> {
    let bridge = open_bridge(
        cli,
        BridgeConfig {
            source: Some(args.source.clone()),
            drift_tolerance: args.drift_tolerance,
            ..BridgeConfig::default()
        },
    )?;
    let r = bridge
        .sync()
        .with_context(|| format!("synchronising with {}", args.source.display()))?;
    bridge.journal().close()?;
    let mut rows = vec![
        ("source".to_string(), args.source.display().to_string()),
        ("kernel sequence".into(), r.kernel_sequence.to_string()),
        ("kernel event id".into(), r.kernel_event_id.to_string()),
        (
            "userspace sequence".into(),
            format!(
                "{} -> {}",
                r.userspace_sequence_before, r.userspace_sequence
            ),
        ),
        (
            "last kernel sync sequence".into(),
            r.synced_kernel_sequence.to_string(),
        ),
        ("offset (kernel - userspace)".into(), r.offset.to_string()),
        (
            "drift".into(),
            format!(
                "{}{}",
                r.drift,
                if r.drift_detected { " (detected)" } else { "" }
            ),
        ),
        ("kernel lag".into(), r.kernel_lag.to_string()),
        ("imported".into(), r.imported.to_string()),
        ("already present".into(), r.already_present.to_string()),
        (
            "latency".into(),
            format!("{:.3} ms", r.latency.as_secs_f64() * 1e3),
        ),
        ("damaged regions".into(), r.damage.len().to_string()),
    ];
    rows.extend(damage_rows(&r.damage));
    print_report(&mut std::io::stdout().lock(), args.output, &rows, &json!(r))?;
    Ok(if r.damage.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DAMAGED)
    })
}

fn inspect(args: &InspectArgs) -> Result<ExitCode> {
    let mut reader = ImageReader::open(&args.file, ReaderOptions::default())?;
    let mut blocks = Vec::new();
    let mut damage = Vec::new();
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header([
            "offset",
            "block id",
            "size",
            "compression",
            "events",
            "event ids",
            "kernel sequences",
        ]);
    while let Some(item) = reader.next_item()? {
        match item {
            ImageItem::Block(b) => {
                let (lo, hi) = b.events.iter().fold((u64::MAX, 0), |(lo, hi), e| {
                    (lo.min(e.global_sequence), hi.max(e.global_sequence))
                });
                let seqs = if b.events.is_empty() {
                    "-".to_string()
                } else {
                    format!("{lo}..={hi}")
                };
                table.add_row([
                    b.offset.to_string(),
                    b.header.block_id.to_string(),
                    b.header.block_size.to_string(),
                    b.header.compression.to_string(),
                    b.header.event_count.to_string(),
                    format!("{}..={}", b.header.first_event_id, b.header.last_event_id),
                    seqs.clone(),
                ]);
                blocks.push(json!({
                    "offset": b.offset,
                    "block_id": b.header.block_id,
                    "block_size": b.header.block_size,
                    "compression": b.header.compression.name(),
                    "events": b.header.event_count,
                    "first_event_id": b.header.first_event_id,
                    "last_event_id": b.header.last_event_id,
                    "kernel_sequences": seqs,
                }));
            }
            ImageItem::Damage(d) => {
                table.add_row([
                    d.offset.to_string(),
                    d.block_id.map_or("?".into(), |i| i.to_string()),
                    d.length.to_string(),
                    "DAMAGED".into(),
                    "-".into(),
                    "-".into(),
                    d.kind.to_string(),
                ]);
                damage.push(d);
            }
        }
    }
    let stats = reader.stats().clone();
    let mut out = std::io::stdout().lock();
    match args.output {
        ReportFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &json!({"blocks": blocks, "damage": damage, "stats": stats})
            )?
        )?,
        ReportFormat::Table => {
            writeln!(out, "{table}")?;
            writeln!(
                out,
                "{} intact blocks, {} events, {} damaged regions ({}), {} of unused zeros at the end",
                stats.blocks,
                stats.events,
                stats.damaged_regions,
                human_bytes(stats.damaged_bytes),
                human_bytes(stats.trailing_zero_bytes)
            )?;
            for d in &damage {
                writeln!(out, "damaged: {d}")?;
            }
        }
    }
    Ok(if damage.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DAMAGED)
    })
}

fn layout(args: &LayoutArgs) -> Result<ExitCode> {
    let layouts = all_layouts();
    let mut out = std::io::stdout().lock();
    match args.output {
        ReportFormat::Json => {
            let v: Vec<_> = layouts
                .iter()
                .map(|s| {
                    json!({
                        "struct": s.name,
                        "size": s.size,
                        "fields": s.fields.iter().map(|f| json!({
                            "field": f.name, "offset": f.offset, "size": f.size
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Table => {
            for (i, s) in layouts.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "struct {} ({} bytes, packed)", s.name, s.size)?;
                writeln!(out, "  {:>6}  {:>5}  field", "offset", "size")?;
                for f in &s.fields {
                    writeln!(out, "  {:>6}  {:>5}  {}", f.offset, f.size, f.name)?;
                }
                let end = s.fields.last().map_or(0, |f| f.offset + f.size);
                if end != s.size {
                    bail!(
                        "{}: fields end at {end} but the struct is {} bytes",
                        s.name,
                        s.size
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
