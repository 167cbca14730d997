//! The reactor: turns OS readiness reported by `mio::Poll` (epoll on Linux) into task wake-ups.
//!
//! Talks to: the executor (a parked worker calls [`ReactorCore::turn`]; any thread calls
//! [`Reactor::unpark`]), `runtime` (which owns both halves and calls [`Reactor::shutdown`]), and
//! `net` (which registers sockets through [`Registration`]).
//!
//! # The contract
//!
//! * **Readiness, not completion.** The reactor never reads or writes a byte. It only records that
//!   the OS said "this socket may now be readable / writable" and wakes the task waiting for that.
//!   The task then tries the real non-blocking syscall itself. Readiness can be stale (another task
//!   read the data first, or the OS was optimistic), so a `WouldBlock` is a normal outcome: the
//!   task clears the readiness it saw and waits for the next event ([`Registration::poll_io`]).
//! * **Edge-triggered.** mio registers sockets edge-triggered: the OS reports a change once. So
//!   readiness is remembered (in [`ScheduledIo`]) until an operation proves it stale, and clearing it
//!   never erases an event that arrived after the operation looked (the *tick*, see
//!   `scheduled_io.rs`).
//! * **Two halves.** [`Reactor`] is shared (`Arc`) and used from any thread: register, deregister,
//!   wake the poller, shut down. [`ReactorCore`] owns the `mio::Poll` and its event buffer; the
//!   executor keeps it behind a mutex and only the worker that holds that mutex calls `turn`, so
//!   there is exactly one thread in `epoll_wait` per runtime.
//! * **Wake outside locks.** A turn collects the wakers of all ready tasks while holding the
//!   registration lock, drops the lock, and only then wakes them: waking schedules a task, which
//!   may take executor locks, and a waker may even run arbitrary code.
//! * **Tokens are names, not pointers.** An event's token is a slab key plus a generation
//!   (`token.rs`), so an event for a socket that was closed meanwhile is simply not found, and can
//!   never wake the socket that reused its slot. [`token::WAKER_TOKEN`] is reserved for the
//!   `mio::Waker` that interrupts a blocked turn.
//! * **Shutdown is final.** After [`Reactor::shutdown`] every waiter has been woken, every poll of an
//!   existing registration returns an error, and new registrations fail.
//!
//! # How one event flows
//!
//! ```text
//!  kernel: bytes arrive on fd 7 ──► epoll ready list
//!                                      │ epoll_wait (ReactorCore::turn, one worker)
//!                                      ▼
//!  Event { token: gen 3 | key 12, READABLE }
//!      │ registrations.get(token) (key 12, generation still 3?) ──no──► dropped (stale)
//!      ▼ yes
//!  ScheduledIo #12: readiness |= READABLE, tick += 1; take the reader's waker
//!      │ (registration lock released)
//!      ▼
//!  waker.wake() ──► task queued ──► task polls TcpStream::read ──► read(2) on fd 7
//! ```

mod registration;
mod scheduled_io;
mod token;

use std::io;
use std::task::Waker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::loom::{Arc, AtomicBool, Mutex, Ordering};

pub(crate) use registration::Registration;
pub(crate) use scheduled_io::{Direction, ReadyEvent};

use scheduled_io::{shutdown_error, Ready, ScheduledIo};
use token::{Registrations, WAKER_TOKEN};

/// How many events one `epoll_wait` may return. More events simply wait for the next turn.
const EVENTS_CAPACITY: usize = 1024;

/// The shared half of the reactor: registering sockets, waking the poller, shutting down.
/// Lives in `runtime::Shared` as `reactor`; every method may be called from any thread.
#[derive(Debug)]
pub(crate) struct Reactor {
    /// A handle to the poller's registration table (a clone of `Poll::registry`). mio's registry
    /// is thread-safe, so registering needs no lock of ours and never waits for a blocked turn.
    registry: Registry,
    /// Wakes a thread blocked in `epoll_wait` (an eventfd registered with [`WAKER_TOKEN`]). Used by
    /// the executor when it has new work for the worker parked in the reactor.
    waker: mio::Waker,
    /// Every live registration, by token. Locked briefly by register/deregister and once per turn
    /// (to resolve that turn's tokens); never held while waking a task.
    registrations: Mutex<Registrations>,
    /// Set once by [`Reactor::shutdown`].
    /// INVARIANT: written only while `registrations` is locked, and `register` checks it under the
    /// same lock, so no registration can slip in after shutdown has woken everyone.
    is_shutdown: AtomicBool,
    /// Turn and event counts, for metrics; on lines of their own (see [`TurnCounts`]).
    counts: TurnCounts,
}

/// How many `epoll_wait` calls [`ReactorCore::turn`] made and how many I/O events they returned
/// (the waker's own event not counted). Std atomics: counters, no protocol. Aligned to 128
/// bytes so that a turn's writes do not evict the fields every `unpark` reads (the waker).
#[derive(Debug, Default)]
#[repr(align(128))]
struct TurnCounts {
    /// Turns.
    turns: std::sync::atomic::AtomicU64,
    /// I/O events.
    events: std::sync::atomic::AtomicU64,
}

