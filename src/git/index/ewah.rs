//! The EWAH bitmaps of a split index's `link` extension: which entries of
//! the shared index are deleted, and which replaced.
//!
//! Decoding is gix-bitmap's (the decoder gix itself reads split indexes
//! with). Encoding is here because gix-bitmap writes only literal words:
//! a bitmap over 500,000 shared entries would be 62 KB for every write,
//! where a few set bits need a few words.

use crate::core::error::{Error, Result};

/// Running length: 32 bits after the run bit; literal count: the 31 above.
const RUNNING_BITS: u32 = 32;
const MAX_RUN: u64 = (1 << RUNNING_BITS) - 1;
const MAX_LITERALS: u64 = (1 << 31) - 1;

/// The set bits of the bitmap at the start of `data`, ascending, and the
/// bytes after it.
pub fn decode(data: &[u8]) -> Result<(Vec<usize>, &[u8])> {
    let bad = || Error::repo("git's split index has a damaged bitmap in its `link` extension");
    let (bitmap, rest) = gix_bitmap::ewah::decode(data).map_err(|_| bad())?;
    let mut bits = Vec::new();
    bitmap
        .for_each_set_bit(|i| {
            bits.push(i);
            Some(())
        })
        .ok_or_else(bad)?;
    Ok((bits, rest))
}

/// `bits` (ascending, no repeats) as EWAH: runs of empty words and
/// literal words, as git's `ewah_serialize` lays them out.
pub fn encode(bits: &[usize], out: &mut Vec<u8>) {
    debug_assert!(bits.windows(2).all(|w| w[0] < w[1]));
    let size = bits.last().map_or(0, |&b| b + 1);
    // Words: the first is a run-length word; each later one either a
    // literal or a new run-length word.
    let mut words: Vec<u64> = vec![0];
    let mut rlw = 0usize;
    // The index of the next bitmap word to be described.
    let mut next = 0usize;
    let mut at = 0;
    while at < bits.len() {
        let word = bits[at] / 64;
        let mut literal = 0u64;
        while at < bits.len() && bits[at] / 64 == word {
            literal |= 1 << (bits[at] % 64);
            at += 1;
        }
        let gap = (word - next) as u64;
        let literals = words[rlw] >> (1 + RUNNING_BITS);
        if gap > 0 || literals == MAX_LITERALS {
            if literals > 0 || run_of(words[rlw]) + gap > MAX_RUN {
                words.push(0);
                rlw = words.len() - 1;
            }
            let mut gap = gap;
            while run_of(words[rlw]) + gap > MAX_RUN {
                let room = MAX_RUN - run_of(words[rlw]);
                words[rlw] += room << 1;
                gap -= room;
                words.push(0);
                rlw = words.len() - 1;
            }
            words[rlw] += gap << 1;
        }
        words[rlw] += 1 << (1 + RUNNING_BITS);
        words.push(literal);
        next = word + 1;
    }
    out.extend_from_slice(&(size as u32).to_be_bytes());
    out.extend_from_slice(&(words.len() as u32).to_be_bytes());
    for w in &words {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out.extend_from_slice(&(rlw as u32).to_be_bytes());
}

fn run_of(word: u64) -> u64 {
    (word >> 1) & MAX_RUN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(bits: &[usize]) {
        let mut out = Vec::new();
        encode(bits, &mut out);
        out.extend_from_slice(b"rest");
        let (back, rest) = decode(&out).unwrap();
        assert_eq!(back, bits);
        assert_eq!(rest, b"rest");
    }

    #[test]
    fn bitmaps_come_back_as_they_went() {
        roundtrip(&[]);
        roundtrip(&[0]);
        roundtrip(&[63]);
        roundtrip(&[64]);
        roundtrip(&[0, 1, 2, 63, 64, 65, 127, 128]);
        roundtrip(&[5, 500_000]);
        roundtrip(&(0..1000).map(|i| i * 3).collect::<Vec<_>>());
        roundtrip(&(0..3000).collect::<Vec<_>>());
        let mut seed = 11u64;
        for _ in 0..200 {
            let mut bits: Vec<usize> = (0..(seed % 40))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 5000) as usize
                })
                .collect();
            bits.sort();
            bits.dedup();
            roundtrip(&bits);
        }
    }

    #[test]
    fn a_sparse_bitmap_stays_small() {
        let mut out = Vec::new();
        encode(&[3, 250_000, 499_999], &mut out);
        // Three literals, three run-length words, and the frame.
        assert_eq!(out.len(), 4 + 4 + 6 * 8 + 4);
    }

    #[test]
    fn a_damaged_bitmap_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        encode(&[1, 100, 1000], &mut out);
        for len in 0..out.len() {
            let _ = decode(&out[..len]);
        }
        for at in 0..out.len() {
            let mut b = out.clone();
            b[at] ^= 0xff;
            let _ = decode(&b);
        }
    }
}
