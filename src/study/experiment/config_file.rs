//! Reading a configuration file so that a person can fix it in one go.
//!
//! Every mistake of the file is reported in one [`Error::Config`], each with its line, column and
//! key, in the order of the file:
//!
//! * syntax errors (the parser recovers and goes on); an unquoted word such as `loss = identity`
//!   is read as the string it was meant to be, with a note to quote it;
//! * unknown keys, with the nearest valid key;
//! * values of the wrong type or outside an enumeration ("must be one of scalar, per-feature,
//!   none"), for every entry of a list;
//! * values out of range or that do not fit together ([`RunConfig::problems`](super::config::RunConfig::problems)), in every cell of
//!   a sweep;
//! * data files that do not exist.
//!
//! Relative `train` and `test` paths are resolved from the folder of the configuration file, not
//! from the working directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::de::{DeTable, DeValue};

use super::config::{KEYS, nearest_key, value_problem};
use super::sweep::{SEEDS_KEY, SweepSpec};
use crate::error::{ConfigProblem, Error, Result};

/// Where a key and its value (and each entry of a list) sit in the file.
#[derive(Debug, Clone, Default)]
struct Located {
    key: (usize, usize),
    value: (usize, usize),
    items: Vec<(usize, usize)>,
}

/// Reads and checks the sweep configuration at `path` (see the module documentation).
pub fn load(path: &Path) -> Result<SweepSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let (spec, problems) = check(&text, folder);
    match spec {
        Some(spec) if problems.is_empty() => Ok(spec),
        _ => Err(Error::Config {
            path: path.display().to_string(),
            problems,
        }),
    }
}

/// Checks configuration `text` whose relative paths are relative to `folder`; returns the sweep
/// when it could be built and every problem found.
fn check(text: &str, folder: &Path) -> (Option<SweepSpec>, Vec<ConfigProblem>) {
    let (patched, mut problems) = quote_bare_words(text);
    let (doc, errors) = DeTable::parse_recoverable(&patched);
    let mut unreadable: Vec<String> = Vec::new();
    for e in &errors {
        let position = e.span().map(|s| position(&patched, s.start));
        let key = position.map_or(String::new(), |(line, _)| key_of_line(&patched, line));
        if !key.is_empty() {
            unreadable.push(key.clone());
        }
        problems.push(ConfigProblem {
            position,
            key,
            message: e.message().trim().to_string(),
        });
    }
    let located = locate(&patched, doc.get_ref());
    let Ok(mut table) = toml::Table::deserialize(doc.into_deserializer()) else {
        sort(&mut problems);
        return (None, problems);
    };
    let at = |key: &str| located.get(key).map(|l| l.key);
    // A key on a line the parser could not read is not judged by what the parser made of it.
    let mut bad_keys = unreadable;

    for (key, value) in &table {
        if bad_keys.contains(key) {
            continue;
        }
        let here = located.get(key.as_str()).cloned().unwrap_or_default();
        let mut problem = |position: (usize, usize), message: String| {
            problems.push(ConfigProblem {
                position: Some(position),
                key: key.clone(),
                message,
            });
        };
        if key == SEEDS_KEY {
            if !matches!(value, toml::Value::Integer(k) if *k >= 1) {
                problem(
                    here.value,
                    format!("must be a whole number ≥ 1 (the number of seeds), got {value}"),
                );
                bad_keys.push(key.clone());
            }
            continue;
        }
        if !KEYS.contains(&key.as_str()) {
            let mut valid = KEYS.to_vec();
            valid.push(SEEDS_KEY);
            let hint = nearest_key(key, &valid)
                .map_or(String::new(), |k| format!("; did you mean `{k}`?"));
            problem(here.key, format!("unknown key{hint}"));
            bad_keys.push(key.clone());
            continue;
        }
        let items: Vec<(&toml::Value, (usize, usize))> = match value {
            toml::Value::Array(list) if list.is_empty() => {
                problem(here.value, "the list of values is empty".into());
                bad_keys.push(key.clone());
                continue;
            }
            toml::Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (v, here.items.get(i).copied().unwrap_or(here.value)))
                .collect(),
            toml::Value::Table(_) => {
                problem(
                    here.value,
                    "expected a value or a list of values, not a table".into(),
                );
                bad_keys.push(key.clone());
                continue;
            }
            scalar => vec![(scalar, here.value)],
        };
        for (v, position) in items {
            let message = match v {
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    Some(format!("list entries must be plain values, got {v}"))
                }
                _ => value_problem(key, v),
            };
            if let Some(message) = message {
                problem(position, message);
                if !bad_keys.contains(key) {
                    bad_keys.push(key.clone());
                }
            }
        }
    }
    if table.contains_key(SEEDS_KEY) && matches!(table.get("seed"), Some(toml::Value::Array(_))) {
        problems.push(ConfigProblem {
            position: at(SEEDS_KEY),
            key: SEEDS_KEY.into(),
            message: "give either seeds = K or a list of seed values, not both".into(),
        });
        bad_keys.push(SEEDS_KEY.into());
    }
    // Keys at fault fall back to their defaults so that the other keys are still checked.
    for key in &bad_keys {
        table.remove(key);
    }
    for key in ["train", "test"] {
        if let Some(value) = table.get_mut(key) {
            resolve_paths(value, folder);
            for (path, position) in missing_files(value, located.get(key)) {
                problems.push(ConfigProblem {
                    position: Some(position),
                    key: key.into(),
                    message: format!("no such file: {}", path.display()),
                });
            }
        }
    }
    let spec = match SweepSpec::from_table(&table) {
        Ok(spec) => spec,
        Err(e) => {
            problems.push(ConfigProblem {
                position: None,
                key: String::new(),
                message: e.to_string(),
            });
            sort(&mut problems);
            return (None, problems);
        }
    };
    for (key, message) in spec.problems() {
        // A key whose value was already refused is not blamed twice.
        if bad_keys.contains(&key) {
            continue;
        }
        problems.push(ConfigProblem {
            position: at(&key),
            key,
            message,
        });
    }
    sort(&mut problems);
    (Some(spec), problems)
}

