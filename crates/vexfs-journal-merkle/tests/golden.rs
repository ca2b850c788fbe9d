//! Golden documents: a signed tree head and an inclusion proof over the format crate's
//! sample records, byte for byte as committed in `fixtures/seal/` (also the known
//! answers for other tools that check proofs, `docs/seal.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vexfs_journal_format::encode_record;
use vexfs_journal_format::samples::{category_events, sample_ext};
use vexfs_journal_merkle::{
    Frontier, InclusionProof, RangeRoots, SignedTreeHead, SigningKey, TreeHead, inclusion_ranges,
    leaf_hash,
};

fn check_golden(name: &str, text: &str) {
    vexfs_journal_testkit::check_golden(
        &format!("seal/{name}"),
        text.as_bytes(),
        "cargo test -p vexfs-journal-merkle --test golden",
    );
}

#[test]
fn the_sample_records_give_the_committed_head_and_proof() {
    let records: Vec<Vec<u8>> = category_events()
        .into_iter()
        .map(|(_, ev)| {
            let mut out = Vec::new();
            encode_record(&ev, &sample_ext(&ev), &mut out).unwrap();
            out
        })
        .collect();
    assert!(records.len() >= 5);
    let leaves: Vec<_> = records.iter().map(|r| leaf_hash(r)).collect();
    let mut tree = Frontier::new();
    let index = 2u64;
    let mut path = RangeRoots::new(&inclusion_ranges(index, leaves.len() as u64));
    for l in &leaves {
        tree.push(*l);
        path.push(*l);
    }
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let seq_of = |r: &[u8]| {
        vexfs_journal_format::RecordView::parse(r)
            .unwrap()
            .sequence()
    };
    let head = TreeHead {
        journal_id: uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001),
        tree_size: tree.size(),
        first_seq: seq_of(&records[0]),
        timestamp_ns: 1_767_225_600_000_000_000,
        root: tree.root(),
    }
    .sign(&key);
    let head_json =
        serde_json::to_string_pretty(&head.to_document(Some(&key.verifying_key()))).unwrap() + "\n";
    check_golden("head.json", &head_json);
    let proof = InclusionProof {
        seq: seq_of(&records[index as usize]),
        leaf_index: index,
        record: records[index as usize].clone(),
        path: path.finish().unwrap(),
        head,
    };
    proof.verify(&key.verifying_key()).unwrap();
    let proof_json = serde_json::to_string_pretty(&proof.to_document()).unwrap() + "\n";
    check_golden("proof.json", &proof_json);
    // The committed documents parse back and still verify.
    assert_eq!(SignedTreeHead::from_json(&head_json).unwrap(), head);
    InclusionProof::from_json(&proof_json)
        .unwrap()
        .verify(&key.verifying_key())
        .unwrap();
}
