//! A runtime kept in a `thread_local!` and dropped by that thread-local's destructor when its
//! thread exits: the shutdown must run to the end without panicking, although the runtime's own
//! thread-local context may already be destroyed by then, and it must still cancel the tasks
//! left pending (their futures are dropped).
//!
//! Thread-local destructors run in the reverse order of first use (glibc), so a runtime stored
//! in a thread-local *before* the thread first enters it (`block_on`) is dropped *after* the
//! context's thread-local is gone. Before the fix, shutdown re-entered the context with
//! `LocalKey::with`, which panics there ("cannot access a Thread Local Storage value during or
//! after destruction"), and a panic in a thread-local destructor aborts the whole process: this
//! file holds this one test, so that such an abort fails exactly it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spindle::{Builder, Runtime};

thread_local! {
    /// The runtime a scenario thread keeps; dropped by this thread-local's destructor.
    static HELD: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// Sets its flag when dropped: proof that a cancelled task's future was dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// On a new thread: stores a runtime built by `build` in [`HELD`] (first use of a thread-local
/// on that thread), spawns two tasks that never finish (one waits forever, one sleeps for an
/// hour: a pending timer), enters the runtime with `block_on` until both have started, and
/// returns, leaving the runtime to [`HELD`]'s destructor. Returns whether each task's future
/// was dropped by the time the thread was joined.
fn run_thread(build: fn() -> Runtime) -> [bool; 2] {
    let dropped = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let flags = dropped.clone();
    std::thread::spawn(move || {
        HELD.with(|h| *h.borrow_mut() = Some(build()));
        HELD.with(|h| {
            let held = h.borrow();
            let rt = held.as_ref().expect("stored just above");
            let started = Arc::new(AtomicUsize::new(0));
            let [waits, sleeps] = flags;
            let s = started.clone();
            rt.spawn(async move {
                let _flag = SetOnDrop(waits);
                s.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
            let s = started.clone();
            rt.spawn(async move {
                let _flag = SetOnDrop(sleeps);
                s.fetch_add(1, Ordering::SeqCst);
                spindle::time::sleep(Duration::from_secs(3600)).await;
            });
            rt.block_on(async {
                while started.load(Ordering::SeqCst) < 2 {
                    spindle::task::yield_now().await;
                }
            });
        });
    })
    .join()
    .expect("the thread ends without a panic");
    [
        dropped[0].load(Ordering::SeqCst),
        dropped[1].load(Ordering::SeqCst),
    ]
}

/// A thread whose `thread_local!` holds a runtime (current-thread, then multi-thread) with
/// tasks still pending exits cleanly: the runtime's shutdown, run from the thread-local's
/// destructor after the runtime's context is destroyed, does not panic (which would abort the
/// process) and cancels the pending tasks.
#[test]
fn runtime_in_thread_local_shuts_down_at_thread_exit() {
    let current = run_thread(|| Builder::new_current_thread().build().expect("runtime"));
    assert_eq!(
        current,
        [true, true],
        "current-thread: tasks' futures dropped"
    );
    let multi = run_thread(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime")
    });
    assert_eq!(multi, [true, true], "multi-thread: tasks' futures dropped");
}
