//! The spindle demo server (placeholder until the HTTP server lands).
fn main() {
    println!("spindle demo: placeholder");
}
