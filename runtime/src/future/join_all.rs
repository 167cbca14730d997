//! [`join_all`]: run many futures of one type concurrently inside one task and collect their
//! outputs in input order — `asyncio.gather(*coros)`.
//!
//! The naive way re-polls every unfinished child whenever the parent is woken: with 10,000
//! children and one wake-up, that is 9,999 useless polls. Instead each child gets its *own* waker,
//! which records "child `i` was woken" in a shared [`WakeSet`] and then wakes the parent. The parent
//! polls only the children on that list:
//!
//! ```text
//!   child 7's waker ──► WakeSet { ready: [7], queued[7] = true } ──► parent task's waker
//!                                    │
//!   JoinAll::poll  ◄─────────────────┘  takes [7], polls child 7 only
//! ```
//!
//! INVARIANTS: `queued[i]` is true exactly when `i` is in `ready` (no child is listed twice); every
//! child starts on the list, so each is polled at least once; a child is removed from the list
//! *before* it is polled, so a wake-up during its own poll lists it again and is not lost.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
// The `Wake` trait (how a `Waker` is made from an `Arc` without unsafe) requires std's `Arc`.
// The state inside is behind a `crate::loom::Mutex`, so models still see the synchronization.
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::loom::Mutex;

/// Runs all futures from `iter` concurrently in the current task; resolves to their outputs,
/// in the order of `iter`, once every one has finished.
///
/// Each future is polled again only when its own waker fires. To run them on *different* worker
/// threads in parallel, spawn them and `join_all` the `JoinHandle`s.
///
/// ```
/// use spindle::future::join_all;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let squares = join_all((1..=4).map(|n| async move {
///     spindle::task::yield_now().await;
///     n * n
/// }))
/// .await;
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # });
/// ```
pub fn join_all<I>(iter: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let children: Vec<Child<I::Item>> = iter
        .into_iter()
        .map(|f| Child::Running(Box::pin(f)))
        .collect();
    let n = children.len();
    let set = Arc::new(WakeSet {
        state: Mutex::new(WakeState {
            parent: None,
            ready: (0..n).collect(),
            queued: vec![true; n],
        }),
    });
    let wakers = (0..n)
        .map(|index| {
            Waker::from(Arc::new(ChildWaker {
                index,
                set: set.clone(),
            }))
        })
        .collect();
    JoinAll {
        children,
        wakers,
        set,
        scratch: Vec::new(),
        remaining: n,
    }
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinAll<F: Future> {
    /// The children, in input order; each boxed so it stays pinned while the `Vec` is ours.
    children: Vec<Child<F>>,
    /// `wakers[i]` is child `i`'s own waker (a [`ChildWaker`]).
    wakers: Vec<Waker>,
    /// Which children were woken since the last poll, and the parent's waker.
    set: Arc<WakeSet>,
    /// A reused buffer for the list taken out of `set` (saves an allocation per poll).
    scratch: Vec<usize>,
    /// How many children are still `Running`.
    remaining: usize,
}

// Nothing inside a `JoinAll` is ever pinned in place: the children are pinned in their own boxes
// and the outputs are plain values. So moving a `JoinAll` is fine even if the outputs are `!Unpin`.
impl<F: Future> Unpin for JoinAll<F> {}

/// One child of a [`JoinAll`].
enum Child<F: Future> {
    /// Still running.
    Running(Pin<Box<F>>),
    /// Finished; the output waits here until all are done (`None` once collected).
    Done(Option<F::Output>),
}

/// What the child wakers and the parent share.
struct WakeSet {
    /// The list and the parent's waker, under one lock.
    state: Mutex<WakeState>,
}

/// The lock-protected part of a [`WakeSet`].
struct WakeState {
    /// The waker of the task that awaits the `JoinAll`.
    parent: Option<Waker>,
    /// Children woken since the parent last looked, in wake-up order.
    ready: Vec<usize>,
    /// INVARIANT: `queued[i]` exactly when `i` is in `ready`.
    queued: Vec<bool>,
}

/// The waker given to one child: lists the child, then wakes the parent.
struct ChildWaker {
    /// Which child this waker belongs to.
    index: usize,
    /// Where to list it.
    set: Arc<WakeSet>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.set.state.lock();
        if !state.queued[self.index] {
            state.queued[self.index] = true;
            state.ready.push(self.index);
        }
        let parent = state.parent.clone();
        drop(state);
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        // `JoinAll` is `Unpin`: the children are pinned in their own boxes.
        let this = self.get_mut();

        // 1. Remember who to wake, and take the list of woken children.
        let mut woken = std::mem::take(&mut this.scratch);
        {
            let mut state = this.set.state.lock();
            match &state.parent {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => state.parent = Some(cx.waker().clone()),
            }
            std::mem::swap(&mut state.ready, &mut woken);
            for &i in &woken {
                state.queued[i] = false;
            }
        }

        // 2. Poll exactly those children, each with its own waker.
        for &i in &woken {
            if let Child::Running(fut) = &mut this.children[i] {
                let mut child_cx = Context::from_waker(&this.wakers[i]);
                if let Poll::Ready(out) = fut.as_mut().poll(&mut child_cx) {
                    this.children[i] = Child::Done(Some(out));
                    this.remaining -= 1;
                }
            }
        }
        woken.clear();
        this.scratch = woken;

        // 3. All finished: hand out the outputs in input order.
        if this.remaining > 0 {
            return Poll::Pending;
        }
        let outputs = this
            .children
            .iter_mut()
            .map(|child| match child {
                Child::Done(out) => out.take().expect("JoinAll polled after completion"),
                Child::Running(_) => unreachable!("remaining == 0 means every child is Done"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("len", &self.children.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::oneshot;
    use crate::test_util::{block_on, poll_once, CountingWaker};
    use std::cell::Cell;
    use std::rc::Rc;

    /// Outputs come back in input order even when the children finish in reverse order.
    #[test]
    fn outputs_in_input_order() {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..5).map(|_| oneshot::channel::<u32>()).unzip();
        let w = CountingWaker::new();
        let mut all = Box::pin(join_all(rxs));
        assert!(poll_once(all.as_mut(), &w.waker()).is_pending());
        for (i, tx) in txs.into_iter().enumerate().rev() {
            tx.send(i as u32 * 10).unwrap();
        }
        let out = match poll_once(all.as_mut(), &w.waker()) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("all children were ready"),
        };
        let out: Vec<u32> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(out, [0, 10, 20, 30, 40]);
    }

    /// An empty input completes at once with an empty vector.
    #[test]
    fn empty_is_ready() {
        let none: Vec<std::future::Ready<u8>> = Vec::new();
        assert_eq!(block_on(join_all(none)), Vec::<u8>::new());
    }

    /// A child counting its polls, pending until its oneshot has a value.
    async fn counted(polls: Rc<Cell<usize>>, rx: oneshot::Receiver<()>) {
        let mut rx = rx;
        crate::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            std::pin::Pin::new(&mut rx).poll(cx)
        })
        .await
        .unwrap()
    }

    /// Only the child that was woken is polled again; the others are left alone.
    #[test]
    fn repolls_only_woken_children() {
        let polls: Vec<_> = (0..3).map(|_| Rc::new(Cell::new(0))).collect();
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| oneshot::channel()).unzip();
        let mut all = Box::pin(join_all(
            polls.iter().cloned().zip(rxs).map(|(p, rx)| counted(p, rx)),
        ));
        let w = CountingWaker::new();
        assert!(poll_once(all.as_mut(), &w.waker()).is_pending());
        let mut txs = txs.into_iter();
        txs.next().unwrap().send(()).unwrap(); // wakes child 0 only
        assert_eq!(w.count(), 1);
        assert!(poll_once(all.as_mut(), &w.waker()).is_pending());
        let counts: Vec<usize> = polls.iter().map(|p| p.get()).collect();
        assert_eq!(counts, [2, 1, 1]);
        for tx in txs {
            tx.send(()).unwrap();
        }
        assert!(poll_once(all.as_mut(), &w.waker()).is_ready());
    }
}
