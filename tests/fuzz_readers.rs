//! Property-based fuzzing of the input readers: any bytes, plain or gzip-wrapped, and mutations of a
//! valid table must give `Ok` or a located `Err`, never a panic, a NaN or an infinite value.
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz_readers` runs a long session; inputs that
//! once broke a reader are kept in tests/fuzz_corpus/ and replayed by `corpus_cases_never_panic`.

use std::io::Write;

use proptest::prelude::*;

const VALID: &[u8] = b"x0,x1,y\n1,2,1\n-3.5,4e2,-1\n0,0,+1\n";

fn read_bytes(bytes: &[u8]) -> Result<ntk_perturb::data::Dataset, ntk_perturb::Error> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("input.csv");
    std::fs::write(&path, bytes).expect("write input");
    ntk_perturb::data::read_csv(&path)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// Checks the reader's contract on one input.
fn check(bytes: &[u8]) {
    match read_bytes(bytes) {
        Ok(ds) => {
            assert!(ds.n() > 0 && ds.d() > 0);
            assert!(ds.y.iter().all(|&v| v == 1.0 || v == -1.0));
            assert!(ds.x.col_iter().all(|c| c.iter().all(|v| v.is_finite())));
        }
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(e.to_string().contains("input.csv"), "{e}");
        }
    }
}

/// Applies (position, byte, kind) edits to a valid table: 0 replace, 1 insert, 2 delete.
fn mutate(edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut v = VALID.to_vec();
    for &(pos, byte, kind) in edits {
        if v.is_empty() {
            v.push(byte);
            continue;
        }
        let p = pos % v.len();
        match kind % 3 {
            0 => v[p] = byte,
            1 => v.insert(p, byte),
            _ => {
                v.remove(p);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn mutated_tables_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        check(&mutate(&edits));
    }

    #[test]
    fn gzip_wrapped_and_truncated_inputs_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4), cut in any::<usize>()) {
        let z = gzip(&mutate(&edits));
        check(&z);
        check(&z[..cut % (z.len() + 1)]);
    }
}

#[test]
fn corpus_cases_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("corpus entry").path();
        check(&std::fs::read(&path).expect("corpus file"));
        count += 1;
    }
    assert!(count >= 5, "corpus has {count} files");
}
