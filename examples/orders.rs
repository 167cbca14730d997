//! An orders service over SQLite: the seed notes' "cancel order" race, made real.
//!
//! An HTTP API on spindle-http creates, reads and cancels orders; cancelling a paid order
//! refunds it. SQLite is reached through `rusqlite`, a synchronous driver, so every query runs
//! on the blocking pool (`spawn_blocking`): the notes' "or use the thread pool" answer. The
//! event-loop threads never wait on the database.
//!
//! Two ways to cancel:
//!
//! - default: one `BEGIN IMMEDIATE` transaction checks the status, books the refund and marks
//!   the order cancelled. `IMMEDIATE` takes SQLite's write lock at `BEGIN`, so of two concurrent
//!   cancels the second waits, then sees `cancelled` and gets 409: one refund per order.
//! - `--racy`: the check and the update are two queries with an `.await` between them (the call
//!   to the payment provider). Concurrent cancels all pass the check before any of them updates,
//!   and each books a refund: the double refund the notes warn about.
//!
//! Either way the payment provider is then called (a 20 ms timer stands in for it); in the safe
//! version that happens after the commit, for the refund the transaction recorded.
//!
//! An async driver (sqlx, tokio-postgres) would turn each query into a future the connection
//! task awaits on the reactor instead of a hop to the blocking pool: no pool thread per query in
//! flight, no hand-off latency. It would not fix the race: that is about what runs between the
//! check and the update, and only a transaction (or a conditional `UPDATE`) closes that window.
//!
//! Run: `cargo run --release --example orders` (safe) or `... --example orders -- --racy`:
//! creates `--orders 20` orders, sends `--cancels 10` concurrent cancels for each over real
//! sockets, and prints the refunds per order. `--serve` keeps serving instead (with
//! `--port N`, default 8081), for curl:
//!
//! ```text
//! curl -X POST localhost:8081/orders -d '{"amount": 100}'
//! curl localhost:8081/orders/1
//! curl -X POST localhost:8081/orders/1/cancel
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use spindle_http::serde_json::{self, json, Value};
use spindle_http::{App, HttpError, Request, Response, Server};

/// How long the stand-in payment provider takes to refund.
const PAYMENT_CALL: Duration = Duration::from_millis(20);

fn main() {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\nusage: orders [--racy] [--orders N] [--cancels N] [--serve [--port N]] [--db PATH]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(opts) {
        eprintln!("orders: {e}");
        std::process::exit(1);
    }
}

/// Command-line flags.
#[derive(Debug)]
struct Options {
    /// Split check and update across an `.await` (the bug).
    racy: bool,
    /// Orders the demonstration creates.
    orders: usize,
    /// Concurrent cancels per order in the demonstration.
    cancels: usize,
    /// Serve until Ctrl-C instead of running the demonstration.
    serve: bool,
    /// Port for `--serve` (0: any free port, printed in the banner).
    port: u16,
    /// The database file (default: a fresh file in the temp directory, removed at exit).
    db: Option<PathBuf>,
}

