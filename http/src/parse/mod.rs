//! The incremental HTTP/1.1 request-head parser (RFC 9112, RFC 9110): bytes in, a
//! [`RequestHead`] or a precise [`ParseError`] out, and "not yet" as a normal answer.
//!
//! The connection keeps one [`RequestParser`] and one read buffer. After each read it calls
//! [`RequestParser::parse`] with the whole buffer; the parser remembers which lines it has
//! already judged and where its search for the next line end stopped, so a head that arrives
//! a byte at a time costs O(n) in total, not O(n²). The pieces:
//!
//! | file | what it parses |
//! |---|---|
//! | `fast.rs` | the one-pass fast paths, one entry point, proved equal to the grammar |
//! | `chars.rs` | byte classes: `tchar`, field bytes, URI bytes |
//! | `scan.rs` | the line-end searches, eight bytes at a time |
//! | `request_line.rs` | `method SP target SP version` |
//! | `target.rs` | the four target forms and the `Host` grammar |
//! | `fields.rs` | field lines, and the framing facts derived from them |
//! | `head.rs` | [`RequestHead`]: the head's bytes and its field table |
//! | `types.rs` | [`Method`], [`Version`], [`TargetForm`], [`BodyFraming`], byte ranges (a leaf) |
//!
//! Invariants:
//! - the parser never looks at more than [`Limits::max_head_bytes`] of the buffer, and says
//!   431 as soon as the buffer holds more than that without a complete head: a header flood
//!   costs the connection at most one read beyond the limit;
//! - a line is judged once, when its LF is in the buffer; only the 414 check looks at an
//!   incomplete line, and it is monotone, so any split of the input yields the same result;
//! - after an error the parser stays failed and repeats the error: the connection must close.
//!
//! Reading order: `advance` below is the driver, a numbered loop over lines; each line goes to
//! its grammar (`request_line.rs`, `fields.rs`, with `target.rs` and `chars.rs` beneath them).
//! Before the careful loop looks at a new line, `advance_fast` offers it, and the lines after
//! it, to `fast.rs`, whose one entry point takes a line of the common shape in one pass or
//! declines, and never answers differently from the grammar. What the fast paths save is
//! measured in `docs/benchmarks.md` ("Request parsing").
//!
//! Line endings: CRLF only. RFC 9112 §2.2 allows a recipient to accept a bare LF, but when a
//! proxy in front reads `\n` differently from us, the two disagree on where the head ends;
//! so a bare LF is a 400, like a bare CR.

pub(crate) mod chars;
mod fast;
mod fields;
mod head;
mod request_line;
mod scan;
mod target;
#[cfg(test)]
pub(crate) mod tests;
mod types;

pub(crate) use chars::{is_field_byte, is_tchar};
pub use head::{HeaderField, Headers, RequestHead};
pub use types::{BodyFraming, Method, TargetForm, Version};

use crate::error::ParseError;
use crate::limits::Limits;
use fast::Expect;
use fields::{parse_field_line, Facts};
use head::HeadParts;
use request_line::{parse_request_line_with_spaces, RequestLine};
use scan::{skip_above_space, skip_field_bytes};
use types::FieldSpan;

/// Where the parser is within the head.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Looking for the end of the request line. `sp1` and `sp2` are the offsets of its first
    /// two SPs, once seen; they let the 414 check run on a line that is still arriving.
    RequestLine {
        /// Offset of the first SP of the line, if it has arrived.
        sp1: Option<usize>,
        /// Offset of the second SP of the line, if it has arrived.
        sp2: Option<usize>,
    },
    /// The request line is parsed (and written into the head's allocation, `head`); reading
    /// field lines until the blank line.
    Fields,
    /// An error was returned; the connection must close. Repeats the error.
    Failed(ParseError),
}

