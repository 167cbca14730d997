//! The long-poll detector's thread and its off switch: with `long_poll_threshold(None)` a
//! runtime starts no monitor thread and reports nothing, even for a task that blocks; with the
//! default, one `spindle-monitor` thread runs per runtime and is joined at shutdown.
//!
//! One test in its own binary, because it counts this process's threads by name
//! (`/proc/self/task/*/comm`), which tests running beside it would disturb.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::with_timeout;
use spindle::report::{self, Kind};
use spindle::Builder;

/// The number of this process's threads named `spindle-monitor`.
fn monitor_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "spindle-monitor")
        .count()
}

/// Waits (up to 10 s) until `monitor_threads()` is `n` (a thread's name disappears from
/// `/proc` a moment after it is joined).
fn wait_for_monitor_threads(n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while monitor_threads() != n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    monitor_threads()
}

/// `None`: no monitor thread (either flavour), no report and no count for a task that blocks
/// 50 ms; the default: one monitor thread per runtime, gone after the runtime is dropped.
#[test]
fn no_threshold_no_monitor_no_reports() {
    with_timeout(60, || {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        report::set_hook(move |r| {
            if r.kind() == Kind::LongPoll {
                log.lock().unwrap().push(r.to_string());
            }
        });
        assert_eq!(monitor_threads(), 0);
        for multi in [true, false] {
            let mut b = if multi {
                Builder::new_multi_thread()
            } else {
                Builder::new_current_thread()
            };
            let rt = b.long_poll_threshold(None).build().unwrap();
            assert_eq!(monitor_threads(), 0, "multi-thread: {multi}");
            rt.block_on(async {
                spindle::task::Builder::new()
                    .name("blocker")
                    .spawn(async { std::thread::sleep(Duration::from_millis(50)) })
                    .unwrap()
                    .await
                    .unwrap();
            });
            assert_eq!(monitor_threads(), 0, "multi-thread: {multi}");
            let m = rt.handle().metrics();
            assert_eq!(m.long_polls, 0);
            assert!(m.recent_long_polls.is_empty());
        }
        assert_eq!(*seen.lock().unwrap(), Vec::<String>::new());

        // The default: one monitor per runtime, joined when the runtime goes.
        let a = Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let b = Builder::new_current_thread().build().unwrap();
        assert_eq!(wait_for_monitor_threads(2), 2); // (a thread names itself once it runs)
        drop(a);
        assert_eq!(wait_for_monitor_threads(1), 1);
        drop(b);
        assert_eq!(wait_for_monitor_threads(0), 0);
        report::clear_hook();
    });
}
