//! Side-by-side benchmarks (placeholder).
fn main() {}