/// An incremental request-head parser: feed it the growing read buffer until it returns a head.
///
/// ```
/// use spindle_http::{BodyFraming, RequestParser};
///
/// let mut parser = RequestParser::default();
/// let mut buf = Vec::new();
/// // The head arrives in two reads: the first is not enough.
/// buf.extend_from_slice(b"POST /upload HTTP/1.1\r\nHost: exa");
/// assert!(parser.parse(&buf).unwrap().is_none());
/// buf.extend_from_slice(b"mple.com\r\nContent-Length: 3\r\n\r\nabc");
/// let head = parser.parse(&buf).unwrap().expect("complete");
/// assert_eq!(head.body_framing(), BodyFraming::Length(3));
/// // The body starts where the head ends; the caller drains the head and goes on.
/// assert_eq!(&buf[head.consumed()..], b"abc");
/// ```
#[derive(Clone, Debug)]
pub struct RequestParser {
    /// The limits this parser enforces.
    limits: Limits,
    /// How much of the buffer the parser looks at: [`Limits::max_head_bytes`], and never
    /// more than `u32::MAX` (a [`types::Span`] counts in 32 bits). Worked out once, here,
    /// rather than at every call of [`parse`](Self::parse).
    max_window: usize,
    /// Offset in the caller's buffer where the line being assembled starts.
    line_start: usize,
    /// How far the search for the current line's LF has looked.
    /// INVARIANT: `line_start <= scanned <= min(buffer length, head limit)`.
    scanned: usize,
    /// Which part of the head comes next.
    state: State,
    /// Whether the search for the current field line's end has met a byte that is not a field
    /// byte before its CR LF: the line will be refused, so the search only looks for its LF.
    /// INVARIANT: false at the start of every line.
    line_unchecked: bool,
    /// The allocation the head being parsed will live in, taken from the per-thread pool once
    /// its request line is judged: the line is written into it then, and each field's table
    /// entry as the field line is judged, so [`complete`](Self::complete) only appends the
    /// head's bytes and the framing facts, and the allocation becomes the [`RequestHead`].
    /// INVARIANT: `Some` exactly when the current head's request line has been judged (state
    /// `Fields`, or `Failed` after it), and then its table holds exactly the head's field
    /// lines so far ([`HeadParts`] describes the layout); so `None` between heads.
    head: Option<Box<HeadParts>>,
    /// The framing facts gathered from the fields so far.
    facts: Facts,
    /// Test instrumentation: bytes examined by the line-end searches, to prove they resume.
    #[cfg(test)]
    examined: usize,
    /// Test switch: never take the fast run, so that tests can compare whole heads judged
    /// only by the careful path with the same heads judged the usual way.
    #[cfg(test)]
    careful_only: bool,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}

impl RequestParser {
    /// A parser that enforces `limits`.
    ///
    /// ```
    /// use spindle_http::{Limits, ParseError, RequestParser};
    /// let mut parser = RequestParser::new(Limits { max_target_bytes: 4, ..Limits::default() });
    /// assert_eq!(parser.parse(b"GET /abcd"), Err(ParseError::TargetTooLong));
    /// ```
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            max_window: limits.max_head_bytes.min(u32::MAX as usize),
            limits,
            line_start: 0,
            scanned: 0,
            state: State::RequestLine {
                sp1: None,
                sp2: None,
            },
            line_unchecked: false,
            head: None,
            facts: Facts::default(),
            #[cfg(test)]
            examined: 0,
            #[cfg(test)]
            careful_only: false,
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forget any partial head and any error, as for a fresh connection.
    pub fn reset(&mut self) {
        self.start_next_head();
        if let Some(parts) = self.head.take() {
            HeadParts::recycle(parts);
        }
    }

    /// Get ready for the next head. The head's allocation is not touched: `complete` has
    /// handed it to the finished head, and `reset` recycles it.
    fn start_next_head(&mut self) {
        self.line_start = 0;
        self.scanned = 0;
        self.state = State::RequestLine {
            sp1: None,
            sp2: None,
        };
        self.line_unchecked = false;
        self.facts.start_next_head();
    }

