//! The readiness cell of one registered I/O resource: what the OS last said about it, and which
//! tasks wait to read or to write.
//!
//! Talks to: the reactor's turn (the only writer of new readiness, through [`ScheduledIo::dispatch`]),
//! [`super::Registration`] (which polls and clears readiness on behalf of `net`), and
//! [`super::Reactor::shutdown`].
//!
//! # The readiness word
//!
//! All of a resource's readiness fits in one `AtomicUsize`, so a reader sees a consistent snapshot
//! and a clear can be made conditional with one compare-and-swap:
//!
//! ```text
//!  bits 31..=16      bits 15..=9   bit 8      bits 7..=5   bits 4..=0
//! +----------------+-------------+----------+------------+---------------------------------+
//! | tick (16 bits) |   unused    | SHUTDOWN |   unused   | Ready flags: ERROR WRITE_CLOSED |
//! |                |             |          |            | READ_CLOSED WRITABLE READABLE   |
//! +----------------+-------------+----------+------------+---------------------------------+
//! ```
//!
//! * The low bits are a [`Ready`] set, ORed in by the reactor for each event.
//! * The **tick** goes up by one with every event the reactor delivers to this resource.
//! * **SHUTDOWN** is set once, by [`ScheduledIo::shutdown`], and never cleared.
//!
//! # Why the tick: clearing without losing an event
//!
//! mio is edge-triggered: the OS reports "readable" once, when data arrives, not again while it
//! sits unread. So the readiness bit must stay set until an operation proves it stale by failing
//! with `WouldBlock`, and only then be cleared. But between the task reading the word and the task
//! clearing it, the reactor may deliver a *new* edge (more data arrived after the syscall looked).
//! A blind clear would erase that edge and the task would sleep forever with data queued.
//! [`ScheduledIo::clear_readiness`] therefore clears only if the tick is still the one the task saw;
//! if it moved, the new edge stays and the task simply tries again.
//!
//! # Invariants
//!
//! * Readiness bits are only set by the reactor (`dispatch`) and only cleared by `clear_readiness`
//!   with an event whose tick is still current. The closed bits are never cleared: they are final.
//! * A waiter is registered under the `waiters` lock and readiness is re-checked under that same
//!   lock; `dispatch` publishes readiness *before* taking the lock. So either the waiter sees the new
//!   readiness, or `dispatch` sees the waiter: a wake-up is never lost.

use std::io;
use std::ops;
use std::task::{Context, Poll, Waker};

use crate::loom::{AtomicUsize, Mutex, Ordering};

/// A set of readiness flags, as reported by one `epoll` event (or accumulated over several).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready(
    /// The flag bits, laid out as the low bits of the readiness word.
    usize,
);

impl Ready {
    /// Nothing is ready.
    pub(crate) const EMPTY: Ready = Ready(0);
    /// Data (or a connection, for a listener) can be read without blocking.
    pub(crate) const READABLE: Ready = Ready(1 << 0);
    /// Bytes can be written without blocking (or a pending connect finished).
    pub(crate) const WRITABLE: Ready = Ready(1 << 1);
    /// The peer will send no more bytes (EOF is queued); reads will not block again.
    pub(crate) const READ_CLOSED: Ready = Ready(1 << 2);
    /// Writing is no longer possible; writes will fail without blocking.
    pub(crate) const WRITE_CLOSED: Ready = Ready(1 << 3);
    /// The socket has a pending error (`SO_ERROR`); the next operation reports it.
    pub(crate) const ERROR: Ready = Ready(1 << 4);
    /// Every readiness bit.
    const ALL: Ready = Ready(0b1_1111);

    /// Translates one mio event into our flags.
    pub(crate) fn from_mio(event: &mio::event::Event) -> Ready {
        let mut ready = Ready::EMPTY;
        if event.is_readable() {
            ready = ready | Ready::READABLE;
        }
        if event.is_writable() {
            ready = ready | Ready::WRITABLE;
        }
        if event.is_read_closed() {
            ready = ready | Ready::READ_CLOSED;
        }
        if event.is_write_closed() {
            ready = ready | Ready::WRITE_CLOSED;
        }
        if event.is_error() {
            ready = ready | Ready::ERROR;
        }
        ready
    }

    /// True when no flag is set.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is set in `self`.
    #[allow(dead_code)]
    pub(crate) fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }
}

impl ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl ops::BitAnd for Ready {
    type Output = Ready;
    fn bitand(self, rhs: Ready) -> Ready {
        Ready(self.0 & rhs.0)
    }
}