/// The half of the reactor that blocks in `epoll_wait`. Owned by the executor behind a mutex; only
/// the worker holding that mutex calls [`ReactorCore::turn`].
#[derive(Debug)]
pub(crate) struct ReactorCore {
    /// The poller itself; `&mut` access is what makes this the single-threaded half.
    poll: Poll,
    /// The buffer `epoll_wait` fills, reused across turns so a turn allocates nothing.
    events: Events,
    /// Wakers collected under the registration lock, woken after it is released. Kept here only
    /// to reuse its allocation; INVARIANT: empty between turns.
    wake_list: Vec<Waker>,
}

impl Reactor {
    /// Creates the poller, its `mio::Waker` and an empty registration table.
    pub(crate) fn new() -> io::Result<(Reactor, ReactorCore)> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let reactor = Reactor {
            registry,
            waker,
            registrations: Mutex::new(Registrations::default()),
            is_shutdown: AtomicBool::new(false),
            counts: TurnCounts::default(),
        };
        let core = ReactorCore {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            wake_list: Vec::new(),
        };
        Ok((reactor, core))
    }

    /// Interrupts a [`ReactorCore::turn`] blocked in `epoll_wait` (or makes the next one return at
    /// once). Callable from any thread.
    pub(crate) fn unpark(&self) {
        // A failing eventfd write leaves nothing to recover: the worker will still wake at its
        // timeout or at the next I/O event. mio only fails here on a broken eventfd.
        let _ = self.waker.wake();
    }

    /// Turns so far, and the I/O events they delivered (for metrics).
    pub(crate) fn turns_and_events(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.counts.turns.load(Relaxed),
            self.counts.events.load(Relaxed),
        )
    }

    /// Sockets registered now (for metrics).
    pub(crate) fn num_registrations(&self) -> usize {
        self.registrations.lock().len()
    }

    /// Marks the reactor shut down and wakes every registered reader and writer; from now on their
    /// polls, and any new registration, return an `io::Error`.
    pub(crate) fn shutdown(&self) {
        let mut wake_list = Vec::new();
        {
            let registrations = self.registrations.lock();
            self.is_shutdown.store(true, Ordering::SeqCst);
            for io in registrations.iter() {
                io.shutdown(&mut wake_list);
            }
        }
        wake_list.into_iter().for_each(Waker::wake);
        self.unpark();
    }

    /// Adds `source` to the poller under a fresh token; returns the token and the readiness cell.
    fn register(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<(Token, Arc<ScheduledIo>)> {
        let io = Arc::new(ScheduledIo::new());
        let token = {
            let mut registrations = self.registrations.lock();
            if self.is_shutdown.load(Ordering::SeqCst) {
                return Err(shutdown_error());
            }
            registrations.insert(io.clone()).ok_or_else(|| {
                io::Error::other("too many sockets registered with the spindle reactor")
            })?
        };
        // Outside our lock: the slot already exists, so an event that comes back before this call
        // returns finds it.
        if let Err(e) = self.registry.register(source, token, interest) {
            self.registrations.lock().remove(token);
            return Err(e);
        }
        Ok((token, io))
    }

    /// Removes `source` from the poller and frees its slot (bumping the slot's generation).
    fn deregister(&self, source: &mut impl Source, token: Token) {
        // Deregistering can only fail if the fd was never registered or is already closed; either
        // way there is nothing left to undo in the kernel. The slot must be freed regardless.
        let _ = self.registry.deregister(source);
        self.registrations.lock().remove(token);
    }
}