    /// Parse the head at the start of `buf`.
    ///
    /// - `Ok(None)`: the head is not complete yet; read more, append it, call again with the
    ///   whole buffer. Between calls `buf` may only grow at its end.
    /// - `Ok(Some(head))`: `head.consumed()` bytes of `buf` were the head; the body or the
    ///   next pipelined request starts there. The parser is ready for the next request, whose
    ///   buffer must start at that point (drain the consumed bytes first).
    /// - `Err(e)`: answer with `e.status()` and close; further calls return `e` again.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<RequestHead>, ParseError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        if buf.len() < self.scanned {
            // The caller broke the contract (the buffer shrank). Start over rather than index
            // out of bounds; debug builds point at the bug.
            debug_assert!(false, "RequestParser::parse: buffer shrank between calls");
            self.reset();
        }
        let max_head = self.max_window;
        let window = &buf[..buf.len().min(max_head)];
        let outcome = match self.advance(window) {
            Ok(Some(end)) => self.complete(buf, end).map(Some),
            Ok(None) if buf.len() > max_head => Err(ParseError::HeadTooLarge),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            self.state = State::Failed(e);
        }
        outcome
    }

    /// Judge every complete line in `window`. Returns the offset just past the blank line once
    /// it is found, `None` if the window ends first.
    ///
    /// Plan:
    /// 0. on a line not looked at yet, take the run of lines that the one-pass fast paths
    ///    accept ([`advance_fast`](Self::advance_fast)), up to the blank line if they can;
    /// 1. find the end of the current line, resuming where the last search stopped;
    /// 2. if there is none yet, check what can be checked on a partial line (414) and stop;
    /// 3. insist on CRLF;
    /// 4. judge the line according to the state, and move on to the next line.
    fn advance(&mut self, window: &[u8]) -> Result<Option<usize>, ParseError> {
        loop {
            // 0. Only before the first search of the line: a line that arrives in pieces is
            //    offered to the fast paths when its first piece is there, and not again once
            //    the careful search has moved past its start (that search stops short of the
            //    start only when at most a lone CR of the line has arrived), so the fast paths
            //    add at most one more look at each byte. When they decline a line, the careful
            //    path below starts that line from scratch and decides.
            #[cfg(test)]
            let fast = !self.careful_only;
            #[cfg(not(test))]
            let fast = true;
            if fast && self.scanned == self.line_start {
                if let Some(done) = self.advance_fast(window)? {
                    return Ok(Some(done));
                }
            }
            // 1.
            let Some(lf) = self.find_line_end(window) else {
                // 2.
                if let State::RequestLine { sp1, sp2 } = self.state {
                    check_partial_line(window, self.line_start, sp1, sp2, &self.limits)?;
                }
                return Ok(None);
            };
            // 3. The line is window[line_start..lf - 1], and window[lf - 1] must be CR.
            if lf == self.line_start || window[lf - 1] != b'\r' {
                // A request line whose method or target outgrew its limit gets 501 or 414 in step 2 if it
                // arrives in pieces; give the same answer when it arrives whole.
                if let State::RequestLine { sp1, sp2 } = self.state {
                    check_partial_line(&window[..lf], self.line_start, sp1, sp2, &self.limits)?;
                }
                return Err(ParseError::BareLf);
            }
            let (start, end, next) = (self.line_start, lf - 1, lf + 1);
            self.line_unchecked = false;
            self.line_start = next;
            // 4.
            match &self.state {
                State::RequestLine { .. } if start == end => {
                    // RFC 9112 §2.2: ignore empty lines before the request line (some clients
                    // send a CRLF after a POST body).
                    self.state = State::RequestLine {
                        sp1: None,
                        sp2: None,
                    };
                }
                &State::RequestLine { sp1, sp2 } => {
                    // The scan noted the SPs as offsets into the window; the line wants its own.
                    let line = parse_request_line_with_spaces(
                        window,
                        start,
                        end,
                        sp1.map(|sp| sp - start),
                        sp2.map(|sp| sp - start),
                        self.limits.max_method_bytes,
                        self.limits.max_target_bytes,
                    )?;
                    self.begin_head(line);
                    self.state = State::Fields;
                }
                State::Fields if start == end => return Ok(Some(next)),
                State::Fields => {
                    // The count comes first: a line past the limit is refused whatever it holds.
                    self.check_field_count()?;
                    let field = parse_field_line(window, start, end)?;
                    self.add_field(window, field)?;
                }
                State::Failed(e) => return Err(*e),
            }
        }
    }

    /// Step 0 of [`advance`](Self::advance): from the start of a line not looked at yet, offer
    /// line after line to the fast paths (`fast::line`), and take each one they take exactly as
    /// the careful path takes it (the same `begin_head`, field count and `add_field`, so an
    /// error such as a second `Host` or too many fields is the careful path's, at the same
    /// line). Returns the end of the head if the run reached the blank line; otherwise records
    /// where it stopped, and the careful path goes on from that line.
    ///
    /// The run keeps its place in a local and writes the parser's bookkeeping (`state`,
    /// `line_start`, `scanned`) once, where it stops; a head that is all in the window never
    /// writes it, since `complete` resets the parser for the next head.
    #[inline]
    fn advance_fast(&mut self, window: &[u8]) -> Result<Option<usize>, ParseError> {
        let start = self.line_start;
        let mut at = start;
        let max_target = self.limits.max_target_bytes;
        match self.state {
            State::RequestLine { .. } => {
                let request = fast::line(
                    window,
                    at,
                    Expect::RequestLine,
                    &self.facts.recent_host,
                    max_target,
                );
                let Some(fast::Line::Request(line, next)) = request else {
                    return Ok(None); // declined: the careful path starts on this very line
                };
                self.begin_head(line);
                at = next;
                // The first field line is nearly always the `Host` this connection sent
                // before. Counted first, as every field is: the table is empty, so the count
                // check comes down to this. (It cannot fire in fact: a remembered `Host` means
                // some head was allowed a field.)
                let host = fast::line(
                    window,
                    at,
                    Expect::KnownHost,
                    &self.facts.recent_host,
                    max_target,
                );
                if let Some(fast::Line::KnownHost(field, next)) = host {
                    debug_assert_eq!(self.head.as_ref().map(|h| h.field_count()), Some(0));
                    if self.limits.max_headers == 0 {
                        return Err(ParseError::TooManyFields);
                    }
                    self.facts.observe_recent_host(field);
                    self.push_field(field);
                    at = next;
                }
            }
            State::Fields => {}
            State::Failed(e) => return Err(e),
        }
        loop {
            let recent_host = &self.facts.recent_host;
            match fast::line(window, at, Expect::Field, recent_host, max_target) {
                Some(fast::Line::Field(field, next)) => {
                    self.check_field_count()?;
                    self.add_field(window, field)?;
                    at = next;
                }
                Some(fast::Line::Blank(end)) => return Ok(Some(end)),
                _ => break,
            }
        }
        // Declined at `at`: the careful path takes the line that starts there.
        #[cfg(test)]
        {
            self.examined += at - start;
        }
        if at != start {
            self.state = State::Fields;
            self.line_start = at;
            self.scanned = at;
        }
        Ok(None)
    }

    /// Refuse one more field line once the head holds [`Limits::max_headers`].
    #[inline]
    fn check_field_count(&self) -> Result<(), ParseError> {
        let count = self.head.as_ref().map_or(0, |parts| parts.field_count());
        if count >= self.limits.max_headers {
            return Err(ParseError::TooManyFields);
        }
        Ok(())
    }

    /// The request line is judged: take the allocation the head will live in from this
    /// thread's pool, and write the line into it, where the finished head will read it.
    #[inline(always)]
    fn begin_head(&mut self, line: RequestLine) {
        debug_assert!(self.head.is_none(), "one allocation per head");
        let mut parts = HeadParts::from_pool();
        parts.line = line;
        self.head = Some(parts);
    }

    /// Take a well-formed field line (already counted) into the head: note what it says about
    /// framing, and add it to the field table, in the head's allocation.
    #[inline]
    fn add_field(&mut self, window: &[u8], field: FieldSpan) -> Result<(), ParseError> {
        self.facts.observe(window, field)?;
        self.push_field(field);
        Ok(())
    }

    /// Append a field (counted and observed) to the table in the head's allocation.
    #[inline]
    fn push_field(&mut self, field: FieldSpan) {
        self.head
            .as_mut()
            .expect("INVARIANT: field lines come after the request line took the allocation")
            .push_field(field);
    }

    /// Search `window` for the LF ending the current line, from where the previous search
    /// stopped (on the request line, noting its first two SPs on the way; on a field line,
    /// checking its bytes on the way). Afterwards `scanned` is just past the LF, or where the
    /// search must resume once more bytes have arrived.
    fn find_line_end(&mut self, window: &[u8]) -> Option<usize> {
        let from = self.scanned;
        // Where the next search starts if this one finds no LF: normally the end of the window.
        let mut resume = window.len();
        let found = match &mut self.state {
            State::RequestLine { sp1, sp2 } => scan_request_line(window, from, sp1, sp2),
            _ if self.line_unchecked => find_lf(window, from),
            _ => {
                // The fast path: a well-formed field line is field bytes, then CR LF.
                let stop = skip_field_bytes(window, from);
                match window.get(stop..) {
                    Some([b'\r', b'\n', ..]) => Some(stop + 1),
                    // Out of bytes, possibly right after the CR: resume at the stop once more
                    // have arrived (looking at one byte again is cheaper than remembering it).
                    Some([] | [b'\r']) => {
                        resume = stop;
                        None
                    }
                    // Anything else: leave this line to the careful check.
                    _ => {
                        self.line_unchecked = true;
                        find_lf(window, stop)
                    }
                }
            }
        };
        self.scanned = found.map_or(resume, |lf| lf + 1);
        #[cfg(test)]
        {
            self.examined += self.scanned - from;
        }
        found
    }

    /// Build the [`RequestHead`] for the head `buf[..end]` and get ready for the next one.
    fn complete(&mut self, buf: &[u8], end: usize) -> Result<RequestHead, ParseError> {
        // The allocation already holds the request line and the field table; what is left
        // is the head's bytes (after the table) and what the fields as a whole decide.
        let parts = self
            .head
            .as_mut()
            .expect("INVARIANT: a head that reached its blank line had a request line");
        parts.finish_bytes(&buf[..end]);
        let derived = match self.facts.finish(parts.line.version, &self.limits) {
            Ok(derived) => derived,
            Err(e) => {
                // The parser fails and keeps the allocation until `reset`: as the table alone,
                // as its INVARIANT says.
                parts.bytes.truncate(parts.table_len);
                return Err(e);
            }
        };
        parts.authority = parts.line.target.authority.or(self.facts.host);
        parts.framing = derived.framing;
        parts.keep_alive = derived.keep_alive;
        parts.expect_continue = derived.expect_continue;
        let parts = self.head.take();
        self.start_next_head();
        // `parts` was `Some` just above.
        Ok(RequestHead::from_parts(
            parts.expect("INVARIANT: checked above"),
        ))
    }
}

