//! Server-sent events ([`Response::sse`], [`Sse`], [`Event`], [`SseSender`]): a response whose
//! body never ends on its own, a stream of small text events that a browser's `EventSource`
//! reads as they come (the WHATWG HTML standard, "Server-sent events").
//!
//! Built on the streamed body of `response.rs`: a producer task sends events through a bounded
//! channel, the connection (`server/conn.rs`) writes each as a chunk. This file adds three
//! things to a plain stream:
//! - **the wire format** ([`Event`]): `event:`, `id:`, `retry:` and one `data:` line per line of
//!   the payload, then a blank line that ends the event;
//! - **a keep-alive**: a comment line (`: keep-alive`) whenever no event went out for the
//!   keep-alive interval (15 s unless set), so that proxies do not close an idle stream and the
//!   server notices a client that is gone even while the producer has nothing to say;
//! - **a clean end**: the producer learns that the client went away from
//!   [`SseSender::send`]'s `Err`; a producer that is waiting for something else is dropped
//!   (cancelled) at the next keep-alive tick after the connection gave up on the stream. When
//!   the producer returns, the body ends (the last chunk) and the connection may carry the next
//!   request. Either way no task is left behind.
//!
//! How fast a departure is seen: the connection learns that the peer closed only when a write
//! fails, which is usually the second write after the close (the first one is answered by a
//! reset). So a stream that sends every 250 ms notices within about half a second, an idle one
//! within about three keep-alive intervals.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spindle::future::{select, Either};
use spindle::sync::mpsc;

#[cfg(test)]
use crate::app::response::ResponseBody;
use crate::app::response::{ClientGone, Response};

/// The keep-alive interval unless [`Sse::keep_alive`] sets another.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The comment sent when the stream has been idle for the keep-alive interval. A line that
/// starts with `:` is ignored by `EventSource`; the blank line after it ends the (empty) block.
const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

/// Events queued for the connection before [`SseSender::send`] waits (back-pressure).
const QUEUE: usize = 16;

/// One server-sent event, built field by field and sent with [`SseSender::send`].
///
/// Fields are written in the order `event`, `id`, `retry`, then `data` (one `data:` line per
/// line of the payload, split at `\n`, `\r\n` or `\r`, which the browser joins back with
/// `\n`), then the blank line that ends the event.
///
/// ```
/// use std::time::Duration;
/// use spindle_http::Event;
///
/// let e = Event::new()
///     .event("tick")
///     .id("42")
///     .retry(Duration::from_secs(2))
///     .data("first line\nsecond line");
/// assert_eq!(
///     e.to_string(),
///     "event: tick\nid: 42\nretry: 2000\ndata: first line\ndata: second line\n\n"
/// );
/// assert_eq!(Event::comment("hello").to_string(), ": hello\n\n");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The event type (`event:`); `EventSource` dispatches it to listeners of that name
    /// (`message` when absent). INVARIANT: no `\r` or `\n`.
    event: Option<Cow<'static, str>>,
    /// The event id (`id:`); the browser sends the last one back in `Last-Event-ID` when it
    /// reconnects. INVARIANT: no `\r`, `\n` or NUL (a browser ignores an id with NUL).
    id: Option<String>,
    /// How long the browser waits before reconnecting after the stream ends (`retry:`).
    retry: Option<Duration>,
    /// The payload, split into `data:` lines when written.
    data: Option<String>,
    /// A comment (`: text` lines), ignored by browsers; used for keep-alives and notes.
    comment: Option<String>,
}

impl Event {
    /// An event with no fields yet.
    pub fn new() -> Event {
        Event::default()
    }

    /// A comment: `: text`, one line per line of `text`. Browsers ignore it; it keeps a stream
    /// alive and shows up in `curl -N`.
    pub fn comment(text: impl Into<String>) -> Event {
        Event {
            comment: Some(text.into()),
            ..Event::default()
        }
    }

    /// Sets the event type (the `event:` field).
    ///
    /// # Panics
    /// If `name` contains `\r` or `\n`, which would end the field early (a programming error:
    /// event types are names chosen by the program).
    pub fn event(mut self, name: impl Into<Cow<'static, str>>) -> Event {
        let name = name.into();
        assert!(
            !name.contains(['\r', '\n']),
            "an SSE event type cannot contain CR or LF: {name:?}"
        );
        self.event = Some(name);
        self
    }

    /// Sets the event id (the `id:` field).
    ///
    /// # Panics
    /// If `id` contains `\r`, `\n` or NUL (see [`Event::event`]).
    pub fn id(mut self, id: impl Into<String>) -> Event {
        let id = id.into();
        assert!(
            !id.contains(['\r', '\n', '\0']),
            "an SSE event id cannot contain CR, LF or NUL: {id:?}"
        );
        self.id = Some(id);
        self
    }

    /// Sets the reconnection delay (the `retry:` field, whole milliseconds).
    pub fn retry(mut self, delay: Duration) -> Event {
        self.retry = Some(delay);
        self
    }

