//! End-to-end: server-sent events (`Response::sse`, `http/src/app/sse.rs`) over a real socket.
//! curl (`-N`) and python3's http.client read the events a producer sends, field by field; a
//! client that goes away stops the producer (it sees `send` fail, or is dropped if it was
//! waiting); a silent stream carries the keep-alive comment.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use spindle_http::{App, Event, Request, Response, RunningServer, Server, Sse};

/// How long a test waits for the producer to report its end before failing.
const END_WAIT: Duration = Duration::from_secs(10);

/// Starts `app` on a fresh 2-worker runtime, runs `client` against its address on this thread,
/// then shuts the server down.
fn with_server<T>(app: App, client: impl FnOnce(SocketAddr) -> T) -> T {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let server: RunningServer = rt
        .block_on(Server::bind("127.0.0.1:0").start(app))
        .expect("bind 127.0.0.1:0");
    let out = client(server.local_addr());
    rt.block_on(server.shutdown());
    out
}

/// Reports when it is dropped: how a test learns that a producer's future was dropped.
struct OnDrop(mpsc::Sender<&'static str>, &'static str);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

/// The test app:
/// - `/count?n=N`: N events (type `count`, id `i`, two data lines), a `retry` on the first,
///   then the stream ends;
/// - `/forever`: an event every 20 ms until `send` fails, then reports `"send failed"`;
/// - `/quiet`: one event, then silence (keep-alive every 50 ms) until dropped: reports
///   `"dropped"`.
fn app(ends: mpsc::Sender<&'static str>) -> App {
    let quiet_ends = ends.clone();
    App::new()
        .get("/count", |req: Request| async move {
            let n: u32 = req
                .query_param("n")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3);
            Response::sse(move |tx| async move {
                for i in 0..n {
                    let mut e = Event::new()
                        .event("count")
                        .id(i.to_string())
                        .data(format!("line a {i}\nline b {i}"));
                    if i == 0 {
                        e = e.retry(Duration::from_millis(1500));
                    }
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            })
        })
        .get("/forever", move |_req: Request| {
            let ends = ends.clone();
            async move {
                Response::sse(move |tx| async move {
                    let mut i = 0u64;
                    while tx.send(Event::new().data(i.to_string())).await.is_ok() {
                        i += 1;
                        spindle::time::sleep(Duration::from_millis(20)).await;
                    }
                    let _ = ends.send("send failed");
                })
            }
        })
        .get("/quiet", move |_req: Request| {
            let ends = quiet_ends.clone();
            async move {
                Sse::new()
                    .keep_alive(Duration::from_millis(50))
                    .response(move |tx| async move {
                        let _guard = OnDrop(ends, "dropped");
                        let _ = tx.send(Event::new().event("hello").data("hi")).await;
                        std::future::pending::<()>().await // never sends again
                    })
            }
        })
}

/// curl -N reads the whole stream of a producer that ends, with the SSE head fields, and
/// exits (the chunked body ended).
#[test]
fn curl_reads_events_until_the_producer_ends() {
    let (ends, _) = mpsc::channel();
    let out = with_server(app(ends), |addr| {
        common::curl(&["-N", "-D", "-", &format!("http://{addr}/count?n=3")]).0
    });
    let (head, body) = out.split_once("\r\n\r\n").expect("a head, then the body");
    let head = format!("{}\r\n", head.to_ascii_lowercase()); // each field ends with CRLF
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-cache\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let want = "event: count\nid: 0\nretry: 1500\ndata: line a 0\ndata: line b 0\n\n\
                event: count\nid: 1\ndata: line a 1\ndata: line b 1\n\n\
                event: count\nid: 2\ndata: line a 2\ndata: line b 2\n\n";
    assert_eq!(body, want);
}

