#!/usr/bin/env python3
"""Checks that the documentation points at things that exist, so that it cannot drift silently.

Run from anywhere: `scripts/check-doc-links.py` (CI runs it; exit status 1 on any problem).

What it reads: README.md, every docs/*.md, and the doc comments (`//!`, `///`) of the .rs files
under runtime/, http/, src/, examples/, tests/ and benches/.

The rules (the policy is: name items, never line numbers, because line numbers move with every edit):
 1. Every relative link `[text](path)` or `[text](path#fragment)` in a page must name a file or
    folder that exists, resolved from the page's folder.
 2. Line anchors (`path#L123`, `#L10-L20`) and `path:123` references are not allowed, in pages or
    in doc comments: link the file and name the item, as in
    [`RequestParser::parse` in parse/mod.rs](../http/src/parse/mod.rs).
 3. A link to a .rs file whose text starts with a `code span` names an item: the last `::`
    segment of that name (arguments dropped) must be the file's own module name or be defined
    in the file (`fn name`,
    `struct name`, `enum`, `trait`, `type`, `const`, `static`, `mod`, `macro_rules! name`).
 4. A file path with a folder in a code span in a page's prose (`runtime/src/task/raw.rs`,
    `task/raw.rs`) must exist: from the page's folder, the repository root, or one of the
    crates' roots (runtime/, runtime/src/, http/, http/src/, src/).
 5. Every docs/*.md page is included in http/src/doc_pages.rs, so that its Rust blocks run as
    doc tests (see that file).
 6. Code fences: every opening fence says its language (an untagged block is Rust to rustdoc
    but not to a reader); a fence stands on a line of its own (`}```` renders as a broken
    block); and a `rust,ignore` block is only an excerpt quoted from a file that compiles,
    announced by `<!-- quote: PATH -->` on the line before (PATH must exist; the tests in
    runtime/tests/sync_docs.rs and tests/docs_quotes.rs check the excerpt word for word).
Code blocks (``` fences) are skipped by rules 1-4: they hold code and program output.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)

problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
LINE_REF = re.compile(r"\b[\w./-]+\.(?:rs|md|sh|py|toml)(?::\d+)+\b")
LINE_ANCHOR = re.compile(r"^L\d+(?:-L?\d+)?$")
CODE_SPAN = re.compile(r"`([^`]+)`")
PATHLIKE = re.compile(r"^[\w.-]+(?:/[\w.-]+)*\.(?:rs|md|sh|py|toml|json|yml|yaml)$")
DEFINES = r"\b(?:fn|struct|enum|trait|type|const|static|mod|union)\s+{0}\b|macro_rules!\s*{0}\b"
SEARCH_ROOTS = ["", "runtime", "runtime/src", "http", "http/src", "src"]


def prose_lines(text):
    """Yields (line number, line) outside fenced code blocks."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        s = line.lstrip()
        if fence is None and (s.startswith("```") or s.startswith("~~~")):
            fence = s[:3]
            continue
        if fence is not None:
            if s.startswith(fence) and s.strip() == fence:
                fence = None
            continue
        yield n, line


def item_name(text):
    """The item a link text names: its first code span, last `::` segment, arguments dropped."""
    m = CODE_SPAN.match(text.strip())
    if not m:
        return None
    name = re.sub(r"\(.*", "", m.group(1)).strip()
    name = name.split("::")[-1].strip()
    return name if re.fullmatch(r"[A-Za-z_]\w*!?", name) else None


def check_link(where, base_dir, target, text):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        return  # a URL, or an anchor within the page
    path, _, fragment = target.partition("#")
    if LINE_ANCHOR.match(fragment):
        problem(where, f"line anchor in link {target!r}: link the file and name the item instead")
    full = os.path.normpath(os.path.join(base_dir, path))
    if not os.path.exists(full):
        problem(where, f"link {target!r}: {os.path.relpath(full, ROOT)} does not exist")
        return
    name = item_name(text)
    if name and full.endswith(".rs") and os.path.isfile(full):
        body = open(full, encoding="utf-8").read()
        bare = name.rstrip("!")
        stem = os.path.splitext(os.path.basename(full))[0]
        if bare != stem and not re.search(DEFINES.format(re.escape(bare)), body):
            problem(where, f"link {target!r} names `{name}`, which {os.path.relpath(full, ROOT)} does not define")


