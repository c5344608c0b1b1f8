//! Malformed dataset files: every one is refused with a message naming the file and the spot.

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use ntk_perturb::Error;
use ntk_perturb::data::read_csv;

/// Which error variant a case expects, with the 1-based (line, column) for parse errors.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Parse { line: u64, column: u64 },
    File,
}

/// One malformed input file.
struct Case {
    file: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
    /// Text the message must contain.
    says: &'static str,
}

/// A valid 3-column CSV with `rows` data rows, for the gzip cases.
fn valid_csv(rows: usize) -> String {
    let mut s = String::from("a,b,y\n");
    for i in 0..rows {
        s.push_str(&format!(
            "{}.{},{},{}\n",
            i,
            i * 7 % 10,
            i * 3,
            if i % 2 == 0 { 1 } else { -1 }
        ));
    }
    s
}

/// Gzip-compresses `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn cases() -> Vec<Case> {
    let text = |s: &str| s.as_bytes().to_vec();
    let full_gz = gzip(valid_csv(2000).as_bytes());
    let long_cell = "z".repeat(60);
    let mut npy =
        b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"
            .to_vec();
    npy.extend_from_slice(&[0u8; 32]);
    vec![
        Case {
            file: "headerless.csv",
            bytes: text("0,1,2\n3,4,5\n"),
            expect: Expect::Parse { line: 1, column: 0 },
            says: "the first line holds numbers, not column names: the file needs a header row",
        },
        Case {
            file: "headerless_labels.csv",
            bytes: text("0.5,1.5,1\n2,3,-1\n"),
            expect: Expect::Parse { line: 1, column: 0 },
            says: "needs a header row naming the feature columns and the label column `y`",
        },
        Case {
            file: "zero_one_labels.csv",
            bytes: text("a,b,y\n1,2,1\n3,4,0\n"),
            expect: Expect::Parse { line: 3, column: 3 },
            says: "labels 0/1 are not accepted; convert them with y = 2·label − 1",
        },
        Case {
            file: "array.npy",
            bytes: npy,
            expect: Expect::File,
            says: "this is a NumPy .npy array, not a table",
        },
        Case {
            file: "arrays.npz",
            bytes: b"PK\x03\x04\x14\x00\x00\x00".to_vec(),
            expect: Expect::File,
            says: "a NumPy .npz file",
        },
        Case {
            file: "ragged.csv",
            bytes: text("a,b,y\n1,2,1\n3,4,-1\n5,6\n7,8,1\n"),
            expect: Expect::Parse { line: 4, column: 0 },
            says: "expected 3 fields, found 2",
        },
        Case {
            file: "ragged_long.csv",
            bytes: text("a,b,y\n1,2,1\n3,4,-1,9\n"),
            expect: Expect::Parse { line: 3, column: 0 },
            says: "expected 3 fields, found 4",
        },
        Case {
            file: "non_numeric.csv",
            bytes: text("a,b,y\n1,2,1\n3,4,-1\n5,abc,1\n"),
            expect: Expect::Parse { line: 4, column: 2 },
            says: "not a number: \"abc\"",
        },
        Case {
            file: "long_cell.csv",
            bytes: format!("a,b,y\n{long_cell},2,1\n").into_bytes(),
            expect: Expect::Parse { line: 2, column: 1 },
            says: "not a number",
        },
        Case {
            file: "nan.csv",
            bytes: text("a,b,y\n1,2,1\nNaN,4,-1\n"),
            expect: Expect::Parse { line: 3, column: 1 },
            says: "not finite: \"NaN\"",
        },
        Case {
            file: "inf.csv",
            bytes: text("a,b,y\n1,-inf,1\n3,4,-1\n"),
            expect: Expect::Parse { line: 2, column: 2 },
            says: "not finite: \"-inf\"",
        },
        Case {
            file: "label0.csv",
            bytes: text("a,b,y\n1,2,1\n3,4,-1\n5,6,-1\n7,8,0\n"),
            expect: Expect::Parse { line: 5, column: 3 },
            says: "found \"0\"",
        },
        Case {
            file: "label2.csv",
            bytes: text("a,y,b\n1,1,2\n3,2,4\n"),
            expect: Expect::Parse { line: 3, column: 2 },
            says: "found \"2\"",
        },
        Case {
            file: "no_y.csv",
            bytes: text("a,b,label\n1,2,1\n"),
            expect: Expect::File,
            says: "no label column named `y`",
        },
        Case {
            file: "duplicate.csv",
            bytes: text("a,b,a,y\n1,2,3,1\n"),
            expect: Expect::Parse { line: 1, column: 3 },
            says: "duplicate column name \"a\"",
        },
        Case {
            file: "empty_name.csv",
            bytes: text("a,,y\n1,2,1\n"),
            expect: Expect::Parse { line: 1, column: 2 },
            says: "empty column name",
        },
        Case {
            file: "empty.csv",
            bytes: Vec::new(),
            expect: Expect::File,
            says: "empty",
        },
        Case {
            file: "header_only.csv",
            bytes: text("a,b,y\n"),
            expect: Expect::File,
            says: "no data rows",
        },
        Case {
            file: "truncated.csv.gz",
            bytes: full_gz[..full_gz.len() / 2].to_vec(),
            expect: Expect::File,
            says: "gzip stream is truncated or corrupt",
        },
        Case {
            // Gzip magic bytes followed by garbage, and a name that does not say gzip.
            file: "corrupt.csv",
            bytes: [&[0x1f, 0x8b][..], b"this is not a deflate stream at all"].concat(),
            expect: Expect::File,
            says: "gzip stream is truncated or corrupt",
        },
        Case {
            file: "latin1.csv",
            bytes: b"a,b,y\n1,2,1\n3,caf\xe9,-1\n".to_vec(),
            expect: Expect::Parse { line: 3, column: 2 },
            says: "not valid UTF-8",
        },
        Case {
            file: "latin1_header.csv",
            bytes: b"a,\xff,y\n1,2,1\n".to_vec(),
            expect: Expect::Parse { line: 1, column: 2 },
            says: "not valid UTF-8",
        },
        Case {
            file: "only_y.csv",
            bytes: text("y\n1\n-1\n"),
            expect: Expect::File,
            says: "no feature columns",
        },
    ]
}

