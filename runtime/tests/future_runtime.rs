//! The `future` combinators with real tasks: `join_all` over spawned tasks keeps input order,
//! `join!` runs futures that depend on each other, and `select` races a channel against a
//! watchdog. Each test runs under a timeout.

mod common;

use std::pin::pin;

use common::{rt, with_timeout};
use spindle::future::{join_all, select, Either};
use spindle::sync::{mpsc, oneshot};

/// `join_all` of 100 spawned tasks that finish in scrambled order returns outputs in input order
/// (`asyncio.gather`).
#[test]
fn join_all_spawned_in_input_order() {
    with_timeout(60, || {
        let rt = rt(4);
        let out = rt.block_on(async {
            let handles = (0..100u64).map(|i| {
                spindle::spawn(async move {
                    // Later inputs yield less, so they tend to finish first.
                    for _ in 0..(100 - i) % 7 {
                        spindle::task::yield_now().await;
                    }
                    i * 2
                })
            });
            join_all(handles).await
        });
        let out: Vec<u64> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    });
}

/// `join!` drives a producer and a consumer of the same channel inside one task: they can only
/// both finish if they really run concurrently.
#[test]
fn join_macro_producer_consumer() {
    with_timeout(60, || {
        let rt = rt(2);
        let (sent, sum) = rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            spindle::join!(
                async move {
                    for i in 1..=100u32 {
                        tx.send(i).await.unwrap();
                    }
                    100
                },
                async move {
                    let mut sum = 0;
                    while let Some(i) = rx.recv().await {
                        sum += i;
                    }
                    sum
                }
            )
        });
        assert_eq!((sent, sum), (100, 5050));
    });
}

/// `select` returns the side that finished, and the loser can still be awaited afterwards.
#[test]
fn select_channel_against_watchdog() {
    with_timeout(60, || {
        let rt = rt(2);
        rt.block_on(async {
            let (work_tx, work_rx) = oneshot::channel::<&str>();
            let (dog_tx, dog_rx) = oneshot::channel::<()>();
            spindle::spawn(async move { work_tx.send("work done").unwrap() });
            match select(work_rx, dog_rx).await {
                Either::Left((Ok(msg), dog_rx)) => {
                    assert_eq!(msg, "work done");
                    // The watchdog future is handed back unfinished; it still works.
                    dog_tx.send(()).unwrap();
                    assert_eq!(dog_rx.await, Ok(()));
                }
                other => panic!("the work finished first, got {other:?}"),
            }
            // With async blocks, pin them first.
            let never = pin!(std::future::pending::<()>());
            let soon = pin!(async { spindle::task::yield_now().await });
            assert!(matches!(select(never, soon).await, Either::Right(((), _))));
        });
    });
}
