//! `vexjournal seal`, `verify --trusted-head`, `prove` and `verify-proof` through the
//! binary, as an operator uses them: keys, an exported head, tampering, wrong keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Run, run_in};
use serde_json::json;

fn vj(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run_in(dir, args, stdin, &[])
}

fn emit(dir: &Path, from: u64, n: u64) {
    let lines: String = (from..from + n)
        .map(|i| json!({"type": "filesystem.write", "path": format!("/f/{i}")}).to_string() + "\n")
        .collect();
    vj(dir, &["emit"], lines.as_bytes()).ok();
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

// Checks I58 (docs/invariants.md).
#[test]
fn an_operator_seals_exports_verifies_and_proves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("j");
    let keys = tmp.path().join("ops");
    let (secret, public) = (keys.with_extension("key"), keys.with_extension("pub"));
    vj(dir, &["init"], b"").ok();
    // Two runs: two blocks, so the tail can be cut between them below.
    emit(dir, 0, 10);
    emit(dir, 10, 10);
    vj(dir, &["seal", "keygen", arg(&keys)], b"").ok();
    // Keys are never overwritten.
    let again = vj(dir, &["seal", "keygen", arg(&keys)], b"").fails();
    assert!(again.stderr.contains("refusing to overwrite"), "{again:?}");

    let head = vj(dir, &["seal", "head", "--key", arg(&secret)], b"").ok();
    assert_eq!(head.json()["tree_size"], 20);
    let head_file = tmp.path().join("head.json");
    std::fs::write(&head_file, &head.stdout).unwrap();
    emit(dir, 20, 5);
    vj(dir, &["seal", "head", "--key", arg(&secret)], b"").ok();
    let list = vj(dir, &["seal", "list"], b"").ok().ndjson();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["tree_size"], 26, "20 + the first head + 5");

    let trusted = [
        "verify",
        "--trusted-head",
        arg(&head_file),
        "--pubkey",
        arg(&public),
    ];
    let clean = vj(dir, &trusted, b"").ok();
    assert!(
        clean.stdout.contains("the trusted head (20 records) holds"),
        "{clean:?}"
    );
    assert!(
        clean.stdout.contains("records 1..=26 (26) are covered"),
        "{clean:?}"
    );
    let report = vj(dir, &[&trusted[..], &["-o", "json"]].concat(), b"")
        .ok()
        .json();
    assert_eq!(report["seal"]["covered"], 26);

    // A proof checks offline; a changed one does not.
    let proof = vj(dir, &["prove", "7"], b"").ok().stdout;
    let proof_file = tmp.path().join("proof.json");
    std::fs::write(&proof_file, &proof).unwrap();
    let held = vj(
        dir,
        &["verify-proof", arg(&proof_file), "--pubkey", arg(&public)],
        b"",
    )
    .ok();
    assert!(held.stdout.contains("\"path\":\"/f/6\""), "{held:?}");
    let mut doc: serde_json::Value = serde_json::from_str(&proof).unwrap();
    doc["leaf_index"] = json!(8);
    std::fs::write(&proof_file, doc.to_string()).unwrap();
    let failed = vj(
        dir,
        &["verify-proof", arg(&proof_file), "--pubkey", arg(&public)],
        b"",
    );
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(failed.stdout.contains("PROOF FAILS"), "{failed:?}");

    // The newest head extends the exported one: checkable without the journal.
    let since = vj(dir, &["prove", "--since", arg(&head_file)], b"")
        .ok()
        .stdout;
    std::fs::write(&proof_file, &since).unwrap();
    let held = vj(
        dir,
        &["verify-proof", arg(&proof_file), "--pubkey", arg(&public)],
        b"",
    )
    .ok();
    assert!(held.stdout.contains("the 20 records signed at"), "{held:?}");
    assert!(held.stdout.contains("are the first of the 26"), "{held:?}");
    let mut doc: serde_json::Value = serde_json::from_str(&since).unwrap();
    doc["new"]["tree_size"] = json!(27);
    std::fs::write(&proof_file, doc.to_string()).unwrap();
    vj(
        dir,
        &["verify-proof", arg(&proof_file), "--pubkey", arg(&public)],
        b"",
    )
    .fails();
    let both = vj(dir, &["prove", "7", "--since", arg(&head_file)], b"").fails();
    assert!(both.stderr.contains("cannot be used with"), "{both:?}");

    // Another key verifies nothing.
    let other = tmp.path().join("other");
    vj(dir, &["seal", "keygen", arg(&other)], b"").ok();
    let wrong = vj(
        dir,
        &[
            "verify",
            "--trusted-head",
            arg(&head_file),
            "--pubkey",
            arg(&other.with_extension("pub")),
        ],
        b"",
    )
    .fails();
    assert!(
        wrong.stdout.contains("signature does not verify"),
        "{wrong:?}"
    );

    // The journal's tail cut off: the manifest notices first; once someone accepts
    // the loss (`recover --mode salvage`, as an attacker covering tracks would), the
    // trusted head still tells.
    let seg = vexfs_journal_testkit::segment_files(dir)[0].clone();
    let blocks = vexfs_journal_testkit::blocks::segment_blocks(&seg);
    let cut = blocks.iter().find(|b| b.3 >= 15).unwrap().0;
    vexfs_journal_testkit::set_len(&seg, cut);
    vj(dir, &trusted, b"").fails();
    vj(dir, &["recover", "--mode", "salvage"], b"").ok();
    let cut_run = vj(dir, &trusted, b"").fails();
    assert!(cut_run.stdout.contains("does NOT hold"), "{cut_run:?}");
    assert!(
        cut_run.stdout.contains("the tail was truncated"),
        "{cut_run:?}"
    );
}