impl Options {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut o = Options {
            racy: false,
            orders: 20,
            cancels: 10,
            serve: false,
            port: 8081,
            db: None,
        };
        while let Some(flag) = it.next() {
            let mut num = |name: &str| -> Result<usize, String> {
                it.next()
                    .ok_or(format!("{name} needs a value"))?
                    .parse()
                    .map_err(|e| format!("{name}: {e}"))
            };
            match flag.as_str() {
                "--racy" => o.racy = true,
                "--serve" => o.serve = true,
                "--orders" => o.orders = num("--orders")?.clamp(1, 1000),
                "--cancels" => o.cancels = num("--cancels")?.clamp(1, 200),
                "--port" => o.port = u16::try_from(num("--port")?).map_err(|e| e.to_string())?,
                "--db" => o.db = Some(it.next().ok_or("--db needs a path")?.into()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------------------------------------
// The database: a small pool of SQLite connections, used only from the blocking pool.
// ---------------------------------------------------------------------------------------------

/// Open SQLite connections, reused across requests. A connection is taken out for one job on
/// the blocking pool and put back after it.
#[derive(Debug)]
struct Db {
    /// The database file.
    path: PathBuf,
    /// Idle connections.
    idle: Mutex<Vec<Connection>>,
}

impl Db {
    fn open(path: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL lets readers go on while a writer holds the lock; the schema is idempotent.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS orders (
                 id     INTEGER PRIMARY KEY,
                 amount INTEGER NOT NULL,
                 status TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS refunds (
                 id       INTEGER PRIMARY KEY,
                 order_id INTEGER NOT NULL REFERENCES orders(id),
                 amount   INTEGER NOT NULL
             );",
        )?;
        Ok(Db {
            path: path.to_owned(),
            idle: Mutex::new(vec![conn]),
        })
    }

    /// Runs `job` with a connection on the blocking pool and awaits it: the event-loop
    /// worker is free while SQLite works (or waits for its write lock).
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        job: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, HttpError> {
        let db = self.clone();
        let done = spindle::task::spawn_blocking(move || {
            // A poisoned lock only means another job panicked while popping; the Vec is intact.
            let idle = db.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match idle {
                Some(c) => c,
                None => {
                    let c = Connection::open(&db.path)?;
                    // Wait for the write lock instead of failing with SQLITE_BUSY.
                    c.busy_timeout(Duration::from_secs(10))?;
                    c
                }
            };
            let result = job(&mut conn);
            db.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            result
        });
        match done.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(HttpError::new(500, format!("database: {e}"))),
            Err(e) => Err(HttpError::new(500, format!("database job failed: {e:?}"))),
        }
    }
}

/// An order as the API shows it.
fn order_json(id: i64, amount: i64, status: &str, refunds: i64) -> Value {
    json!({ "id": id, "amount": amount, "status": status, "refunds": refunds })
}

// ---------------------------------------------------------------------------------------------
// The HTTP API.
// ---------------------------------------------------------------------------------------------

/// `POST /orders`, `GET /orders/{id}`, `POST /orders/{id}/cancel`.
fn app(db: Arc<Db>, racy: bool) -> App {
    let (create_db, get_db, cancel_db) = (db.clone(), db.clone(), db);
    App::new()
        .post("/orders", move |mut req: Request| {
            let db = create_db.clone();
            async move {
                let body: Value = req.json().await?;
                let amount = match body.get("amount").and_then(Value::as_i64) {
                    Some(a) if a > 0 => a,
                    _ => return Err(HttpError::new(422, "amount must be a positive integer")),
                };
                let id = db
                    .run(move |c| {
                        c.execute(
                            "INSERT INTO orders (amount, status) VALUES (?1, 'paid')",
                            params![amount],
                        )?;
                        Ok(c.last_insert_rowid())
                    })
                    .await?;
                Ok(Response::json(&order_json(id, amount, "paid", 0)).with_status(201))
            }
        })
        .get("/orders/{id}", move |req: Request| {
            let db = get_db.clone();
            async move {
                let id = order_id(&req)?;
                let found = db
                    .run(move |c| {
                        c.query_row(
                            "SELECT amount, status,
                                    (SELECT COUNT(*) FROM refunds WHERE order_id = orders.id)
                             FROM orders WHERE id = ?1",
                            params![id],
                            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?)),
                        )
                        .optional()
                    })
                    .await?;
                match found {
                    Some((amount, status, refunds)) => {
                        Ok(Response::json(&order_json(id, amount, &status, refunds)))
                    }
                    None => Err(HttpError::new(404, format!("no order {id}"))),
                }
            }
        })
        .post("/orders/{id}/cancel", move |req: Request| {
            let db = cancel_db.clone();
            async move {
                let id = order_id(&req)?;
                let outcome = if racy {
                    cancel_racy(&db, id).await?
                } else {
                    cancel_in_transaction(&db, id).await?
                };
                match outcome {
                    Cancel::Refunded(amount) => {
                        // The payment provider is called after the decision is recorded.
                        spindle::time::sleep(PAYMENT_CALL).await;
                        Ok(Response::json(&json!({ "id": id, "refunded": amount })))
                    }
                    Cancel::AlreadyCancelled => Err(HttpError::new(
                        409,
                        format!("order {id} is already cancelled"),
                    )),
                    Cancel::NotFound => Err(HttpError::new(404, format!("no order {id}"))),
                }
            }
        })
}

/// The `{id}` path parameter.
fn order_id(req: &Request) -> Result<i64, HttpError> {
    req.param("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| HttpError::new(400, "the order id must be an integer"))
}

/// What a cancel did.
#[derive(Debug)]
enum Cancel {
    /// The order was paid; it is cancelled now and this amount is refunded.
    Refunded(i64),
    /// Someone cancelled it before.
    AlreadyCancelled,
    /// No such order.
    NotFound,
}

/// The fix: check, refund and update in one `BEGIN IMMEDIATE` transaction. The write lock is
/// taken at `BEGIN`, so a concurrent cancel's check waits until this one has committed.
async fn cancel_in_transaction(db: &Arc<Db>, id: i64) -> Result<Cancel, HttpError> {
    db.run(move |c| {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, String)> = tx
            .query_row(
                "SELECT amount, status FROM orders WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let outcome = match row {
            None => Cancel::NotFound,
            Some((_, status)) if status != "paid" => Cancel::AlreadyCancelled,
            Some((amount, _)) => {
                tx.execute(
                    "INSERT INTO refunds (order_id, amount) VALUES (?1, ?2)",
                    params![id, amount],
                )?;
                tx.execute(
                    "UPDATE orders SET status = 'cancelled' WHERE id = ?1",
                    params![id],
                )?;
                Cancel::Refunded(amount)
            }
        };
        tx.commit()?;
        Ok(outcome)
    })
    .await
}

/// The bug: check in one query, `.await` the payment provider, then update in another. Every
/// cancel that checks while the first is still awaiting sees `paid`, and refunds too.
async fn cancel_racy(db: &Arc<Db>, id: i64) -> Result<Cancel, HttpError> {
    // 1. Is it still paid?
    let row: Option<(i64, String)> = db
        .run(move |c| {
            c.query_row(
                "SELECT amount, status FROM orders WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .await?;
    let amount = match row {
        None => return Ok(Cancel::NotFound),
        Some((_, status)) if status != "paid" => return Ok(Cancel::AlreadyCancelled),
        Some((amount, _)) => amount,
    };
    // 2. Ask the payment provider first: the task suspends, other cancels run step 1.
    spindle::time::sleep(PAYMENT_CALL).await;
    // 3. Book the refund and mark the order, trusting the check made before the await.
    db.run(move |c| {
        c.execute(
            "INSERT INTO refunds (order_id, amount) VALUES (?1, ?2)",
            params![id, amount],
        )?;
        c.execute(
            "UPDATE orders SET status = 'cancelled' WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    })
    .await?;
    Ok(Cancel::Refunded(amount))
}

// ---------------------------------------------------------------------------------------------
// The demonstration: a real client over real sockets.
// ---------------------------------------------------------------------------------------------

/// Sends one request with `connection: close` and returns the status and body.
async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let stream = spindle::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Creates the orders, cancels each `cancels` times at once, and reports the refunds.
async fn demonstrate(addr: std::net::SocketAddr, opts: &Options) -> std::io::Result<()> {
    let mode = if opts.racy {
        "racy: check and update split across an .await"
    } else {
        "safe: one BEGIN IMMEDIATE transaction"
    };
    println!("orders service on http://{addr} ({mode})");
    let mut ids = Vec::new();
    for _ in 0..opts.orders {
        let (status, body) = call(addr, "POST", "/orders", r#"{"amount": 100}"#).await?;
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match (status, v["id"].as_i64()) {
            (201, Some(id)) => ids.push(id),
            _ => {
                return Err(std::io::Error::other(format!(
                    "create failed: {status} {body}"
                )))
            }
        }
    }
    println!(
        "created {} orders of 100; sending {} concurrent cancels for each ({} requests)",
        ids.len(),
        opts.cancels,
        ids.len() * opts.cancels
    );
    let mut tasks = Vec::new();
    for &id in &ids {
        for _ in 0..opts.cancels {
            let path = format!("/orders/{id}/cancel");
            tasks.push(spindle::spawn(async move {
                call(addr, "POST", &path, "").await
            }));
        }
    }
    let (mut ok, mut conflict, mut other) = (0, 0, 0);
    for t in tasks {
        match t.await {
            Ok(Ok((200, _))) => ok += 1,
            Ok(Ok((409, _))) => conflict += 1,
            _ => other += 1,
        }
    }
    println!(
        "cancel answers: {ok} × 200 refunded, {conflict} × 409 already cancelled, {other} other"
    );
    let mut refunds_per_order = Vec::new();
    for &id in &ids {
        let (_, body) = call(addr, "GET", &format!("/orders/{id}"), "").await?;
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        refunds_per_order.push(v["refunds"].as_i64().unwrap_or(-1));
    }
    let total: i64 = refunds_per_order.iter().sum();
    let doubled = refunds_per_order.iter().filter(|&&r| r > 1).count();
    println!("refunds per order: {refunds_per_order:?}");
    println!(
        "refunded {} in total for {} orders of 100; orders refunded more than once: {doubled}",
        total * 100,
        ids.len()
    );
    if doubled == 0 && refunds_per_order.iter().all(|&r| r == 1) {
        println!("result: exactly one refund per order");
    } else {
        println!("result: DOUBLE REFUNDS: the check and the update raced");
    }
    Ok(())
}

fn run(opts: Options) -> Result<(), Box<dyn std::error::Error>> {
    let (path, temporary) = match &opts.db {
        Some(p) => (p.clone(), false),
        None => (
            std::env::temp_dir().join(format!("spindle-orders-{}.sqlite", std::process::id())),
            true,
        ),
    };
    let db = Arc::new(Db::open(&path)?);
    let app = app(db, opts.racy);
    let result = if opts.serve {
        Server::bind(("127.0.0.1", opts.port))
            .serve_with(app, |addr| {
                let mode = if opts.racy { "racy" } else { "safe" };
                println!("orders service listening on http://{addr} ({mode})");
            })
            .map_err(Into::into)
    } else {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(2)
            .build()?;
        rt.block_on(async {
            let server = Server::bind("127.0.0.1:0").start(app).await?;
            let shown = demonstrate(server.local_addr(), &opts).await;
            server.shutdown().await;
            shown
        })
        .map_err(Into::into)
    };
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    result
}
