//! Up-front memory checks: refuse a stage whose matrices would not fit, before allocating them.

use crate::error::{Error, Result};

/// MemAvailable from /proc/meminfo in bytes (u64::MAX when it cannot be read).
pub fn available_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb.saturating_mul(1024))
        .unwrap_or(u64::MAX)
}

/// Fails with [`Error::OutOfMemory`] if `needed_bytes` exceeds 90% of the available memory.
pub fn ensure_fits(what: &str, needed_bytes: u64) -> Result<()> {
    let available = available_bytes();
    if needed_bytes as f64 > 0.9 * available as f64 {
        return Err(Error::OutOfMemory {
            what: what.to_string(),
            needed_bytes,
            available_bytes: available,
        });
    }
    Ok(())
}