/// Checks one refused file: variant, position, message content and exit code.
fn check(dir: &Path, case: &Case) {
    let path = dir.join(case.file);
    fs::write(&path, &case.bytes).unwrap();
    let err = match read_csv(&path) {
        Ok(ds) => panic!("{}: accepted with {} rows", case.file, ds.n()),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{}: no file name in {msg}",
        case.file
    );
    assert!(
        msg.contains(case.says),
        "{}: {msg:?} lacks {:?}",
        case.file,
        case.says
    );
    assert_eq!(err.exit_code(), 2, "{}", case.file);
    match (case.expect, &err) {
        (
            Expect::Parse { line, column },
            Error::Parse {
                line: l, column: c, ..
            },
        ) => {
            assert_eq!((*l, *c), (line, column), "{}: {msg}", case.file);
            assert!(msg.contains(&format!(":{line}:{column}:")), "{msg}");
        }
        (Expect::File, Error::File { .. }) => {}
        (want, got) => panic!("{}: expected {want:?}, got {got:?}", case.file),
    }
}

#[test]
fn malformed_files_are_refused_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    assert!(cases.len() >= 14);
    for case in &cases {
        check(dir.path(), case);
    }
}

#[test]
fn long_cells_are_quoted_truncated_to_forty_chars() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.csv");
    fs::write(&path, format!("a,y\n{},1\n", "z".repeat(60))).unwrap();
    let msg = read_csv(&path).unwrap_err().to_string();
    assert!(msg.contains(&format!("\"{}…\"", "z".repeat(40))), "{msg}");
    assert!(!msg.contains(&"z".repeat(41)), "{msg}");
}

#[test]
fn the_truncated_gzip_was_a_valid_file_before_cutting() {
    // Guards the truncation case above: the uncut file must load.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.csv.gz");
    fs::write(&path, gzip(valid_csv(2000).as_bytes())).unwrap();
    let ds = read_csv(&path).unwrap();
    assert_eq!((ds.n(), ds.d()), (2000, 2));
    assert_eq!(ds.x[(1999, 0)], 1999.3);
    assert_eq!(ds.x[(1999, 1)], 5997.0);
}

#[test]
fn bom_and_crlf_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.csv");
    fs::write(
        &path,
        "\u{feff}a,b,y\r\n0.5,-1.25,1\r\n3,4e-3,-1.0\r\n-0.1,1e300,+1\r\n",
    )
    .unwrap();
    let ds = read_csv(&path).unwrap();
    assert_eq!(ds.feature_names, ["a", "b"]);
    assert_eq!(ds.y, [1.0, -1.0, 1.0]);
    let want = [[0.5, -1.25], [3.0, 0.004], [-0.1, 1e300]];
    for (i, row) in want.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            assert_eq!(ds.x[(i, j)], v, "({i}, {j})");
        }
    }
}

#[test]
fn label_column_may_come_first_and_gzip_is_found_by_magic() {
    let dir = tempfile::tempdir().unwrap();
    // A gzip file without a .gz name: detected by its magic bytes.
    let path = dir.path().join("first.csv");
    fs::write(&path, gzip(b"y,p,q\n1,2,3\n-1,4,5\n")).unwrap();
    let ds = read_csv(&path).unwrap();
    assert_eq!(ds.feature_names, ["p", "q"]);
    assert_eq!(ds.y, [1.0, -1.0]);
    assert_eq!(
        (ds.x[(0, 0)], ds.x[(0, 1)], ds.x[(1, 0)], ds.x[(1, 1)]),
        (2.0, 3.0, 4.0, 5.0)
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.csv");
    let err = read_csv(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("absent.csv"));
}