/// Problems with a position first, in the order of the file, then those of missing keys.
fn sort(problems: &mut [ConfigProblem]) {
    problems.sort_by_key(|p| p.position.unwrap_or((usize::MAX, 0)));
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The bare key assigned on 1-based `line` of `text` (`key = …`), or "".
fn key_of_line(text: &str, line: usize) -> String {
    text.lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| is_bare_key(k))
        .unwrap_or("")
        .to_string()
}

fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A word TOML would refuse as a value but a person means as text: `identity`, `per-feature`.
fn is_bare_word(v: &str) -> bool {
    let mut chars = v.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !matches!(v, "true" | "false" | "inf" | "nan")
}

/// Quotes unquoted words in `key = word` and `key = [word, …]` lines, so the rest of the file can
/// be checked, and reports each with its position and a note to quote it.
fn quote_bare_words(text: &str) -> (String, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    let mut out = String::with_capacity(text.len() + 16);
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        match quote_line(body) {
            Some((patched, words)) => {
                let key = key_of_line(body, 1);
                for (column, word) in words {
                    problems.push(ConfigProblem {
                        position: Some((n + 1, column)),
                        key: key.clone(),
                        message: format!(
                            "text values need quotes: write \"{word}\" instead of {word}"
                        ),
                    });
                }
                out.push_str(&patched);
            }
            None => out.push_str(body),
        }
        out.push_str(ending);
    }
    (out, problems)
}

