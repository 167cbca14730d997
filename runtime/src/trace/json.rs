//! Turns ring dumps into Chrome trace-event JSON (the format Perfetto and `chrome://tracing`
//! read), written by hand: the runtime crate takes no serialization dependency.
//!
//! The output is one object, `{"displayTimeUnit":"ns","traceEvents":[...]}`, holding:
//! - `M` (metadata) events: the process name, and one `thread_name` (and `thread_sort_index`)
//!   per ring, so each ring is one named track; a `spindle_ring` event per ring says how many
//!   older events it had already dropped (viewers skip names they do not know);
//! - `X` (complete) events for polls, parks and reactor turns, and zero-length `X` events for
//!   wakes and steals (so that a flow arrow has a slice of its own to start or end on);
//! - flows in the "v2" form: a slice carries `bind_id` with `flow_out` (start) or `flow_in`
//!   (end), which binds the arrow to exactly that slice (the older `s`/`f` events bind to
//!   whatever slice happens to enclose a timestamp);
//! - `C` (counter) events for queue depths.
//!
//! Two rules the viewer needs and the writer enforces, whatever the rings hold:
//! - **Slices on one track nest.** Perfetto cannot draw two slices of one track that overlap
//!   without one containing the other. Each thread records only spans that are scoped
//!   function calls, so its slices nest by construction; the writer still sorts each track
//!   and drops any slice that would cross the end of the one enclosing it (none, so far).
//! - **Every flow has both ends.** A flow whose start or end is missing (overwritten in its
//!   ring, or recorded by a thread that does not trace), or whose id appears more than once,
//!   or whose end precedes its start, is left out. Flow ids are renumbered 1, 2, ...
//!
//! Times are microseconds since the runtime was built, with three decimals (nanoseconds).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use super::ring::{Kind, RingDump, Role};

/// Which flow an arrow belongs to, before renumbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FlowKey {
    /// A wake and the poll of the entry it made: the entry's stamp.
    Wake(u64),
    /// The n-th steal of the dump.
    Steal(u64),
}

/// One end of a flow, carried by a slice.
#[derive(Debug, Clone, Copy)]
struct FlowEnd {
    /// Which flow.
    key: FlowKey,
    /// True for the start (`flow_out`), false for the end (`flow_in`).
    out: bool,
}

/// A value in a slice's `args`.
#[derive(Debug, Clone)]
enum Arg {
    /// A number.
    Num(u64),
    /// A string.
    Str(String),
}

/// One `X` event on a track, before the nesting check.
#[derive(Debug, Clone)]
struct Slice<'a> {
    /// Start, ns.
    ts: u64,
    /// Duration, ns.
    dur: u64,
    /// The label.
    name: Cow<'a, str>,
    /// The category (`poll`, `park`, `reactor`, `wake`, `steal`).
    cat: &'static str,
    /// The slice's `args`.
    args: Vec<(&'static str, Arg)>,
    /// The flow arrow it starts or ends, if any.
    flow: Option<FlowEnd>,
}

/// One `C` event.
#[derive(Debug, Clone)]
struct Counter {
    /// When, ns.
    ts: u64,
    /// The track's tid (the worker whose tick sampled it).
    tid: u32,
    /// The counter's name.
    name: String,
    /// Its value.
    value: u64,
}

/// Writes `rings` (ring `i` is track `tid = i + 1`) as one JSON document. `epoch`: time 0.
pub(super) fn write(
    out: &mut dyn Write,
    pid: u32,
    epoch: u64,
    rings: &[RingDump],
) -> io::Result<()> {
    let (mut tracks, counters) = collect(rings);
    for track in tracks.iter_mut() {
        nest(track);
    }
    let flows = number_flows(&tracks);

    let mut w = io::BufWriter::new(out);
    w.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    write!(
        w,
        "{{\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"name\":\"process_name\",\"args\":{{\"name\":\"spindle\"}}}}"
    )?;
    for (i, ring) in rings.iter().enumerate() {
        let tid = i + 1;
        write!(
            w,
            ",\n{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":{}}}}}",
            Str(&ring.name)
        )?;
        write!(
            w,
            ",\n{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"name\":\"thread_sort_index\",\"args\":{{\"sort_index\":{tid}}}}}"
        )?;
        // Not a name viewers know (they skip it): how many older events this ring dropped.
        write!(
            w,
            ",\n{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"name\":\"spindle_ring\",\"args\":{{\"overwritten_events\":{}}}}}",
            ring.overwritten
        )?;
    }
    for (i, track) in tracks.iter().enumerate() {
        let tid = i + 1;
        for s in track {
            write!(
                w,
                ",\n{{\"ph\":\"X\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{},\"name\":{},\"cat\":\"{}\"",
                Micros(s.ts.saturating_sub(epoch)),
                Micros(s.dur),
                Str(&s.name),
                s.cat
            )?;
            if let Some(id) = s.flow.and_then(|f| flows.get(&f.key).map(|id| (id, f.out))) {
                let (id, out) = id;
                let dir = if out { "flow_out" } else { "flow_in" };
                write!(w, ",\"bind_id\":\"{id:x}\",\"{dir}\":true")?;
            }
            w.write_all(b",\"args\":{")?;
            for (k, (key, value)) in s.args.iter().enumerate() {
                if k > 0 {
                    w.write_all(b",")?;
                }
                match value {
                    Arg::Num(n) => write!(w, "\"{key}\":{n}")?,
                    Arg::Str(v) => write!(w, "\"{key}\":{}", Str(v))?,
                }
            }
            w.write_all(b"}}")?;
        }
    }
    for c in &counters {
        write!(
            w,
            ",\n{{\"ph\":\"C\",\"pid\":{pid},\"tid\":{},\"ts\":{},\"name\":{},\"args\":{{\"tasks\":{}}}}}",
            c.tid,
            Micros(c.ts.saturating_sub(epoch)),
            Str(&c.name),
            c.value
        )?;
    }
    w.write_all(b"\n]}\n")?;
    w.flush()
}

