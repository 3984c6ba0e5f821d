//! How many bytes of a JSON string's body need no look: the run before the
//! first quote, backslash or control byte (below 0x20).
//!
//! Strings are most of a record's bytes, and every checked pass over a
//! record (the source's page scan, the host's record check, the mapper's
//! read of the top level, the host's check of what it returns) skips
//! through them. Profiles of fetch → map had that skip as the top frame in
//! both guests and in the host. In Wasm it goes sixteen bytes at a time
//! with `simd128`, which wasmtime enables by default; natively (the host),
//! and for the tail, eight bytes at a time in a 64-bit word.
//!
//! A guest built with this SDK therefore uses Wasm SIMD instructions;
//! wasmtime has them on by default (on x86-64 and aarch64; riscv64 needs
//! its vector extension).

/// The length of the run of bytes at the start of `bytes` that are not `"`,
/// `\` or below 0x20. In Wasm the loop is compiled with `simd128` whether
/// or not the rest of the guest is (Wasm has no undefined behaviour here:
/// an engine without SIMD refuses the module when it loads).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
pub(crate) fn plain_run(bytes: &[u8]) -> usize {
    let mut at = 0;
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        match stop_in_16(block) {
            Some(k) => return at + k,
            None => at += 16,
        }
    }
    at + plain_run_words(blocks.remainder())
}

/// The same natively (the host's build), a word at a time: x86-64 vectors
/// would need `unsafe`, and the words already go at ~6 GB/s there.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn plain_run(bytes: &[u8]) -> usize {
    plain_run_words(bytes)
}

/// Eight bytes at a time, then one at a time.
fn plain_run_words(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte that is zero, exact up to the first such
    // byte (a borrow can only mark bytes after it).
    let zero_bytes = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    let mut at = 0;
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A quote, a backslash, or a byte below 0x20 (the same trick with
        // 0x20 for 0x01, exact up to the first such byte too).
        let stop = zero_bytes(w ^ (ONES * u64::from(b'"')))
            | zero_bytes(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if stop != 0 {
            // Little-endian: the lowest marked byte is the first.
            return at + (stop.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + words
        .remainder()
        .iter()
        .position(|&b| needs_look(b))
        .unwrap_or(words.remainder().len())
}

fn needs_look(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// The first byte of a block of sixteen that needs a look: three vector
/// compares and a bitmask. The vector is built from two 64-bit loads of the
/// slice (safe code; no `v128.load` from a pointer).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn stop_in_16(block: &[u8]) -> Option<usize> {
    use std::arch::wasm32::{u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, u64x2, v128_or};
    let (lo, hi) = block.split_at(8);
    let v = u64x2(
        u64::from_le_bytes(lo.try_into().expect("eight bytes")),
        u64::from_le_bytes(hi.try_into().expect("eight bytes")),
    );
    let stops = v128_or(
        v128_or(
            u8x16_eq(v, u8x16_splat(b'"')),
            u8x16_eq(v, u8x16_splat(b'\\')),
        ),
        u8x16_lt(v, u8x16_splat(0x20)),
    );
    let mask = u8x16_bitmask(stops);
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_byte(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&b| needs_look(b))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn the_run_ends_at_the_first_byte_that_needs_a_look_wherever_it_is() {
        // Every stop byte at every offset of texts that span blocks, words
        // and tails, with bytes on both sides of each boundary of the test
        // (0x1f/0x20, 0x7f/0x80, 0xff).
        let fillers = [b'a', b' ', 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'];
        let stops = [b'"', b'\\', 0x00, 0x1f, b'\n'];
        for len in 0..48 {
            for &fill in &fillers {
                let plain = vec![fill; len];
                assert_eq!(plain_run(&plain), len, "all {fill:#x}, {len} bytes");
                for at in 0..len {
                    for &stop in &stops {
                        let mut text = plain.clone();
                        text[at] = stop;
                        // A second stop later must not move the first.
                        if at + 3 < len {
                            text[at + 3] = b'"';
                        }
                        assert_eq!(plain_run(&text), at, "{stop:#x} at {at} of {len}");
                        assert_eq!(plain_run(&text), by_byte(&text));
                    }
                }
            }
        }
    }
}