#[test]
fn sealing_refuses_loose_keys_and_a_journal_held_by_a_writer() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("j");
    let keys = tmp.path().join("k");
    vj(dir, &["init"], b"").ok();
    emit(dir, 0, 3);
    vj(dir, &["seal", "keygen", arg(&keys)], b"").ok();
    let secret = keys.with_extension("key");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let loose = vj(dir, &["seal", "head", "--key", arg(&secret)], b"").fails();
    assert!(loose.stderr.contains("chmod 600"), "{loose:?}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A writer holds the journal: sealing into it is refused with what to do instead,
    // and --no-write still prints a head of what is written.
    let mut writer = common::spawn_durable_emit(dir, std::process::Stdio::null());
    let stdin = writer.stdin.as_mut().unwrap();
    std::io::Write::write_all(stdin, b"{\"type\":\"filesystem.create\",\"path\":\"/w\"}\n")
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(writer.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let held = vj(dir, &["seal", "head", "--key", arg(&secret)], b"").fails();
    assert!(held.stderr.contains("--no-write"), "{held:?}");
    let printed = vj(
        dir,
        &["seal", "head", "--key", arg(&secret), "--no-write"],
        b"",
    )
    .ok();
    assert_eq!(printed.json()["tree_size"], 4);
    drop(writer.stdin.take());
    writer.wait().unwrap();
    assert!(vj(dir, &["seal", "list"], b"").ok().stdout.is_empty());
}

#[test]
fn a_journal_directory_others_may_write_is_refused_unless_told() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("shared");
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = vj(dir, &["init"], b"").fails();
    assert!(refused.stderr.contains("chmod o-w"), "{refused:?}");
    vj(dir, &["init", "--allow-others-writable"], b"").ok();
    let line = b"{\"type\":\"filesystem.create\",\"path\":\"/x\"}\n";
    let refused = vj(dir, &["emit"], line).fails();
    assert!(
        refused.stderr.contains("writable by other users"),
        "{refused:?}"
    );
    run_in(
        dir,
        &["emit"],
        line,
        &[("VEXJOURNAL_ALLOW_OTHERS_WRITABLE", "1")],
    )
    .ok();
    // Reading needs no permission: cat and verify work on it as it is.
    assert_eq!(
        vj(dir, &["cat", "-o", "ndjson"], b"").ok().ndjson().len(),
        1
    );
    // A new journal directory is made 0700.
    let fresh = &tmp.path().join("fresh");
    vj(fresh, &["init"], b"").ok();
    let mode = std::fs::metadata(fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}