/// python3's http.client reads the stream line by line and parses it as a browser would
/// (fields collected until a blank line; data lines joined with `\n`; comments skipped).
#[test]
fn python_parses_the_events_line_by_line() {
    const SCRIPT: &str = r#"
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
conn.request("GET", "/count?n=4", headers={"Accept": "text/event-stream"})
resp = conn.getresponse()
assert resp.status == 200, resp.status
assert resp.getheader("content-type") == "text/event-stream", resp.getheader("content-type")
events, fields, data = [], {}, []
while True:
    line = resp.readline()
    if not line:
        break  # the stream ended
    line = line.decode("utf-8").rstrip("\n")
    if line == "":
        if data or fields:
            events.append({**fields, "data": "\n".join(data)})
        fields, data = {}, []
    elif line.startswith(":"):
        continue
    else:
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        else:
            fields[name] = value
print(json.dumps(events))
"#;
    let (ends, _) = mpsc::channel();
    let out = with_server(app(ends), |addr| common::python(SCRIPT, addr));
    let events: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    let events = events.as_array().expect("a list of events");
    assert_eq!(events.len(), 4, "{out}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["event"], "count");
        assert_eq!(e["id"], i.to_string());
        assert_eq!(e["data"], format!("line a {i}\nline b {i}"));
    }
    assert_eq!(events[0]["retry"], "1500");
    assert!(events[1].get("retry").is_none());
}

/// A client that reads one event and hangs up: the producer's next sends fail, and it
/// returns (it reports "send failed" within the bounded wait).
#[test]
fn client_departure_makes_send_fail() {
    let (ends, ended) = mpsc::channel();
    with_server(app(ends), |addr| {
        let mut s = common::connect(addr);
        s.write_all(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let got = read_until(&mut s, b"data: 1\n\n");
        assert!(got.contains("text/event-stream"), "{got}");
        assert_eq!(
            ended.try_recv(),
            Err(mpsc::TryRecvError::Empty),
            "still running"
        );
        drop(s);
        let end = ended
            .recv_timeout(END_WAIT)
            .expect("the producer noticed the client was gone");
        assert_eq!(end, "send failed");
    });
}

/// A silent stream carries `: keep-alive` comments at the chosen interval; when the client
/// hangs up, the producer, which is waiting for something else, is dropped.
#[test]
fn keep_alive_comment_and_departure_of_a_silent_stream() {
    let (ends, ended) = mpsc::channel();
    with_server(app(ends), |addr| {
        let mut s = common::connect(addr);
        s.write_all(b"GET /quiet HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let got = read_until(&mut s, b": keep-alive\n\n");
        assert!(got.contains("event: hello\ndata: hi\n\n"), "{got}");
        // Two more: the comment repeats while the stream stays silent.
        let more = read_until(&mut s, b": keep-alive\n\n");
        assert!(more.contains(": keep-alive"), "{more}");
        drop(s);
        let end = ended
            .recv_timeout(END_WAIT)
            .expect("the waiting producer was dropped after the client left");
        assert_eq!(end, "dropped");
    });
}

/// curl -N sees the keep-alive comment on a silent stream: its output is read line by line
/// until the comment shows up, then curl is stopped (the stream itself never ends).
#[test]
fn curl_sees_the_keep_alive_comment() {
    let (ends, _) = mpsc::channel();
    let lines = with_server(app(ends), |addr| {
        let mut curl = Command::new("curl")
            .args(["--silent", "-N", "--max-time", "20"])
            .arg(format!("http://{addr}/quiet"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl is installed (.ci/run installs it)");
        let mut lines = Vec::new();
        for line in BufReader::new(curl.stdout.take().unwrap()).lines() {
            let line = line.expect("curl's output is text");
            let done = line == ": keep-alive";
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = curl.kill();
        let _ = curl.wait();
        lines
    });
    assert_eq!(lines, ["event: hello", "data: hi", "", ": keep-alive"]);
}

/// Reads from `s` until the bytes received contain `marker`; returns them (the connection's
/// read timeout fails the test rather than hang it).
fn read_until(s: &mut std::net::TcpStream, marker: &[u8]) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(marker.len()).any(|w| w == marker) {
        let n = s.read(&mut buf).expect("read before the timeout");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}
