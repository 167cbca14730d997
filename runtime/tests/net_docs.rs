//! Keeps `docs/reactor.md` honest: the echo server it quotes must be, byte for byte, the example
//! that `cargo build --example echo_server` compiles.

use std::path::Path;

/// The code block in `docs/reactor.md` after the "Example: an echo server" heading is exactly
/// `examples/echo_server.rs`.
#[test]
fn reactor_doc_quotes_the_compiled_echo_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/reactor.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/echo_server.rs")).unwrap();
    let section = doc
        .split("## Example: an echo server")
        .nth(1)
        .expect("docs/reactor.md lost its example section");
    let quoted = section
        .split("```rust")
        .nth(1)
        // Past the rest of the fence line (`,no_run`: the server never returns).
        .and_then(|rest| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.split("```").next())
        .expect("the example section has no rust code block");
    assert_eq!(
        quoted, example,
        "docs/reactor.md quotes an outdated examples/echo_server.rs"
    );
}
