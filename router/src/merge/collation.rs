//! String comparison by MariaDB collation id: binary, `*_bin`, `*_general_ci` and `latin1_swedish_ci`, with PAD SPACE.
//!
//! A collation compares two strings as sequences of *weights*. PAD SPACE collations (every classic MariaDB collation
//! except `binary` and the `*_nopad_*` ones, ids ≥ 1024) compare as if the shorter string were padded with spaces,
//! so `'a' = 'a  '` but `'a\t' < 'a'` (a tab weighs less than the padding space). Bytes that are not valid UTF-8
//! in a UTF-8 collation weigh `0xFF0000 + byte`, after every character, as MariaDB's scanner does.
//!
//! Approximations (documented, deliberate):
//! - `utf8mb4_unicode_ci` (224), `utf8mb3_unicode_ci` (192), the language-specific UCA collations and every id this
//!   module does not know compare as `*_general_ci`. They agree on letters that differ only in case or accent in
//!   most Latin text; they disagree on expansions (`'ß' = 'ss'` in UCA, `'ß' = 's'` in general_ci) and on the
//!   relative order of punctuation.
//! - latin1 collations other than `latin1_swedish_ci`/`latin1_bin` use the swedish table (`*_ci`) or bytes (`*_cs`).
//! - The collation id comes from the column definition, which names the *connection's* result character set, not
//!   the column's own collation (a `latin1_swedish_ci` column read over a utf8mb4 connection arrives as 45). A
//!   `*_bin` column still carries the BINARY flag, so a non-`binary` id with that flag compares as `*_bin`.

use std::cmp::Ordering;

/// The BINARY column flag (set on `binary` and on every `*_bin` collation).
pub(crate) const BINARY_FLAG: u16 = 0x80;

/// MariaDB's `binary` pseudo-collation id.
const BINARY_ID: u16 = 63;

/// The weight of a byte that is not part of a valid UTF-8 character (sorts after every character).
const ILLEGAL_SEQUENCE: u32 = 0xFF_0000;

/// The weight every code point above U+FFFF has in `*_general_ci`.
const SUPPLEMENTARY_WEIGHT: u32 = 0xFFFD;

/// How strings of one column compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collation {
    /// `binary`: byte by byte, the shorter prefix first, no padding.
    Binary,
    /// Single-byte `*_bin` (`latin1_bin`, `ascii_bin`): byte by byte with PAD SPACE.
    Bytes { pad: bool },
    /// `latin1_swedish_ci`: bytes mapped through MariaDB's latin1 sort order (case-insensitive, Ä/Å/Ö after Z).
    Latin1Swedish { pad: bool },
    /// `utf8mb4_bin`/`utf8mb3_bin`: by code point.
    Utf8Bin { pad: bool },
    /// `utf8mb4_general_ci`/`utf8mb3_general_ci`: by MariaDB's general_ci weight of each code point.
    Utf8General { pad: bool },
}

impl Collation {
    /// The collation for a column definition's collation id and flags.
    pub(crate) fn of(id: u16, flags: u16) -> Collation {
        if id == BINARY_ID {
            return Collation::Binary;
        }
        // MariaDB numbers each NO PAD collation 1024 above its PAD SPACE twin.
        let (base, pad) = if id >= 1024 { (id - 1024, false) } else { (id, true) };
        let binsort = flags & BINARY_FLAG != 0;
        match base {
            // latin1_bin, latin1_general_cs, ascii_bin.
            47 | 49 | 65 => Collation::Bytes { pad },
            // latin1_swedish_ci and (approximately) the other latin1 *_ci collations.
            5 | 8 | 15 | 31 | 48 | 94 if binsort => Collation::Bytes { pad },
            5 | 8 | 15 | 31 | 48 | 94 => Collation::Latin1Swedish { pad },
            46 | 83 => Collation::Utf8Bin { pad },
            _ if binsort => Collation::Utf8Bin { pad },
            _ => Collation::Utf8General { pad },
        }
    }

    /// Compares two strings in this collation.
    pub(crate) fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Collation::Binary => a.cmp(b),
            Collation::Bytes { pad } => {
                compare_weights(a.iter().map(|&c| u32::from(c)), b.iter().map(|&c| u32::from(c)), pad)
            }
            Collation::Latin1Swedish { pad } => compare_weights(
                a.iter().map(|&c| u32::from(LATIN1_SWEDISH[usize::from(c)])),
                b.iter().map(|&c| u32::from(LATIN1_SWEDISH[usize::from(c)])),
                pad,
            ),
            Collation::Utf8Bin { pad } => {
                if !pad {
                    // UTF-8 byte order is code point order, and invalid bytes (≥ 0x80) sort high either way.
                    return a.cmp(b);
                }
                compare_weights(utf8_weights(a, |c| c), utf8_weights(b, |c| c), pad)
            }
            Collation::Utf8General { pad } => {
                if a.is_ascii() && b.is_ascii() {
                    return compare_weights(ascii_general(a), ascii_general(b), pad);
                }
                compare_weights(
                    utf8_weights(a, general_ci_weight),
                    utf8_weights(b, general_ci_weight),
                    pad,
                )
            }
        }
    }
}

