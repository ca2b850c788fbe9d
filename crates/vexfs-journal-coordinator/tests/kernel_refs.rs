//! Kernel event references: a transaction names kernel events the bridge imported;
//! the references become visible with its commit, never after an abort, and bad
//! references are refused before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{event, quick};
use vexfs_journal::{Config, Event, FsOp, Journal, Query, SemanticOp};
use vexfs_journal_coordinator::{
    Coordinator, CoordinatorError, JournalParticipant, KernelEventRef, Participant,
};
use vexfs_journal_kernel::{BridgeConfig, ImageWriter, KernelBridge, WriterOptions};

/// A journal with kernel events 41, 42, 43 (kernel sequences 7, 8, 9) imported by the
/// bridge.
fn kernel_journal(dir: &std::path::Path) -> Journal {
    let mut image = ImageWriter::new(Vec::new(), "image", WriterOptions::default()).unwrap();
    for (id, seq) in [(41, 7), (42, 8), (43, 9)] {
        let mut e = Event::filesystem(FsOp::Create).path(format!("/k/{id}"));
        e.event_id = id;
        e.global_sequence = seq;
        image.push(&e).unwrap();
    }
    let (bytes, _) = image.finish().unwrap();
    let journal = Journal::create(dir, Config::default()).unwrap();
    let bridge = KernelBridge::new(journal.clone(), BridgeConfig::default()).unwrap();
    assert_eq!(
        bridge.import_reader(&bytes[..], "image").unwrap().imported,
        3
    );
    journal
}

/// The kernel references a read-committed reader of `j` sees.
fn refs(j: &Journal) -> Vec<KernelEventRef> {
    let q = Query::new().types([SemanticOp::CausalityLink.into()]);
    j.query(&q)
        .unwrap()
        .events
        .iter()
        .filter_map(|e| KernelEventRef::from_event(&e.event))
        .collect()
}

fn r(event_id: u64, kernel_sequence: u64) -> KernelEventRef {
    KernelEventRef {
        event_id,
        kernel_sequence,
    }
}

#[test]
fn kernel_references_commit_and_abort_with_their_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = kernel_journal(&dir.path().join("kernel"));
    let fuse = Journal::create(dir.path().join("fuse"), Config::default()).unwrap();
    let parts: Vec<Arc<dyn Participant>> = vec![
        Arc::new(JournalParticipant::new("kernel", kernel.clone())),
        Arc::new(JournalParticipant::new("fuse", fuse.clone())),
    ];
    let (c, _) = Coordinator::open(dir.path().join("coordinator"), parts, quick()).unwrap();

    let tx = c.begin(&["kernel", "fuse"]).unwrap();
    c.add_events(tx, "fuse", vec![event("w")]).unwrap();
    let range = c
        .add_kernel_event_refs(tx, "kernel", &[r(41, 7), r(42, 8)])
        .unwrap();
    assert_eq!(range.end - range.start, 2);
    assert!(refs(&kernel).is_empty(), "visible before the commit");
    c.commit(tx).unwrap();
    assert_eq!(refs(&kernel), [r(41, 7), r(42, 8)]);
    // Each reference names an event the bridge imported, by the kernel's own id.
    let imported: Vec<u64> = kernel
        .query(&Query::new().types([FsOp::Create.into()]))
        .unwrap()
        .events
        .iter()
        .map(|e| e.event.event_id)
        .collect();
    for x in refs(&kernel) {
        assert!(imported.contains(&x.event_id), "{x:?} in {imported:?}");
    }

    // Aborted: its reference is never shown, and it holds no reader back.
    let tx = c.begin(&["kernel"]).unwrap();
    c.add_kernel_event_refs(tx, "kernel", &[r(43, 9)]).unwrap();
    c.abort(tx).unwrap();
    assert_eq!(refs(&kernel), [r(41, 7), r(42, 8)]);
    assert_eq!(kernel.held_by().unwrap(), None);

    // Bad references are refused before anything is written; the transaction stays
    // open.
    let tx = c.begin(&["kernel", "fuse"]).unwrap();
    let before = kernel.next_seq();
    for (bad, what) in [
        (vec![], "none given"),
        (vec![r(0, 5)], "event id 0"),
        (vec![r(43, 9), r(43, 9)], "named twice"),
    ] {
        let err = c.add_kernel_event_refs(tx, "kernel", &bad).unwrap_err();
        assert!(
            matches!(&err, CoordinatorError::BadKernelRefs { reason } if reason.contains(what)),
            "{err}"
        );
    }
    assert!(matches!(
        c.add_kernel_event_refs(tx, "nobody", &[r(43, 9)]),
        Err(CoordinatorError::NotAParticipant { .. })
    ));
    assert_eq!(kernel.next_seq(), before);
    c.add_kernel_event_refs(tx, "kernel", &[r(43, 9)]).unwrap();
    c.commit(tx).unwrap();
    assert_eq!(refs(&kernel), [r(41, 7), r(42, 8), r(43, 9)]);
    c.close().unwrap();
}
