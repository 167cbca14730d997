//! Generators and coroutines in Rust: what Python's `yield` and `send` become, and the state
//! machine the compiler makes of an `async fn`, polled by hand so that each suspension shows.
//!
//! 1. `doh()`, a generator that yields three values, written twice: as an iterator built from a
//!    closure, and as a hand-written state machine whose enum says where it is suspended.
//! 2. `doh2()`, a generator that also receives values (`gen.send(x)` in Python): a state machine
//!    with a `resume(input)` method, since stable Rust has no generator syntax.
//! 3. An `async fn` that awaits two values, next to the enum state machine the compiler
//!    generates for it, both polled by hand with a waker that counts its wake-ups.
//!
//! `docs/coroutines.md` explains each step and places symmetric / asymmetric and stackful /
//! stackless coroutines, with Rust, Python and Go examples.
//!
//! Run: `cargo run --release --example generators`

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

fn main() {
    println!("== 1. doh(): a generator that yields ==");
    let from_closure: Vec<&str> = doh_closure().collect();
    println!("as an iterator from a closure: {from_closure:?}");
    let mut machine = Doh::Start;
    print!("as a state machine:");
    while let Some(v) = machine.next() {
        print!(" {v} (now suspended at {machine:?});");
    }
    println!();

    println!("\n== 2. doh2(): a generator that also receives (send) ==");
    let mut g = Doh2::Start;
    // Python: first next(g) runs to the first yield; then g.send(x) resumes with x.
    for input in [None, Some("bart"), Some("lisa"), Some("homer")] {
        let call = match input {
            None => "next(g)".to_string(),
            Some(name) => format!("g.send({name:?})"),
        };
        match g.resume(input) {
            Doh2Step::Yielded(v) => println!("{call} -> yielded {v:?}"),
            Doh2Step::Returned(names) => println!("{call} -> returned {names:?} (StopIteration)"),
        }
    }

    println!("\n== 3. an async fn and the state machine the compiler makes of it ==");
    let mailbox = Mailbox::default();
    let compiled = add_two_values(mailbox.clone());
    println!(
        "size of the async fn's future: {} bytes",
        std::mem::size_of_val(&compiled)
    );
    drive_by_hand("async fn", mailbox, compiled);
    let mailbox = Mailbox::default();
    let by_hand = AddTwoValues::new(mailbox.clone());
    println!(
        "size of the hand-written enum: {} bytes",
        std::mem::size_of_val(&by_hand)
    );
    drive_by_hand("hand-written enum", mailbox, by_hand);
}

// ---------------------------------------------------------------------------------------------
// 1. doh(): three yields.
//
//     def doh():
//         yield "D'oh!"
//         yield "D'oh! D'oh!"
//         yield "D'oh! D'oh! D'oh!"
// ---------------------------------------------------------------------------------------------

/// `doh()` as an iterator: the closure's captured `n` is the generator's saved local.
fn doh_closure() -> impl Iterator<Item = &'static str> {
    let mut n = 0;
    std::iter::from_fn(move || {
        n += 1;
        match n {
            1 => Some("D'oh!"),
            2 => Some("D'oh! D'oh!"),
            3 => Some("D'oh! D'oh! D'oh!"),
            _ => None,
        }
    })
}

/// `doh()` as a state machine: one variant per place the function can be suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doh {
    /// Not started.
    Start,
    /// Suspended at the first `yield`.
    AfterFirst,
    /// Suspended at the second `yield`.
    AfterSecond,
    /// Suspended at the third `yield`.
    AfterThird,
    /// Returned (Python raises `StopIteration` from here on).
    Done,
}

impl Iterator for Doh {
    type Item = &'static str;

    /// Resumes from where the machine stopped, runs to the next `yield`, records where.
    fn next(&mut self) -> Option<&'static str> {
        let (value, next) = match *self {
            Doh::Start => (Some("D'oh!"), Doh::AfterFirst),
            Doh::AfterFirst => (Some("D'oh! D'oh!"), Doh::AfterSecond),
            Doh::AfterSecond => (Some("D'oh! D'oh! D'oh!"), Doh::AfterThird),
            Doh::AfterThird | Doh::Done => (None, Doh::Done),
        };
        *self = next;
        value
    }
}

// ---------------------------------------------------------------------------------------------
// 2. doh2(): yields, and receives through send().
//
//     def doh2():
//         names = []
//         name = yield "who?"
//         while name != "homer":
//             names.append(name)
//             name = yield f"D'oh, {name}!"
//         return names
// ---------------------------------------------------------------------------------------------

/// `doh2()` as a state machine; the locals that live across a `yield` (`names`) live in the
/// variant for that suspension point.
#[derive(Debug)]
enum Doh2 {
    /// Not started.
    Start,
    /// Suspended at a `yield`, waiting for `send`; carries the names so far.
    Waiting {
        /// The local variable `names`.
        names: Vec<String>,
    },
    /// Returned.
    Done,
}

/// What one `resume` did.
#[derive(Debug, PartialEq, Eq)]
enum Doh2Step {
    /// Suspended at a `yield` with this value.
    Yielded(String),
    /// Ran to `return` with this value.
    Returned(Vec<String>),
}

