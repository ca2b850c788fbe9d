//! `vexjournal seal keygen|head|list`, `vexjournal prove`, `vexjournal verify-proof`:
//! the verifiable log (`docs/seal.md`). `vexjournal verify --trusted-head` is in
//! `verify.rs`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use vexfs_journal::format::record::decode_record;
use vexfs_journal::{ErrorKind, StoredEvent};
use vexfs_journal_seal::merkle::proof::CONSISTENCY_DOCUMENT_FORMAT;
use vexfs_journal_seal::merkle::{
    ConsistencyProof, InclusionProof, SignedTreeHead, document_format,
};
use vexfs_journal_seal::{
    Sealer, heads, prove, prove_consistency, read_public_key, read_signing_key,
};

use crate::Cli;

/// Signed tree heads: make a key pair, sign and write a head, list the heads written.
#[derive(Debug, clap::Subcommand)]
pub enum SealCommand {
    /// Generate a signing key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub.
    Keygen {
        /// Where to write the two files (neither may exist).
        prefix: PathBuf,
    },
    /// Sign the head of the journal's Merkle tree, write it into the journal and print
    /// it as JSON; keep that output where an attacker cannot change it, and check the
    /// journal against it later with `vexjournal verify --trusted-head`.
    Head {
        /// The signing key (PREFIX.key from `seal keygen`; mode 0600).
        #[arg(long)]
        key: PathBuf,
        /// Only print the head, without writing it into the journal (for a journal
        /// another process is writing).
        #[arg(long)]
        no_write: bool,
    },
    /// List the heads written in the journal.
    List,
}

pub fn run(cli: &Cli, cmd: &SealCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        SealCommand::Keygen { prefix } => {
            let (secret, public) = vexfs_journal_seal::write_key_pair(prefix)?;
            writeln!(
                out,
                "wrote {} (secret: keep it private) and {}",
                secret.display(),
                public.display()
            )?;
        }
        SealCommand::Head { key, no_write } => {
            let key = read_signing_key(key)?;
            let public = key.verifying_key();
            let mut sealer = Sealer::new(key);
            let head = if *no_write {
                let reader = cli
                    .open_reader(&cli.dir)
                    .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
                sealer.head(&reader)?
            } else {
                let journal = match cli.open_existing(&cli.dir) {
                    Err(e)
                        if e.downcast_ref::<vexfs_journal::JournalError>()
                            .is_some_and(|j| j.kind() == ErrorKind::Locked) =>
                    {
                        return Err(e.context(
                            "another process is writing the journal: sign from that \
                             process (vexfs_journal_seal::Sealer), or print a head \
                             without writing it with --no-write",
                        ));
                    }
                    r => {
                        r.with_context(|| format!("opening the journal in {}", cli.dir.display()))?
                    }
                };
                let head = sealer.seal(&journal)?;
                journal.close()?;
                head
            };
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&head.to_document(Some(&public)))?
            )?;
        }
        SealCommand::List => {
            let reader = cli
                .open_reader(&cli.dir)
                .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
            for h in heads(&reader)? {
                let line = match h.head {
                    Ok(s) => json!({
                        "seq": h.seq,
                        "tree_size": s.head.tree_size,
                        "first_seq": s.head.first_seq,
                        "time": vexfs_journal::json::format_time(
                            i64::try_from(s.head.timestamp_ns).unwrap_or(i64::MAX)
                        ),
                        "root": hex_of(&s.head.root),
                    }),
                    Err(e) => json!({ "seq": h.seq, "error": e.to_string() }),
                };
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes as lowercase hexadecimal (roots and keys in messages).
pub(crate) fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a trusted head exported by `vexjournal seal head`.
pub fn read_head(path: &std::path::Path) -> Result<SignedTreeHead> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the tree head {}", path.display()))?;
    SignedTreeHead::from_json(&text).with_context(|| format!("reading {}", path.display()))
}

/// Print a proof, as JSON that `vexjournal verify-proof` (or any RFC 6962 verifier, see
/// docs/seal.md) checks offline: that the event with sequence SEQ is in the journal
/// (the record's bytes, its Merkle path and the signed head they lead to), or with
/// --since that a newer signed head extends an older one (the log was only appended
/// to in between).
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// Sequence number of the event.
    #[arg(required_unless_present = "since", conflicts_with = "since")]
    seq: Option<u64>,
    /// Prove that the journal's newest head (or --head) extends this older exported
    /// head, instead of proving an event.
    #[arg(long, value_name = "OLD_HEAD")]
    since: Option<PathBuf>,
    /// Prove against this exported head instead of the last head written in the
    /// journal (that covers the event).
    #[arg(long)]
    head: Option<PathBuf>,
}

