//! Raw HTTP/1.1 on spindle's `TcpStream`: write any bytes (a malformed, slow or partial
//! request is the point of a stress suite), and read back one response strictly enough to
//! tell a complete answer from one cut mid-way.
//!
//! Every socket operation of the suite goes through [`Conn`], so this is the one file that
//! knows the runtime's stream API. Nothing here waits forever by itself: callers bound each
//! call with `spindle::time::timeout`.

use std::io;
use std::net::SocketAddr;

use spindle::net::TcpStream;

/// Largest response head accepted before the reader calls the response malformed.
const MAX_HEAD: usize = 64 * 1024;

/// One client connection and the bytes read from it but not yet consumed.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    stream: TcpStream,
    /// Bytes received past the last complete response (a keep-alive server sends none, but
    /// the reader never throws bytes away).
    buf: Vec<u8>,
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Whether the server said it closes the connection after this response.
    pub close: bool,
}

/// Why no complete response was read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended (EOF, reset) after `received` bytes of this response. With
    /// `received == 0` the server closed before answering: a clean refusal.
    Closed {
        /// Bytes of the response received before the end.
        received: usize,
    },
    /// Bytes that are not an HTTP/1.1 response.
    Malformed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed { received: 0 } => write!(f, "closed before any byte"),
            ReadError::Closed { received } => write!(f, "closed after {received} bytes"),
            ReadError::Malformed(why) => write!(f, "malformed response: {why}"),
        }
    }
}

impl Conn {
    /// Connects to `addr` with Nagle off (the probes measure latency, not batching).
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes all of `bytes`.
    pub async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads whatever arrives next (0: the peer closed), into the connection's buffer.
    /// Returns how many bytes arrived.
    pub async fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The bytes received and not yet consumed by [`Conn::response`].
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads one complete response: the head, then a body framed by Content-Length, by
    /// chunked coding, or by the close (RFC 9112 §6.3). A `HEAD` request's response has no
    /// body; pass `head_request` for it.
    pub async fn response(&mut self, head_request: bool) -> Result<Response, ReadError> {
        // 1. The head: read until the blank line.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Malformed("head larger than 64 KiB".into()));
            }
            self.fill().await?;
        };
        let head = parse_head(&self.buf[..head_end])?;
        let no_body = head_request || head.status / 100 == 1 || matches!(head.status, 204 | 304);
        // 2. The body, by its framing.
        let body = if no_body {
            self.buf.drain(..head_end);
            Vec::new()
        } else if head.chunked {
            self.chunked_body(head_end).await?
        } else if let Some(len) = head.content_length {
            while self.buf.len() < head_end + len {
                self.fill().await?;
            }
            let body = self.buf[head_end..head_end + len].to_vec();
            self.buf.drain(..head_end + len);
            body
        } else {
            // Close-delimited: everything until EOF.
            loop {
                match self.read_some().await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let body = self.buf[head_end..].to_vec();
            self.buf.clear();
            return Ok(Response {
                status: head.status,
                body,
                close: true,
            });
        };
        Ok(Response {
            status: head.status,
            body,
            close: head.close,
        })
    }

    /// Reads more bytes into the buffer; the end of the stream (or a reset) is a `Closed`
    /// error carrying how much of the response had arrived.
    async fn fill(&mut self) -> Result<(), ReadError> {
        match self.read_some().await {
            Ok(0) | Err(_) => Err(ReadError::Closed {
                received: self.buf.len(),
            }),
            Ok(_) => Ok(()),
        }
    }

    /// Decodes a chunked body that starts at `start` in the buffer, consuming the whole
    /// response from the buffer.
    async fn chunked_body(&mut self, start: usize) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        let mut at = start;
        loop {
            // A chunk-size line (extensions after ';' are ignored).
            let line_end = loop {
                if let Some(i) = find(&self.buf[at..], b"\r\n") {
                    break at + i;
                }
                self.fill().await?;
            };
            let line = std::str::from_utf8(&self.buf[at..line_end])
                .map_err(|_| ReadError::Malformed("chunk size is not text".into()))?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Malformed(format!("bad chunk size {size_text:?}")))?;
            at = line_end + 2;
            if size == 0 {
                // Trailer fields (none expected) end with a blank line.
                loop {
                    if let Some(i) = find(&self.buf[at..], b"\r\n") {
                        let blank = i == 0;
                        at += i + 2;
                        if blank {
                            break;
                        }
                    } else {
                        self.fill().await?;
                    }
                }
                self.buf.drain(..at);
                return Ok(body);
            }
            while self.buf.len() < at + size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[at..at + size]);
            if &self.buf[at + size..at + size + 2] != b"\r\n" {
                return Err(ReadError::Malformed("chunk not followed by CRLF".into()));
            }
            at += size + 2;
        }
    }
}

/// What the reader needs from a response head.
struct Head {
    /// The status code.
    status: u16,
    /// Content-Length, if present.
    content_length: Option<usize>,
    /// Transfer-Encoding ends in chunked.
    chunked: bool,
    /// `Connection: close`.
    close: bool,
}

/// Parses a response head (status line and fields, through the blank line).
fn parse_head(bytes: &[u8]) -> Result<Head, ReadError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ReadError::Malformed("head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ReadError::Malformed(format!("status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| ReadError::Malformed(format!("status line {status_line:?}")))?;
    let mut head = Head {
        status,
        content_length: None,
        chunked: false,
        close: version == "HTTP/1.0",
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ReadError::Malformed(format!("field line {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len = value
                .parse()
                .map_err(|_| ReadError::Malformed(format!("content-length {value:?}")))?;
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(head)
}

/// The first index of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A `GET` request for `path` on a keep-alive connection.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: stress\r\n\r\n").into_bytes()
}

/// A `POST` request for `path` with `body`.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: stress\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}