def path_exists(p, page_dir):
    candidates = [os.path.join(page_dir, p)] + [os.path.join(r, p) for r in SEARCH_ROOTS]
    return any(os.path.exists(os.path.normpath(c)) for c in candidates)


def check_page(page):
    text = open(page, encoding="utf-8").read()
    page_dir = os.path.dirname(page)
    for n, line in prose_lines(text):
        where = f"{page}:{n}"
        for m in LINK.finditer(line):
            check_link(where, page_dir, m.group(2), m.group(1))
        for m in re.finditer(r"^\s*\[[^\]]+\]:\s*(\S+)", line):
            check_link(where, page_dir, m.group(1), "")
        for m in LINE_REF.finditer(line):
            problem(where, f"line reference {m.group(0)!r}: name the item instead")
        for m in CODE_SPAN.finditer(line):
            span = m.group(1).strip()
            p = re.sub(r"::.*$", "", span)  # `tests/task.rs::name` names an item in that file
            if PATHLIKE.match(p) and "/" in p and not path_exists(p, page_dir):
                problem(where, f"`{span}` names a file that does not exist")


def check_fences(page, text):
    lines = text.split("\n")
    open_at = None
    for n, line in enumerate(lines, 1):
        s = line.strip()
        where = f"{page}:{n}"
        if open_at is None:
            if s.startswith("```"):
                info = s[3:].strip()
                open_at = n
                if not info:
                    problem(where, "code fence without a language: say `rust`, `text`, `sh`, ...")
                elif "ignore" in info.split(","):
                    prev = lines[n - 2].strip() if n >= 2 else ""
                    m = re.fullmatch(r"<!-- quote: (\S+) -->", prev)
                    if not m:
                        problem(where, "`rust,ignore` block without a `<!-- quote: PATH -->` line before it")
                    elif not os.path.exists(m.group(1)):
                        problem(where, f"quoted file {m.group(1)} does not exist")
            elif "```" in line:
                problem(where, "a code fence shares its line with text")
        else:
            if s == "```":
                open_at = None
            elif "```" in line:
                problem(where, "a code fence shares its line with code (the block renders broken)")
    if open_at is not None:
        problem(f"{page}:{open_at}", "code block never closed")


def check_doc_comments(path):
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        s = line.lstrip()
        if not (s.startswith("//!") or s.startswith("///")):
            continue
        where = f"{path}:{n}"
        for m in LINE_REF.finditer(s):
            problem(where, f"line reference {m.group(0)!r} in a doc comment: name the item instead")
        for m in LINK.finditer(s):
            target = m.group(2)
            if "#L" in target and not re.match(r"^[a-z]+:", target):
                problem(where, f"line anchor in link {target!r}: name the item instead")


def main():
    pages = ["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir("docs") if f.endswith(".md"))
    for page in pages:
        check_page(page)
        check_fences(page, open(page, encoding="utf-8").read())
    for top in ["runtime", "http", "src", "examples", "tests", "benches"]:
        for dirpath, dirnames, files in os.walk(top):
            dirnames[:] = [d for d in dirnames if d != "target"]
            for f in files:
                if f.endswith(".rs"):
                    check_doc_comments(os.path.join(dirpath, f))
    included = open("http/src/doc_pages.rs", encoding="utf-8").read()
    for page in pages:
        if page.startswith("docs/") and f'include_str!("../../{page}")' not in included:
            problem(page, "not included in http/src/doc_pages.rs, so its Rust blocks are not doc-tested")
    for p in problems:
        print(p)
    print(f"check-doc-links: {len(pages)} pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
