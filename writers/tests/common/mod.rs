//! Helpers shared by the writer tests.

/// Deterministic pseudo-random bytes (xorshift), so no test data is checked in; no codec can
/// shrink them. Seeds that differ only in the lowest bit give the same bytes.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