/// The slices of each track, and the counters, from the raw events.
fn collect(rings: &[RingDump]) -> (Vec<Vec<Slice<'_>>>, Vec<Counter>) {
    let mut tracks: Vec<Vec<Slice<'_>>> = vec![Vec::new(); rings.len()];
    let mut counters = Vec::new();
    let mut steals = 0u64;
    // Worker index -> track, for steal victims.
    let worker_track: HashMap<usize, usize> = rings
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.role {
            Role::Worker(w) => Some((w, i)),
            Role::Blocking => None,
        })
        .collect();
    for (t, ring) in rings.iter().enumerate() {
        for e in &ring.events {
            let slice = |name: Cow<'static, str>, cat| Slice {
                ts: e.ts,
                dur: e.dur,
                name,
                cat,
                args: Vec::new(),
                flow: None,
            };
            match e.kind {
                Kind::Poll => {
                    let site = e.site.map(|l| format!("{}:{}", l.file(), l.line()));
                    let name = match ring.names.get(&e.a) {
                        Some(n) => Cow::Owned(n.to_string()),
                        None => Cow::Owned(site.clone().unwrap_or_else(|| "poll".into())),
                    };
                    let mut s = slice(name, "poll");
                    s.args.push(("task", Arg::Num(e.a)));
                    if let Some(site) = site {
                        s.args.push(("spawned_at", Arg::Str(site)));
                    }
                    if e.b != 0 {
                        s.flow = Some(FlowEnd {
                            key: FlowKey::Wake(e.b),
                            out: false,
                        });
                    }
                    tracks[t].push(s);
                }
                Kind::Wake => {
                    let mut s = slice(Cow::Borrowed("wake"), "wake");
                    s.args.push(("task", Arg::Num(e.a)));
                    s.flow = Some(FlowEnd {
                        key: FlowKey::Wake(e.ts),
                        out: true,
                    });
                    tracks[t].push(s);
                }
                Kind::ParkLight => tracks[t].push(slice(Cow::Borrowed("park (light)"), "park")),
                Kind::ParkDeep => tracks[t].push(slice(Cow::Borrowed("park (deep)"), "park")),
                Kind::MainPoll => {
                    tracks[t].push(slice(Cow::Borrowed("block_on (main future)"), "poll"))
                }
                Kind::ReactorTurn => {
                    let mut s = slice(Cow::Borrowed("reactor turn"), "reactor");
                    s.args.push(("events", Arg::Num(e.a)));
                    tracks[t].push(s);
                }
                Kind::Steal => {
                    let Some(&victim) = worker_track.get(&(e.a as usize)) else {
                        continue;
                    };
                    steals += 1;
                    let key = FlowKey::Steal(steals);
                    let mut thief = slice(
                        Cow::Owned(format!("steal from {}", rings[victim].name)),
                        "steal",
                    );
                    // The thief stamps the steal once, for both ends. Its own end is drawn one
                    // nanosecond later: an arrow whose ends share a timestamp is one Perfetto
                    // may meet end-first when it sorts the file, and then drops.
                    thief.ts += 1;
                    thief.args.push(("tasks", Arg::Num(e.b)));
                    thief.flow = Some(FlowEnd { key, out: false });
                    let mut stolen = slice(Cow::Owned(format!("stolen by {}", ring.name)), "steal");
                    stolen.args.push(("tasks", Arg::Num(e.b)));
                    stolen.flow = Some(FlowEnd { key, out: true });
                    tracks[t].push(thief);
                    tracks[victim].push(stolen);
                }
                Kind::Queues => {
                    let tid = t as u32 + 1;
                    counters.push(Counter {
                        ts: e.ts,
                        tid,
                        name: format!("{} local queue", ring.name),
                        value: e.a,
                    });
                    if e.b != u64::MAX {
                        counters.push(Counter {
                            ts: e.ts,
                            tid,
                            name: "injector".into(),
                            value: e.b,
                        });
                    }
                }
            }
        }
    }
    counters.sort_by_key(|c| c.ts);
    (tracks, counters)
}

