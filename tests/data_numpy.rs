//! NumPy input: `.npy` feature and label arrays and `.npz` archives, built byte by byte here from
//! the format specifications (NPY 1.0/2.0 headers, zip local/central/end records, Zip64), read
//! back against the values they were built from; their errors; and, when NumPy is installed, files
//! written by NumPy itself.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use ntk_perturb::Error;
use ntk_perturb::data::read_dataset;
use ntk_perturb::io::{read_npy, read_npy_array};

/// A `.npy` file: magic, version, header dict padded to a multiple of 64 bytes, then `data`.
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8], version: u8) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}")
        .into_bytes();
    let prefix = if version == 1 { 10 } else { 12 };
    while !(prefix + dict.len() + 1).is_multiple_of(64) {
        dict.push(b' ');
    }
    dict.push(b'\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&dict);
    out.extend_from_slice(data);
    out
}

/// The value at (i, j) of the 2×3 test matrices: small signed integers, exact in every dtype.
fn value(i: usize, j: usize, signed: bool) -> f64 {
    let v = (3 * i + j) as f64;
    if signed { v - 2.0 } else { v }
}

/// Encodes `v` as the element type `kind` + `size` in the given byte order.
fn encode(v: f64, kind: char, size: usize, big: bool) -> Vec<u8> {
    let mut b = match (kind, size) {
        ('f', 8) => v.to_le_bytes().to_vec(),
        ('f', 4) => (v as f32).to_le_bytes().to_vec(),
        ('i', 8) => (v as i64).to_le_bytes().to_vec(),
        ('i', 4) => (v as i32).to_le_bytes().to_vec(),
        ('i', 2) => (v as i16).to_le_bytes().to_vec(),
        ('i', 1) => (v as i8).to_le_bytes().to_vec(),
        ('u', 8) => (v as u64).to_le_bytes().to_vec(),
        ('u', 4) => (v as u32).to_le_bytes().to_vec(),
        ('u', 2) => (v as u16).to_le_bytes().to_vec(),
        ('u', 1) | ('b', 1) => vec![v as u8],
        _ => panic!("no such dtype"),
    };
    if big {
        b.reverse();
    }
    b
}

