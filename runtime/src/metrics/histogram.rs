//! [`Histogram`]: durations counted in logarithmic buckets (one per doubling), the one
//! histogram type of spindle's metrics: the runtime's poll duration and schedule latency
//! (`stats.rs` counts them), and spindle-http's request durations (its `metrics` module).
//!
//! A histogram's [`Scale`] says where its buckets lie: bucket 0 holds everything below the
//! first bound (a power of two of nanoseconds), each next bucket one doubling, and the last
//! bucket everything past the last bound. Every histogram has [`Histogram::BUCKETS`] buckets;
//! only the first bound differs (128 ns for polls, 1 µs for HTTP requests), so a bucket is
//! found with one shift and a count of leading zeros, and the counters behind a histogram can
//! be a fixed array of atomics that a snapshot copies out ([`Histogram::from_counts`]).
//!
//! Invariant: `Histogram::buckets` has `BUCKETS` entries, and `sum` is the sum of the samples
//! recorded (or the sum handed to `from_counts`, which the caller keeps alongside its counts).

use std::fmt;
use std::time::Duration;

/// Where a histogram's buckets lie: bucket 0 is `[0, 2^k ns)`, bucket `i` (from 1) is
/// `[2^(k+i-1) ns, 2^(k+i) ns)`, and the last bucket has no upper bound.
///
/// ```
/// use spindle::metrics::{Histogram, Scale};
/// use std::time::Duration;
/// let scale = Scale::from_log2_ns(10); // bucket 0 below 1,024 ns
/// assert_eq!(scale.bucket_of(1_023), 0);
/// assert_eq!(scale.bucket_of(1_024), 1);
/// assert_eq!(scale.upper_bound(1), Some(Duration::from_nanos(2_048)));
/// assert_eq!(scale.upper_bound(Histogram::BUCKETS - 1), None); // the last: unbounded
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scale {
    /// log2 of bucket 0's upper bound in nanoseconds. INVARIANT: at most
    /// `64 - Histogram::BUCKETS + 1`, so every bound fits in a `u64`.
    first_log2: u8,
}

impl Scale {
    /// The runtime's scale (poll duration, schedule latency): bucket 0 below 128 ns, the last
    /// bounded bucket ending at 2^32 ns (about 4.3 s).
    pub const FROM_128_NS: Scale = Scale::from_log2_ns(7);

    /// Bucket 0 below `2^log2` nanoseconds, then [`Histogram::BUCKETS`]` - 2` doublings.
    ///
    /// # Panics
    /// If the last bound, `2^(log2 + BUCKETS - 2)` ns, does not fit in a `u64` (`log2 > 38`).
    pub const fn from_log2_ns(log2: u32) -> Scale {
        assert!(
            log2 as usize + Histogram::BUCKETS - 2 < 64,
            "histogram bounds past u64::MAX ns"
        );
        Scale {
            first_log2: log2 as u8,
        }
    }

    /// The bucket a duration of `ns` nanoseconds falls in.
    #[inline]
    pub const fn bucket_of(self, ns: u64) -> usize {
        // 0 below the first bound; then the bit length of ns >> first_log2: with a first
        // bound of 128 ns, [128, 256) -> 1, [256, 512) -> 2, ...
        let bits = (u64::BITS - (ns >> self.first_log2).leading_zeros()) as usize;
        if bits < Histogram::BUCKETS {
            bits
        } else {
            Histogram::BUCKETS - 1
        }
    }

    /// The exclusive upper bound of bucket `i` in nanoseconds; `None` for the last bucket
    /// (and for any `i` past it).
    #[inline]
    pub const fn upper_bound_ns(self, i: usize) -> Option<u64> {
        if i < Histogram::BUCKETS - 1 {
            Some(1u64 << (self.first_log2 as usize + i))
        } else {
            None
        }
    }

    /// The exclusive upper bound of bucket `i`; `None` for the last bucket.
    pub fn upper_bound(self, i: usize) -> Option<Duration> {
        self.upper_bound_ns(i).map(Duration::from_nanos)
    }
}

/// A histogram of durations with logarithmic buckets: `[0, first bound)`, then one bucket per
/// doubling, then one for everything longer (see [`Scale`]). The runtime's histograms start
/// at 128 ns and reach about 4.3 s ([`Scale::FROM_128_NS`]).
///
/// ```
/// let rt = spindle::Builder::new_current_thread().metrics_sample_period(1).build().unwrap();
/// rt.block_on(async { spindle::spawn(async {}).await.unwrap() });
/// let h = rt.handle().metrics().poll_duration();
/// assert_eq!(h.count(), 1);
/// for (upper, n) in h.iter() {
///     if n > 0 {
///         println!("{n} polls shorter than {upper:?}");
///     }
/// }
/// ```
///
/// Recording and adding up, for counts kept elsewhere:
///
/// ```
/// use spindle::metrics::{Histogram, Scale};
/// use std::time::Duration;
/// let mut a = Histogram::new(Scale::FROM_128_NS);
/// a.record(Duration::from_micros(3));
/// let mut b = Histogram::new(Scale::FROM_128_NS);
/// b.record(Duration::from_micros(5));
/// b.record(Duration::from_millis(2));
/// a.add(&b);
/// assert_eq!(a.count(), 3);
/// assert_eq!(a.sum(), Duration::from_micros(2_008));
/// assert_eq!(a.quantile(0.5), Some(Duration::from_nanos(8_192))); // 5 µs is below 8,192 ns
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    /// Samples per bucket, shortest first.
    buckets: [u64; Histogram::BUCKETS],
    /// Sum of all samples.
    sum: Duration,
    /// Where the buckets lie.
    scale: Scale,
}

