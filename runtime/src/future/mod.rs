//! Combinators: run several futures concurrently inside *one* task — asyncio's `gather` and
//! `wait(FIRST_COMPLETED)`.
//!
//! | item | what it does | asyncio |
//! |---|---|---|
//! | [`join!`](crate::join) | await a fixed set of futures of any types; a tuple of outputs | `await asyncio.gather(a, b)` |
//! | [`join_all`] | await many futures of one type; a `Vec` of outputs in input order | `await asyncio.gather(*coros)` |
//! | [`select`] | await the first of two; get the other back unfinished | `asyncio.wait(..., return_when=FIRST_COMPLETED)` |
//! | [`poll_fn`] | a future from a closure over `Context` | — |
//! | [`FutureSlot`] | one boxed future at a time, reusing the allocation for the next | — |
//! | [`ready`], [`pending`] | a future that is ready at once / never | `asyncio.sleep(0)`-free stand-ins |
//!
//! Concurrency, not parallelism: these poll their children from the task that awaits them, so the
//! children take turns on one worker thread. For parallelism, [`spawn`](crate::spawn) the children
//! and join their `JoinHandle`s.
//!
//! Talks to nothing but `std::task` (and `std::alloc`, for `FutureSlot`): like `sync`, this
//! module is runtime-agnostic.

mod join_all;
mod poll_fn;
mod select;
mod slot;

pub use join_all::{join_all, JoinAll};
pub use poll_fn::{poll_fn, PollFn};
pub use select::{select, Either, Select};
pub use slot::FutureSlot;
pub use std::future::{pending, ready, Pending, Ready};

/// Awaits several futures concurrently and evaluates to a tuple of their outputs, in argument
/// order — `asyncio.gather(a, b, c)` for futures of different types.
///
/// All of them are polled from the current task, each time it is woken, until all have finished.
/// Use it inside an `async` context (it expands to an `.await`).
///
/// ```
/// use spindle::sync::oneshot;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, rx) = oneshot::channel();
/// let (sent, got, word) = spindle::join!(
///     async move { tx.send(1).is_ok() },
///     async move { rx.await.unwrap() + 1 },
///     async { "done" },
/// );
/// assert_eq!((sent, got, word), (true, 2, "done"));
/// # });
/// ```
///
/// How it works: each argument is pinned on the stack next to an `Option` for its output, then one
/// [`poll_fn`] polls every unfinished one. The macro recurses once per argument to give each pair
/// its own (hygienic) variable names.
#[macro_export]
macro_rules! join {
    // Internal: pin the next future and give it an output slot, then recurse on the rest.
    (@pin [$(($f:ident, $o:ident))*] $head:expr, $($tail:expr,)*) => {{
        let mut fut = ::core::pin::pin!($head);
        let mut out = ::core::option::Option::None;
        $crate::join!(@pin [$(($f, $o))* (fut, out)] $($tail,)*)
    }};
    // Internal: everything is pinned; poll until all outputs are in.
    (@pin [$(($f:ident, $o:ident))*]) => {
        $crate::future::poll_fn(|cx| {
            let mut all_done = true;
            $(
                if $o.is_none() {
                    match ::core::future::Future::poll($f.as_mut(), cx) {
                        ::core::task::Poll::Ready(v) => $o = ::core::option::Option::Some(v),
                        ::core::task::Poll::Pending => all_done = false,
                    }
                }
            )*
            if all_done {
                // Every slot is `Some`: `all_done` stayed true through each check above.
                ::core::task::Poll::Ready(($($o.take().unwrap(),)*))
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await
    };
    ($($fut:expr),+ $(,)?) => {
        $crate::join!(@pin [] $($fut,)+)
    };
}

#[cfg(test)]
mod tests {
    use crate::sync::oneshot;
    use crate::test_util::block_on;

    /// `join!` returns outputs in argument order, whatever order they finish in, and works with
    /// one argument (a 1-tuple) and a trailing comma.
    #[test]
    fn join_macro_orders_outputs() {
        let (tx1, rx1) = oneshot::channel();
        let (tx2, rx2) = oneshot::channel();
        let out = block_on(async {
            crate::join!(
                async move { rx1.await.unwrap() },
                async move {
                    // Finishes first, then lets the first one finish.
                    tx1.send("first").unwrap();
                    rx2.await.unwrap()
                },
                async move {
                    tx2.send(2u8).unwrap();
                    3.5
                },
            )
        });
        assert_eq!(out, ("first", 2u8, 3.5));
        assert_eq!(block_on(async { crate::join!(async { 1 }) }), (1,));
    }

    /// `join!` runs its futures concurrently: two that wait on each other both finish.
    #[test]
    fn join_macro_is_concurrent() {
        let (a_tx, a_rx) = oneshot::channel();
        let (b_tx, b_rx) = oneshot::channel();
        let (x, y) = block_on(async {
            crate::join!(
                async move {
                    a_tx.send(1).unwrap();
                    b_rx.await.unwrap()
                },
                async move {
                    let v = a_rx.await.unwrap();
                    b_tx.send(v + 1).unwrap();
                    v
                }
            )
        });
        assert_eq!((x, y), (2, 1));
    }
}