    /// Sets the payload (the `data:` lines). Any text is fine: line breaks become several
    /// `data:` lines.
    pub fn data(mut self, data: impl Into<String>) -> Event {
        self.data = Some(data.into());
        self
    }

    /// Appends the event in wire format to `out`.
    fn write_to(&self, out: &mut String) {
        if let Some(c) = &self.comment {
            for line in lines(c) {
                push_field(out, "", line);
            }
        }
        if let Some(e) = &self.event {
            push_field(out, "event", e);
        }
        if let Some(id) = &self.id {
            push_field(out, "id", id);
        }
        if let Some(r) = self.retry {
            push_field(out, "retry", &r.as_millis().to_string());
        }
        if let Some(d) = &self.data {
            for line in lines(d) {
                push_field(out, "data", line);
            }
        }
        out.push('\n'); // the blank line: dispatch the event
    }
}

/// The lines of `s`, split at `\r\n`, `\n` or `\r` (the three line ends the SSE grammar
/// accepts). An empty string is one empty line, so `data("")` still sends `data: `.
fn lines(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
        }
    })
}

/// Appends `name: value\n`. The space after the colon is what every producer writes; the
/// parser strips exactly one, so a value that itself starts with a space survives.
fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({:?})", self.to_string())
    }
}

/// Sends events of a server-sent-events response; given to the producer of [`Response::sse`].
#[derive(Debug)]
pub struct SseSender {
    /// The connection reads the other end.
    tx: mpsc::Sender<Vec<u8>>,
    /// Set by each send, cleared by the keep-alive tick: an event went out, no comment needed.
    active: Arc<AtomicBool>,
}

impl SseSender {
    /// Queues one event (waits while 16 are queued and unwritten: back-pressure).
    /// `Err(ClientGone)` once the client has gone away: the producer should return.
    pub async fn send(&self, event: Event) -> Result<(), ClientGone> {
        let mut text = String::new();
        event.write_to(&mut text);
        // Relaxed: a hint for the keep-alive timer; nothing is published through it.
        self.active.store(true, Ordering::Relaxed);
        self.tx
            .send(text.into_bytes())
            .await
            .map_err(|_| ClientGone)
    }

    /// True once the connection has given up on the stream (the client went away).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A server-sent-events response with settings; [`Response::sse`] is `Sse::new().response(..)`.
///
/// ```
/// use std::time::Duration;
/// use spindle_http::{App, Event, Request, Sse};
///
/// let app = App::new().get("/ticks", |_req: Request| async {
///     Sse::new()
///         .keep_alive(Duration::from_secs(5))
///         .response(|tx| async move {
///             for i in 0u32.. {
///                 let tick = Event::new().event("tick").id(i.to_string()).data(i.to_string());
///                 if tx.send(tick).await.is_err() {
///                     return; // the client went away
///                 }
///                 spindle::time::sleep(Duration::from_secs(1)).await;
///             }
///         })
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Sse {
    /// A comment goes out when no event did for this long.
    keep_alive: Duration,
}

impl Default for Sse {
    fn default() -> Self {
        Sse::new()
    }
}

impl Sse {
    /// Settings with a keep-alive comment every 15 s of silence.
    pub fn new() -> Sse {
        Sse {
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }

    /// Sets how long the stream may stay silent before a keep-alive comment goes out
    /// (also how often a waiting producer is checked for a departed client).
    ///
    /// # Panics
    /// If `every` is zero.
    pub fn keep_alive(mut self, every: Duration) -> Sse {
        assert!(!every.is_zero(), "the SSE keep-alive interval must be > 0");
        self.keep_alive = every;
        self
    }

    /// A 200 response (`content-type: text/event-stream`, `cache-control: no-cache`) whose
    /// events come from `producer`, run as its own task with the [`SseSender`] it is given.
    /// Must be called inside a spindle runtime (a handler always is).
    pub fn response<F, Fut>(self, producer: F) -> Response
    where
        F: FnOnce(SseSender) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        let active = Arc::new(AtomicBool::new(false));
        let sender = SseSender {
            tx: tx.clone(),
            active: active.clone(),
        };
        let producer = Box::pin(producer(sender));
        spindle::spawn(drive(producer, tx, active, self.keep_alive));
        Response::new(200)
            .with_header("content-type", "text/event-stream")
            .with_header("cache-control", "no-cache")
            .with_stream_body(rx)
    }
}

impl Response {
    /// 200 with a server-sent-events body produced by `producer`, which runs as its own task
    /// and sends [`Event`]s through the [`SseSender`] it is given; a keep-alive comment goes
    /// out after 15 s of silence (see [`Sse`] to change it). The stream ends when the producer
    /// returns, or when the client goes away (then `send` fails, or a waiting producer is
    /// dropped at the next keep-alive tick).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle_http::{App, Event, Request, Response};
    ///
    /// let app = App::new().get("/clock", |_req: Request| async {
    ///     Response::sse(|tx| async move {
    ///         let start = std::time::Instant::now();
    ///         loop {
    ///             let up = format!("{:.1}", start.elapsed().as_secs_f64());
    ///             if tx.send(Event::new().event("uptime").data(up)).await.is_err() {
    ///                 break; // the client went away
    ///             }
    ///             spindle::time::sleep(Duration::from_millis(500)).await;
    ///         }
    ///     })
    /// });
    /// # let _ = app;
    /// ```
    pub fn sse<F, Fut>(producer: F) -> Response
    where
        F: FnOnce(SseSender) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Sse::new().response(producer)
    }
}