impl ops::Sub for Ready {
    type Output = Ready;
    /// The flags of `self` that are not in `rhs`.
    fn sub(self, rhs: Ready) -> Ready {
        Ready(self.0 & !rhs.0)
    }
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        let mut set = f.debug_set();
        for (flag, name) in names {
            if self.0 & flag.0 != 0 {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// Which half of a resource an operation needs: its read side or its write side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Reading bytes, or accepting a connection.
    Read,
    /// Writing bytes, or finishing a connect.
    Write,
}

impl Direction {
    /// The flags that let an operation in this direction proceed. A closed side or a pending
    /// error counts as ready: the operation will not block, it will return EOF or the error.
    pub(crate) fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready::READABLE | Ready::READ_CLOSED | Ready::ERROR,
            Direction::Write => Ready::WRITABLE | Ready::WRITE_CLOSED | Ready::ERROR,
        }
    }
}

/// A snapshot of a resource's readiness in one direction, taken by a task before it tries the
/// operation; handed back to [`ScheduledIo::clear_readiness`] if the operation would block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadyEvent {
    /// The flags that were set, restricted to the direction asked for.
    pub(crate) ready: Ready,
    /// The tick of the readiness word when the snapshot was taken.
    pub(crate) tick: usize,
}

impl ReadyEvent {
    /// True when the snapshot includes a closed side or an error: waiting for another edge is
    /// pointless, the socket will not become "more ready" than this.
    pub(crate) fn is_final(&self) -> bool {
        !(self.ready & (Ready::READ_CLOSED | Ready::WRITE_CLOSED | Ready::ERROR)).is_empty()
    }
}

/// Bit of the readiness word set once the reactor shuts down.
const SHUTDOWN: usize = 1 << 8;
/// Position of the tick in the readiness word.
const TICK_SHIFT: u32 = 16;
/// Mask of the tick after shifting it down (16 bits; wrapping is harmless, see `clear_readiness`).
const TICK_MASK: usize = 0xFFFF;

/// The tasks waiting on one resource, one slot per direction.
#[derive(Debug, Default)]
struct Waiters {
    /// The task that last polled for read readiness and has not been woken since.
    reader: Option<Waker>,
    /// The task that last polled for write readiness and has not been woken since.
    writer: Option<Waker>,
}

impl Waiters {
    /// The slot for `dir`.
    fn slot(&mut self, dir: Direction) -> &mut Option<Waker> {
        match dir {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

/// Readiness and waiters of one registered resource (a socket). Shared by `Arc` between the
/// reactor's registration slab and the `Registration` that owns the socket.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    /// The readiness word (layout in the module docs). Written by the reactor (`dispatch`,
    /// `shutdown`) and by tasks clearing stale readiness (`clear_readiness`); read by tasks.
    readiness: AtomicUsize,
    /// The reader and writer waiting for readiness. Separate slots so that a task reading and a
    /// task writing the same socket (a split connection) do not steal each other's wake-ups.
    /// INVARIANT: a slot holds at most the *latest* waker that polled in that direction; it is
    /// taken (emptied) by whoever wakes it. Never held while calling `Waker::wake`.
    waiters: Mutex<Waiters>,
}

impl ScheduledIo {
    /// A resource with no readiness yet: the first epoll event will tell.
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// Reactor only: records `ready` (a new edge: the tick advances) and moves the wakers of every
    /// direction it satisfies into `wake_list`, for the caller to wake after dropping its locks.
    pub(crate) fn dispatch(&self, ready: Ready, wake_list: &mut Vec<Waker>) {
        // 1. Publish the readiness and a new tick. AcqRel: the Release half pairs with the Acquire
        //    loads in `poll_ready`/`ready_now`; the Acquire half orders us after a concurrent
        //    `clear_readiness` so that we never resurrect bits from a stale base.
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let tick = ((cur >> TICK_SHIFT) + 1) & TICK_MASK;
                Some((tick << TICK_SHIFT) | (cur & !(TICK_MASK << TICK_SHIFT)) | ready.0)
            });
        // 2. Take the waiters it satisfies (after publishing: see the module invariants).
        let mut waiters = self.waiters.lock();
        for dir in [Direction::Read, Direction::Write] {
            if !(ready & dir.mask()).is_empty() {
                wake_list.extend(waiters.slot(dir).take());
            }
        }
    }

    /// Marks the resource shut down for good and moves both of its wakers into `wake_list`; every
    /// later poll returns an error instead of waiting for an event that will never come.
    pub(crate) fn shutdown(&self, wake_list: &mut Vec<Waker>) {
        // AcqRel pairs with the Acquire loads in `poll_ready`, as in `dispatch`.
        self.readiness.fetch_or(SHUTDOWN, Ordering::AcqRel);
        let mut waiters = self.waiters.lock();
        wake_list.extend(waiters.reader.take());
        wake_list.extend(waiters.writer.take());
    }

