//! `cargo xtask browser [--screenshot PATH] [--test-build] [--no-install]`: the live web
//! view of `vexjournal serve` in headless Chromium.
//!
//! Installs what is missing (Debian's `chromium`, `nodejs` and `npm` with apt-get;
//! `playwright-core` from npm into a scratch directory under the target directory,
//! never a browser download), then on a scratch journal starts a writer (`vexjournal
//! emit --durable` fed chains of caused events) and `vexjournal serve --listen
//! 127.0.0.1:0 --auth TOKENFILE`, and runs
//! `crates/vexfs-journal-server/tests/browser/view.mjs`: the page loads and asks for
//! the token, rows arrive live, the rate chart updates, a type filter leaves only that
//! type, an event with a parent shows its causality graph and its transaction, and a
//! 1280x800 screenshot is saved (`docs/web-view.png` by default). Every process it
//! starts is ended by its id, on failure too.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::mounts::{self, Build};
use crate::run;

/// The playwright-core release the script is written against (it drives the system's
/// Chromium; it downloads no browser).
const PLAYWRIGHT_CORE: &str = "1.65.1";
/// Debian's Chromium (the `CHROMIUM` environment variable names another build).
const CHROMIUM: &str = "/usr/bin/chromium";
/// The type the script filters by: every event of it has a parent and a transaction.
const FILTER_TYPE: &str = "filesystem.write";
/// The bearer token of the server's token file (a scratch file of this run).
const TOKEN: &str = "browser-test-token-0123456789";
/// How long the script may run before it is ended (it stops itself at 90 s).
const SCRIPT_LIMIT: Duration = Duration::from_secs(110);
/// The pause between two chains the writer emits (four events each).
const WRITER_PAUSE: Duration = Duration::from_millis(150);

const USAGE: &str = "usage: cargo xtask browser [--screenshot PATH] [--test-build] [--no-install]";

/// `cargo xtask browser`.
pub(crate) fn browser(root: &Path, args: &[String]) -> Result<()> {
    let mut screenshot = root.join("docs").join("web-view.png");
    let mut build = Build::Debug;
    let mut install = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--screenshot" => screenshot = PathBuf::from(it.next().context(USAGE)?),
            // CI, right after the tests: their build of vexjournal, no extra compile.
            "--test-build" => build = Build::Tests,
            "--no-install" => install = false,
            other => bail!("unknown argument {other:?} ({USAGE})"),
        }
    }
    let scratch_root = target_dir(root).join("browser-test");
    install_tools(install, &scratch_root)?;
    let bin = mounts::build_vexjournal(root, build)?;
    let started = Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("vexfs-browser")
        .tempdir()
        .context("creating a scratch directory")?;
    // A copy: a target directory shared with other checkouts may get another build
    // of `vexjournal` in its place while this one runs.
    let bin = {
        let copy = scratch.path().join("vexjournal");
        std::fs::copy(&bin, &copy).with_context(|| format!("copying {}", bin.display()))?;
        copy
    };
    let journal = scratch.path().join("journal");
    run(Command::new(&bin)
        .arg("--dir")
        .arg(&journal)
        .arg("init")
        .stdout(Stdio::null()))?;
    if let Some(parent) = screenshot.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }

    // Dropped in reverse order: the script, the server, then the writer.
    let mut writer = Writer::start(&bin, &journal)?;
    // The page is given the token it asks for: the browser exercises the 401 path.
    let tokens = scratch.path().join("tokens");
    write_private(&tokens, &format!("viewer {TOKEN} all\n"))?;
    let mut server = Server::start(&bin, &journal, &tokens)?;
    let script = root
        .join("crates/vexfs-journal-server/tests/browser/view.mjs")
        .canonicalize()
        .context("finding view.mjs")?;
    let mut node = Command::new("node");
    node.arg(&script)
        .env("VIEW_URL", format!("http://{}/", server.addr))
        .env("PLAYWRIGHT_DIR", &scratch_root)
        .env("CHROMIUM", chromium())
        .env("SCREENSHOT", &screenshot)
        .env("FILTER_TYPE", FILTER_TYPE)
        .env("VIEW_TOKEN", TOKEN)
        .stdin(Stdio::null());
    eprintln!("$ {node:?}");
    let mut script_run = Started::new("node view.mjs", node.spawn().context("starting node")?);
    let status = script_run.wait_for(SCRIPT_LIMIT);
    drop(script_run);
    server.stop();
    let emitted = writer.stop();
    eprintln!(
        "browser: {emitted} events emitted; {:.0} s without installs and build",
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(s) if s.success() => {
            println!("browser: PASS (screenshot {})", screenshot.display());
            Ok(())
        }
        Some(s) => bail!("the browser test failed ({s})"),
        None => bail!(
            "the browser test did not finish in {} s",
            SCRIPT_LIMIT.as_secs()
        ),
    }
}

