//! The code quoted in the README and in `docs/` is the code of files that compile: each
//! quoted example must appear in the documents word for word, so they cannot drift.

use std::path::Path;

/// Reads a file relative to the repository root.
fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The part of an example after its `//!` header: what the documents quote.
fn quoted_part(example: &str) -> String {
    let text = read(example);
    let start = text
        .find("\nuse ")
        .map(|i| i + 1)
        .expect("the example has a `use` line");
    text[start..].trim_end().to_string()
}

/// README.md quotes `examples/hello_server.rs`.
#[test]
fn readme_quotes_hello_server() {
    let readme = read("README.md");
    assert!(
        readme.contains(&quoted_part("examples/hello_server.rs")),
        "README.md no longer matches examples/hello_server.rs"
    );
}

/// docs/http.md quotes the `app()` function of `examples/fastapi_style.rs`.
#[test]
fn http_doc_quotes_fastapi_style() {
    let example = read("examples/fastapi_style.rs");
    let start = example
        .find("fn app() -> App {")
        .expect("the example defines app()");
    let end = start + example[start..].find("\n}\n").expect("app() ends") + 2;
    assert!(
        read("docs/http.md").contains(&example[start..end]),
        "docs/http.md no longer matches examples/fastapi_style.rs"
    );
}