    /// Interprets a readiness word for `dir`: an error after shutdown, `None` if not ready.
    fn snapshot(word: usize, dir: Direction) -> io::Result<Option<ReadyEvent>> {
        if word & SHUTDOWN != 0 {
            return Err(shutdown_error());
        }
        let ready = Ready(word & Ready::ALL.0) & dir.mask();
        let tick = (word >> TICK_SHIFT) & TICK_MASK;
        Ok((!ready.is_empty()).then_some(ReadyEvent { ready, tick }))
    }

    /// The readiness for `dir` right now, without registering a waker (for `try_read` and the like).
    pub(crate) fn ready_now(&self, dir: Direction) -> io::Result<Option<ReadyEvent>> {
        // Acquire pairs with the AcqRel update in `dispatch`.
        Self::snapshot(self.readiness.load(Ordering::Acquire), dir)
    }

    /// Ready (with a snapshot to clear later) if the resource is ready for `dir`; otherwise keeps
    /// `cx`'s waker as the one waiter for `dir` and returns `Pending`.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        // 1. Fast path: already ready, no lock.
        if let Some(event) = self.ready_now(dir)? {
            return Poll::Ready(Ok(event));
        }
        // 2. Keep the waker: only the latest per direction, and no clone if it is the same task.
        //    A replaced waker is dropped after the lock is released: dropping the last reference
        //    to a task frees the task, which may run arbitrary destructors.
        let mut waiters = self.waiters.lock();
        let slot = waiters.slot(dir);
        let replaced = match slot {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => slot.replace(cx.waker().clone()),
        };
        // 3. Re-check under the lock: an event that arrived between step 1 and the lock was
        //    published before `dispatch` took the lock, so we see it now.
        let result = self.ready_now(dir);
        drop(waiters);
        drop(replaced);
        match result? {
            Some(event) => Poll::Ready(Ok(event)),
            None => Poll::Pending,
        }
    }

    /// Clears the readiness in `event` after an operation hit `WouldBlock`, unless a new event
    /// arrived since `event` was taken (the tick moved), in which case nothing is cleared.
    /// The closed flags are kept: a closed side stays closed.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let clear = event.ready - Ready::READ_CLOSED - Ready::WRITE_CLOSED;
        // AcqRel pairs with `dispatch`'s update: we either see its new tick (and back off) or it
        // runs after us and ORs its bits into our cleared word.
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let tick = (cur >> TICK_SHIFT) & TICK_MASK;
                (tick == event.tick).then_some(cur & !clear.0)
            });
    }
}

