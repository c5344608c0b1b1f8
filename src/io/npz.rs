//! NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): zip files of `.npy` members, stored
//! or deflated, with or without Zip64 records.
//!
//! Only what NumPy writes is read: the central directory locates each member, members are stored
//! (method 0) or deflated (method 8), and each is checked against its CRC-32.

use std::io::Read;
use std::path::Path;

use flate2::Crc;
use flate2::read::DeflateDecoder;

use super::npy::{NpyArray, parse_npy};
use crate::{Error, Result};

/// One member of the archive: its name and where its bytes are.
struct Member {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

/// Reads the arrays `names` (member `NAME.npy` each) from the `.npz` archive at `path`, in the
/// order given.
///
/// Errors are [`Error::File`]s naming the archive: not a zip file, a missing array (listing the
/// arrays it holds), an unsupported compression, a damaged member, or a member that is not a
/// readable `.npy` array.
pub fn read_npz_arrays(path: &Path, names: &[&str]) -> Result<Vec<NpyArray>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |message: String| Error::File {
        path: path.display().to_string(),
        message,
    };
    let members = central_directory(&bytes).map_err(bad)?;
    names
        .iter()
        .map(|&name| {
            let file = format!("{name}.npy");
            let member = members.iter().find(|m| m.name == file).ok_or_else(|| {
                let held: Vec<String> = members
                    .iter()
                    .map(|m| format!("`{}`", m.name.trim_end_matches(".npy")))
                    .collect();
                bad(format!(
                    "the archive has no array `{name}` (it holds {})",
                    if held.is_empty() {
                        "none".to_string()
                    } else {
                        held.join(", ")
                    }
                ))
            })?;
            let data = extract(&bytes, member).map_err(|m| bad(format!("member {file}: {m}")))?;
            parse_npy(&data).map_err(|m| bad(format!("array `{name}`: {m}")))
        })
        .collect()
}

/// Little-endian integer of `N` bytes at `at`, if in range.
fn le(bytes: &[u8], at: usize, n: usize) -> std::result::Result<u64, String> {
    let s = bytes
        .get(at..at + n)
        .ok_or("the zip structure is truncated")?;
    Ok(s.iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Reads every entry of the central directory.
fn central_directory(bytes: &[u8]) -> std::result::Result<Vec<Member>, String> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let not_zip = || "not a zip archive (a NumPy .npz file is one)".to_string();
    if !bytes.starts_with(b"PK") {
        return Err(not_zip());
    }
    // The end record is 22 bytes plus a comment of at most 65 535 bytes.
    let from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| &bytes[i..i + 4] == EOCD)
        .ok_or_else(not_zip)?;
    let mut entries = le(bytes, eocd + 10, 2)?;
    let mut cd_size = le(bytes, eocd + 12, 4)?;
    let mut cd_offset = le(bytes, eocd + 16, 4)?;
    if entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // Zip64: the locator (20 bytes) precedes the end record and points at the Zip64 end.
        let locator = eocd.checked_sub(20).ok_or("the Zip64 locator is missing")?;
        if &bytes[locator..locator + 4] != b"PK\x06\x07" {
            return Err("the Zip64 locator is missing".into());
        }
        let end64 = usize::try_from(le(bytes, locator + 8, 8)?).map_err(|e| e.to_string())?;
        if bytes.get(end64..end64 + 4) != Some(b"PK\x06\x06".as_slice()) {
            return Err("the Zip64 end record is missing".into());
        }
        entries = le(bytes, end64 + 32, 8)?;
        cd_size = le(bytes, end64 + 40, 8)?;
        cd_offset = le(bytes, end64 + 48, 8)?;
    }
    let start = usize::try_from(cd_offset).map_err(|e| e.to_string())?;
    let end = usize::try_from(cd_size)
        .ok()
        .and_then(|s| start.checked_add(s))
        .filter(|&e| e <= bytes.len())
        .ok_or("the central directory lies outside the file")?;
    let mut members = Vec::new();
    let mut at = start;
    for _ in 0..entries {
        if at + 46 > end || &bytes[at..at + 4] != b"PK\x01\x02" {
            return Err("the central directory is damaged".into());
        }
        let name_len = le(bytes, at + 28, 2)? as usize;
        let extra_len = le(bytes, at + 30, 2)? as usize;
        let comment_len = le(bytes, at + 32, 2)? as usize;
        let name_bytes = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or("the central directory is damaged")?;
        let mut member = Member {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            flags: le(bytes, at + 8, 2)? as u16,
            method: le(bytes, at + 10, 2)? as u16,
            crc: le(bytes, at + 16, 4)? as u32,
            compressed: le(bytes, at + 20, 4)?,
            size: le(bytes, at + 24, 4)?,
            local_offset: le(bytes, at + 42, 4)?,
        };
        let extra = bytes
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or("the central directory is damaged")?;
        zip64_sizes(extra, &mut member)?;
        members.push(member);
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(members)
}

/// Replaces the 32-bit sizes and offset saturated at 0xFFFFFFFF by their Zip64 values from the
/// extra field (tag 0x0001: size, compressed size, offset — only those saturated, in that order).
fn zip64_sizes(extra: &[u8], m: &mut Member) -> std::result::Result<(), String> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let tag = le(extra, at, 2)?;
        let len = le(extra, at + 2, 2)? as usize;
        if tag == 1 {
            let mut p = at + 4;
            for field in [&mut m.size, &mut m.compressed, &mut m.local_offset] {
                if *field == 0xFFFF_FFFF {
                    *field = le(extra, p, 8)?;
                    p += 8;
                }
            }
            return Ok(());
        }
        at += 4 + len;
    }
    Ok(())
}

/// The uncompressed bytes of `m`, checked against its size and CRC-32.
fn extract(bytes: &[u8], m: &Member) -> std::result::Result<Vec<u8>, String> {
    if m.flags & 1 != 0 {
        return Err("encrypted members are not supported".into());
    }
    let local = usize::try_from(m.local_offset).map_err(|e| e.to_string())?;
    if bytes.get(local..local + 4) != Some(b"PK\x03\x04".as_slice()) {
        return Err("its local header is missing (damaged archive)".into());
    }
    let data_start =
        local + 30 + le(bytes, local + 26, 2)? as usize + le(bytes, local + 28, 2)? as usize;
    let data = usize::try_from(m.compressed)
        .ok()
        .and_then(|c| data_start.checked_add(c))
        .and_then(|end| bytes.get(data_start..end))
        .ok_or("its data runs past the end of the file (truncated archive?)")?;
    let size = usize::try_from(m.size).map_err(|e| e.to_string())?;
    let out = match m.method {
        0 => data.to_vec(),
        8 => {
            let mut out = Vec::with_capacity(size);
            DeflateDecoder::new(data)
                .take(m.size.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| format!("its deflate stream is corrupt ({e})"))?;
            out
        }
        other => {
            return Err(format!(
                "compression method {other} is not supported (only stored and deflated, as \
                 np.savez and np.savez_compressed write)"
            ));
        }
    };
    if out.len() != size {
        return Err(format!(
            "it holds {} bytes but the directory says {size} (damaged archive)",
            out.len()
        ));
    }
    let mut crc = Crc::new();
    crc.update(&out);
    if crc.sum() != m.crc {
        return Err("its CRC-32 does not match (damaged archive)".into());
    }
    Ok(out)
}
