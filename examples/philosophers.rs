//! The dining philosophers, with async `Mutex` forks: how a lock-ordering deadlock happens, how to
//! detect it from outside, and how ordering the locks fixes it.
//!
//! Five philosophers sit at a round table with one fork between each pair; to eat, a philosopher
//! needs both forks next to them. Each fork is a `spindle::sync::Mutex`.
//!
//! 1. Naive: everyone takes the *left* fork, then the right one. We force the worst schedule — all
//!    five have reached for their first fork before anyone reaches for the second — and the table
//!    deadlocks: a cycle of five tasks, each holding one lock and waiting for the next. A watchdog on
//!    a plain std thread notices (through a oneshot and `select`), and we abort the stuck tasks;
//!    because `Mutex::lock` is cancellation-safe, every fork is free again afterwards.
//! 2. Fixed (resource ordering): everyone takes the *lower-numbered* fork first. Philosopher 4 now
//!    reaches for fork 0 before fork 4, so the wait-for graph can never close into a cycle. Same
//!    worst-case schedule, and everyone eats.
//!
//! Run: `cargo run --example philosophers`

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use spindle::future::{join_all, poll_fn, select, Either};
use spindle::sync::{oneshot, Mutex, Notify};

/// Philosophers (and forks) at the table.
const N: usize = 5;

/// How long the watchdog waits before it calls it a deadlock. The fixed table needs microseconds.
const PATIENCE: Duration = Duration::from_secs(1);

/// Everyone waits here until all `n` have arrived: used to force the worst-case schedule.
struct Barrier {
    /// How many have arrived so far.
    arrived: AtomicUsize,
    /// How many we wait for.
    n: usize,
    /// Broadcast when the last one arrives.
    all_here: Notify,
}

impl Barrier {
    fn new(n: usize) -> Self {
        Barrier {
            arrived: AtomicUsize::new(0),
            n,
            all_here: Notify::new(),
        }
    }

    async fn wait(&self) {
        // Create the `Notified` *before* counting ourselves in: a `notify_waiters` that happens
        // between the count and the `.await` still reaches us, so no wake-up can slip through.
        let all_here = self.all_here.notified();
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            self.all_here.notify_waiters();
        } else {
            all_here.await;
        }
    }
}

/// One philosopher: reach for `first`, wait at the barrier, take `second`, eat.
///
/// "Reach for" means: poll the lock once. Either we hold the fork now, or we are in its FIFO line
/// (the async Mutex queues us on the first poll), and our turn will come.
async fn philosopher(
    id: usize,
    forks: Arc<Vec<Mutex<()>>>,
    order: [usize; 2],
    barrier: Arc<Barrier>,
) -> usize {
    let [first, second] = order;
    let mut first_lock = pin!(forks[first].lock());
    let reached = poll_fn(|cx| Poll::Ready(first_lock.as_mut().poll(cx))).await;
    match reached {
        Poll::Ready(_) => println!("  philosopher {id} picks up fork {first}"),
        Poll::Pending => println!("  philosopher {id} waits in line for fork {first}"),
    }
    barrier.wait().await;
    let _first = match reached {
        Poll::Ready(guard) => guard,
        Poll::Pending => first_lock.await,
    };
    println!("  philosopher {id} reaches for fork {second}");
    let _second = forks[second].lock().await;
    println!("  philosopher {id} eats with forks {first} and {second}");
    id
}

/// A oneshot that a plain std thread fires after `after`: a timeout that needs no timer wheel,
/// only the fact that spindle's primitives accept wake-ups from any thread.
fn watchdog(after: Duration) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let _ = tx.send(()); // fails harmlessly if dinner already ended
    });
    rx
}

/// Seats five philosophers who take their forks in the order `order_of(id)`, each as its own task,
/// and returns who ate, or `None` if the watchdog fired first (a deadlock).
async fn dinner(order_of: fn(usize) -> [usize; 2]) -> Option<Vec<usize>> {
    let forks: Arc<Vec<Mutex<()>>> = Arc::new((0..N).map(|_| Mutex::new(())).collect());
    let barrier = Arc::new(Barrier::new(N));
    let mut handles: Vec<_> = (0..N)
        .map(|id| {
            spindle::spawn(philosopher(
                id,
                forks.clone(),
                order_of(id),
                barrier.clone(),
            ))
        })
        .collect();

    // Race "everyone finished" against the watchdog. `join_all` borrows the handles, so we keep
    // them and can still abort the tasks if the watchdog wins.
    let outcome = match select(join_all(handles.iter_mut()), watchdog(PATIENCE)).await {
        Either::Left((ate, _watchdog)) => Some(
            ate.into_iter()
                .map(|r| r.expect("philosopher panicked"))
                .collect(),
        ),
        Either::Right((_fired, _all_ate)) => None, // dropping `_all_ate` stops awaiting, not the tasks
    };
    if outcome.is_none() {
        println!(
            "  !! nobody has eaten after {PATIENCE:?}: DEADLOCK. Every philosopher holds one fork"
        );
        println!("     and waits for the next one, which a neighbour holds - a cycle of waits:");
        for id in 0..N {
            let [held, wanted] = order_of(id);
            println!("     philosopher {id} holds fork {held}, waits for fork {wanted} (held by philosopher {wanted})");
        }
        // Abort the stuck tasks. Each is dropped with its guard and its pending `lock()` future.
        for h in &handles {
            h.abort();
        }
        for h in handles {
            assert!(h.await.unwrap_err().is_cancelled());
        }
        println!("  aborted all five; their pending lock() futures were dropped");
    }
    // Either way no fork may stay locked: cancellation released everything.
    assert!(forks.iter().all(|f| f.try_lock().is_ok()));
    println!("  every fork is free again");
    outcome
}

fn main() {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .expect("build runtime");

    println!("1. naive: everyone takes the left fork first");
    let naive = rt.block_on(dinner(|id| [id, (id + 1) % N]));
    assert!(naive.is_none(), "the forced schedule always deadlocks");

    println!();
    println!("2. fixed: everyone takes the lower-numbered fork first (resource ordering)");
    let fixed = rt.block_on(dinner(|id| {
        let (a, b) = (id, (id + 1) % N);
        [a.min(b), a.max(b)]
    }));
    let mut ate = fixed.expect("resource ordering cannot deadlock");
    ate.sort();
    assert_eq!(ate, (0..N).collect::<Vec<_>>());
    println!("  all {N} philosophers ate: {ate:?}");
}
