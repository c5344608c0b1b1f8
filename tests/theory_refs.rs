//! Section references ("§N", "§N.M") in the sources, tests, benches, examples and READMEs must name
//! a numbered heading of docs/theory.md, the repository's mathematical reference, and nothing may
//! point to a document outside the repository.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const THEORY: &str = "docs/theory.md";

/// Directories scanned recursively and single files scanned, relative to the crate root.
const DIRS: &[&str] = &["src", "tests", "benches", "examples"];
const FILES: &[&str] = &["README.md", "data/README.md", THEORY];

/// Strings that would point a reader at a document the repository does not carry. Spelled in
/// pieces so that this file does not contain them itself.
const FORBIDDEN: &[&str] = &[concat!("..", "/shared"), concat!("paper", ".md")];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A section number at the start of `s`: digits, optionally followed by ".digits" groups. A final
/// "." not followed by a digit is punctuation and not part of the number.
fn section_number(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut end = 0;
    loop {
        let start = end;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            // No digits where a group must start: drop the dot that announced it.
            return if start == 0 {
                None
            } else {
                Some(s[..start - 1].to_string())
            };
        }
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            end += 1;
        } else {
            return Some(s[..end].to_string());
        }
    }
}

/// Every "§N" / "§N.M" reference of one line, in order.
fn references(line: &str) -> Vec<String> {
    line.match_indices('§')
        .filter_map(|(i, m)| section_number(&line[i + m.len()..]))
        .collect()
}

/// The number of a Markdown heading such as "## 4. Infinite-width kernels" or "### 4.1 Geometry".
fn heading_number(line: &str) -> Option<String> {
    let rest = line.strip_prefix('#')?.trim_start_matches('#');
    let rest = rest.strip_prefix(' ')?.trim_start();
    let token = rest.split_whitespace().next()?;
    let token = token.strip_suffix('.').unwrap_or(token);
    (section_number(token)? == token).then(|| token.to_string())
}

/// Numbered headings of the theory document; duplicates are an error.
fn theory_sections() -> BTreeSet<String> {
    let text = fs::read_to_string(root().join(THEORY)).expect("docs/theory.md must exist");
    let mut sections = BTreeSet::new();
    let mut duplicates = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(n) = heading_number(line)
            && !sections.insert(n.clone())
        {
            duplicates.push(n);
        }
    }
    assert!(
        duplicates.is_empty(),
        "{THEORY} has duplicate section headings: {duplicates:?}"
    );
    sections
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every scanned file with its path relative to the crate root.
fn scanned_files() -> Vec<(String, String)> {
    let root = root();
    let mut paths = Vec::new();
    for d in DIRS {
        collect_files(&root.join(d), &mut paths);
    }
    paths.extend(FILES.iter().map(|f| root.join(f)));
    paths
        .into_iter()
        .filter_map(|p| {
            let bytes = fs::read(&p).ok()?;
            let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            Some((rel, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

#[test]
fn section_numbers_are_parsed_like_the_hand_cases() {
    assert_eq!(references("see §4."), vec!["4"]);
    assert_eq!(references("(§13.3, §5.1)"), vec!["13.3", "5.1"]);
    assert_eq!(
        references("§6.1–§6.3 and §10.2."),
        vec!["6.1", "6.3", "10.2"]
    );
    assert_eq!(
        references("Hairer et al., §II.5; § 3"),
        Vec::<String>::new()
    );
    assert_eq!(references("§1 step 3"), vec!["1"]);
    assert_eq!(
        heading_number("## 4. Infinite-width kernels").as_deref(),
        Some("4")
    );
    assert_eq!(heading_number("### 13.2 The flow").as_deref(), Some("13.2"));
    assert_eq!(
        heading_number("# ntk-perturb: mathematical reference"),
        None
    );
    assert_eq!(heading_number("#include <x>"), None);
}

#[test]
fn every_section_reference_names_a_heading_of_the_theory_document() {
    let sections = theory_sections();
    // The sections that the code has cited since before the document existed.
    for required in [
        "1", "2", "2.1", "3", "3.1", "3.2", "3.3", "4", "5", "5.1", "5.3", "6", "6.1", "6.2",
        "6.3", "6.4", "6.5", "7", "7.1", "7.2", "7.3", "10", "10.2", "13", "13.1", "13.2", "13.3",
        "13.4",
    ] {
        assert!(
            sections.contains(required),
            "{THEORY} lacks the heading of §{required}"
        );
    }
    let mut dangling = Vec::new();
    let mut count = 0usize;
    for (file, text) in scanned_files() {
        for (i, line) in text.lines().enumerate() {
            for r in references(line) {
                count += 1;
                if !sections.contains(&r) {
                    dangling.push(format!("{file}:{}: §{r}", i + 1));
                }
            }
        }
    }
    assert!(
        dangling.is_empty(),
        "{} section reference(s) name no heading of {THEORY}:\n{}",
        dangling.len(),
        dangling.join("\n")
    );
    // The code cites about two hundred sections; far fewer means the scan missed the sources.
    assert!(count >= 150, "only {count} references found");
}

#[test]
fn nothing_points_outside_the_repository() {
    let mut hits = Vec::new();
    for (file, text) in scanned_files() {
        for (i, line) in text.lines().enumerate() {
            for f in FORBIDDEN {
                if line.contains(f) {
                    hits.push(format!("{file}:{}: {f}", i + 1));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "references to documents outside the repository:\n{}",
        hits.join("\n")
    );
}
