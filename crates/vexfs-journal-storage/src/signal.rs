//! A wake-up signal that costs one atomic load to raise when nobody waits.
//!
//! `event_listener::Event::notify` takes the listener list's lock whenever listeners
//! ever existed; on the emit path that showed up in profiles. [`Signal`] counts its
//! waiters and skips the notification when there are none. Correctness: a waiter
//! registers (count, then listener) before re-checking its condition; a notifier
//! changes the condition before reading the count (all `SeqCst`), so either the waiter
//! sees the new condition or the notifier sees the waiter.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::{Event, EventListener, Listener};

/// A broadcast wake-up with a waiter count.
#[derive(Debug, Default)]
pub struct Signal {
    event: Event,
    waiters: AtomicUsize,
}

/// A registered waiter of a [`Signal`]; re-check the condition, then wait or await.
#[derive(Debug)]
pub struct SignalListener<'a> {
    listener: Option<EventListener>,
    signal: &'a Signal,
}

impl Signal {
    /// A signal nobody waits on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a waiter.
    pub fn listen(&self) -> SignalListener<'_> {
        self.waiters.fetch_add(1, SeqCst);
        SignalListener {
            listener: Some(self.event.listen()),
            signal: self,
        }
    }

    /// Wakes every registered waiter, if any.
    pub fn notify_all(&self) {
        if self.waiters.load(SeqCst) > 0 {
            self.event.notify(usize::MAX);
        }
    }
}

impl SignalListener<'_> {
    /// Blocks until notified.
    pub fn wait(mut self) {
        if let Some(listener) = self.listener.take() {
            listener.wait();
        }
    }

    /// Blocks until notified or `timeout` passes; true when notified.
    pub fn wait_timeout(mut self, timeout: Duration) -> bool {
        self.listener
            .take()
            .is_some_and(|l| l.wait_timeout(timeout).is_some())
    }
}

impl Future for SignalListener<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.listener.as_mut() {
            Some(listener) => Pin::new(listener).poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl Drop for SignalListener<'_> {
    fn drop(&mut self) {
        self.signal.waiters.fetch_sub(1, SeqCst);
    }
}
