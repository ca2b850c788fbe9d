//! The workspace's floors (`../shared/docs/ARCHITECTURE.md`, `docs/architecture.md`),
//! checked over `cargo metadata`: each crate imports only crates on floors below its
//! own, and nothing above the facade imports the storage or index crates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::Command;

/// Floor of each workspace crate: 0 bytes, 1 engine, 2 facade, 3 extensions, 4 apps.
/// Dev-only crates (tests, benchmarks, xtask) are on no floor and may use anything.
const FLOORS: &[(&str, Option<u8>)] = &[
    ("vexfs-journal-format", Some(0)),
    ("vexfs-journal-kernel-codec", Some(0)),
    ("vexfs-journal-telemetry", Some(0)),
    ("vexfs-journal-merkle", Some(0)),
    ("vexfs-journal-cipher", Some(0)),
    ("vexfs-journal-storage", Some(1)),
    ("vexfs-journal-index", Some(1)),
    ("vexfs-journal-recovery", Some(1)),
    ("vexfs-journal", Some(2)),
    ("vexfs-journal-kernel", Some(3)),
    ("vexfs-journal-coordinator", Some(3)),
    ("vexfs-journal-replicate", Some(3)),
    ("vexfs-journal-seal", Some(3)),
    ("vexjournal", Some(4)),
    ("vexfs-journal-fuse", Some(3)),
    ("vexfs-journal-server", Some(3)),
    ("vexfs-journal-testkit", None),
    ("vexfs-journal-benches", None),
    ("xtask", None),
];

/// Crates nothing above the facade may import.
const ENGINE_INTERNALS: &[&str] = &["vexfs-journal-storage", "vexfs-journal-index"];

fn metadata() -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each workspace crate's normal (non-dev, non-build) dependencies on workspace crates.
fn workspace_imports() -> BTreeMap<String, Vec<String>> {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let names: Vec<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .filter(|n| names.contains(n))
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

fn floor_of(name: &str) -> Option<u8> {
    match FLOORS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => *f,
        None => panic!(
            "workspace crate {name} has no floor: add it to FLOORS in {} (and to docs/architecture.md)",
            file!()
        ),
    }
}

#[test]
fn every_crate_imports_only_floors_below_it() {
    let mut wrong = Vec::new();
    for (krate, deps) in workspace_imports() {
        let Some(floor) = floor_of(&krate) else {
            continue;
        };
        for dep in deps {
            match floor_of(&dep) {
                // Engine crates build on each other; bytes-floor crates (the kernel
                // codec) build on the format crate.
                Some(f)
                    if f < floor
                        || (f == floor && (floor == 1 || dep == "vexfs-journal-format")) => {}
                None => wrong.push(format!("{krate} imports the dev-only crate {dep}")),
                Some(f) => wrong.push(format!(
                    "{krate} (floor {floor}) imports {dep} (floor {f}), which is not below it"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn nothing_above_the_facade_imports_storage_or_index() {
    let mut wrong = Vec::new();
    for (krate, deps) in workspace_imports() {
        if floor_of(&krate).is_some_and(|f| f > 2) {
            for dep in deps
                .iter()
                .filter(|d| ENGINE_INTERNALS.contains(&d.as_str()))
            {
                wrong.push(format!(
                    "{krate} imports {dep}: use the facade (`ext`, `admin`)"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_floor_table_knows_every_workspace_crate() {
    for krate in workspace_imports().keys() {
        floor_of(krate);
    }
}

/// The packages `krate` pulls in as normal dependencies, with `args` (features).
fn normal_tree(krate: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            krate,
        ])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree -p {krate}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_synchronous_embedder_does_not_pull_tokio() {
    let tree = normal_tree("vexfs-journal", &["--no-default-features"]);
    assert!(
        tree.iter().any(|p| p == "vexfs-journal-storage"),
        "{tree:?}"
    );
    assert!(!tree.iter().any(|p| p == "tokio"), "{tree:?}");
    let with_async = normal_tree("vexfs-journal", &[]);
    assert!(
        with_async.iter().any(|p| p == "tokio"),
        "the async feature is on by default"
    );
}

#[test]
fn the_kernel_codec_needs_only_the_format_crate() {
    let tree = normal_tree("vexfs-journal-kernel-codec", &[]);
    assert!(tree.iter().any(|p| p == "vexfs-journal-format"), "{tree:?}");
    for banned in [
        "vexfs-journal",
        "vexfs-journal-storage",
        "vexfs-journal-index",
        "vexfs-journal-recovery",
        "tokio",
    ] {
        assert!(
            !tree.iter().any(|p| p == banned),
            "codec pulls {banned}: {tree:?}"
        );
    }
}
