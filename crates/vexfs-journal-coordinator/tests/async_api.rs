//! The async variants: they run on Tokio's blocking pool (an executor thread never
//! waits on a participant or a disk), return what the synchronous ones return, and
//! refuse to run outside a runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{NAMES, World, event, payloads, quick};
use futures_util::FutureExt;
use vexfs_journal_coordinator::CoordinatorError;

#[test]
fn a_slow_participant_does_not_block_a_single_threaded_executor() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let w = Arc::new(w);
    let graph = w.parts[2].clone();
    graph.hold_prepare.store(true, Ordering::Relaxed);
    // Should the commit block the only executor thread, nothing would release the
    // participant: a watchdog does after a while, and the test then fails.
    let watchdog_fired = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (graph, fired) = (graph.clone(), watchdog_fired.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(20));
            if graph.hold_prepare.swap(false, Ordering::Relaxed) {
                fired.store(true, Ordering::Relaxed);
            }
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = w.coord();
        let tx = c.begin_async(&NAMES).await.unwrap();
        for name in NAMES {
            c.add_events_async(tx, name, vec![event(name)])
                .await
                .unwrap();
        }
        let done = AtomicBool::new(false);
        let commit = async {
            let r = c.commit_async(tx).await;
            done.store(true, Ordering::Relaxed);
            r
        };
        let other = async {
            // Runs on the same (only) executor thread while the commit waits. (Not
            // `status`: it takes the transaction's lock, held by the commit.)
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(!done.load(Ordering::Relaxed));
            graph.hold_prepare.store(false, Ordering::Relaxed);
        };
        let (committed, ()) = tokio::join!(commit, other);
        committed.unwrap();
    });
    assert!(
        !watchdog_fired.load(Ordering::Relaxed),
        "the executor was blocked"
    );
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(payloads(&w, i), [*name]);
    }
    assert_eq!(w.coord().metrics().committed, 1);
    graph.hold_prepare.store(false, Ordering::Relaxed);
    drop(watchdog);
}

#[test]
fn concurrent_async_transactions_all_commit_or_abort_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let w = Arc::new(w);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..32u32 {
            let w = w.clone();
            tasks.spawn(async move {
                let c = w.coord();
                let tx = c.begin_async(&NAMES).await.unwrap();
                for name in NAMES {
                    c.add_events_async(tx, name, vec![event(&format!("{k}"))])
                        .await
                        .unwrap();
                }
                if k % 4 == 3 {
                    c.abort_async(tx).await.unwrap();
                } else {
                    c.prepare_async(tx).await.unwrap();
                    c.commit_async(tx).await.unwrap();
                }
                (k, tx)
            });
        }
        tasks.join_all().await
    });
    assert_eq!(results.len(), 32);
    for (i, name) in NAMES.iter().enumerate() {
        let mut seen: Vec<u32> = payloads(&w, i).iter().map(|p| p.parse().unwrap()).collect();
        seen.sort_unstable();
        let want: Vec<u32> = (0..32).filter(|k| k % 4 != 3).collect();
        assert_eq!(seen, want, "{name}");
    }
    let m = w.coord().metrics();
    assert_eq!((m.begun, m.committed, m.aborted), (32, 24, 8));
}

#[test]
fn async_errors_are_the_synchronous_ones_and_a_missing_runtime_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let c = w.coord();
    let unknown = NonZeroU64::new(999).unwrap();
    // Outside a runtime: refused at once, nothing done.
    let err = c.commit_async(unknown).now_or_never().unwrap().unwrap_err();
    assert!(matches!(err, CoordinatorError::NoRuntime), "{err}");
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = c.commit_async(unknown).await.unwrap_err();
        assert!(
            matches!(err, CoordinatorError::UnknownTransaction { tx: 999 }),
            "{err}"
        );
        let err = c.begin_async(&["nobody"]).await.unwrap_err();
        assert!(
            matches!(err, CoordinatorError::UnknownParticipant { .. }),
            "{err}"
        );
        let tx = c.begin_async(&["fuse"]).await.unwrap();
        c.abort_async(tx).await.unwrap();
        let err = c.resolve_async(tx).await.unwrap_err();
        assert!(
            matches!(err, CoordinatorError::UnknownTransaction { .. }),
            "{err}"
        );
    });
}
