//! A strict HTTP/1.1 response reader for the `connection` target: it accepts only what a
//! correct server may send (RFC 9112 §4 status line, §5 fields, §6 framing) and says exactly
//! what is wrong otherwise. It is written for checking, not speed, and knows nothing about
//! spindle's internals.

/// One response read from the server's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The fields, names lower-cased, values without surrounding whitespace.
    pub fields: Vec<(String, Vec<u8>)>,
    /// The body, decoded from its framing.
    pub body: Vec<u8>,
    /// Whether the response says the connection closes after it (`connection: close`, or a
    /// body delimited by the close).
    pub close: bool,
}

impl Resp {
    /// The values of field `name` (lower case).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// The request a response answers, as far as framing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answering {
    /// A request whose method is not `HEAD`.
    Other,
    /// A `HEAD` request: a final response has no body whatever its fields say.
    Head,
    /// Not known (a request the server rejected before knowing its method): a body is expected,
    /// but a response that ends the output right after its head is accepted without one.
    Unknown,
}

/// What [`read_response`] found at the start of the buffer.
#[derive(Debug)]
pub enum Read {
    /// A whole response, and the bytes it took.
    Complete(Resp, usize),
    /// A prefix of a valid response; more bytes were needed.
    Partial,
}

/// Whether `b` may appear in a token (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The line starting at `from`, without its CRLF, and where the next line starts.
/// `Ok(None)` if the CRLF has not arrived; a bare CR or LF is an error.
fn line(buf: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, String> {
    let rest = &buf[from..];
    match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        None => Ok(None),
        Some(at) if rest[at] == b'\n' => Err(format!("bare LF at {}", from + at)),
        Some(at) => match rest.get(at + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((&rest[..at], from + at + 2))),
            Some(_) => Err(format!("bare CR at {}", from + at)),
        },
    }
}

/// `status-line = HTTP-version SP status-code SP [ reason-phrase ]`; we always speak 1.1.
fn status_line(l: &[u8]) -> Result<u16, String> {
    let show = || String::from_utf8_lossy(l).into_owned();
    let rest = l
        .strip_prefix(b"HTTP/1.1 ")
        .ok_or_else(|| format!("status line {:?}", show()))?;
    if rest.len() < 4 || rest[3] != b' ' || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(format!("status line {:?}", show()));
    }
    let status = rest[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(format!("status {status}"));
    }
    // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
    if rest[4..]
        .iter()
        .any(|&b| b != b'\t' && b != b' ' && (b < 0x21 || b == 0x7f))
    {
        return Err(format!("reason phrase {:?}", show()));
    }
    Ok(status)
}

/// `field-line = field-name ":" OWS field-value OWS`, value bytes visible, SP, HTAB or obs-text.
fn field_line(l: &[u8]) -> Result<(String, Vec<u8>), String> {
    let show = || String::from_utf8_lossy(l).into_owned();
    let colon = l
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| format!("field without colon {:?}", show()))?;
    let (name, value) = (&l[..colon], &l[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(format!("field name {:?}", show()));
    }
    if value
        .iter()
        .any(|&b| b != b'\t' && b != b' ' && (b < 0x21 || b == 0x7f))
    {
        return Err(format!("field value {:?}", show()));
    }
    let trimmed: &[u8] = {
        let s = value
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(value.len());
        let e = value
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(s, |i| i + 1);
        &value[s..e]
    };
    Ok((
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        trimmed.to_vec(),
    ))
}