/// Compares two weight sequences; with `pad`, the shorter one is extended with the weight of a space.
fn compare_weights(mut a: impl Iterator<Item = u32>, mut b: impl Iterator<Item = u32>, pad: bool) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return x.cmp(&y),
            (None, None) => return Ordering::Equal,
            (Some(x), None) if pad => return against_spaces(std::iter::once(x).chain(a)),
            (None, Some(y)) if pad => return against_spaces(std::iter::once(y).chain(b)).reverse(),
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
        }
    }
}

/// How the rest of the longer string compares with the spaces padding the shorter one.
fn against_spaces(rest: impl Iterator<Item = u32>) -> Ordering {
    let space = u32::from(b' ');
    rest.map(|w| w.cmp(&space))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The general_ci weights of an ASCII string (upper-case letters).
fn ascii_general(s: &[u8]) -> impl Iterator<Item = u32> + '_ {
    s.iter().map(|c| u32::from(c.to_ascii_uppercase()))
}

/// The weights of a UTF-8 string: `weight(code point)` per character, [`ILLEGAL_SEQUENCE`] + byte per invalid byte.
fn utf8_weights(s: &[u8], weight: fn(u32) -> u32) -> impl Iterator<Item = u32> + '_ {
    s.utf8_chunks().flat_map(move |chunk| {
        let valid = chunk.valid().chars().map(move |c| weight(u32::from(c)));
        let invalid = chunk.invalid().iter().map(|&b| ILLEGAL_SEQUENCE + u32::from(b));
        valid.chain(invalid)
    })
}

/// How a range of code points folds to its general_ci weight.
#[derive(Clone, Copy)]
enum Fold {
    /// Every code point in the range weighs this (the upper-case base letter of an accented letter).
    To(u16),
    /// Each code point weighs itself plus this (a run of lower-case letters).
    Shift(i16),
    /// Alternating upper/lower case pairs starting at the range's first code point: each pair weighs its first.
    Pairs,
}

/// MariaDB's `*_general_ci` weight of a code point.
///
/// The weight is the upper-case form of the character's base letter as of Unicode 3.0 (`é`, `É` and `E` all weigh
/// `E`; `ß` weighs `S`; Greek tonos and Cyrillic `ё` fold to the base letter). Only the blocks MariaDB's table
/// covers fold (Latin, IPA, Greek, Cyrillic, Armenian, Latin Extended Additional, Greek Extended, Roman numerals,
/// circled letters, full-width Latin); every other BMP code point weighs itself, and every supplementary code point
/// weighs U+FFFD, so all emoji are equal to each other.
pub(crate) fn general_ci_weight(c: u32) -> u32 {
    if c > 0xFFFF {
        return SUPPLEMENTARY_WEIGHT;
    }
    if c < 0x80 {
        return u32::from((c as u8).to_ascii_uppercase());
    }
    let i = GENERAL_CI_FOLDS.partition_point(|&(first, _, _)| u32::from(first) <= c);
    match i.checked_sub(1).map(|i| GENERAL_CI_FOLDS[i]) {
        Some((first, last, fold)) if c <= u32::from(last) => match fold {
            Fold::To(w) => u32::from(w),
            Fold::Shift(d) => c.wrapping_add_signed(i32::from(d)),
            Fold::Pairs => u32::from(first) + ((c - u32::from(first)) & !1),
        },
        _ => c,
    }
}

