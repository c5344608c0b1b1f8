//! Which rows of the input files a sweep used: `rows.csv` (training subset) and `test_rows.csv`
//! (test subset) beside its results, one line per selected row (output_row, source_row, label),
//! with `source_row` the 0-based data row of the file.

use std::path::Path;

use super::config::DatasetKind;
use super::sweep::Sweep;
use crate::data::{self, Dataset, Preprocess, RowBlock, Selection};
use crate::error::{Error, Result};

/// The keys that decide which rows of the files a run uses.
pub const SELECTION_KEYS: &[&str] = &["train", "test", "subset", "test_subset", "subset_seed"];

/// Writes `dir/rows.csv` and `dir/test_rows.csv` for the cells of `sweep` that take a subset of a
/// file. When a key of [`SELECTION_KEYS`] is swept, its values lead each line (one block per
/// distinct selection); otherwise every cell uses the same rows and the files have three columns.
/// Nothing is written for a sweep without subsets.
pub fn write_selected_rows(sweep: &Sweep, dir: &Path) -> Result<()> {
    let lead_idx: Vec<usize> = sweep
        .swept_keys()
        .iter()
        .enumerate()
        .filter(|(_, k)| SELECTION_KEYS.contains(&k.as_str()))
        .map(|(i, _)| i)
        .collect();
    let lead: Vec<String> = lead_idx
        .iter()
        .map(|&i| sweep.swept_keys()[i].clone())
        .collect();
    let mut loaded: Vec<(Vec<String>, Dataset, Option<Dataset>, Selection)> = Vec::new();
    for cell in sweep.cells() {
        let cfg = &cell.config;
        if cfg.dataset != DatasetKind::File || (cfg.subset.is_none() && cfg.test_subset.is_none()) {
            continue;
        }
        let values: Vec<String> = lead_idx.iter().map(|&i| cell.swept[i].clone()).collect();
        if loaded.iter().any(|(v, ..)| *v == values) {
            continue;
        }
        let missing = |key: &str| Error::invalid(key, "required for dataset = \"file\"");
        let train = cfg.train.as_deref().ok_or_else(|| missing("train"))?;
        let test = cfg.test.as_deref().ok_or_else(|| missing("test"))?;
        let pre = Preprocess {
            subset: cfg.subset,
            test_subset: cfg.test_subset,
            seed: cfg.subset_seed,
            ..Preprocess::default()
        };
        let (train_ds, test_ds, selection) = data::load_selected(train, Some(test), &pre)?;
        loaded.push((values, train_ds, test_ds, selection));
    }
    let train_blocks: Vec<RowBlock<'_>> = loaded
        .iter()
        .filter_map(|(v, train, _, s)| Some((v.clone(), s.train.as_deref()?, train.y.as_slice())))
        .collect();
    if !train_blocks.is_empty() {
        data::write_row_map(&dir.join(data::TRAIN_ROWS_FILE), &lead, &train_blocks)?;
    }
    let test_blocks: Vec<RowBlock<'_>> = loaded
        .iter()
        .filter_map(|(v, _, test, s)| {
            Some((v.clone(), s.test.as_deref()?, test.as_ref()?.y.as_slice()))
        })
        .collect();
    if !test_blocks.is_empty() {
        data::write_row_map(&dir.join(data::TEST_ROWS_FILE), &lead, &test_blocks)?;
    }
    Ok(())
}
