//! NumPy array files, atomic writes and the output directory.

use std::fs;

use faer::Mat;
use ntk_perturb::Error;
use ntk_perturb::io::{NpyMatrixFile, OutputDir, read_npy, write_atomic, write_npy};

/// A 3×5 matrix with distinct, non-trivial values (including a negative zero and a subnormal).
fn sample() -> Mat<f64> {
    let mut m = Mat::from_fn(3, 5, |i, j| (i as f64 + 1.0) / 7.0 - (j as f64) * 1.25e-3);
    m[(0, 4)] = -0.0;
    m[(2, 1)] = 5e-324;
    m
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.npy");
    let m = sample();
    write_npy(&path, m.as_ref()).unwrap();
    let back = read_npy(&path).unwrap();
    assert_eq!((back.nrows(), back.ncols()), (3, 5));
    for i in 0..3 {
        for j in 0..5 {
            assert_eq!(back[(i, j)].to_bits(), m[(i, j)].to_bits(), "({i}, {j})");
        }
    }
}

#[test]
fn file_layout_follows_the_npy_v1_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.npy");
    let m = sample();
    write_npy(&path, m.as_ref()).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    assert_eq!((bytes[6], bytes[7]), (1, 0));
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let offset = 10 + header_len;
    assert_eq!(offset % 64, 0);
    let dict = std::str::from_utf8(&bytes[10..offset]).unwrap();
    assert!(dict.contains("'descr': '<f8'"), "{dict}");
    assert!(dict.contains("'fortran_order': True"), "{dict}");
    assert!(dict.contains("'shape': (3, 5)"), "{dict}");
    assert!(dict.ends_with('\n'));
    // Fortran order: column after column.
    let expected: Vec<u8> = (0..5)
        .flat_map(|j| (0..3).map(move |i| (i, j)))
        .flat_map(|(i, j)| m[(i, j)].to_le_bytes())
        .collect();
    assert_eq!(&bytes[offset..], &expected[..]);
}

#[test]
fn reads_fortran_order_and_rejects_other_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    // Hand-built 2×3 Fortran-order array: column-major data 1..=6.
    let dict = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }";
    let mut header = dict.as_bytes().to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&header);
    for v in 1..=6 {
        bytes.extend_from_slice(&(v as f64).to_le_bytes());
    }
    let path = dir.path().join("f.npy");
    fs::write(&path, &bytes).unwrap();
    let m = read_npy(&path).unwrap();
    assert_eq!(m[(0, 0)], 1.0);
    assert_eq!(m[(1, 0)], 2.0);
    assert_eq!(m[(0, 1)], 3.0);
    assert_eq!(m[(1, 2)], 6.0);

    // Complex numbers have no f64 reading (float32 and integer dtypes do: tests/data_numpy.rs).
    let mut c8 = bytes.clone();
    let at = c8.windows(3).position(|w| w == b"<f8").unwrap();
    c8[at + 1] = b'c';
    let bad = dir.path().join("bad.npy");
    fs::write(&bad, &c8).unwrap();
    match read_npy(&bad) {
        Err(e @ Error::File { .. }) => assert!(e.to_string().contains("'<c8'"), "{e}"),
        other => panic!("expected a File error, got {other:?}"),
    }

    let short = dir.path().join("short.npy");
    fs::write(&short, &bytes[..bytes.len() - 8]).unwrap();
    match read_npy(&short) {
        Err(e @ Error::File { .. }) => assert!(e.to_string().contains("short.npy"), "{e}"),
        other => panic!("expected a File error, got {other:?}"),
    }
}

#[test]
fn failed_atomic_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let result = write_atomic(&path, |w| {
        w.write_all(&[b'a'; 100_000]).unwrap();
        Err(Error::numerical("test", "failed midway"))
    });
    assert!(matches!(result, Err(Error::Numerical { .. })));
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A failure while overwriting keeps the old content.
    fs::write(&path, "old").unwrap();
    let _ = write_atomic(&path, |w| {
        w.write_all(b"new").unwrap();
        Err(Error::numerical("test", "failed"))
    });
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn atomic_write_compresses_gz_paths() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt.gz");
    write_atomic(&path, |w| {
        w.write_all(b"hello\n").map_err(|e| Error::io(&path, e))
    })
    .unwrap();
    let raw = fs::read(&path).unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b]);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "hello\n");
}

