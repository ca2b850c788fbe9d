//! Events whose whole content follows from a `(producer, index)` tag, so a test can
//! check every event it reads back from the tag alone.

use vexfs_journal_format::{AgentOp, Event, EventType, FsOp, SystemOp, VectorOp};

use crate::noise::noise;

/// The event types [`tagged`] rotates through (by index).
pub const TYPES: [fn() -> EventType; 4] = [
    || EventType::from(FsOp::Write),
    || EventType::from(AgentOp::Decision),
    || EventType::from(VectorOp::Search),
    || EventType::from(SystemOp::Checkpoint),
];

/// Event `i` of producer `p`: type `TYPES[i % 4]`, inode `p << 32 | i`, path
/// `/p{p}/{i % 10}/{i}`, agent `agent-{i % 3}`, payload `p:i:` followed by 100 to 400
/// bytes of noise.
pub fn tagged(p: u64, i: u64) -> Event {
    let mut payload = format!("{p}:{i}:").into_bytes();
    payload.extend(noise((p << 32) | i, 100 + (i % 7) as usize * 50));
    Event::new(TYPES[(i % 4) as usize]())
        .inode((p << 32) | i)
        .path(format!("/p{p}/{}/{i}", i % 10))
        .agent_id(format!("agent-{}", i % 3))
        .payload(payload)
}

/// The `(producer, index)` of an event made by [`tagged`], after checking that its
/// payload, path and type agree with the tag.
#[track_caller]
pub fn tag_of(ev: &Event) -> (u64, u64) {
    let inode = ev.context.inode_number;
    let (p, i) = (inode >> 32, inode & 0xFFFF_FFFF);
    let want = tagged(p, i);
    assert_eq!(ev.payload, want.payload, "payload of {p}:{i}");
    assert_eq!(ev.context.path, want.context.path, "path of {p}:{i}");
    assert_eq!(ev.event_type, want.event_type, "type of {p}:{i}");
    (p, i)
}

/// A small event tagged with producer `p` and index `i`: a file write with inode
/// `p << 32 | i`, path `/producer/{p}/{i}` and payload `p:i` (a few bytes, for tests
/// that count events per block or fill buffers).
pub fn small_tagged(p: u64, i: u64) -> Event {
    Event::filesystem(FsOp::Write)
        .inode((p << 32) | i)
        .path(format!("/producer/{p}/{i}"))
        .payload(format!("{p}:{i}").into_bytes())
}

/// The `(producer, index)` of an event made by [`small_tagged`]; checks that path and
/// payload agree with the inode.
#[track_caller]
pub fn small_tag_of(ev: &Event) -> (u64, u64) {
    let inode = ev.context.inode_number;
    let (p, i) = (inode >> 32, inode & 0xFFFF_FFFF);
    assert_eq!(
        ev.payload,
        format!("{p}:{i}").into_bytes(),
        "payload of {p}:{i}"
    );
    assert_eq!(
        ev.context.path,
        format!("/producer/{p}/{i}").as_bytes(),
        "path of {p}:{i}"
    );
    (p, i)
}

/// `emitted` as the journal stores it under sequence `seq`: emission assigns the ids,
/// the sequences, the root cause of root events and, when unset, the timestamp (taken
/// from `stored`, after checking it is plausible for this process).
#[track_caller]
pub fn as_stamped(emitted: &Event, seq: u64, stored: &Event) -> Event {
    let mut e = emitted.clone();
    e.event_id = seq;
    e.global_sequence = seq;
    e.local_sequence = seq;
    if e.root_cause_event_id == 0 && e.parent_event_id == 0 {
        e.root_cause_event_id = seq;
    }
    if e.timestamp.ktime_ns == 0 {
        assert!(
            stored.timestamp.ktime_ns > 1_600_000_000_000_000_000,
            "seq {seq}: emission time {} is not wall-clock ns",
            stored.timestamp.ktime_ns
        );
        assert_eq!(stored.timestamp.process_id, std::process::id(), "seq {seq}");
        e.timestamp.ktime_ns = stored.timestamp.ktime_ns;
        e.timestamp.cpu_id = stored.timestamp.cpu_id;
        e.timestamp.process_id = stored.timestamp.process_id;
    }
    if e.timestamp.sequence == 0 {
        e.timestamp.sequence = seq;
    }
    e
}