/// Runs `producer` and, beside it, the keep-alive: every `every`, if no event went out since
/// the last tick, queue a comment. Returns when the producer does, or when the channel is
/// closed at a tick (the client is gone: the producer is dropped, which cancels it).
///
/// `tx` is this task's own sender: once the producer is done and both senders are dropped,
/// the connection's receiver sees the end of the stream and writes the last chunk.
async fn drive(
    mut producer: Pin<Box<dyn Future<Output = ()> + Send>>,
    tx: mpsc::Sender<Vec<u8>>,
    active: Arc<AtomicBool>,
    every: Duration,
) {
    loop {
        let tick = pin!(spindle::time::sleep(every));
        match select(producer, tick).await {
            Either::Left(((), _)) => return,
            Either::Right(((), still_running)) => producer = still_running,
        }
        // Relaxed: see `SseSender::send`.
        if active.swap(false, Ordering::Relaxed) && !tx.is_closed() {
            continue; // an event went out during this interval
        }
        match tx.try_send(KEEP_ALIVE_COMMENT.to_vec()) {
            // Queued; or the queue is full of events not yet written, which keep it alive.
            Ok(()) | Err(mpsc::TrySendError::Full(_)) => {}
            Err(mpsc::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table: each event and its exact wire text.
    #[test]
    fn wire_format() {
        let cases: Vec<(Event, &str)> = vec![
            (Event::new().data("hi"), "data: hi\n\n"),
            (Event::new().data(""), "data: \n\n"),
            (Event::new().data("a\nb"), "data: a\ndata: b\n\n"),
            (
                Event::new().data("a\r\nb\rc\n"),
                "data: a\ndata: b\ndata: c\ndata: \n\n",
            ),
            (Event::new().data(" lead"), "data:  lead\n\n"),
            (Event::new().event("x").data("1"), "event: x\ndata: 1\n\n"),
            (Event::new().id("7"), "id: 7\n\n"),
            (Event::new().id(""), "id: \n\n"),
            (
                Event::new().retry(Duration::from_millis(1500)),
                "retry: 1500\n\n",
            ),
            (Event::comment("k\nl"), ": k\n: l\n\n"),
            (
                Event::new()
                    .data("d")
                    .id("i")
                    .event("e")
                    .retry(Duration::from_secs(1)),
                "event: e\nid: i\nretry: 1000\ndata: d\n\n",
            ),
            (Event::new(), "\n"),
        ];
        for (event, want) in cases {
            assert_eq!(event.to_string(), want, "{event:?}");
        }
    }

    #[test]
    #[should_panic(expected = "cannot contain CR or LF")]
    fn event_type_with_newline_panics() {
        let _ = Event::new().event("a\nb");
    }

    #[test]
    #[should_panic(expected = "cannot contain CR, LF or NUL")]
    fn id_with_cr_panics() {
        let _ = Event::new().id("a\rb");
    }

    #[test]
    #[should_panic(expected = "cannot contain CR, LF or NUL")]
    fn id_with_nul_panics() {
        let _ = Event::new().id("a\0b");
    }

    /// The response head, and a producer's events in order followed by the end of the body.
    #[test]
    fn response_carries_events_then_ends() {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async {
            let mut resp = Response::sse(|tx| async move {
                for i in 0..3 {
                    tx.send(Event::new().data(i.to_string())).await.unwrap();
                }
            });
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.header("content-type"), Some("text/event-stream"));
            assert_eq!(resp.header("cache-control"), Some("no-cache"));
            let ResponseBody::Stream(mut rx) = resp.take_body() else {
                panic!("an SSE body is a stream")
            };
            let mut got = Vec::new();
            while let Some(chunk) = rx.recv().await {
                got.push(String::from_utf8(chunk).unwrap());
            }
            assert_eq!(got, ["data: 0\n\n", "data: 1\n\n", "data: 2\n\n"]);
        });
    }

    /// A silent producer gets keep-alive comments; once the receiver is gone, the waiting
    /// producer is dropped at the next tick (its drop guard reports it).
    #[test]
    fn keep_alive_then_departure_drops_a_waiting_producer() {
        struct Dropped(std::sync::mpsc::Sender<()>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel();
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async {
            let mut resp =
                Sse::new()
                    .keep_alive(Duration::from_millis(20))
                    .response(move |_tx| async move {
                        let _guard = Dropped(dropped_tx);
                        std::future::pending::<()>().await
                    });
            let ResponseBody::Stream(mut rx) = resp.take_body() else {
                panic!("an SSE body is a stream")
            };
            let first = spindle::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a keep-alive within 10 s");
            assert_eq!(first.as_deref(), Some(KEEP_ALIVE_COMMENT));
            drop(rx);
        });
        dropped_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the producer was dropped after the receiver went away");
    }
}