/// The line with its bare words quoted and the 1-based columns of those words, or `None` when it
/// has none (or is not a plain `key = value` line).
fn quote_line(line: &str) -> Option<(String, Vec<(usize, String)>)> {
    let (key, rest) = line.split_once('=')?;
    if !is_bare_key(key.trim()) || rest.contains(['"', '\'']) {
        return None;
    }
    let (value, comment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let value_start = key.len() + 1;
    let trimmed = value.trim();
    let lead = value.len() - value.trim_start().len();
    let mut words = Vec::new();
    let col = |byte: usize| line[..byte].chars().count() + 1;
    let patched_value =
        if let Some(inner) = trimmed.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let mut offset = value_start + lead + 1;
            let mut items = Vec::new();
            for item in inner.split(',') {
                let t = item.trim();
                if is_bare_word(t) {
                    words.push((col(offset + item.find(t).unwrap_or(0)), t.to_string()));
                    items.push(item.replacen(t, &format!("\"{t}\""), 1));
                } else {
                    items.push(item.to_string());
                }
                offset += item.len() + 1;
            }
            format!("[{}]", items.join(","))
        } else if is_bare_word(trimmed) {
            words.push((col(value_start + lead), trimmed.to_string()));
            format!("\"{trimmed}\"")
        } else {
            return None;
        };
    if words.is_empty() {
        return None;
    }
    Some((format!("{key}= {patched_value} {comment}"), words))
}

/// Positions of every top-level key, its value and the entries of a list value.
fn locate(text: &str, doc: &DeTable<'_>) -> HashMap<String, Located> {
    doc.iter()
        .map(|(k, v)| {
            let items = match v.get_ref() {
                DeValue::Array(list) => list
                    .iter()
                    .map(|item| position(text, item.span().start))
                    .collect(),
                _ => Vec::new(),
            };
            let located = Located {
                key: position(text, k.span().start),
                value: position(text, v.span().start),
                items,
            };
            (k.get_ref().to_string(), located)
        })
        .collect()
}

/// Makes relative paths (a string or a list of strings) relative to `folder`.
fn resolve_paths(value: &mut toml::Value, folder: &Path) {
    match value {
        toml::Value::String(p) if Path::new(p.as_str()).is_relative() => {
            *p = folder.join(p.as_str()).display().to_string();
        }
        toml::Value::Array(list) => list.iter_mut().for_each(|v| resolve_paths(v, folder)),
        _ => {}
    }
}

/// The paths of `value` (a string or a list) that are not files, with their positions.
fn missing_files(value: &toml::Value, at: Option<&Located>) -> Vec<(PathBuf, (usize, usize))> {
    let here = at.cloned().unwrap_or_default();
    let paths: Vec<(&toml::Value, (usize, usize))> = match value {
        toml::Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, v)| (v, here.items.get(i).copied().unwrap_or(here.value)))
            .collect(),
        v => vec![(v, here.value)],
    };
    paths
        .into_iter()
        .filter_map(|(v, position)| {
            let p = PathBuf::from(v.as_str()?);
            (!p.is_file()).then_some((p, position))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\nγγ = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        // "γγ = " is 5 characters but 7 bytes: the value starts at byte 6 + 7.
        assert_eq!(position(text, 13), (2, 6));
    }

    #[test]
    fn bare_words_are_quoted_where_they_stand() {
        let (patched, problems) =
            quote_bare_words("n = 2\nloss = identity # f\nx = [mse, \"a\"]\nt = [a, b]\n");
        assert!(patched.contains("loss = \"identity\""), "{patched}");
        assert!(patched.contains("t = [\"a\", \"b\"]"), "{patched}");
        let at: Vec<(Option<(usize, usize)>, &str)> = problems
            .iter()
            .map(|p| (p.position, p.key.as_str()))
            .collect();
        // Line 3 mixes quotes and is left to the parser.
        assert_eq!(
            at,
            [
                (Some((2, 8)), "loss"),
                (Some((4, 6)), "t"),
                (Some((4, 9)), "t")
            ]
        );
        assert!(problems[0].message.contains("\"identity\""));
    }
}
