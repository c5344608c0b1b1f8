//! The library's layers import only downwards (see the crate documentation):
//! model → kernel, network (side by side) → dynamics → perturbation → study; the edge modules
//! (data, io, plot, linalg, memory, rng, error, choice, stats) may be used from every layer but use only
//! each other.
//! Every `crate::…` path in code (not in comments) is checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rank of a core layer, or None for an edge module.
fn layer(module: &str) -> Option<Option<u32>> {
    Some(match module {
        "model" => Some(0),
        "kernel" | "network" => Some(1),
        "dynamics" => Some(2),
        "perturbation" => Some(3),
        "study" => Some(4),
        "data" | "io" | "plot" | "linalg" | "memory" | "rng" | "error" | "choice" | "stats" => None,
        _ => return None,
    })
}

/// Why `from` may not import `to`, or None when it may.
fn violation(from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    let (Some(f), Some(t)) = (layer(from), layer(to)) else {
        return Some(format!(
            "unknown module `{to}` or `{from}`: add it to the layer table"
        ));
    };
    match (f, t) {
        (_, None) if from != "lib" => None,
        (None, Some(_)) => Some(format!("edge module `{from}` imports layer `{to}`")),
        (Some(a), Some(b)) if b >= a => Some(format!(
            "`{from}` (layer {a}) imports `{to}` (layer {b}), which is not below it"
        )),
        _ => None,
    }
}

/// The module names after every `crate::` in the code of `text` (comment lines skipped, and
/// everything from a `#[cfg(test)]` line on: unit tests are not part of the library).
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(pos) = rest.find("crate::") {
            let after = &rest[pos + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{Error, Result}` and the root re-exports belong to the edge `error`.
            let name = match name.as_str() {
                "" | "Error" | "Result" => "error".to_string(),
                "named_enum" => "choice".to_string(),
                _ => name,
            };
            out.push((no + 1, name));
            rest = after;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn library_imports_go_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        // The binary (main.rs and the command line) sits above the library.
        if module == "main" || module == "cli" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (line, to) in imports(&text) {
            *checked.entry(module.clone()).or_default() += 1;
            if let Some(why) = violation(&module, &to) {
                errors.push(format!("src/{}:{line}: {why}", rel.display()));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "imports against the layers:\n{}",
        errors.join("\n")
    );
    for module in [
        "model",
        "kernel",
        "network",
        "dynamics",
        "perturbation",
        "study",
        "data",
    ] {
        assert!(
            checked.get(module).copied().unwrap_or(0) > 0,
            "no imports read in {module}"
        );
    }
}

#[test]
fn the_checker_refuses_upward_and_sideways_imports() {
    let text = "use crate::kernel::KernelWhat;\n// use crate::study::x;\nlet a = crate::dynamics::f();\n#[cfg(test)]\nuse crate::study::y;\n";
    let found: Vec<String> = imports(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["kernel", "dynamics"]);
    assert!(
        violation("network", "kernel").is_some(),
        "siblings on one layer"
    );
    assert!(violation("kernel", "dynamics").is_some(), "upwards");
    assert!(violation("data", "kernel").is_some(), "edge into a layer");
    assert!(violation("model", "perturbation").is_some());
    assert!(violation("dynamics", "kernel").is_none());
    assert!(violation("study", "plot").is_none());
    assert!(violation("plot", "io").is_none());
}