impl Histogram {
    /// Buckets of every histogram: bucket 0, 25 doublings, and the unbounded last one.
    pub const BUCKETS: usize = 27;

    /// An empty histogram with buckets on `scale`.
    pub fn new(scale: Scale) -> Histogram {
        Histogram::from_counts(scale, [0; Histogram::BUCKETS], Duration::ZERO)
    }

    /// A histogram made of counts kept elsewhere (such as atomic counters, one per bucket,
    /// indexed with [`Scale::bucket_of`]): `buckets[i]` samples in bucket `i`, summing to `sum`.
    pub fn from_counts(scale: Scale, buckets: [u64; Histogram::BUCKETS], sum: Duration) -> Self {
        Histogram {
            buckets,
            sum,
            scale,
        }
    }

    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[self.scale.bucket_of(ns)] += 1;
        self.sum += d;
    }

    /// Adds `other`'s samples to these (merging the shards of one measurement).
    ///
    /// # Panics
    /// If `other` has another scale: its buckets would not line up.
    pub fn add(&mut self, other: &Histogram) {
        assert_eq!(self.scale, other.scale, "histograms of different scales");
        for (o, n) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *o += n;
        }
        self.sum += other.sum;
    }

    /// Where the buckets lie.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// Samples per bucket, shortest first.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// The exclusive upper bound of bucket `i`; `None` for the last bucket, which has none.
    /// Panics if `i` is not a bucket index.
    pub fn bucket_upper_bound(&self, i: usize) -> Option<Duration> {
        assert!(i < self.buckets.len(), "no histogram bucket {i}");
        self.scale.upper_bound(i)
    }

    /// Each bucket's exclusive upper bound (`None` for the last) and its samples, shortest
    /// first: what a Prometheus `_bucket{le=...}` series is made of (summed up as it goes).
    pub fn iter(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let scale = self.scale;
        (self.buckets.iter().enumerate()).map(move |(i, n)| (scale.upper_bound(i), *n))
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of the samples.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// The upper bound of the bucket holding the `q`-quantile (`0.0..=1.0`) of the samples:
    /// the true quantile is below it and at least half of it. `None` without samples, or when
    /// the quantile falls in the unbounded last bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return self.bucket_upper_bound(i);
            }
        }
        None
    }

    /// The histograms of `all` added up (of the runtime's scale when `all` is empty).
    pub(crate) fn merge<'a>(all: impl Iterator<Item = &'a Histogram>) -> Histogram {
        let mut out: Option<Histogram> = None;
        for h in all {
            match &mut out {
                Some(o) => o.add(h),
                None => out = Some(h.clone()),
            }
        }
        out.unwrap_or_else(|| Histogram::new(Scale::FROM_128_NS))
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .field("sum", &self.sum)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each duration lands in the bucket whose bounds hold it, on both scales in use.
    #[test]
    fn buckets_double_from_the_first_bound() {
        let runtime = [
            (0u64, 0usize),
            (127, 0),
            (128, 1),
            (255, 1),
            (256, 2),
            (1_000, 3),
            (1_024, 4),
            (1_000_000, 13),
            ((1 << 32) - 1, 25),
            (1 << 32, 26),
            (u64::MAX, 26),
        ];
        let http = [
            (0u64, 0usize),
            (1_023, 0),
            (1_024, 1),
            (2_047, 1),
            (2_048, 2),
            (1_000_000, 10),
            ((1 << 35) - 1, 25),
            (1 << 35, 26),
            (u64::MAX, 26),
        ];
        for (scale, table) in [
            (Scale::FROM_128_NS, &runtime[..]),
            (Scale::from_log2_ns(10), &http[..]),
        ] {
            for &(ns, bucket) in table {
                assert_eq!(scale.bucket_of(ns), bucket, "{ns} ns on {scale:?}");
                if let Some(upper) = scale.upper_bound_ns(bucket) {
                    assert!(ns < upper, "{ns} ns below bucket {bucket}'s bound {upper}");
                }
                if bucket > 0 {
                    assert!(ns >= scale.upper_bound_ns(bucket - 1).unwrap());
                }
            }
            assert_eq!(scale.upper_bound_ns(Histogram::BUCKETS - 1), None);
        }
    }

    /// Quantiles name the upper bound of the bucket holding the rank; the unbounded bucket
    /// and an empty histogram have none.
    #[test]
    fn quantiles_and_merging() {
        let scale = Scale::from_log2_ns(10);
        let mut h = Histogram::new(scale);
        assert_eq!(h.quantile(0.5), None);
        for us in [1, 1, 3, 100] {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 4);
        assert_eq!(h.quantile(0.5), Some(Duration::from_nanos(1_024)));
        assert_eq!(h.quantile(0.75), Some(Duration::from_nanos(4_096)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_nanos(131_072)));
        let merged = Histogram::merge([&h, &h].into_iter());
        assert_eq!(merged.count(), 8);
        assert_eq!(merged.sum(), 2 * h.sum());
        assert_eq!(merged.quantile(0.5), h.quantile(0.5));
        h.record(Duration::from_secs(3_600));
        assert_eq!(h.quantile(1.0), None, "the last bucket has no bound");
        let total: u64 = h.iter().map(|(_, n)| n).sum();
        assert_eq!(total, h.count());
        assert_eq!(h.iter().last(), Some((None, 1)));
    }
}
