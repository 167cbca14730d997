//! `spindle-bench tokio-minimal --port P`: the least work a tokio HTTP/1.1 server can do, as the
//! throughput floor spindle's server is held to (`benches/http.sh`).
//!
//! Per connection, a loop of three steps (see [`serve`]): read whatever bytes arrived; answer every
//! complete request head that is buffered (parsed with `httparse`) by appending one fixed response
//! to a write buffer; write that buffer once. Keep-alive is implied; there is no routing, no body
//! handling and no per-request allocation. It is a baseline, not a correct server:
//! - every request gets the same `200 Hello, World!`, whatever its method and path;
//! - its `date` header is the server's start time (so the response has the usual length);
//! - a request that announces a body, or a head that does not parse or grows past
//!   [`MAX_BUFFERED`], closes the connection.
//!
//! It runs on a tokio multi-thread runtime with 2 workers, until killed.

use std::io;
use std::time::SystemTime;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Most headers a request may carry; wrk sends two.
const MAX_HEADERS: usize = 32;
/// Bytes of unanswered input we hold before giving up on a connection (a head that never ends).
const MAX_BUFFERED: usize = 64 * 1024;
/// Initial capacity of each connection's read and write buffers.
const BUF_CAPACITY: usize = 4096;

/// Serves on `127.0.0.1:port` forever (returns only if the listener cannot be set up).
pub(crate) fn run(port: u16) -> io::Result<()> {
    // Built once; leaked so every connection task can borrow it for the life of the process.
    let response: &'static [u8] = Box::leak(fixed_response().into_boxed_slice());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!(
            "tokio-minimal listening on http://{}",
            listener.local_addr()?
        );
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    eprintln!("tokio-minimal: accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                // Resets and early hang-ups are normal under load; nothing to report.
                let _ = serve(stream, response).await;
            });
        }
    })
}

/// The one response this server sends, with the same headers as hyper's and spindle's.
fn fixed_response() -> Vec<u8> {
    let body = "Hello, World!";
    format!(
        "HTTP/1.1 200 OK\r\n\
         content-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n\
         date: {}\r\n\
         server: tokio-minimal\r\n\
         \r\n\
         {body}",
        body.len(),
        crate::http_date::format(SystemTime::now())
    )
    .into_bytes()
}

/// One connection: 1. read; 2. answer every complete request buffered; 3. write once; repeat.
async fn serve(mut stream: TcpStream, response: &[u8]) -> io::Result<()> {
    // INVARIANT (between iterations): `input` holds only the start of a request not yet complete.
    let mut input: Vec<u8> = Vec::with_capacity(BUF_CAPACITY);
    let mut output: Vec<u8> = Vec::with_capacity(BUF_CAPACITY);
    loop {
        // 1. Read what has arrived (appending to any partial request already held).
        if input.capacity() - input.len() < BUF_CAPACITY / 4 {
            input.reserve(BUF_CAPACITY);
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(()); // the client closed the connection
        }

        // 2. Answer every complete request head in the buffer.
        let mut consumed = 0;
        while let Some(len) = complete_request(&input[consumed..])? {
            consumed += len;
            output.extend_from_slice(response);
        }
        input.drain(..consumed);
        if input.len() > MAX_BUFFERED {
            return Ok(()); // a head that never ends: drop the connection
        }

        // 3. One write for the whole batch (pipelined requests get one syscall).
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
    }
}

/// Is a complete, body-less request at the start of `buf`? `Some(length of its head)` if so,
/// `None` if more bytes are needed; an error (which closes the connection) if the bytes are not
/// HTTP or the request has a body, which this server does not read.
fn complete_request(buf: &[u8]) -> io::Result<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            let has_body = request.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("transfer-encoding")
                    || (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
            });
            if has_body {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request bodies are not supported",
                ))
            } else {
                Ok(Some(len))
            }
        }
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `complete_request` should decide for an input.
    #[derive(Debug, PartialEq)]
    enum Expect {
        /// `Ok(None)`: wait for more bytes.
        NeedMore,
        /// `Ok(Some(n))`: a complete head of `n` bytes.
        Head(usize),
        /// `Err(_)`: close the connection.
        Close,
    }

    /// Framing decisions, one row per input.
    #[test]
    fn complete_request_table() {
        use Expect::*;
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let cases: &[(&[u8], Expect)] = &[
            (b"", NeedMore),
            (b"GET / HTTP/1.1\r\nHost", NeedMore),
            (get, Head(get.len())),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT",
                Head(get.len()),
            ),
            (b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", Head(38)),
            (b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello", Close),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Close,
            ),
            (b"\x00\x01 garbage\r\n\r\n", Close),
        ];
        for (bytes, expected) in cases {
            let got = match complete_request(bytes) {
                Ok(None) => NeedMore,
                Ok(Some(n)) => Head(n),
                Err(_) => Close,
            };
            assert_eq!(&got, expected, "input {:?}", String::from_utf8_lossy(bytes));
        }
    }

    /// The fixed response is well-formed: it parses as one response with the declared body length.
    #[test]
    fn fixed_response_parses() {
        let bytes = fixed_response();
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Response::new(&mut headers);
        let head = match parsed.parse(&bytes).expect("valid response head") {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => panic!("incomplete response head"),
        };
        assert_eq!(parsed.code, Some(200));
        assert_eq!(&bytes[head..], b"Hello, World!");
        let length = parsed.headers.iter().find(|h| h.name == "content-length");
        assert_eq!(length.map(|h| h.value), Some(&b"13"[..]));
    }
}