/// Scan the request line from `from` for its LF, noting the first two SPs on the way.
/// Returns the LF's offset, or `None` if `window` ends first.
fn scan_request_line(
    window: &[u8],
    from: usize,
    sp1: &mut Option<usize>,
    sp2: &mut Option<usize>,
) -> Option<usize> {
    let mut i = from;
    loop {
        // Only SP and LF matter here, and both are at most 0x20: skip the rest in words.
        i = skip_above_space(window, i);
        match window.get(i)? {
            b'\n' => return Some(i),
            b' ' if sp1.is_none() => *sp1 = Some(i),
            b' ' if sp2.is_none() => *sp2 = Some(i),
            _ => {}
        }
        i += 1;
    }
}

/// The offset of the first LF at or after `from`, if any.
fn find_lf(window: &[u8], from: usize) -> Option<usize> {
    window[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// On a request line still arriving (from `start`): if the method has already grown past its
/// limit, say 501 now (RFC 9112 §3); if the target has, say 414; either way instead of
/// buffering the rest. A CR at the very end of the window may be the line's own CR, so it is
/// not counted until the next byte shows otherwise (that keeps this check and the one on the
/// complete line in agreement).
fn check_partial_line(
    window: &[u8],
    start: usize,
    sp1: Option<usize>,
    sp2: Option<usize>,
    limits: &Limits,
) -> Result<(), ParseError> {
    let method_end = sp1.unwrap_or(window.len());
    if request_line::method_too_long(&window[start..method_end], limits.max_method_bytes) {
        return Err(ParseError::MethodTooLong);
    }
    let Some(sp1) = sp1 else { return Ok(()) };
    let target_end = sp2.unwrap_or_else(|| {
        let end = window.len();
        if end > sp1 + 1 && window[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    });
    if target_end - (sp1 + 1) > limits.max_target_bytes {
        return Err(ParseError::TargetTooLong);
    }
    Ok(())
}
