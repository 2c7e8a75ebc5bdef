//! A latency histogram's buckets packed for keeping, not recording: what a load test's closed
//! timeline intervals are held as.
//!
//! Why: an HDR histogram of 3 significant digits is a dense array of counts, 16 KiB for
//! latencies up to 2 ms and 57 KiB up to 65 ms, whether 10 buckets are used or 2,000. A load
//! test keeps one per scenario and timeline interval, so a long test grew by that much every
//! second. Closed intervals never take another sample, so they keep only their non-empty
//! buckets, the same `(value, count)` pairs the JSON report holds, as LEB128 varints of the
//! gap to the previous value and of the count: one or two bytes each for the usual case of
//! neighbouring buckets with small counts, a few KiB per interval. Re-recording the pairs
//! gives back the same histogram, so every figure read from it is the same.

/// Non-empty buckets `(highest equivalent value, count)`, ascending by value, packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBuckets {
    bytes: Box<[u8]>,
    /// Samples in all buckets, saturating.
    count: u64,
}

impl PackedBuckets {
    /// Packs `buckets`, which must ascend strictly by value (as a histogram iterates them).
    pub fn pack(buckets: impl Iterator<Item = (u64, u64)>) -> PackedBuckets {
        let mut bytes = Vec::new();
        let (mut previous, mut count) = (0u64, 0u64);
        for (value, n) in buckets {
            put(&mut bytes, value.wrapping_sub(previous));
            put(&mut bytes, n);
            previous = value;
            count = count.saturating_add(n);
        }
        PackedBuckets {
            bytes: bytes.into_boxed_slice(),
            count,
        }
    }

    /// Samples in all buckets.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The buckets as packed, ascending by value.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut rest = &self.bytes[..];
        let mut value = 0u64;
        std::iter::from_fn(move || {
            let gap = take(&mut rest)?;
            let count = take(&mut rest)?;
            value = value.wrapping_add(gap);
            Some((value, count))
        })
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// Appends `n` as an unsigned LEB128 varint.
fn put(bytes: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
}

/// Reads one varint written by [`put`] off the front of `bytes`.
fn take(bytes: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for (i, byte) in bytes.iter().enumerate() {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_back_as_packed_from_small_to_the_largest_values() {
        let buckets = vec![
            (0, 1),
            (1, 127),
            (2, 128),
            (300, 16_384),
            (86_486_399_999, u64::MAX / 2),
            (u64::MAX, u64::MAX / 2),
        ];
        let packed = PackedBuckets::pack(buckets.iter().copied());
        assert_eq!(packed.iter().collect::<Vec<_>>(), buckets);
        assert_eq!(packed.count(), u64::MAX, "saturating");
        // Neighbouring buckets with small counts take two bytes each.
        let small = PackedBuckets::pack((1_000..2_000).map(|v| (v, 5)));
        assert_eq!(small.size(), 2 * 1_000 + 1);
        assert_eq!(small.count(), 5_000);
    }

    #[test]
    fn nothing_packs_to_nothing() {
        let packed = PackedBuckets::pack(std::iter::empty());
        assert_eq!((packed.size(), packed.count()), (0, 0));
        assert_eq!(packed.iter().next(), None);
    }
}
