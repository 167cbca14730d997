//! Keeps `docs/sync.md` honest: every code block preceded by `<!-- quote: PATH -->` must appear
//! verbatim in PATH (relative to the repository root), so the page cannot drift from the code.

use std::path::Path;

/// Every quoted block in `docs/sync.md` is still a verbatim excerpt of the file it names.
#[test]
fn doc_quotes_match_the_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/sync.md")).expect("read docs/sync.md");
    let marker = "<!-- quote: ";
    let mut checked = 0;
    let mut rest = doc.as_str();
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let (path, after) = rest.split_once(" -->").expect("unterminated quote marker");
        // The block opens with "```rust" and an info string (`,ignore`: an excerpt is not a
        // program by itself); the body starts on the next line.
        let fence = after
            .find("```rust")
            .expect("a ```rust block after the marker");
        let body_start = fence + after[fence..].find('\n').expect("a fence line") + 1;
        let body_len = after[body_start..].find("```").expect("closing ```");
        let body = &after[body_start..body_start + body_len];
        let source = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("docs/sync.md quotes {path}, which cannot be read: {e}"));
        assert!(
            source.contains(body),
            "docs/sync.md quotes {path}, but the file no longer contains:\n{body}"
        );
        checked += 1;
        rest = &after[body_start + body_len..];
    }
    assert!(checked >= 4, "expected at least 4 quotes, found {checked}");
}
