//! Two concurrent "cancel order" requests for the same order: the lost-update / double-refund bug
//! you get when the *check* and the *update* are split across an `.await`, and the fix — hold an
//! async `Mutex` guard across the await, so check, refund and update form one critical section.
//!
//! The handler does three steps: (1) is the order still paid? (2) ask the payment service for a
//! refund — a network call, so the task suspends — (3) mark the order cancelled and book the refund.
//! While request A is suspended in step 2, request B runs step 1, still sees "paid", and refunds too.
//! Every await is a point where other tasks run: in asyncio exactly as here.
//!
//! The two requests are run with `spindle::join!` in one task, which polls A, then B, then A...:
//! that makes the bad interleaving happen every time instead of once in a while. Spawned on
//! several workers, the racy version fails intermittently — the worst kind of bug.
//!
//! Run: `cargo run --example cancel_order`

use std::sync::Arc;

use spindle::sync::{mpsc, oneshot, Mutex};

/// Price of order 7.
const PRICE: u64 = 100;

/// The state of one order in our "database".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Paid, may be cancelled (and refunded) once.
    Paid,
    /// Cancelled and refunded.
    Cancelled,
}

/// The shop's shared state: one order and the money refunded so far.
#[derive(Debug)]
struct Shop {
    /// The order's status.
    status: Status,
    /// Total refunded to the customer.
    refunded: u64,
}

/// A refund request to the payment service: how much, and where to send the confirmation.
type RefundRequest = (u64, oneshot::Sender<u64>);

/// The payment service: a task that confirms every refund it is asked for (it has no idea that
/// the shop asked twice for the same order).
fn start_payment_service() -> mpsc::Sender<RefundRequest> {
    let (tx, mut rx) = mpsc::channel::<RefundRequest>(16);
    spindle::spawn(async move {
        while let Some((amount, reply)) = rx.recv().await {
            let _ = reply.send(amount);
        }
    });
    tx
}

/// Step 2 of both handlers: a round trip to the payment service. The `yield_now` stands for
/// network latency: the caller is guaranteed to suspend here at least once.
async fn refund(payments: &mpsc::Sender<RefundRequest>, amount: u64) -> u64 {
    let (tx, rx) = oneshot::channel();
    payments
        .send((amount, tx))
        .await
        .expect("payment service is running");
    spindle::task::yield_now().await;
    rx.await.expect("payment service replies")
}

/// BUGGY: the lock is taken for the check and again for the update, but released in between.
async fn cancel_racy(
    who: &str,
    shop: &Mutex<Shop>,
    payments: &mpsc::Sender<RefundRequest>,
) -> Result<u64, String> {
    // 1. check
    let status = shop.lock().await.status; // guard dropped at the end of this statement
    println!("  {who}: sees order {status:?}");
    if status != Status::Paid {
        return Err(format!("{who}: already cancelled"));
    }
    // 2. refund (suspends: the other request runs here)
    let amount = refund(payments, PRICE).await;
    // 3. update, based on a check that may be stale by now
    let mut shop = shop.lock().await;
    shop.status = Status::Cancelled;
    shop.refunded += amount;
    println!("  {who}: refunded {amount}");
    Ok(amount)
}

/// FIXED: one guard held from the check, across the await, to the update.
async fn cancel_locked(
    who: &str,
    shop: &Mutex<Shop>,
    payments: &mpsc::Sender<RefundRequest>,
) -> Result<u64, String> {
    let mut shop = shop.lock().await; // the other request waits here, in line
    println!("  {who}: sees order {:?}", shop.status);
    if shop.status != Status::Paid {
        return Err(format!("{who}: already cancelled"));
    }
    let amount = refund(payments, PRICE).await; // still holding the guard: nobody can check now
    shop.status = Status::Cancelled;
    shop.refunded += amount;
    println!("  {who}: refunded {amount}");
    Ok(amount)
    // guard dropped here: the waiting request gets the lock and sees "Cancelled"
}

/// A fresh, paid order.
fn paid_order() -> Arc<Mutex<Shop>> {
    Arc::new(Mutex::new(Shop {
        status: Status::Paid,
        refunded: 0,
    }))
}

fn main() {
    let rt = spindle::Runtime::new().expect("build runtime");
    rt.block_on(async {
        let payments = start_payment_service();

        println!("1. racy: check and update in separate critical sections");
        let shop = paid_order();
        let (a, b) = spindle::join!(
            cancel_racy("request A", &shop, &payments),
            cancel_racy("request B", &shop, &payments),
        );
        let refunded = shop.lock().await.refunded;
        println!("  A -> {a:?}, B -> {b:?}");
        println!("  refunded {refunded} for an order of {PRICE}: DOUBLE REFUND");
        assert_eq!(refunded, 2 * PRICE);

        println!();
        println!("2. fixed: the async Mutex guard is held across the await");
        let shop = paid_order();
        let (a, b) = spindle::join!(
            cancel_locked("request A", &shop, &payments),
            cancel_locked("request B", &shop, &payments),
        );
        let refunded = shop.lock().await.refunded;
        println!("  A -> {a:?}, B -> {b:?}");
        println!("  refunded {refunded} for an order of {PRICE}: correct, exactly once");
        assert_eq!(refunded, PRICE);
        assert!(a.is_ok() && b.is_err());
    });
}
