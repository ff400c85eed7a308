//! Stable hashes: FNV-1a of keys (partitioning, the local store's ETags) and the fingerprint a
//! data file is verified against after upload. Stable across builds and platforms, because
//! fingerprints are stored in the commit record and compared by later runs.

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Row count and an order-independent checksum of the key column (sum of FNV-1a hashes), the
/// pair a part is verified against after upload.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub rows: u64,
    pub checksum: u64,
}

impl Fingerprint {
    pub fn add(&mut self, key: &[u8]) {
        self.rows += 1;
        self.checksum = self.checksum.wrapping_add(fnv1a(key));
    }

    /// Adds the rows of `other`: the fingerprint of both sets of keys.
    pub fn merge(&mut self, other: Fingerprint) {
        self.rows += other.rows;
        self.checksum = self.checksum.wrapping_add(other.checksum);
    }

    pub fn checksum_hex(&self) -> String {
        format!("{:016x}", self.checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_fingerprint_does_not_depend_on_row_order() {
        let (mut a, mut b) = (Fingerprint::default(), Fingerprint::default());
        for k in [b"x", b"y", b"z"] {
            a.add(k);
        }
        for k in [b"z", b"x", b"y"] {
            b.add(k);
        }
        assert_eq!(a, b);
        assert_eq!(a.rows, 3);
    }
}