pub fn prove_cmd(cli: &Cli, args: &ProveArgs) -> Result<ExitCode> {
    let head = args.head.as_deref().map(read_head).transpose()?;
    let since = args.since.as_deref().map(read_head).transpose()?;
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let doc = match (since, args.seq) {
        (Some(old), _) => {
            serde_json::to_value(prove_consistency(&reader, old, head)?.to_document())?
        }
        (None, Some(seq)) => serde_json::to_value(prove(&reader, seq, head)?.to_document())?,
        (None, None) => anyhow::bail!("give the sequence of an event, or --since OLD_HEAD"),
    };
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&doc)?
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Check a proof printed by `vexjournal prove` with the signer's public key, without
/// the journal; print the proven event (or, for `prove --since`, the two heads). Exit
/// status 0 only when the proof holds.
#[derive(Debug, clap::Args)]
pub struct VerifyProofArgs {
    /// The proof (JSON from `vexjournal prove`); `-` reads stdin.
    proof: PathBuf,
    /// The signer's public key (PREFIX.pub from `seal keygen`).
    #[arg(long)]
    pubkey: PathBuf,
}

pub fn verify_proof(args: &VerifyProofArgs) -> Result<ExitCode> {
    let text = if args.proof.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the proof from stdin")?
    } else {
        std::fs::read_to_string(&args.proof)
            .with_context(|| format!("reading the proof {}", args.proof.display()))?
    };
    let key = read_public_key(&args.pubkey)?;
    if document_format(&text).as_deref() == Some(CONSISTENCY_DOCUMENT_FORMAT) {
        return verify_consistency_proof(&text, args, &key);
    }
    let proof = InclusionProof::from_json(&text)
        .with_context(|| format!("reading the proof {}", args.proof.display()))?;
    let mut out = std::io::stdout().lock();
    if let Err(e) = proof.verify(&key) {
        writeln!(out, "PROOF FAILS: {e}")?;
        return Ok(ExitCode::FAILURE);
    }
    // The proof held, so the record parsed and checked: decoding it cannot fail.
    let (event, ext, _) = decode_record(&proof.record).context("decoding the proven record")?;
    let stored = StoredEvent {
        seq: proof.seq,
        event,
        ext,
    };
    writeln!(
        out,
        "proof holds: sequence {} is record {} of the {} of journal {} signed at {} (root {})",
        proof.seq,
        proof.leaf_index,
        proof.head.head.tree_size,
        proof.head.head.journal_id,
        vexfs_journal::json::format_time(
            i64::try_from(proof.head.head.timestamp_ns).unwrap_or(i64::MAX)
        ),
        hex_of(&proof.head.head.root),
    )?;
    writeln!(out, "{}", vexfs_journal::json::to_json(&stored))?;
    Ok(ExitCode::SUCCESS)
}

fn verify_consistency_proof(
    text: &str,
    args: &VerifyProofArgs,
    key: &vexfs_journal_seal::merkle::VerifyingKey,
) -> Result<ExitCode> {
    let proof = ConsistencyProof::from_json(text)
        .with_context(|| format!("reading the proof {}", args.proof.display()))?;
    let mut out = std::io::stdout().lock();
    if let Err(e) = proof.verify(key) {
        writeln!(out, "PROOF FAILS: {e}")?;
        return Ok(ExitCode::FAILURE);
    }
    let time = |ns: u64| vexfs_journal::json::format_time(i64::try_from(ns).unwrap_or(i64::MAX));
    writeln!(
        out,
        "proof holds: the {} records signed at {} are the first of the {} signed at {} \
         (journal {}): only appended to in between",
        proof.old.head.tree_size,
        time(proof.old.head.timestamp_ns),
        proof.new.head.tree_size,
        time(proof.new.head.timestamp_ns),
        proof.new.head.journal_id,
    )?;
    Ok(ExitCode::SUCCESS)
}
