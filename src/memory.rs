//! Memory guard: refuse work whose matrices would not fit, before allocating them.

use crate::{Error, Result};

/// Assumed available memory when `/proc/meminfo` cannot be read (1 TiB: effectively no limit).
const FALLBACK_BYTES: u64 = 1 << 40;

/// Fraction of the available memory a single stage may claim.
const USABLE_FRACTION: f64 = 0.9;

/// Bytes of memory currently available (`MemAvailable` in `/proc/meminfo`), or 1 TiB when unknown.
pub fn available_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_mem_available(&text))
        .unwrap_or(FALLBACK_BYTES)
}

/// Extracts `MemAvailable` (reported in kB) from the text of `/proc/meminfo`, in bytes.
fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Fails with [`Error::OutOfMemory`] when `needed_bytes` exceeds 90 % of the available memory.
pub fn ensure_fits(what: &str, needed_bytes: u64) -> Result<()> {
    let available = available_bytes();
    if needed_bytes as f64 > USABLE_FRACTION * available as f64 {
        return Err(Error::OutOfMemory {
            what: what.to_string(),
            needed_bytes,
            available_bytes: available,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mem_available_in_kib() {
        let text = "MemTotal:       16000 kB\nMemFree:  10 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn refuses_more_than_available() {
        let avail = available_bytes();
        assert!(ensure_fits("small", 1024).is_ok());
        let err = ensure_fits("huge stage", avail.saturating_mul(2));
        match err {
            Err(e @ Error::OutOfMemory { .. }) => {
                assert_eq!(e.exit_code(), 2);
                assert!(e.to_string().contains("huge stage"));
            }
            other => panic!("expected OutOfMemory, got {other:?}"),
        }
    }
}