/// The Chromium to drive: `$CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from)
}

/// Where cargo builds: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

/// Writes a file only its owner may read (as `serve --auth` wants a token file).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Chromium, node and npm from Debian, playwright-core from npm into `scratch`.
fn install_tools(install: bool, scratch: &Path) -> Result<()> {
    let mut missing = Vec::new();
    if !chromium().exists() {
        missing.push("chromium");
    }
    if !crate::ci::have("node") {
        missing.push("nodejs");
    }
    if !crate::ci::have("npm") {
        missing.push("npm");
    }
    if !missing.is_empty() {
        if !install || !mounts::running_as_root() || !crate::ci::have("apt-get") {
            bail!("the browser test needs {missing:?}: apt-get install {missing:?}");
        }
        run(Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let manifest = scratch.join("node_modules/playwright-core/package.json");
    let installed = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    if installed.as_deref() != Some(PLAYWRIGHT_CORE) {
        if !install {
            bail!(
                "the browser test needs playwright-core {PLAYWRIGHT_CORE} in {}",
                scratch.display()
            );
        }
        std::fs::create_dir_all(scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        run(Command::new("npm")
            .current_dir(scratch)
            .args(["install", "--no-audit", "--no-fund", "--no-save"])
            .arg(format!("playwright-core@{PLAYWRIGHT_CORE}"))
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))?;
    }
    Ok(())
}

/// A process this run started: ended by its id when dropped, SIGTERM first (the
/// server removes its state, playwright closes Chromium), SIGKILL after 5 s.
struct Started {
    name: &'static str,
    child: Child,
}

impl Started {
    fn new(name: &'static str, child: Child) -> Started {
        Started { name, child }
    }

    /// Its exit status, or `None` when it was still running after `limit`.
    fn wait_for(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        if self.wait_for(Duration::from_secs(5)).is_none() {
            eprintln!("browser: {} ({pid}) ignored SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `vexjournal serve --listen 127.0.0.1:0` and the address it reports.
struct Server {
    process: Option<Started>,
    addr: String,
    log: Option<JoinHandle<()>>,
}

impl Server {
    fn start(bin: &Path, journal: &Path, tokens: &Path) -> Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.arg("--dir")
            .arg(journal)
            .args(["serve", "--listen", "127.0.0.1:0", "--auth"])
            .arg(tokens)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        eprintln!("$ {cmd:?}");
        let mut process = Started::new(
            "vexjournal serve",
            cmd.spawn().context("starting vexjournal serve")?,
        );
        let stderr = process.child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        // "serving DIR on http://ADDR"
        let first = match lines.next() {
            Some(Ok(line)) => line,
            _ => bail!("vexjournal serve ended before saying where it listens"),
        };
        eprintln!("serve: {first}");
        let Some((_, addr)) = first.rsplit_once(" on http://") else {
            bail!("vexjournal serve said {first:?}, not where it listens");
        };
        let addr = addr.trim().to_owned();
        // Keep its log flowing (and shown) so it never blocks on a full pipe.
        let log = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("serve: {line}");
            }
        });
        Ok(Server {
            process: Some(process),
            addr,
            log: Some(log),
        })
    }

    fn stop(&mut self) {
        drop(self.process.take());
        if let Some(log) = self.log.take() {
            let _ = log.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `vexjournal emit --durable` fed by a thread: per round an `agent.decision`, the
/// `filesystem.write` it caused (`parent`), a `vector.embed` caused by the write and
/// linked to the decision, all three in one transaction, and one unrelated event.
struct Writer {
    process: Option<Started>,
    stop: Arc<AtomicBool>,
    feeder: Option<JoinHandle<u64>>,
}

impl Writer {
    fn start(bin: &Path, journal: &Path) -> Result<Writer> {
        let mut cmd = Command::new(bin);
        cmd.arg("--dir")
            .arg(journal)
            .args(["emit", "--durable"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        eprintln!("$ {cmd:?}");
        let mut process = Started::new(
            "vexjournal emit",
            cmd.spawn().context("starting vexjournal emit")?,
        );
        let stdin = process.child.stdin.take().context("no stdin")?;
        let stdout = process.child.stdout.take().context("no stdout")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let feeder = std::thread::spawn(move || feed(stdin, stdout, &flag));
        Ok(Writer {
            process: Some(process),
            stop,
            feeder: Some(feeder),
        })
    }

    /// Stops feeding (emit then ends on its closed stdin) and returns how many events
    /// were emitted.
    fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let emitted = self
            .feeder
            .take()
            .map_or(0, |f| f.join().unwrap_or_default());
        if let Some(mut p) = self.process.take() {
            // Its stdin is closed: it syncs, closes the journal and exits.
            let _ = p.wait_for(Duration::from_secs(5));
        }
        emitted
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes rounds of events until `stop`, reading back each event's sequence number
/// (which `emit` also makes its id, so later events can name it as a parent).
fn feed(stdin: ChildStdin, stdout: ChildStdout, stop: &AtomicBool) -> u64 {
    let mut input = std::io::LineWriter::new(stdin);
    let mut output = BufReader::new(stdout).lines();
    let mut emitted = 0;
    let mut emit = |event: serde_json::Value| -> Option<u64> {
        writeln!(input, "{event}").ok()?;
        let seq = output.next()?.ok()?.trim().parse().ok()?;
        emitted += 1;
        Some(seq)
    };
    let unrelated = [
        ("filesystem.read", "/models/index.json"),
        ("graph.node_create", ""),
        ("observability.metric_collected", ""),
        ("system.sync", ""),
        ("filesystem.create", "/tmp/scratch.tmp"),
    ];
    for round in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let tx = round + 1;
        let agent = format!("planner-{}", round % 3);
        let shard = format!("/models/shard-{}.bin", round % 5);
        let chain = (|| {
            let decision = emit(serde_json::json!({
                "type": "agent.decision", "agent": agent, "tx": tx,
                "intent": format!("rewrite shard {}", round % 5),
            }))?;
            let write = emit(serde_json::json!({
                "type": FILTER_TYPE, "path": shard, "agent": agent,
                "parent": decision, "tx": tx,
            }))?;
            emit(serde_json::json!({
                "type": "vector.embed", "agent": agent, "parent": write, "tx": tx,
                "links": [{"cause": decision, "type": 1, "strength": 80}],
            }))?;
            let (kind, path) = unrelated[(round % 5) as usize];
            let mut other = serde_json::json!({ "type": kind });
            if !path.is_empty() {
                other["path"] = serde_json::json!(path);
            }
            emit(other)
        })();
        if chain.is_none() {
            // emit ended (or refused a line): its stderr says why.
            break;
        }
        std::thread::sleep(WRITER_PAUSE);
    }
    emitted
}