#[test]
fn npy_dtypes_byte_orders_and_memory_orders_read_as_built() {
    let dir = tempfile::tempdir().unwrap();
    let dtypes = [
        ('f', 8),
        ('f', 4),
        ('i', 8),
        ('i', 4),
        ('i', 2),
        ('i', 1),
        ('u', 8),
        ('u', 4),
        ('u', 2),
        ('u', 1),
    ];
    let mut checked = 0;
    for (kind, size) in dtypes {
        let signed = kind != 'u';
        for big in [false, true] {
            if size == 1 && big {
                continue;
            }
            for fortran in [false, true] {
                for version in [1, 2] {
                    let order = if size == 1 {
                        '|'
                    } else if big {
                        '>'
                    } else {
                        '<'
                    };
                    let descr = format!("{order}{kind}{size}");
                    let mut data = Vec::new();
                    let cells: Vec<(usize, usize)> = if fortran {
                        (0..3).flat_map(|j| (0..2).map(move |i| (i, j))).collect()
                    } else {
                        (0..2).flat_map(|i| (0..3).map(move |j| (i, j))).collect()
                    };
                    for (i, j) in cells {
                        data.extend(encode(value(i, j, signed), kind, size, big));
                    }
                    let path = dir.path().join(format!("a{checked}.npy"));
                    fs::write(&path, npy(&descr, fortran, "(2, 3)", &data, version)).unwrap();
                    let m = read_npy(&path).unwrap();
                    assert_eq!((m.nrows(), m.ncols()), (2, 3), "{descr}");
                    for i in 0..2 {
                        for j in 0..3 {
                            assert_eq!(m[(i, j)], value(i, j, signed), "{descr} F={fortran}");
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * (2 * 8 + 2));
    // Values that only float64 holds exactly, big-endian, and a 1-D bool array.
    let third: f64 = 1.0 / 3.0;
    let path = dir.path().join("big.npy");
    fs::write(&path, npy(">f8", false, "(1, 1)", &third.to_be_bytes(), 1)).unwrap();
    assert_eq!(read_npy(&path).unwrap()[(0, 0)].to_bits(), third.to_bits());
    let path = dir.path().join("b.npy");
    fs::write(&path, npy("|b1", false, "(3,)", &[1, 0, 1], 1)).unwrap();
    let a = read_npy_array(&path).unwrap();
    assert_eq!(
        (a.shape.as_slice(), a.data.as_slice()),
        ([3].as_slice(), [1.0, 0.0, 1.0].as_slice())
    );
}

/// Little-endian f64 bytes of `values`.
fn f8(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// One zip member for [`zip`]: name, method (0 stored, 8 deflated), and whether its central
/// directory entry uses Zip64 sizes.
struct Entry<'a> {
    name: &'a str,
    data: Vec<u8>,
    method: u16,
    zip64: bool,
}

/// A zip archive (APPNOTE 6.3): local headers with data, central directory, end record.
fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let mut crc = flate2::Crc::new();
        crc.update(&e.data);
        let body = if e.method == 8 {
            let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
            enc.write_all(&e.data).unwrap();
            enc.finish().unwrap()
        } else {
            e.data.clone()
        };
        let offset = out.len() as u32;
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&body);

        let mut extra = Vec::new();
        let (csize, usize_, off) = if e.zip64 {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&24u16.to_le_bytes());
            extra.extend_from_slice(&(e.data.len() as u64).to_le_bytes());
            extra.extend_from_slice(&(body.len() as u64).to_le_bytes());
            extra.extend_from_slice(&u64::from(offset).to_le_bytes());
            (u32::MAX, u32::MAX, u32::MAX)
        } else {
            (body.len() as u32, e.data.len() as u32, offset)
        };
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&[45, 0, 45, 0, 0, 0]);
        central.extend_from_slice(&e.method.to_le_bytes());
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&crc.sum().to_le_bytes());
        central.extend_from_slice(&csize.to_le_bytes());
        central.extend_from_slice(&usize_.to_le_bytes());
        central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        // Comment length, disk number, internal and external attributes.
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// X (3×2, C order, f8) and y (3, i1) as `.npy` bytes, and their values.
fn xy() -> (Vec<u8>, Vec<u8>, [[f64; 2]; 3], [f64; 3]) {
    let x = [[0.5, -1.25], [1e-300, 3.0], [-7.0, 2.0 / 3.0]];
    let y = [1.0, -1.0, 1.0];
    let flat: Vec<f64> = x.iter().flatten().copied().collect();
    let yb: Vec<u8> = y.iter().map(|&v| v as i8 as u8).collect();
    (
        npy("<f8", false, "(3, 2)", &f8(&flat), 1),
        npy("|i1", false, "(3,)", &yb, 1),
        x,
        y,
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn npz_stored_deflated_and_zip64_members_and_npy_pairs_give_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let (xb, yb, x, y) = xy();
    let mut paths = Vec::new();
    for (k, (method, zip64)) in [(0, false), (8, false), (0, true), (8, true)]
        .iter()
        .enumerate()
    {
        let entries = [
            Entry {
                name: "other.npy",
                data: yb.clone(),
                method: *method,
                zip64: *zip64,
            },
            Entry {
                name: "y.npy",
                data: yb.clone(),
                method: *method,
                zip64: *zip64,
            },
            Entry {
                name: "X.npy",
                data: xb.clone(),
                method: *method,
                zip64: *zip64,
            },
        ];
        paths.push((
            write(dir.path(), &format!("d{k}.npz"), &zip(&entries)),
            None,
        ));
    }
    let xp = write(dir.path(), "X.npy", &xb);
    let yp = write(dir.path(), "y.npy", &yb);
    paths.push((xp, Some(yp)));
    for (path, labels) in &paths {
        let ds = read_dataset(path, labels.as_deref(), "labels").unwrap();
        assert_eq!((ds.n(), ds.d()), (3, 2));
        assert_eq!(ds.y, y);
        for (i, row) in x.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert_eq!(ds.x[(i, j)].to_bits(), v.to_bits(), "{}", path.display());
            }
        }
    }
}

/// The error text of reading `path` (with `labels`).
fn error(path: &Path, labels: Option<&Path>) -> Error {
    read_dataset(path, labels, "train_labels").expect_err("should fail")
}