/// The code points whose general_ci weight is not the code point itself, as sorted, disjoint inclusive ranges.
#[rustfmt::skip]
const GENERAL_CI_FOLDS: &[(u16, u16, Fold)] = {
    use Fold::{Pairs, Shift, To};
    &[
        // Basic Latin and Latin-1 Supplement.
        (0x61, 0x7A, Shift(-0x20)), (0xB5, 0xB5, To(0x39C)), (0xC0, 0xC5, To(0x41)), (0xC7, 0xC7, To(0x43)),
        (0xC8, 0xCB, To(0x45)), (0xCC, 0xCF, To(0x49)), (0xD1, 0xD1, To(0x4E)), (0xD2, 0xD6, To(0x4F)),
        (0xD9, 0xDC, To(0x55)), (0xDD, 0xDD, To(0x59)), (0xDF, 0xDF, To(0x53)), (0xE0, 0xE5, To(0x41)),
        (0xE6, 0xE6, To(0xC6)), (0xE7, 0xE7, To(0x43)), (0xE8, 0xEB, To(0x45)), (0xEC, 0xEF, To(0x49)),
        (0xF0, 0xF0, To(0xD0)), (0xF1, 0xF1, To(0x4E)), (0xF2, 0xF6, To(0x4F)), (0xF8, 0xF8, To(0xD8)),
        (0xF9, 0xFC, To(0x55)), (0xFD, 0xFD, To(0x59)), (0xFE, 0xFE, To(0xDE)), (0xFF, 0xFF, To(0x59)),
        // Latin Extended-A.
        (0x100, 0x105, To(0x41)), (0x106, 0x10D, To(0x43)), (0x10E, 0x10F, To(0x44)), (0x110, 0x111, To(0x110)),
        (0x112, 0x11B, To(0x45)), (0x11C, 0x123, To(0x47)), (0x124, 0x125, To(0x48)), (0x126, 0x127, To(0x126)),
        (0x128, 0x131, To(0x49)), (0x132, 0x133, To(0x132)), (0x134, 0x135, To(0x4A)), (0x136, 0x137, To(0x4B)),
        (0x139, 0x13E, To(0x4C)), (0x13F, 0x140, To(0x13F)), (0x141, 0x142, To(0x141)), (0x143, 0x148, To(0x4E)),
        (0x14A, 0x14B, To(0x14A)), (0x14C, 0x151, To(0x4F)), (0x152, 0x153, To(0x152)), (0x154, 0x159, To(0x52)),
        (0x15A, 0x161, To(0x53)), (0x162, 0x165, To(0x54)), (0x166, 0x167, To(0x166)), (0x168, 0x173, To(0x55)),
        (0x174, 0x175, To(0x57)), (0x176, 0x178, To(0x59)), (0x179, 0x17E, To(0x5A)), (0x17F, 0x17F, To(0x53)),
        // Latin Extended-B.
        (0x182, 0x185, Pairs), (0x188, 0x188, To(0x187)), (0x18C, 0x18C, To(0x18B)), (0x192, 0x192, To(0x191)),
        (0x195, 0x195, To(0x1F6)), (0x199, 0x199, To(0x198)), (0x1A0, 0x1A1, To(0x4F)), (0x1A2, 0x1A5, Pairs),
        (0x1A8, 0x1A8, To(0x1A7)), (0x1AC, 0x1AD, To(0x1AC)), (0x1AF, 0x1B0, To(0x55)), (0x1B3, 0x1B6, Pairs),
        (0x1B8, 0x1B9, To(0x1B8)), (0x1BC, 0x1BD, To(0x1BC)), (0x1BF, 0x1BF, To(0x1F7)), (0x1C4, 0x1C6, To(0x1C4)),
        (0x1C7, 0x1C9, To(0x1C7)), (0x1CA, 0x1CC, To(0x1CA)), (0x1CD, 0x1CE, To(0x41)), (0x1CF, 0x1D0, To(0x49)),
        (0x1D1, 0x1D2, To(0x4F)), (0x1D3, 0x1DC, To(0x55)), (0x1DD, 0x1DD, To(0x18E)), (0x1DE, 0x1E1, To(0x41)),
        (0x1E2, 0x1E3, To(0xC6)), (0x1E4, 0x1E5, To(0x1E4)), (0x1E6, 0x1E7, To(0x47)), (0x1E8, 0x1E9, To(0x4B)),
        (0x1EA, 0x1ED, To(0x4F)), (0x1EE, 0x1EF, To(0x1B7)), (0x1F0, 0x1F0, To(0x4A)), (0x1F1, 0x1F3, To(0x1F1)),
        (0x1F4, 0x1F5, To(0x47)), (0x1F8, 0x1F9, To(0x4E)), (0x1FA, 0x1FB, To(0x41)), (0x1FC, 0x1FD, To(0xC6)),
        (0x1FE, 0x1FF, To(0xD8)), (0x200, 0x203, To(0x41)), (0x204, 0x207, To(0x45)), (0x208, 0x20B, To(0x49)),
        (0x20C, 0x20F, To(0x4F)), (0x210, 0x213, To(0x52)), (0x214, 0x217, To(0x55)), (0x218, 0x219, To(0x53)),
        (0x21A, 0x21B, To(0x54)), (0x21C, 0x21D, To(0x21C)), (0x21E, 0x21F, To(0x48)), (0x222, 0x225, Pairs),
        (0x226, 0x227, To(0x41)), (0x228, 0x229, To(0x45)), (0x22A, 0x231, To(0x4F)), (0x232, 0x233, To(0x59)),
        // IPA Extensions: the lower-case forms of letters whose capitals live in Latin Extended-B.
        (0x253, 0x253, To(0x181)), (0x254, 0x254, To(0x186)), (0x256, 0x256, To(0x189)), (0x257, 0x257, To(0x18A)),
        (0x259, 0x259, To(0x18F)), (0x25B, 0x25B, To(0x190)), (0x260, 0x260, To(0x193)), (0x263, 0x263, To(0x194)),
        (0x268, 0x268, To(0x197)), (0x269, 0x269, To(0x196)), (0x26F, 0x26F, To(0x19C)), (0x272, 0x272, To(0x19D)),
        (0x275, 0x275, To(0x19F)), (0x280, 0x280, To(0x1A6)), (0x283, 0x283, To(0x1A9)), (0x288, 0x288, To(0x1AE)),
        (0x28A, 0x28A, To(0x1B1)), (0x28B, 0x28B, To(0x1B2)), (0x292, 0x292, To(0x1B7)),
        // Greek.
        (0x345, 0x345, To(0x399)), (0x386, 0x386, To(0x391)), (0x388, 0x388, To(0x395)), (0x389, 0x389, To(0x397)),
        (0x38A, 0x38A, To(0x399)), (0x38C, 0x38C, To(0x39F)), (0x38E, 0x38E, To(0x3A5)), (0x38F, 0x38F, To(0x3A9)),
        (0x390, 0x390, To(0x399)), (0x3AA, 0x3AA, To(0x399)), (0x3AB, 0x3AB, To(0x3A5)), (0x3AC, 0x3AC, To(0x391)),
        (0x3AD, 0x3AD, To(0x395)), (0x3AE, 0x3AE, To(0x397)), (0x3AF, 0x3AF, To(0x399)), (0x3B0, 0x3B0, To(0x3A5)),
        (0x3B1, 0x3C1, Shift(-0x20)), (0x3C2, 0x3C2, To(0x3A3)), (0x3C3, 0x3C9, Shift(-0x20)),
        (0x3CA, 0x3CA, To(0x399)), (0x3CB, 0x3CB, To(0x3A5)), (0x3CC, 0x3CC, To(0x39F)), (0x3CD, 0x3CD, To(0x3A5)),
        (0x3CE, 0x3CE, To(0x3A9)), (0x3D0, 0x3D0, To(0x392)), (0x3D1, 0x3D1, To(0x398)), (0x3D3, 0x3D4, To(0x3D2)),
        (0x3D5, 0x3D5, To(0x3A6)), (0x3D6, 0x3D6, To(0x3A0)), (0x3DA, 0x3EF, Pairs), (0x3F0, 0x3F0, To(0x39A)),
        (0x3F1, 0x3F1, To(0x3A1)), (0x3F2, 0x3F2, To(0x3A3)),
        // Cyrillic.
        (0x400, 0x401, To(0x415)), (0x403, 0x403, To(0x413)), (0x407, 0x407, To(0x406)), (0x40C, 0x40C, To(0x41A)),
        (0x40D, 0x40D, To(0x418)), (0x40E, 0x40E, To(0x423)), (0x430, 0x44F, Shift(-0x20)),
        (0x450, 0x451, To(0x415)), (0x452, 0x452, Shift(-0x50)), (0x453, 0x453, To(0x413)),
        (0x454, 0x456, Shift(-0x50)), (0x457, 0x457, To(0x406)), (0x458, 0x45B, Shift(-0x50)),
        (0x45C, 0x45C, To(0x41A)), (0x45D, 0x45D, To(0x418)), (0x45E, 0x45E, To(0x423)), (0x45F, 0x45F, Shift(-0x50)),
        (0x460, 0x475, Pairs), (0x476, 0x477, To(0x474)), (0x478, 0x481, Pairs), (0x48C, 0x4BF, Pairs),
        (0x4C1, 0x4C2, To(0x416)), (0x4C3, 0x4C4, To(0x4C3)), (0x4C7, 0x4C8, To(0x4C7)), (0x4CB, 0x4CC, To(0x4CB)),
        (0x4D0, 0x4D3, To(0x410)), (0x4D4, 0x4D5, To(0x4D4)), (0x4D6, 0x4D7, To(0x415)), (0x4D8, 0x4DB, To(0x4D8)),
        (0x4DC, 0x4DD, To(0x416)), (0x4DE, 0x4DF, To(0x417)), (0x4E0, 0x4E1, To(0x4E0)), (0x4E2, 0x4E5, To(0x418)),
        (0x4E6, 0x4E7, To(0x41E)), (0x4E8, 0x4EB, To(0x4E8)), (0x4EC, 0x4ED, To(0x42D)), (0x4EE, 0x4F3, To(0x423)),
        (0x4F4, 0x4F5, To(0x427)), (0x4F8, 0x4F9, To(0x42B)),
        // Armenian.
        (0x561, 0x586, Shift(-0x30)),
        // Latin Extended Additional.
        (0x1E00, 0x1E01, To(0x41)), (0x1E02, 0x1E07, To(0x42)), (0x1E08, 0x1E09, To(0x43)),
        (0x1E0A, 0x1E13, To(0x44)), (0x1E14, 0x1E1D, To(0x45)), (0x1E1E, 0x1E1F, To(0x46)),
        (0x1E20, 0x1E21, To(0x47)), (0x1E22, 0x1E2B, To(0x48)), (0x1E2C, 0x1E2F, To(0x49)),
        (0x1E30, 0x1E35, To(0x4B)), (0x1E36, 0x1E3D, To(0x4C)), (0x1E3E, 0x1E43, To(0x4D)),
        (0x1E44, 0x1E4B, To(0x4E)), (0x1E4C, 0x1E53, To(0x4F)), (0x1E54, 0x1E57, To(0x50)),
        (0x1E58, 0x1E5F, To(0x52)), (0x1E60, 0x1E69, To(0x53)), (0x1E6A, 0x1E71, To(0x54)),
        (0x1E72, 0x1E7B, To(0x55)), (0x1E7C, 0x1E7F, To(0x56)), (0x1E80, 0x1E89, To(0x57)),
        (0x1E8A, 0x1E8D, To(0x58)), (0x1E8E, 0x1E8F, To(0x59)), (0x1E90, 0x1E95, To(0x5A)),
        (0x1E96, 0x1E96, To(0x48)), (0x1E97, 0x1E97, To(0x54)), (0x1E98, 0x1E98, To(0x57)),
        (0x1E99, 0x1E99, To(0x59)), (0x1E9B, 0x1E9B, To(0x53)), (0x1EA0, 0x1EB7, To(0x41)),
        (0x1EB8, 0x1EC7, To(0x45)), (0x1EC8, 0x1ECB, To(0x49)), (0x1ECC, 0x1EE3, To(0x4F)),
        (0x1EE4, 0x1EF1, To(0x55)), (0x1EF2, 0x1EF9, To(0x59)),
        // Greek Extended.
        (0x1F00, 0x1F0F, To(0x391)), (0x1F10, 0x1F15, To(0x395)), (0x1F18, 0x1F1D, To(0x395)),
        (0x1F20, 0x1F2F, To(0x397)), (0x1F30, 0x1F3F, To(0x399)), (0x1F40, 0x1F45, To(0x39F)),
        (0x1F48, 0x1F4D, To(0x39F)), (0x1F50, 0x1F57, To(0x3A5)), (0x1F59, 0x1F59, To(0x3A5)),
        (0x1F5B, 0x1F5B, To(0x3A5)), (0x1F5D, 0x1F5D, To(0x3A5)), (0x1F5F, 0x1F5F, To(0x3A5)),
        (0x1F60, 0x1F6F, To(0x3A9)), (0x1F70, 0x1F70, To(0x391)), (0x1F71, 0x1F71, To(0x1FBB)),
        (0x1F72, 0x1F72, To(0x395)), (0x1F73, 0x1F73, To(0x1FC9)), (0x1F74, 0x1F74, To(0x397)),
        (0x1F75, 0x1F75, To(0x1FCB)), (0x1F76, 0x1F76, To(0x399)), (0x1F77, 0x1F77, To(0x1FDB)),
        (0x1F78, 0x1F78, To(0x39F)), (0x1F79, 0x1F79, To(0x1FF9)), (0x1F7A, 0x1F7A, To(0x3A5)),
        (0x1F7B, 0x1F7B, To(0x1FEB)), (0x1F7C, 0x1F7C, To(0x3A9)), (0x1F7D, 0x1F7D, To(0x1FFB)),
        (0x1F80, 0x1F8F, To(0x391)), (0x1F90, 0x1F9F, To(0x397)), (0x1FA0, 0x1FAF, To(0x3A9)),
        (0x1FB0, 0x1FB4, To(0x391)), (0x1FB6, 0x1FBA, To(0x391)), (0x1FBC, 0x1FBC, To(0x391)),
        (0x1FBE, 0x1FBE, To(0x399)), (0x1FC2, 0x1FC4, To(0x397)), (0x1FC6, 0x1FC7, To(0x397)),
        (0x1FC8, 0x1FC8, To(0x395)), (0x1FCA, 0x1FCA, To(0x397)), (0x1FCC, 0x1FCC, To(0x397)),
        (0x1FD0, 0x1FD2, To(0x399)), (0x1FD6, 0x1FDA, To(0x399)), (0x1FE0, 0x1FE2, To(0x3A5)),
        (0x1FE4, 0x1FE5, To(0x3A1)), (0x1FE6, 0x1FEA, To(0x3A5)), (0x1FEC, 0x1FEC, To(0x3A1)),
        (0x1FF2, 0x1FF4, To(0x3A9)), (0x1FF6, 0x1FF7, To(0x3A9)), (0x1FF8, 0x1FF8, To(0x39F)),
        (0x1FFA, 0x1FFA, To(0x3A9)), (0x1FFC, 0x1FFC, To(0x3A9)),
        // Small Roman numerals, circled small letters, full-width small letters.
        (0x2170, 0x217F, Shift(-0x10)), (0x24D0, 0x24E9, Shift(-0x1A)), (0xFF41, 0xFF5A, Shift(-0x20)),
    ]
};