impl ReactorCore {
    /// Waits up to `timeout` (`None`: until an event or [`Reactor::unpark`]) for I/O events,
    /// records them and wakes the tasks that wait for them.
    pub(crate) fn turn(&mut self, reactor: &Reactor, timeout: Option<Duration>) -> io::Result<()> {
        // 1. Block in epoll_wait. A signal interrupting it is just an early return.
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        // 2. Resolve each token and record its readiness, collecting wakers under the lock (a
        //    wait that returned nothing, as most non-blocking turns do, takes no lock).
        // The counters are written by the one thread that holds the core (`&mut self`; the
        // executor keeps the core behind a mutex, which orders one holder's writes before the
        // next one's), so a load and a store suffice, no read-modify-write. Relaxed: counters,
        // read by metrics only.
        use std::sync::atomic::Ordering::Relaxed;
        if !self.events.is_empty() {
            let mut io_events = 0;
            let registrations = reactor.registrations.lock();
            for event in self.events.iter() {
                let token = event.token();
                if token == WAKER_TOKEN {
                    // Its only job was to end the wait; mio resets the eventfd itself.
                    continue;
                }
                io_events += 1;
                if let Some(io) = registrations.get(token) {
                    io.dispatch(Ready::from_mio(event), &mut self.wake_list);
                }
            }
            drop(registrations);
            let events = &reactor.counts.events;
            events.store(events.load(Relaxed) + io_events, Relaxed);
        }
        let turns = &reactor.counts.turns;
        turns.store(turns.load(Relaxed) + 1, Relaxed);
        // 3. Wake outside every lock.
        self.wake_list.drain(..).for_each(Waker::wake);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc as StdArc;
    use std::task::Context;

    use crate::test_util::CountingWaker;

    fn counting_waker() -> (CountingWaker, Waker) {
        let counter = CountingWaker::new();
        let waker = counter.waker();
        (counter, waker)
    }

    fn woken(counter: &CountingWaker) -> usize {
        counter.count()
    }

    /// Turns until `done()` holds, failing after a generous deadline instead of hanging.
    fn turn_until(core: &mut ReactorCore, reactor: &Reactor, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "reactor did not deliver the event in 5 s"
            );
            core.turn(reactor, Some(Duration::from_millis(100)))
                .unwrap();
        }
    }

    /// Real epoll: a byte written to one end of a socket pair wakes the task waiting to read the
    /// other end, and only that task's read waiter.
    #[test]
    fn readiness_flows_from_epoll_to_the_waker() {
        let (reactor, mut core) = Reactor::new().unwrap();
        let (mut a, mut b) = mio::net::UnixStream::pair().unwrap();
        let (token, io) = reactor
            .register(&mut a, Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        // The fresh socket is writable at once; wait until that initial edge has been recorded.
        turn_until(&mut core, &reactor, || {
            io.ready_now(Direction::Write).unwrap().is_some()
        });

        let (reads, read_waker) = counting_waker();
        assert!(io
            .poll_ready(&mut Context::from_waker(&read_waker), Direction::Read)
            .is_pending());
        b.write_all(b"x").unwrap();
        turn_until(&mut core, &reactor, || woken(&reads) == 1);
        assert!(io.ready_now(Direction::Read).unwrap().is_some());
        reactor.deregister(&mut a, token);
    }

    /// An event queued for a registration whose slot was freed and reused must not wake the new
    /// owner of the slot: the generation in the token no longer matches.
    #[test]
    fn stale_event_does_not_wake_the_slot_reuser() {
        let (reactor, mut core) = Reactor::new().unwrap();
        let (mut old, mut old_peer) = mio::net::UnixStream::pair().unwrap();
        let (old_token, _old_io) = reactor.register(&mut old, Interest::READABLE).unwrap();
        // Free the slot while the socket stays in epoll under its old token: exactly the state of a
        // registration dropped after epoll_wait returned its event but before the event was dispatched.
        reactor.registrations.lock().remove(old_token).unwrap();

        let (mut new, mut new_peer) = mio::net::UnixStream::pair().unwrap();
        let (new_token, new_io) = reactor.register(&mut new, Interest::READABLE).unwrap();
        let (old_key, old_gen) = token::decode(old_token);
        let (new_key, new_gen) = token::decode(new_token);
        assert_eq!(old_key, new_key, "the slot is reused");
        assert_ne!(old_gen, new_gen, "with a new generation");

        let (wakes, waker) = counting_waker();
        assert!(new_io
            .poll_ready(&mut Context::from_waker(&waker), Direction::Read)
            .is_pending());
        // Make the OLD socket readable; its event carries the old token.
        old_peer.write_all(b"stale").unwrap();
        core.turn(&reactor, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(woken(&wakes), 0, "a stale event woke the new registration");
        assert!(new_io.ready_now(Direction::Read).unwrap().is_none());

        // The new registration still works.
        new_peer.write_all(b"fresh").unwrap();
        turn_until(&mut core, &reactor, || woken(&wakes) == 1);
        let _ = reactor.registry.deregister(&mut old);
        reactor.deregister(&mut new, new_token);
    }

    /// `unpark` from another thread ends a turn that would otherwise block forever.
    #[test]
    fn unpark_interrupts_a_blocked_turn() {
        let (reactor, mut core) = Reactor::new().unwrap();
        let reactor = StdArc::new(reactor);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let poller = {
            let reactor = reactor.clone();
            std::thread::spawn(move || {
                core.turn(&reactor, None).unwrap();
                done_tx.send(()).unwrap();
            })
        };
        reactor.unpark();
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("turn(None) did not return after unpark");
        poller.join().unwrap();
    }

    /// Shutdown wakes every waiter, turns their polls into errors, and refuses new registrations.
    #[test]
    fn shutdown_wakes_waiters_and_refuses_registrations() {
        let (reactor, _core) = Reactor::new().unwrap();
        let (mut a, _b) = mio::net::UnixStream::pair().unwrap();
        let (_token, io) = reactor.register(&mut a, Interest::READABLE).unwrap();
        let (reads, read_waker) = counting_waker();
        assert!(io
            .poll_ready(&mut Context::from_waker(&read_waker), Direction::Read)
            .is_pending());

        reactor.shutdown();
        assert_eq!(woken(&reads), 1);
        assert!(matches!(
            io.poll_ready(&mut Context::from_waker(Waker::noop()), Direction::Read),
            std::task::Poll::Ready(Err(_))
        ));
        let (mut c, _d) = mio::net::UnixStream::pair().unwrap();
        assert!(reactor.register(&mut c, Interest::READABLE).is_err());
    }
}