/// The error every operation returns once the runtime's reactor is gone.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other("the spindle runtime's reactor has shut down")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::CountingWaker;

    fn counting_waker() -> (CountingWaker, Waker) {
        let counter = CountingWaker::new();
        let waker = counter.waker();
        (counter, waker)
    }

    /// One step of a readiness table.
    #[derive(Debug, Clone, Copy)]
    enum Op {
        /// The reactor delivers an event with these flags.
        Event(Ready),
        /// A task takes a snapshot of direction `d` (remembered as "the last snapshot").
        Snapshot(Direction),
        /// The task's operation hit WouldBlock: clear with the last snapshot.
        Clear,
        /// Expect `ready_now(d)` to report exactly these flags (EMPTY: not ready).
        Expect(Direction, Ready),
    }

    /// The readiness word behaves as documented: events accumulate, clearing needs a current tick,
    /// closed flags and errors count as ready and closed flags survive a clear.
    #[test]
    fn readiness_table() {
        use Direction::{Read, Write};
        use Op::*;
        let r = Ready::READABLE;
        let w = Ready::WRITABLE;
        let tables: &[(&str, &[Op])] = &[
            (
                "starts not ready",
                &[Expect(Read, Ready::EMPTY), Expect(Write, Ready::EMPTY)],
            ),
            (
                "readable is read-only",
                &[Event(r), Expect(Read, r), Expect(Write, Ready::EMPTY)],
            ),
            (
                "both directions",
                &[Event(r | w), Expect(Read, r), Expect(Write, w)],
            ),
            (
                "clear with current tick",
                &[Event(r), Snapshot(Read), Clear, Expect(Read, Ready::EMPTY)],
            ),
            (
                "clear read leaves write",
                &[
                    Event(r | w),
                    Snapshot(Read),
                    Clear,
                    Expect(Read, Ready::EMPTY),
                    Expect(Write, w),
                ],
            ),
            (
                "an event between snapshot and clear survives",
                &[Event(r), Snapshot(Read), Event(r), Clear, Expect(Read, r)],
            ),
            (
                "a later clear with a fresh snapshot works",
                &[
                    Event(r),
                    Snapshot(Read),
                    Event(r),
                    Clear,
                    Snapshot(Read),
                    Clear,
                    Expect(Read, Ready::EMPTY),
                ],
            ),
            (
                "read closed counts and is never cleared",
                &[
                    Event(r | Ready::READ_CLOSED),
                    Snapshot(Read),
                    Clear,
                    Expect(Read, Ready::READ_CLOSED),
                    Expect(Write, Ready::EMPTY),
                ],
            ),
            (
                "write closed counts for writers only",
                &[
                    Event(Ready::WRITE_CLOSED),
                    Expect(Write, Ready::WRITE_CLOSED),
                    Expect(Read, Ready::EMPTY),
                ],
            ),
            (
                "an error is ready both ways and clears",
                &[
                    Event(Ready::ERROR),
                    Expect(Read, Ready::ERROR),
                    Expect(Write, Ready::ERROR),
                    Snapshot(Write),
                    Clear,
                    Expect(Read, Ready::EMPTY),
                ],
            ),
        ];
        for (name, ops) in tables {
            let io = ScheduledIo::new();
            let mut last = None;
            let mut wakers = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                match *op {
                    Event(ready) => io.dispatch(ready, &mut wakers),
                    Snapshot(dir) => last = io.ready_now(dir).unwrap(),
                    Clear => io.clear_readiness(last.expect("a snapshot that was ready")),
                    Expect(dir, want) => {
                        let got = io.ready_now(dir).unwrap().map_or(Ready::EMPTY, |e| e.ready);
                        assert_eq!(got, want, "{name}: step {i} {op:?}");
                    }
                }
            }
        }
    }

    /// A pending poll keeps the waker; the matching event wakes exactly it; the other direction's
    /// waiter is not woken.
    #[test]
    fn event_wakes_only_the_matching_direction() {
        let io = ScheduledIo::new();
        let (reads, read_waker) = counting_waker();
        let (writes, write_waker) = counting_waker();
        assert!(io
            .poll_ready(&mut Context::from_waker(&read_waker), Direction::Read)
            .is_pending());
        assert!(io
            .poll_ready(&mut Context::from_waker(&write_waker), Direction::Write)
            .is_pending());

        let mut wake_list = Vec::new();
        io.dispatch(Ready::READABLE, &mut wake_list);
        assert_eq!(wake_list.len(), 1);
        wake_list.drain(..).for_each(Waker::wake);
        assert_eq!(reads.count(), 1);
        assert_eq!(writes.count(), 0);

        io.dispatch(Ready::WRITABLE, &mut wake_list);
        wake_list.drain(..).for_each(Waker::wake);
        assert_eq!(writes.count(), 1);
    }

    /// Only the latest waker per direction is kept: a task that moved on is not woken.
    #[test]
    fn only_the_latest_waker_is_kept() {
        let io = ScheduledIo::new();
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(io
            .poll_ready(&mut Context::from_waker(&first_waker), Direction::Read)
            .is_pending());
        assert!(io
            .poll_ready(&mut Context::from_waker(&second_waker), Direction::Read)
            .is_pending());
        let mut wake_list = Vec::new();
        io.dispatch(Ready::READABLE, &mut wake_list);
        wake_list.drain(..).for_each(Waker::wake);
        assert_eq!(first.count(), 0);
        assert_eq!(second.count(), 1);
    }

    /// Shutdown wakes both waiters and turns every later poll into an error.
    #[test]
    fn shutdown_wakes_everyone_and_errors() {
        let io = ScheduledIo::new();
        let (reads, read_waker) = counting_waker();
        let (writes, write_waker) = counting_waker();
        assert!(io
            .poll_ready(&mut Context::from_waker(&read_waker), Direction::Read)
            .is_pending());
        assert!(io
            .poll_ready(&mut Context::from_waker(&write_waker), Direction::Write)
            .is_pending());
        let mut wake_list = Vec::new();
        io.shutdown(&mut wake_list);
        wake_list.drain(..).for_each(Waker::wake);
        assert_eq!(reads.count(), 1);
        assert_eq!(writes.count(), 1);
        for dir in [Direction::Read, Direction::Write] {
            match io.poll_ready(&mut Context::from_waker(Waker::noop()), dir) {
                Poll::Ready(Err(_)) => {}
                other => panic!("{dir:?} after shutdown: {other:?}"),
            }
        }
    }

    /// The tick wraps around without disturbing the flags or the shutdown bit.
    #[test]
    fn tick_wraps_without_touching_flags() {
        let io = ScheduledIo::new();
        let mut wake_list = Vec::new();
        for _ in 0..=TICK_MASK {
            io.dispatch(Ready::WRITABLE, &mut wake_list);
        }
        let event = io.ready_now(Direction::Write).unwrap().unwrap();
        assert_eq!(
            event.tick, 0,
            "65,536 events bring the 16-bit tick back to 0"
        );
        assert_eq!(event.ready, Ready::WRITABLE);
        assert!(io.ready_now(Direction::Read).unwrap().is_none());
    }
}