/// MariaDB's `latin1_swedish_ci` sort order: the weight of each latin1 byte.
///
/// Letters compare case-insensitively, most accented letters weigh their base letter, and the Swedish letters sort
/// after `Z` as Å < Ä = Æ < Ö (weights of `[`, `\`, `]`); `Ü` weighs `Y`, `Ð` weighs `D`; `Ø`, `ß`, `Þ`, `×`, `÷`
/// and `ÿ` keep their own (upper-case) value.
const LATIN1_SWEDISH: [u8; 256] = latin1_swedish_table();

const fn latin1_swedish_table() -> [u8; 256] {
    // Weights of 0xC0..=0xDF; 0xE0..=0xFF reuse them except for ÷ (0xF7) and ÿ (0xFF).
    const HIGH: [u8; 32] = [
        b'A', b'A', b'A', b'A', b'\\', b'[', b'\\', b'C', b'E', b'E', b'E', b'E', b'I', b'I', b'I', b'I', //
        b'D', b'N', b'O', b'O', b'O', b'O', b']', 0xD7, 0xD8, b'U', b'U', b'U', b'Y', b'Y', 0xDE, 0xDF,
    ];
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        table[i] = match c {
            b'a'..=b'z' => c - 0x20,
            0xC0..=0xDF => HIGH[(c - 0xC0) as usize],
            0xF7 | 0xFF => c,
            0xE0..=0xFE => HIGH[(c - 0xE0) as usize],
            _ => c,
        };
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    const GENERAL: Collation = Collation::Utf8General { pad: true };
    const UTF8_BIN: Collation = Collation::Utf8Bin { pad: true };
    const SWEDISH: Collation = Collation::Latin1Swedish { pad: true };
    const LATIN1_BIN: Collation = Collation::Bytes { pad: true };

    fn cmp(c: Collation, a: &str, b: &str) -> Ordering {
        c.compare(a.as_bytes(), b.as_bytes())
    }

    /// latin1 bytes for a string of Latin-1 characters.
    fn latin1(s: &str) -> Vec<u8> {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).expect("latin1 character"))
            .collect()
    }

    fn cmp_latin1(c: Collation, a: &str, b: &str) -> Ordering {
        c.compare(&latin1(a), &latin1(b))
    }

    #[test]
    fn ids_and_flags_pick_the_collation() {
        assert_eq!(Collation::of(63, BINARY_FLAG), Collation::Binary);
        assert_eq!(Collation::of(63, 0), Collation::Binary);
        assert_eq!(Collation::of(45, 0), GENERAL);
        assert_eq!(Collation::of(33, 0), GENERAL);
        assert_eq!(Collation::of(224, 0), GENERAL, "unicode_ci falls back to general_ci");
        assert_eq!(Collation::of(46, BINARY_FLAG), UTF8_BIN);
        assert_eq!(Collation::of(83, 0), UTF8_BIN);
        assert_eq!(
            Collation::of(45, BINARY_FLAG),
            UTF8_BIN,
            "a *_bin column read through a utf8mb4 connection"
        );
        assert_eq!(Collation::of(8, 0), SWEDISH);
        assert_eq!(Collation::of(47, BINARY_FLAG), LATIN1_BIN);
        assert_eq!(Collation::of(1069, 0), Collation::Utf8General { pad: false });
        assert_eq!(Collation::of(1070, BINARY_FLAG), Collation::Utf8Bin { pad: false });
        assert_eq!(Collation::of(1032, 0), Collation::Latin1Swedish { pad: false });
        assert_eq!(Collation::of(9999, 0), Collation::Utf8General { pad: false });
    }

    #[test]
    fn binary_is_bytewise_without_padding() {
        let c = Collation::Binary;
        assert_eq!(cmp(c, "a", "a "), Less);
        assert_eq!(cmp(c, "A", "a"), Less);
        assert_eq!(cmp(c, "", "\0"), Less);
        assert_eq!(cmp(c, "b", "ab"), Greater);
        assert_eq!(cmp(c, "ab", "ab"), Equal);
    }

    #[test]
    fn pad_space_ignores_trailing_spaces_only() {
        for c in [GENERAL, UTF8_BIN, SWEDISH, LATIN1_BIN] {
            assert_eq!(cmp(c, "a", "a   "), Equal, "{c:?}");
            assert_eq!(cmp(c, "", "   "), Equal, "{c:?}");
            assert_eq!(cmp(c, " a", "a"), Less, "{c:?}: leading spaces count");
            // A tab weighs less than the padding space, so the longer string is smaller.
            assert_eq!(cmp(c, "a\t", "a"), Less, "{c:?}");
            assert_eq!(cmp(c, "a", "a\t"), Greater, "{c:?}");
            assert_eq!(cmp(c, "a!", "a"), Greater, "{c:?}");
            assert_eq!(cmp(c, "a  b", "a "), Greater, "{c:?}");
        }
    }

    #[test]
    fn no_pad_counts_trailing_spaces() {
        for c in [
            Collation::Utf8General { pad: false },
            Collation::Utf8Bin { pad: false },
            Collation::Latin1Swedish { pad: false },
            Collation::Bytes { pad: false },
        ] {
            assert_eq!(cmp(c, "a", "a "), Less, "{c:?}");
            assert_eq!(cmp(c, "a ", "a"), Greater, "{c:?}");
            assert_eq!(cmp(c, "a\t", "a"), Greater, "{c:?}");
        }
        assert_eq!(cmp(Collation::Utf8General { pad: false }, "A", "a"), Equal);
    }

    #[test]
    fn general_ci_folds_case_and_accents() {
        assert_eq!(cmp(GENERAL, "abc", "ABC"), Equal);
        assert_eq!(cmp(GENERAL, "a", "A "), Equal);
        assert_eq!(cmp(GENERAL, "résumé", "RESUME"), Equal);
        assert_eq!(cmp(GENERAL, "ä", "a"), Equal);
        assert_eq!(cmp(GENERAL, "Straße", "strase"), Equal, "ß weighs S in general_ci");
        assert_eq!(cmp(GENERAL, "æ", "Æ"), Equal);
        assert_eq!(cmp(GENERAL, "æ", "ae"), Greater, "Æ is its own letter, after A..Z");
        assert_eq!(cmp(GENERAL, "ø", "o"), Greater, "Ø does not fold to O");
        assert_eq!(cmp(GENERAL, "Łódź", "lodz"), Greater, "Ł is its own letter");
        assert_eq!(cmp(GENERAL, "Čeština", "cestina"), Equal);
        assert_eq!(cmp(GENERAL, "Ελλάδα", "ΕΛΛΑΔΑ"), Equal, "Greek tonos folds");
        assert_eq!(cmp(GENERAL, "ёлка", "ЕЛКА"), Equal, "Cyrillic ё folds to Е");
        assert_eq!(cmp(GENERAL, "й", "и"), Greater, "Й stays a letter of its own");
        assert_eq!(cmp(GENERAL, "Việt", "VIET"), Equal, "Vietnamese letters fold");
        assert_eq!(cmp(GENERAL, "ｂ", "Ｂ"), Equal, "full-width letters fold");
        assert_eq!(cmp(GENERAL, "a", "b"), Less);
        assert_eq!(cmp(GENERAL, "B", "a"), Greater);
        assert_eq!(
            cmp(GENERAL, "_", "a"),
            Greater,
            "'_' (0x5F) sorts after letters, which weigh as capitals"
        );
        assert_eq!(cmp(GENERAL, "@", "a"), Less);
        assert_eq!(
            cmp(GENERAL, "[", "a"),
            Greater,
            "'[' (0x5B) sorts after the capital-letter weights"
        );
        assert_eq!(cmp(GENERAL, "z", "é"), Greater);
    }

    #[test]
    fn general_ci_supplementary_characters_are_all_equal() {
        assert_eq!(cmp(GENERAL, "😀", "🐍"), Equal);
        assert_eq!(cmp(GENERAL, "😀", "\u{FFFD}"), Equal);
        assert_eq!(cmp(GENERAL, "😀", "\u{FFFC}"), Greater);
        assert_eq!(cmp(GENERAL, "😀", "\u{FFFE}"), Less);
        assert_eq!(cmp(UTF8_BIN, "😀", "🐍"), Greater, "utf8mb4_bin compares code points");
    }

    #[test]
    fn general_ci_weights_of_selected_code_points() {
        let w = general_ci_weight;
        assert_eq!(w('a' as u32), 'A' as u32);
        assert_eq!(w('µ' as u32), 0x39C);
        assert_eq!(w('ÿ' as u32), 'Y' as u32);
        assert_eq!(w('Ÿ' as u32), 'Y' as u32);
        assert_eq!(w('ı' as u32), 'I' as u32);
        assert_eq!(w('ſ' as u32), 'S' as u32);
        assert_eq!(w(0x183), 0x182, "pairs fold to the capital");
        assert_eq!(w(0x1B6), 0x1B5);
        assert_eq!(w(0x3EF), 0x3EE);
        assert_eq!(w(0x4C4), 0x4C3);
        assert_eq!(w(0x4BF), 0x4BE);
        assert_eq!(w('ς' as u32), 'Σ' as u32);
        assert_eq!(w('ђ' as u32), 'Ђ' as u32);
        assert_eq!(w('ⅰ' as u32), 'Ⅰ' as u32);
        assert_eq!(w('ⓩ' as u32), 'Ⓩ' as u32);
        assert_eq!(
            w(0x10D0),
            0x10D0,
            "blocks outside the table weigh themselves (Georgian)"
        );
        assert_eq!(w(0x2C30), 0x2C30, "Glagolitic small letters are not folded");
        assert_eq!(w(0x023C), 0x023C, "letters added after Unicode 3.0 are not folded");
        assert_eq!(w(0x1F600), 0xFFFD);
    }

    #[test]
    fn general_ci_table_is_sorted_and_disjoint() {
        for pair in GENERAL_CI_FOLDS.windows(2) {
            assert!(
                pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0,
                "{:#x}..{:#x}",
                pair[1].0,
                pair[1].1
            );
        }
    }

    #[test]
    fn invalid_utf8_sorts_after_characters() {
        assert_eq!(GENERAL.compare(b"a\xff", "a\u{FFFF}".as_bytes()), Greater);
        assert_eq!(GENERAL.compare(b"\xfe", b"\xff"), Less);
        assert_eq!(GENERAL.compare(b"a\xff", b"A\xff"), Equal);
        assert_eq!(UTF8_BIN.compare(b"a\xc3", "aé".as_bytes()), Greater);
    }

    #[test]
    fn utf8_bin_is_case_sensitive_code_point_order() {
        assert_eq!(cmp(UTF8_BIN, "A", "a"), Less);
        assert_eq!(cmp(UTF8_BIN, "Z", "a"), Less);
        assert_eq!(cmp(UTF8_BIN, "é", "z"), Greater);
        assert_eq!(cmp(UTF8_BIN, "a", "a  "), Equal);
        assert_eq!(cmp(Collation::Utf8Bin { pad: false }, "é", "z"), Greater);
    }

    #[test]
    fn latin1_swedish_order() {
        assert_eq!(cmp_latin1(SWEDISH, "abc", "ABC"), Equal);
        assert_eq!(cmp_latin1(SWEDISH, "é", "E"), Equal);
        assert_eq!(cmp_latin1(SWEDISH, "Ü", "y"), Equal, "Ü weighs Y");
        assert_eq!(cmp_latin1(SWEDISH, "ä", "Æ"), Equal);
        assert_eq!(cmp_latin1(SWEDISH, "Å", "z"), Greater, "Swedish letters sort after Z");
        assert_eq!(cmp_latin1(SWEDISH, "å", "ä"), Less);
        assert_eq!(cmp_latin1(SWEDISH, "ä", "ö"), Less);
        assert_eq!(cmp_latin1(SWEDISH, "Ö", "ø"), Less, "Ø keeps its own weight (0xD8)");
        assert_eq!(
            cmp_latin1(SWEDISH, "ß", "s"),
            Greater,
            "ß is not folded in latin1_swedish_ci"
        );
        assert_eq!(cmp_latin1(SWEDISH, "ÿ", "Y"), Greater);
        assert_eq!(cmp_latin1(SWEDISH, "Ä", "\\"), Equal, "Ä shares the weight of '\\'");
        assert_eq!(cmp_latin1(SWEDISH, "Åsa ", "åSA"), Equal);
    }

    #[test]
    fn latin1_swedish_table_spot_checks() {
        let t = &LATIN1_SWEDISH;
        assert_eq!(t[b'a' as usize], b'A');
        assert_eq!(t[b'{' as usize], b'{');
        assert_eq!(t[0xC5], b'[');
        assert_eq!(t[0xE5], b'[');
        assert_eq!(t[0xC4], b'\\');
        assert_eq!(t[0xC6], b'\\');
        assert_eq!(t[0xD6], b']');
        assert_eq!(t[0xF6], b']');
        assert_eq!(t[0xD7], 0xD7);
        assert_eq!(t[0xF7], 0xF7);
        assert_eq!(t[0xF8], 0xD8);
        assert_eq!(t[0xFE], 0xDE);
        assert_eq!(t[0xFF], 0xFF);
        assert_eq!(t[0xDF], 0xDF);
        assert_eq!(t[0xF0], b'D');
        assert_eq!(t[0xB5], 0xB5);
    }

    #[test]
    fn latin1_bin_is_bytewise_with_padding() {
        assert_eq!(cmp_latin1(LATIN1_BIN, "A", "a"), Less);
        assert_eq!(cmp_latin1(LATIN1_BIN, "é", "z"), Greater);
        assert_eq!(cmp_latin1(LATIN1_BIN, "ab", "ab  "), Equal);
    }
}