/// Reads one response from the start of `buf`. `eof`: no more bytes will come (a body
/// delimited by the close ends there). Errors name the violation.
pub fn read_response(buf: &[u8], answering: Answering, eof: bool) -> Result<Read, String> {
    // 1. Status line and fields, up to the blank line.
    let Some((l, mut at)) = line(buf, 0)? else {
        return Ok(Read::Partial);
    };
    let status = status_line(l)?;
    let mut fields = Vec::new();
    loop {
        let Some((l, next)) = line(buf, at)? else {
            return Ok(Read::Partial);
        };
        at = next;
        if l.is_empty() {
            break;
        }
        fields.push(field_line(l)?);
    }
    let mut resp = Resp {
        status,
        fields,
        body: Vec::new(),
        close: false,
    };
    // 2. What the fields say about framing and persistence.
    let connection: Vec<Vec<u8>> = resp.values("connection").map(<[u8]>::to_vec).collect();
    resp.close = connection.iter().any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    let lengths: Vec<&[u8]> = resp.values("content-length").collect();
    let codings: Vec<&[u8]> = resp.values("transfer-encoding").collect();
    if lengths.len() > 1 {
        return Err("more than one content-length".into());
    }
    if !codings.is_empty() && !lengths.is_empty() {
        return Err("both content-length and transfer-encoding".into());
    }
    if codings.len() > 1 || codings.first().is_some_and(|c| *c != b"chunked") {
        return Err(format!("transfer-encoding {codings:?}"));
    }
    let length = match lengths.first() {
        None => None,
        Some(v) if !v.is_empty() && v.len() <= 18 && v.iter().all(u8::is_ascii_digit) => {
            Some(std::str::from_utf8(v).unwrap().parse::<usize>().unwrap())
        }
        Some(v) => return Err(format!("content-length {:?}", String::from_utf8_lossy(v))),
    };
    // 3. The body (RFC 9112 §6.3, in its order).
    let bodyless = (100..200).contains(&status) || status == 204 || status == 304;
    if bodyless {
        if !codings.is_empty() || (status != 304 && length.is_some()) {
            return Err(format!("{status} with framing fields"));
        }
        return Ok(Read::Complete(resp, at));
    }
    if answering == Answering::Head {
        return Ok(Read::Complete(resp, at));
    }
    if answering == Answering::Unknown && eof && at == buf.len() {
        return Ok(Read::Complete(resp, at)); // a HEAD request the server rejected
    }
    if !codings.is_empty() {
        return match chunked(buf, at)? {
            Some((body, end)) => {
                resp.body = body;
                Ok(Read::Complete(resp, end))
            }
            None => Ok(Read::Partial),
        };
    }
    match length {
        Some(n) if buf.len() - at >= n => {
            resp.body = buf[at..at + n].to_vec();
            Ok(Read::Complete(resp, at + n))
        }
        Some(_) => Ok(Read::Partial),
        None => {
            // Delimited by the close: only with `connection: close`, and then it is the rest.
            if !resp.close {
                return Err("no framing and no connection: close".into());
            }
            if !eof {
                return Ok(Read::Partial);
            }
            resp.body = buf[at..].to_vec();
            Ok(Read::Complete(resp, buf.len()))
        }
    }
}

/// A chunked body starting at `at`: the data and where the body ends, `None` if incomplete.
/// The server sends no chunk extensions and no trailers, so neither is accepted.
fn chunked(buf: &[u8], mut at: usize) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    loop {
        let Some((l, next)) = line(buf, at)? else {
            return Ok(None);
        };
        if l.is_empty() || l.len() > 16 || !l.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!("chunk size line {:?}", String::from_utf8_lossy(l)));
        }
        let size = usize::from_str_radix(std::str::from_utf8(l).unwrap(), 16)
            .map_err(|e| e.to_string())?;
        at = next;
        if size == 0 {
            return match buf.get(at..at + 2) {
                None => Ok(None),
                Some(b"\r\n") => Ok(Some((body, at + 2))),
                Some(b) => Err(format!(
                    "after the last chunk: {:?}",
                    String::from_utf8_lossy(b)
                )),
            };
        }
        let Some(data) = buf.get(at..at + size) else {
            return Ok(None);
        };
        body.extend_from_slice(data);
        at += size;
        match buf.get(at..at + 2) {
            None => return Ok(None),
            Some(b"\r\n") => at += 2,
            _ => return Err(format!("chunk data of {size} bytes not followed by CRLF")),
        }
    }
}