#[test]
fn numpy_input_errors_say_which_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (xb, yb, ..) = xy();
    let xp = write(d, "X.npy", &xb);
    let yp = write(d, "y.npy", &yb);

    // Features without labels, labels with a CSV table.
    match error(&xp, None) {
        Error::InvalidArgument { parameter, message } => {
            assert_eq!(parameter, "train_labels");
            assert!(
                message.contains("X.npy") && message.contains(".npz"),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
    let csv = write(d, "t.csv", b"a,y\n1,1\n");
    assert!(matches!(
        error(&csv, Some(&yp)),
        Error::InvalidArgument { .. }
    ));

    // Labels 0/1, other labels, a wrong count.
    let y01 = write(d, "y01.npy", &npy("|u1", false, "(3,)", &[0, 1, 1], 1));
    let msg = error(&xp, Some(&y01)).to_string();
    assert!(
        msg.contains("y01.npy") && msg.contains("2·label − 1"),
        "{msg}"
    );
    let y2 = write(
        d,
        "y2.npy",
        &npy("<f8", false, "(3,)", &f8(&[1.0, 2.0, -1.0]), 1),
    );
    let msg = error(&xp, Some(&y2)).to_string();
    assert!(msg.contains("y2.npy") && msg.contains("2 at [1]"), "{msg}");
    let y4 = write(d, "y4.npy", &npy("<f8", false, "(4,)", &f8(&[1.0; 4]), 1));
    let msg = error(&xp, Some(&y4)).to_string();
    assert!(
        msg.contains("(4,)") && msg.contains("(3, 2)") && msg.contains("y4.npy"),
        "{msg}"
    );

    // Non-finite features name their position; 1-D features; truncated data; bad dtype.
    let nan = write(
        d,
        "nan.npy",
        &npy("<f8", false, "(2, 2)", &f8(&[0.0, 1.0, 2.0, f64::NAN]), 1),
    );
    let msg = error(
        &nan,
        Some(&write(
            d,
            "y_2.npy",
            &npy("<f8", false, "(2,)", &f8(&[1.0, 1.0]), 1),
        )),
    )
    .to_string();
    assert!(
        msg.contains("nan.npy") && msg.contains("[1, 1]") && msg.contains("NaN"),
        "{msg}"
    );
    let flat = write(d, "flat.npy", &npy("<f8", false, "(3,)", &f8(&[1.0; 3]), 1));
    let msg = error(&flat, Some(&yp)).to_string();
    assert!(msg.contains("flat.npy") && msg.contains("2-D"), "{msg}");
    let cut = write(d, "cut.npy", &xb[..xb.len() - 3]);
    let msg = error(&cut, Some(&yp)).to_string();
    assert!(
        msg.contains("cut.npy") && msg.contains("truncated"),
        "{msg}"
    );
    let c16 = write(d, "c.npy", &npy("<c16", false, "(3, 1)", &[0; 48], 1));
    let msg = error(&c16, Some(&yp)).to_string();
    assert!(msg.contains("c.npy") && msg.contains("'<c16'"), "{msg}");

    // Archives: a missing array lists what is there; a damaged member fails its CRC.
    let only_x = zip(&[Entry {
        name: "X.npy",
        data: xb.clone(),
        method: 0,
        zip64: false,
    }]);
    let msg = error(&write(d, "nx.npz", &only_x), None).to_string();
    assert!(
        msg.contains("nx.npz") && msg.contains("no array `y`") && msg.contains("`X`"),
        "{msg}"
    );
    let mut bad = zip(&[
        Entry {
            name: "X.npy",
            data: xb.clone(),
            method: 0,
            zip64: false,
        },
        Entry {
            name: "y.npy",
            data: yb.clone(),
            method: 0,
            zip64: false,
        },
    ]);
    let at = 30 + "X.npy".len() + xb.len() - 1; // last data byte of X
    bad[at] ^= 0x40;
    let msg = error(&write(d, "bad.npz", &bad), None).to_string();
    assert!(msg.contains("bad.npz") && msg.contains("CRC"), "{msg}");
    let msg = error(&write(d, "half.npz", &bad[..bad.len() / 2]), None).to_string();
    assert!(msg.contains("half.npz") && msg.contains("zip"), "{msg}");
}

/// Runs `python3 -c script` with `dir` as its argument; `false` when Python or NumPy is missing.
fn python(script: &str, dir: &Path) -> bool {
    std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn files_written_by_numpy_read_back_exactly_when_numpy_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
i, j = np.meshgrid(np.arange(5), np.arange(4), indexing="ij")
x = (i * 4 + j) / 8.0 - 1.0
y = np.where(np.arange(5) % 2 == 0, 1, -1)
np.savez(d + "/s.npz", X=x, y=y.astype(np.int8))
np.savez_compressed(d + "/c.npz", X=np.asfortranarray(x.astype(">f4")), y=y.astype(">f8").reshape(5, 1))
np.save(d + "/X.npy", np.asfortranarray(x.astype(np.float32)))
np.save(d + "/y.npy", y.astype(np.int64))
"#;
    if !python(script, dir.path()) {
        eprintln!("python3 with numpy not found: skipping the NumPy-written files");
        return;
    }
    let d = dir.path();
    for (path, labels) in [
        (d.join("s.npz"), None),
        (d.join("c.npz"), None),
        (d.join("X.npy"), Some(d.join("y.npy"))),
    ] {
        let ds = read_dataset(&path, labels.as_deref(), "labels").unwrap();
        assert_eq!((ds.n(), ds.d()), (5, 4));
        for i in 0..5 {
            assert_eq!(ds.y[i], if i % 2 == 0 { 1.0 } else { -1.0 });
            for j in 0..4 {
                assert_eq!(
                    ds.x[(i, j)],
                    (i * 4 + j) as f64 / 8.0 - 1.0,
                    "{}",
                    path.display()
                );
            }
        }
    }
}

/// Runs the binary.
fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ntk-perturb"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn gram_from_npy_and_npz_equals_gram_from_the_same_csv_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = d.join("train.csv");
    let o = run(&[
        "data", "gauss", "--n", "40", "--d", "6", "--seed", "3", "--quiet", "--out",
    ]
    .iter()
    .copied()
    .chain([csv.to_str().unwrap()])
    .collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = ntk_perturb::data::read_csv(&csv).unwrap();
    let x_npy = d.join("X.npy");
    let y_npy = d.join("y.npy");
    ntk_perturb::io::write_npy(&x_npy, ds.x.as_ref()).unwrap();
    let y = faer::Mat::from_fn(ds.n(), 1, |i, _| ds.y[i]);
    ntk_perturb::io::write_npy(&y_npy, y.as_ref()).unwrap();
    let archive = zip(&[
        Entry {
            name: "X.npy",
            data: fs::read(&x_npy).unwrap(),
            method: 8,
            zip64: false,
        },
        Entry {
            name: "y.npy",
            data: fs::read(&y_npy).unwrap(),
            method: 8,
            zip64: false,
        },
    ]);
    let npz = write(d, "train.npz", &archive);
    let gram = |name: &str, input: &[&Path]| {
        let out = d.join(name);
        let mut args: Vec<&str> = vec!["gram", "--train", input[0].to_str().unwrap()];
        if let Some(labels) = input.get(1) {
            args.extend(["--train-labels", labels.to_str().unwrap()]);
        }
        args.extend([
            "--subset", "30", "--scale", "2", "--center", "--quiet", "--out",
        ]);
        args.push(out.to_str().unwrap());
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            fs::read(out.join("k_train_train.npy")).unwrap(),
            fs::read(out.join("rows.csv")).unwrap(),
        )
    };
    let from_csv = gram("g-csv", &[&csv]);
    assert_eq!(gram("g-npy", &[&x_npy, &y_npy]), from_csv);
    assert_eq!(gram("g-npz", &[&npz]), from_csv);

    // Features without labels: the error names the flag to add.
    let o = run(&[
        "gram",
        "--train",
        x_npy.to_str().unwrap(),
        "--quiet",
        "--out",
    ]
    .iter()
    .copied()
    .chain([d.join("g-bad").to_str().unwrap()])
    .collect::<Vec<_>>());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--train-labels") && err.contains("X.npy"),
        "{err}"
    );
}
