//! Integration tests of `spindle::time::{timeout, interval}` on a real runtime.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rt, with_timeout};
use spindle::time::{interval, sleep, timeout, timeout_at, Elapsed, MissedTickBehavior};

/// Sets a flag when dropped: shows that a future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future that finishes before the deadline gives `Ok(output)`.
#[test]
fn timeout_ok_when_the_future_wins() {
    with_timeout(30, || {
        rt(2).block_on(async {
            let out = timeout(Duration::from_secs(10), async {
                sleep(Duration::from_millis(5)).await;
                "done"
            })
            .await;
            assert_eq!(out, Ok("done"));
            let at = Instant::now() + Duration::from_secs(10);
            assert_eq!(timeout_at(at, async { 7 }).await, Ok(7));
        });
    });
}

/// A future still pending at the deadline gives `Err(Elapsed)`, not before the deadline,
/// and the future is dropped with the `Timeout`.
#[test]
fn timeout_err_when_the_deadline_wins() {
    with_timeout(30, || {
        rt(2).block_on(async {
            let dropped = Arc::new(AtomicBool::new(false));
            let guard = DropFlag(dropped.clone());
            let start = Instant::now();
            let out = timeout(Duration::from_millis(20), async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
            .await;
            assert!(start.elapsed() >= Duration::from_millis(20));
            let err: Elapsed = out.unwrap_err();
            assert_eq!(err.to_string(), "deadline has elapsed");
            assert!(
                dropped.load(Ordering::SeqCst),
                "the inner future was not dropped"
            );
        });
    });
}

/// A `Timeout` dropped before either side finished drops its future and cancels its timer:
/// the runtime is not woken for it later and the program carries on normally.
#[test]
fn dropped_timeout_drops_its_future() {
    with_timeout(30, || {
        rt(2).block_on(async {
            let dropped = Arc::new(AtomicBool::new(false));
            let guard = DropFlag(dropped.clone());
            let t = timeout(Duration::from_secs(3600), async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            });
            // Race it against a short sleep: the short sleep wins and the timeout is dropped.
            let raced = timeout(Duration::from_millis(10), t).await;
            assert!(raced.is_err());
            assert!(dropped.load(Ordering::SeqCst));
        });
    });
}

/// An interval's first tick is immediate; later ticks are exactly one period apart (Burst) and
/// none is handed out before its time.
#[test]
fn interval_ticks_on_a_fixed_grid() {
    with_timeout(30, || {
        rt(2).block_on(async {
            let period = Duration::from_millis(10);
            let before = Instant::now();
            let mut ticker = interval(period);
            let first = ticker.tick().await;
            assert!(first >= before && first <= Instant::now());
            for k in 1..6u32 {
                let t = ticker.tick().await;
                assert_eq!(t, first + period * k);
                assert!(Instant::now() >= t);
            }
        });
    });
}

/// After a stall longer than several periods: Burst hands out the missed grid ticks at once,
/// Skip jumps to the next grid tick after the stall, Delay restarts the period from the late tick.
#[test]
fn missed_tick_behaviors() {
    with_timeout(30, || {
        rt(2).block_on(async {
            let period = Duration::from_millis(10);
            for behavior in [
                MissedTickBehavior::Burst,
                MissedTickBehavior::Skip,
                MissedTickBehavior::Delay,
            ] {
                let mut ticker = interval(period);
                ticker.set_missed_tick_behavior(behavior);
                let first = ticker.tick().await;
                // Block this task (and its worker) past ticks 1, 2 and 3.
                std::thread::sleep(Duration::from_millis(35));
                let stall_end = Instant::now();
                let late = ticker.tick().await;
                assert_eq!(
                    late,
                    first + period,
                    "{behavior:?}: the missed tick is handed out"
                );
                let next = ticker.tick().await;
                match behavior {
                    MissedTickBehavior::Burst => assert_eq!(next, first + period * 2),
                    MissedTickBehavior::Skip => {
                        assert!(next > stall_end, "Skip: {next:?} not after the stall");
                        let steps = (next - first).as_nanos() % period.as_nanos();
                        assert_eq!(steps, 0, "Skip: off the grid");
                    }
                    MissedTickBehavior::Delay => {
                        assert!(next >= stall_end + period, "Delay: too early")
                    }
                }
            }
        });
    });
}
