#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `docs/invariants.md` and the tests stay in step: every test the document cites
//! exists and says which invariant it checks, every invariant cites a test, and every
//! `// Checks I<n>` comment in a test names an invariant that cites it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root (this crate is `crates/vexfs-journal`).
fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A test cited as `crate::file::name` (integration test) or
/// `crate::module::tests::name` (unit test).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cited {
    text: String,
    file: PathBuf,
    name: String,
}

/// Parses a backticked citation; `None` for any other code span.
fn citation(span: &str, crates: &BTreeSet<String>) -> Option<Cited> {
    let parts: Vec<&str> = span.split("::").collect();
    let krate = *parts.first()?;
    if !crates.contains(krate) {
        return None;
    }
    let dir = root().join("crates").join(krate);
    let (file, name) = match parts[1..] {
        [file, name] => (dir.join("tests").join(format!("{file}.rs")), name),
        [module, "tests", name] => (dir.join("src").join(format!("{module}.rs")), name),
        _ => return None,
    };
    Some(Cited {
        text: span.to_string(),
        file,
        name: name.to_string(),
    })
}

/// Each invariant or assumption (`I1`, `A1`, …) with the tests its paragraph cites.
fn document() -> BTreeMap<String, Vec<Cited>> {
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let text = std::fs::read_to_string(root().join("docs/invariants.md")).unwrap();
    let mut out: BTreeMap<String, Vec<Cited>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            current = None;
        }
        if let Some(rest) = line.strip_prefix("**")
            && let Some((id, _)) = rest.split_once('.')
            && id.len() > 1
            && (id.starts_with('I') || id.starts_with('A'))
            && id[1..].chars().all(|c| c.is_ascii_digit())
        {
            assert!(!out.contains_key(id), "{id} is defined twice");
            out.insert(id.to_string(), Vec::new());
            current = Some(id.to_string());
        }
        for span in line.split('`').skip(1).step_by(2) {
            let Some(cited) = citation(span, &crates) else {
                continue;
            };
            let id = current
                .as_ref()
                .unwrap_or_else(|| panic!("{span} is cited outside any invariant"));
            out.get_mut(id).unwrap().push(cited);
        }
    }
    out
}

/// The lines just above `fn name(` (attributes and comments), if the file has such a
/// test.
fn preamble(source: &str, name: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines.iter().position(|l| {
        let l = l.trim_start();
        l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("async fn {name}("))
    })?;
    let above = lines[..at]
        .iter()
        .rev()
        .map(|l| l.trim())
        .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
        .map(str::to_string)
        .collect();
    Some(above)
}

/// The invariant ids of the `// Checks …` comments among `lines`.
fn checks(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("// Checks "))
        .flat_map(|rest| {
            rest.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| {
                    w.len() > 1
                        && (w.starts_with('I') || w.starts_with('A'))
                        && w[1..].chars().all(|c| c.is_ascii_digit())
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_cited_test_exists_and_names_the_invariant() {
    let doc = document();
    assert!(doc.len() > 40, "found only {} invariants", doc.len());
    let mut problems = Vec::new();
    for (id, cited) in &doc {
        if id.starts_with('I') && cited.is_empty() {
            problems.push(format!("{id} cites no test"));
        }
        for c in cited {
            let Ok(source) = std::fs::read_to_string(&c.file) else {
                problems.push(format!("{id}: {} — no file {}", c.text, c.file.display()));
                continue;
            };
            let Some(above) = preamble(&source, &c.name) else {
                problems.push(format!("{id}: {} — no fn {}", c.text, c.name));
                continue;
            };
            if !above
                .iter()
                .any(|l| l == "#[test]" || l.starts_with("#[tokio::test"))
            {
                problems.push(format!("{id}: {} is not a #[test]", c.text));
            }
            // Invariants are stated with their checks; assumptions are only exercised.
            if id.starts_with('I') && !checks(&above).contains(id) {
                problems.push(format!(
                    "{id}: {} lacks `// Checks {id} (docs/invariants.md).`",
                    c.text
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_checks_comment_is_backed_by_the_document() {
    let doc = document();
    let mut cited_by: BTreeMap<(PathBuf, String), BTreeSet<String>> = BTreeMap::new();
    for (id, cited) in &doc {
        for c in cited {
            let file = c.file.canonicalize().unwrap_or_else(|_| c.file.clone());
            cited_by
                .entry((file, c.name.clone()))
                .or_default()
                .insert(id.clone());
        }
    }
    let mut problems = Vec::new();
    let crates = root().join("crates");
    for krate in std::fs::read_dir(&crates).unwrap() {
        let krate = krate.unwrap().path();
        for sub in ["tests", "src"] {
            let Ok(entries) = std::fs::read_dir(krate.join(sub)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                let lines: Vec<&str> = source.lines().collect();
                for (i, line) in lines.iter().enumerate() {
                    let ids = checks(&[line.trim().to_string()]);
                    if ids.is_empty() {
                        continue;
                    }
                    // The test the comment is above.
                    let name = lines[i + 1..].iter().find_map(|l| {
                        let l = l.trim_start();
                        let l = l.strip_prefix("async ").unwrap_or(l);
                        l.strip_prefix("fn ")
                            .and_then(|r| r.split('(').next())
                            .map(str::to_string)
                    });
                    let Some(name) = name else {
                        problems.push(format!("{}:{}: no test follows", path.display(), i + 1));
                        continue;
                    };
                    let key = (path.canonicalize().unwrap(), name.clone());
                    let backed = cited_by.get(&key).cloned().unwrap_or_default();
                    for id in ids.iter().filter(|id| id.starts_with('I')) {
                        if !backed.contains(id) {
                            problems.push(format!(
                                "{}:{}: {name} says it checks {id}, which does not cite it",
                                path.display(),
                                i + 1
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
