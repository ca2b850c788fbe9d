//! The verifiable log's parsers (`vexfs-journal-merkle`, `docs/seal.md`): a signed
//! tree head's 144 bytes, an exported head, an inclusion and a consistency proof as
//! JSON. Never panic;
//! what parses prints back to the same value, and checking a parsed proof never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_merkle::{ConsistencyProof, InclusionProof, SignedTreeHead, SigningKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(head) = SignedTreeHead::from_bytes(data) {
        assert_eq!(&head.to_bytes()[..], data, "bytes → head → bytes changed them");
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(head) = SignedTreeHead::from_json(text) {
        let json = serde_json::to_string(&head.to_document(None)).expect("a head prints");
        assert_eq!(SignedTreeHead::from_json(&json), Ok(head));
    }
    if let Ok(proof) = InclusionProof::from_json(text) {
        let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let _ = proof.verify(&key);
        let json = serde_json::to_string(&proof.to_document()).expect("a proof prints");
        assert_eq!(InclusionProof::from_json(&json), Ok(proof));
    }
    if let Ok(proof) = ConsistencyProof::from_json(text) {
        let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let _ = proof.verify(&key);
        let json = serde_json::to_string(&proof.to_document()).expect("a proof prints");
        assert_eq!(ConsistencyProof::from_json(&json), Ok(proof));
    }
});
