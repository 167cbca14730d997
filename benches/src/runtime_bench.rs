//! `spindle-bench runtime`: times each workload of [`crate::workloads`] on spindle and on tokio
//! in one process and prints the medians side by side with their ratio.
//!
//! The plan, per workload:
//! 1. build one spindle and one tokio runtime (multi-thread, 2 workers each) and keep both for
//!    all iterations, so per-runtime warm state (blocking-pool threads, queue capacity) is reused,
//!    as a long-running program would;
//! 2. run [`WARMUP`] untimed iterations on each, alternating;
//! 3. run N timed iterations on each, alternating which runtime goes first (ABBA order), so noise
//!    from the other agents on this machine, and any "second one runs warmer" effect, falls on both
//!    sides evenly;
//! 4. report p10, median and p90 of each side and the ratio of the medians.
//!
//! Only ratios within one run mean anything on a shared machine; absolute times do not travel.
//! Invariant: nothing here compares a time against a threshold.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::workloads::{on_spindle, on_tokio, WORKLOADS};

/// Untimed iterations per runtime before measuring (JIT-free, but caches, allocators and
/// thread pools still need a first lap).
const WARMUP: usize = 3;

/// Fewer timed iterations than this and the median is too jumpy to report (we still run, with a warning).
const MIN_REPORTED_ITERATIONS: usize = 20;

/// What the user asked for on the command line.
#[derive(Debug)]
pub(crate) struct Options {
    /// Timed iterations per runtime per workload.
    pub(crate) iterations: usize,
    /// Run only the workload with this name (all of them when `None`).
    pub(crate) only: Option<String>,
}

/// Runs the selected workloads and prints one table row per workload as it finishes.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    if options.iterations == 0 {
        return Err("--iters must be at least 1".into());
    }
    if options.iterations < MIN_REPORTED_ITERATIONS {
        eprintln!(
            "warning: {} iterations; reported numbers use at least {MIN_REPORTED_ITERATIONS}",
            options.iterations
        );
    }
    let selected: Vec<usize> = match &options.only {
        None => (0..WORKLOADS.len()).collect(),
        Some(name) => {
            let index = WORKLOADS.iter().position(|w| w == name).ok_or_else(|| {
                format!(
                    "no workload `{name}`; choose one of: {}",
                    WORKLOADS.join(", ")
                )
            })?;
            vec![index]
        }
    };

    println!(
        "spindle vs tokio, multi-thread with 2 workers each; {WARMUP} warm-up + {} timed iterations per side, alternating",
        options.iterations
    );
    println!("times in ms as median [p10 .. p90]; ratio = spindle median / tokio median (< 1: spindle faster)");
    println!();
    println!(
        "{:<24} {:>28} {:>28} {:>14}",
        "workload", "spindle", "tokio", "spindle/tokio"
    );
    for index in selected {
        let (spindle, tokio) = measure(index, options.iterations);
        println!(
            "{:<24} {:>28} {:>28} {:>14.3}",
            WORKLOADS[index],
            spindle.to_string(),
            tokio.to_string(),
            spindle.median.as_secs_f64() / tokio.median.as_secs_f64()
        );
        // Rows arrive one by one (a full run takes a while); show each as soon as it is ready.
        let _ = std::io::stdout().flush();
    }
    Ok(())
}

/// Steps 1–4 of the module plan for workload `index`: returns (spindle, tokio) summaries.
fn measure(index: usize, iterations: usize) -> (Summary, Summary) {
    // 1. One runtime of each kind for the whole workload.
    let spindle_rt = on_spindle::build();
    let tokio_rt = on_tokio::build();
    let (spindle_name, spindle_fn) = on_spindle::ALL[index];
    let (tokio_name, tokio_fn) = on_tokio::ALL[index];
    // Both lists come from the same macro, so this only fails if someone edits one by hand.
    assert_eq!(spindle_name, tokio_name, "workload lists out of step");

    // 2. Warm up both sides.
    for _ in 0..WARMUP {
        spindle_fn(&spindle_rt);
        tokio_fn(&tokio_rt);
    }

    // 3. Timed iterations, alternating who goes first.
    let mut spindle_times = Vec::with_capacity(iterations);
    let mut tokio_times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        if i % 2 == 0 {
            spindle_times.push(time(|| spindle_fn(&spindle_rt)));
            tokio_times.push(time(|| tokio_fn(&tokio_rt)));
        } else {
            tokio_times.push(time(|| tokio_fn(&tokio_rt)));
            spindle_times.push(time(|| spindle_fn(&spindle_rt)));
        }
    }

    // 4. Summarise (runtimes are dropped here, outside any timed region).
    (Summary::of(spindle_times), Summary::of(tokio_times))
}

/// Wall-clock time of one call of `f`.
fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// The three numbers reported for one side of one workload.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// 10th percentile: roughly "a quiet-machine run".
    p10: Duration,
    /// The number compared between runtimes.
    median: Duration,
    /// 90th percentile: how bad a noisy run gets.
    p90: Duration,
}

impl Summary {
    /// Summarises a non-empty set of samples.
    fn of(mut samples: Vec<Duration>) -> Summary {
        samples.sort_unstable();
        Summary {
            p10: percentile(&samples, 0.10),
            median: percentile(&samples, 0.50),
            p90: percentile(&samples, 0.90),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:.3} [{:.3} .. {:.3}]",
            ms(self.median),
            ms(self.p10),
            ms(self.p90)
        )
    }
}

/// The `p`-quantile (0.0..=1.0) of sorted, non-empty `samples`, interpolating linearly between
/// the two nearest ranks (so the median of an even count is the mean of the middle two).
fn percentile(samples: &[Duration], p: f64) -> Duration {
    debug_assert!(!samples.is_empty() && (0.0..=1.0).contains(&p));
    let rank = p * (samples.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    let weight = rank - low as f64;
    samples[low].mul_f64(1.0 - weight) + samples[high].mul_f64(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentiles pick or interpolate the right ranks: (samples in ms, p, expected ms).
    #[test]
    fn percentile_table() {
        let cases: &[(&[u64], f64, f64)] = &[
            (&[5], 0.5, 5.0),
            (&[1, 2, 3], 0.5, 2.0),
            (&[1, 2, 3, 4], 0.5, 2.5),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.1, 2.0),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9, 10.0),
            (&[1, 2], 0.0, 1.0),
            (&[1, 2], 1.0, 2.0),
        ];
        for &(samples, p, expected) in cases {
            let samples: Vec<Duration> = samples
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect();
            let got = percentile(&samples, p).as_secs_f64() * 1e3;
            assert!(
                (got - expected).abs() < 1e-9,
                "{samples:?} p={p}: got {got}, want {expected}"
            );
        }
    }

    /// A summary sorts its input first, so sample order does not matter.
    #[test]
    fn summary_sorts() {
        let samples = [9, 1, 5, 3, 7].map(Duration::from_millis).to_vec();
        let s = Summary::of(samples);
        assert_eq!(s.median, Duration::from_millis(5));
        assert!(s.p10 < s.median && s.median < s.p90);
    }
}