impl Doh2 {
    /// Python's `next(g)` (input `None`) or `g.send(input)`.
    fn resume(&mut self, input: Option<&str>) -> Doh2Step {
        match std::mem::replace(self, Doh2::Done) {
            Doh2::Start => {
                *self = Doh2::Waiting { names: Vec::new() };
                Doh2Step::Yielded("who?".into())
            }
            Doh2::Waiting { mut names } => match input {
                Some("homer") | None => Doh2Step::Returned(names),
                Some(name) => {
                    names.push(name.to_string());
                    *self = Doh2::Waiting { names };
                    Doh2Step::Yielded(format!("D'oh, {name}!"))
                }
            },
            Doh2::Done => Doh2Step::Returned(Vec::new()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. An async fn, and the enum the compiler makes of it.
// ---------------------------------------------------------------------------------------------

/// A one-value mailbox shared by a future (which waits for the value) and the driver (which
/// puts it in and wakes the future): the role a socket plays for a real task.
#[derive(Debug, Default, Clone)]
struct Mailbox {
    /// The value, once delivered, and the waker of the future waiting for it.
    inner: Arc<Mutex<(Option<u32>, Option<Waker>)>>,
}

impl Mailbox {
    /// Delivers `v` and wakes whoever waits: Python's `send(v)`, split into "put" and "wake".
    fn deliver(&self, v: u32) {
        let waker = {
            // Nothing panics while this lock is held, so it cannot be poisoned.
            let mut inner = self.inner.lock().unwrap();
            inner.0 = Some(v);
            inner.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// A future that completes with the next delivered value.
    fn recv(&self) -> Recv {
        Recv {
            mailbox: self.clone(),
        }
    }
}

/// The leaf future: `Pending` (with its waker saved) until a value is delivered.
#[derive(Debug)]
struct Recv {
    /// Where the value arrives.
    mailbox: Mailbox,
}

impl Future for Recv {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        let mut inner = self.mailbox.inner.lock().unwrap();
        match inner.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                inner.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Awaits two values and adds them. The compiler turns this into an enum much like
/// [`AddTwoValues`]: one variant per `.await`, holding the locals alive across it.
async fn add_two_values(mailbox: Mailbox) -> u32 {
    let a = mailbox.recv().await;
    let b = mailbox.recv().await;
    a + b
}

/// What `add_two_values` compiles to, written out. (The compiler's version is the same idea:
/// the variants share storage and the futures are stored in place, which is why a generated
/// future must be pinned before it is polled.)
#[derive(Debug)]
enum AddTwoValues {
    /// Created, not yet polled: holds the arguments.
    Start {
        /// The argument.
        mailbox: Mailbox,
    },
    /// Suspended at the first `.await`.
    AwaitingA {
        /// The argument, still needed for the second receive.
        mailbox: Mailbox,
        /// The future being awaited.
        recv: Recv,
    },
    /// Suspended at the second `.await`; `a` is a local that lives across it.
    AwaitingB {
        /// The first value.
        a: u32,
        /// The future being awaited.
        recv: Recv,
    },
    /// Returned; polling again is a bug (the compiler's version panics).
    Done,
}

impl AddTwoValues {
    fn new(mailbox: Mailbox) -> AddTwoValues {
        AddTwoValues::Start { mailbox }
    }
}

impl Future for AddTwoValues {
    type Output = u32;

    /// Runs from the current suspension point to the next, exactly as the generated code does.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        // Every field is Unpin (no self-references in the hand-written version), so the pin
        // can be set aside.
        let this = self.get_mut();
        loop {
            match std::mem::replace(this, AddTwoValues::Done) {
                AddTwoValues::Start { mailbox } => {
                    let recv = mailbox.recv();
                    *this = AddTwoValues::AwaitingA { mailbox, recv };
                }
                AddTwoValues::AwaitingA { mailbox, mut recv } => {
                    match Pin::new(&mut recv).poll(cx) {
                        Poll::Pending => {
                            *this = AddTwoValues::AwaitingA { mailbox, recv };
                            return Poll::Pending;
                        }
                        Poll::Ready(a) => {
                            *this = AddTwoValues::AwaitingB {
                                a,
                                recv: mailbox.recv(),
                            };
                        }
                    }
                }
                AddTwoValues::AwaitingB { a, mut recv } => match Pin::new(&mut recv).poll(cx) {
                    Poll::Pending => {
                        *this = AddTwoValues::AwaitingB { a, recv };
                        return Poll::Pending;
                    }
                    Poll::Ready(b) => return Poll::Ready(a + b),
                },
                AddTwoValues::Done => panic!("AddTwoValues polled after it returned"),
            }
        }
    }
}

/// A waker that only counts how often it was woken.
#[derive(Debug, Default)]
struct CountingWaker {
    /// Wake-ups so far.
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` by hand, delivering 20 and then 22 into `mailbox` (the one `fut` waits on)
/// whenever it is suspended, and prints each step.
fn drive_by_hand(label: &str, mailbox: Mailbox, fut: impl Future<Output = u32>) {
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(fut);
    let mut to_deliver = [20, 22].into_iter();
    for poll in 1.. {
        let result = fut.as_mut().poll(&mut cx);
        let wakes = counter.wakes.load(Ordering::SeqCst);
        match result {
            Poll::Ready(v) => {
                println!("{label}: poll {poll} -> Ready({v}) (wakes so far: {wakes})");
                return;
            }
            Poll::Pending => {
                println!("{label}: poll {poll} -> Pending: suspended (wakes so far: {wakes})");
                match to_deliver.next() {
                    Some(v) => {
                        mailbox.deliver(v);
                        let wakes = counter.wakes.load(Ordering::SeqCst);
                        println!("{label}:   delivered {v}, which woke the waker (wakes so far: {wakes})");
                    }
                    None => {
                        println!("{label}:   nothing left to deliver; a real runtime would never poll again");
                        return;
                    }
                }
            }
        }
    }
}
