//! A copy of the shipped `workflows/` and `scripts/` in a temporary directory, with extra
//! files, for a server (`AppOptions::root`) or `gradflow check` to load.

use std::path::Path;

/// The shipped tree plus `extra` (relative path, text), written over it.
pub fn tree_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy(&repo.join("workflows"), &dir.path().join("workflows"));
    copy(&repo.join("scripts"), &dir.path().join("scripts"));
    for (rel, text) in extra {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn copy(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// The integrators' guide, `docs/flows.md`.
pub fn guide() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/flows.md")).unwrap()
}

/// The fenced code block that follows the line `<!-- {marker} -->` in the guide, without its
/// fences (ending with a newline).
pub fn guide_block(marker: &str) -> String {
    let text = guide();
    let line = format!("<!-- {marker} -->\n");
    let at = text
        .find(&line)
        .unwrap_or_else(|| panic!("docs/flows.md has no {line:?}"))
        + line.len();
    let rest = &text[at..];
    let open = rest.find("```").expect("a code block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let close = body.find("\n```").expect("the code block is closed");
    format!("{}\n", &body[..close])
}

/// The markers `<!-- {kind}: PATH -->` of the guide, in order.
pub fn guide_markers(kind: &str) -> Vec<String> {
    let prefix = format!("<!-- {kind}: ");
    guide()
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str())?.strip_suffix(" -->"))
        .map(str::to_string)
        .collect()
}

/// The shipped tree plus the guide's worked example (`docs/example/`).
pub fn example_tree() -> tempfile::TempDir {
    let dir = tree_with(&[]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/example");
    copy(&example, dir.path());
    dir
}