/// Sorts one track by start (longer first on a tie, so that a parent comes before the child
/// that starts with it) and drops every slice that would cross the end of its enclosing one.
fn nest(track: &mut Vec<Slice<'_>>) {
    track.sort_by(|a, b| a.ts.cmp(&b.ts).then(b.dur.cmp(&a.dur)));
    // The ends of the slices enclosing the current position, innermost last.
    let mut open: Vec<u64> = Vec::new();
    track.retain(|s| {
        let end = s.ts + s.dur;
        while open.last().is_some_and(|&e| e <= s.ts) {
            open.pop();
        }
        if open.last().is_some_and(|&e| end > e) {
            return false; // would overlap its parent without nesting
        }
        open.push(end);
        true
    });
}

/// The flows with exactly one start and one end, the start strictly first (Perfetto drops an
/// arrow whose ends share a timestamp about half the time), numbered from 1 in the order of
/// their starts.
fn number_flows(tracks: &[Vec<Slice<'_>>]) -> HashMap<FlowKey, u64> {
    // key -> (starts, ends, start ts, end ts)
    let mut seen: HashMap<FlowKey, (u32, u32, u64, u64)> = HashMap::new();
    for s in tracks.iter().flatten() {
        if let Some(f) = s.flow {
            let entry = seen.entry(f.key).or_insert((0, 0, 0, 0));
            if f.out {
                entry.0 += 1;
                entry.2 = s.ts;
            } else {
                entry.1 += 1;
                entry.3 = s.ts;
            }
        }
    }
    let mut valid: Vec<(u64, FlowKey)> = seen
        .into_iter()
        .filter(|(_, (outs, ins, start, end))| *outs == 1 && *ins == 1 && start < end)
        .map(|(key, (_, _, start, _))| (start, key))
        .collect();
    valid.sort_by_key(|&(start, key)| {
        (
            start,
            match key {
                FlowKey::Wake(n) => (0, n),
                FlowKey::Steal(n) => (1, n),
            },
        )
    });
    valid
        .into_iter()
        .enumerate()
        .map(|(i, (_, key))| (key, i as u64 + 1))
        .collect()
}

/// Nanoseconds shown as microseconds with three decimals.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// A string as a JSON string literal, quotes included.
struct Str<'a>(&'a str);

impl std::fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\u{:04x}", c as u32)?,
                // U+2028/2029 are valid in JSON but not in JavaScript source; escape them so
                // that a viewer that `eval`s the file still reads it.
                '\u{2028}' | '\u{2029}' => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn s(ts: u64, dur: u64) -> Slice<'static> {
        Slice {
            ts,
            dur,
            name: Cow::Borrowed("s"),
            cat: "poll",
            args: Vec::new(),
            flow: None,
        }
    }

    /// Nested and disjoint slices stay; one crossing its parent's end is dropped.
    #[test]
    fn nest_keeps_nested_and_drops_crossing_slices() {
        /// (start, duration) of each slice of a track.
        type Spans = &'static [(u64, u64)];
        let table: &[(Spans, Spans)] = &[
            (&[(0, 10), (2, 3), (5, 5)], &[(0, 10), (2, 3), (5, 5)]),
            (&[(0, 10), (5, 10)], &[(0, 10)]),
            (&[(5, 10), (0, 10)], &[(0, 10)]),
            (&[(0, 10), (10, 5), (10, 0)], &[(0, 10), (10, 5), (10, 0)]),
            (&[(0, 0), (0, 10), (10, 0)], &[(0, 10), (0, 0), (10, 0)]),
            (&[(0, 10), (0, 10)], &[(0, 10), (0, 10)]),
            (&[(0, 10), (1, 8), (2, 9)], &[(0, 10), (1, 8)]),
        ];
        for (input, want) in table {
            let mut track: Vec<Slice<'_>> = input.iter().map(|&(t, d)| s(t, d)).collect();
            nest(&mut track);
            let got: Vec<(u64, u64)> = track.iter().map(|s| (s.ts, s.dur)).collect();
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    /// Only flows with one start and one end, in that order, get an id.
    #[test]
    fn flows_need_exactly_one_start_and_one_end() {
        let with = |ts, key, out| Slice {
            flow: Some(FlowEnd { key, out }),
            ..s(ts, 0)
        };
        let tracks = vec![
            vec![
                with(1, FlowKey::Wake(1), true),
                with(2, FlowKey::Wake(2), true),
                with(3, FlowKey::Wake(3), true),
                with(4, FlowKey::Wake(3), true),
                with(9, FlowKey::Wake(5), true),
            ],
            vec![
                with(5, FlowKey::Wake(1), false),
                with(6, FlowKey::Wake(3), false),
                with(7, FlowKey::Wake(4), false),
                with(8, FlowKey::Wake(5), false),
            ],
        ];
        let flows = number_flows(&tracks);
        assert_eq!(flows.len(), 1, "{flows:?}");
        assert_eq!(flows[&FlowKey::Wake(1)], 1);
    }

    #[test]
    fn strings_and_times_are_escaped_and_formatted() {
        assert_eq!(
            Str("a\"b\\c\nd\u{1}é").to_string(),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
        assert_eq!(Micros(1_234_567).to_string(), "1234.567");
        assert_eq!(Micros(5).to_string(), "0.005");
    }
}