#[test]
fn output_dir_refuses_non_empty_without_force() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("a/b/run");
    let prepared = OutputDir::prepare(&out, false).unwrap();
    assert!(out.is_dir());
    assert_eq!(prepared.file("x.csv"), out.join("x.csv"));
    // Still empty: preparing again is fine.
    OutputDir::prepare(&out, false).unwrap();

    fs::write(out.join("x.csv"), "1").unwrap();
    match OutputDir::prepare(&out, false) {
        Err(e @ Error::InvalidArgument { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("`out`") && msg.contains("not empty") && msg.contains("`force`"),
                "{msg}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    let forced = OutputDir::prepare(&out, true).unwrap();
    assert_eq!(forced.path(), out.as_path());
    assert_eq!(fs::read_to_string(out.join("x.csv")).unwrap(), "1");

    let file = root.path().join("plain");
    fs::write(&file, "").unwrap();
    assert!(OutputDir::prepare(&file, true).is_err());
}

#[test]
fn matrix_csv_is_exact_and_tables_have_headers() {
    use ntk_perturb::io::{write_config, write_matrix_csv, write_rows};
    let dir = tempfile::tempdir().unwrap();
    let m = sample();
    let path = dir.path().join("m.csv");
    write_matrix_csv(&path, m.as_ref()).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("c0,c1,c2,c3,c4"));
    for i in 0..3 {
        let cells: Vec<f64> = lines
            .next()
            .unwrap()
            .split(',')
            .map(|c| c.parse().unwrap())
            .collect();
        for j in 0..5 {
            assert_eq!(cells[j].to_bits(), m[(i, j)].to_bits(), "({i}, {j})");
        }
    }
    assert_eq!(lines.next(), None);

    #[derive(serde::Serialize)]
    struct Row {
        epsilon: f64,
        accuracy: f64,
        name: &'static str,
    }
    let rows = [
        Row {
            epsilon: 0.5,
            accuracy: 0.75,
            name: "a",
        },
        Row {
            epsilon: 1.0,
            accuracy: 1.0,
            name: "b,c",
        },
    ];
    let table = dir.path().join("rows.csv");
    write_rows(&table, &rows).unwrap();
    assert_eq!(
        fs::read_to_string(&table).unwrap(),
        "epsilon,accuracy,name\n0.5,0.75,a\n1.0,1.0,\"b,c\"\n"
    );

    write_config(
        dir.path(),
        &[("width", 512)]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("config.toml"))
            .unwrap()
            .trim(),
        "width = 512"
    );
}

/// A matrix written while it is computed: columns are filled left to right and reported final in
/// uneven steps (the writer copies them in runs of 4 MiB, so the 1200×1100 matrix is about three
/// runs and a rest). The file must hold the final values, bit for bit as `write_npy` writes them,
/// even though later columns were still being changed while the earlier ones were written out.
#[test]
fn a_matrix_streamed_while_computed_equals_the_one_written_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (1200, 1100);
    let value = |i: usize, j: usize| ((i * 7 + j * 13) as f64).sin() / (j as f64 + 0.5);
    let streamed = dir.path().join("streamed.npy");
    let mut file = NpyMatrixFile::create(&streamed, rows, cols).unwrap();
    file.fill(|mut k, ready| {
        let mut j0 = 0;
        for step in [1, 300, 2, 450, 347] {
            for j in j0..j0 + step {
                for i in 0..rows {
                    // A provisional value first, then the final one, as a tiled kernel does.
                    k[(i, j)] = -1.0;
                    k[(i, j)] = value(i, j);
                }
            }
            j0 += step;
            // Later columns get provisional values before these are reported.
            for i in 0..rows.min(10) {
                if j0 < cols {
                    k[(i, j0)] = f64::NAN;
                }
            }
            ready(j0);
        }
        assert_eq!(j0, cols);
        Ok(())
    })
    .unwrap();
    assert!(!streamed.exists(), "the file appears only when finished");
    file.finish().unwrap();
    let once = dir.path().join("once.npy");
    write_npy(&once, Mat::from_fn(rows, cols, value).as_ref()).unwrap();
    assert_eq!(fs::read(&streamed).unwrap(), fs::read(&once).unwrap());
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
}

/// A computation that fails, or a file dropped unfinished, leaves nothing behind.
#[test]
fn a_failed_or_abandoned_streamed_matrix_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.npy");
    let mut file = NpyMatrixFile::create(&path, 600, 600).unwrap();
    let err = file
        .fill(|_, ready| {
            ready(300);
            Err(Error::Mismatch("stopped".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    drop(file);
    let file = NpyMatrixFile::create(&path, 600, 600).unwrap();
    drop(file);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}
