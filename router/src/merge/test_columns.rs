//! Column descriptions shared by the merge tests.

use super::ColumnInfo;

const fn column(column_type: u8, collation: u16, decimals: u8) -> ColumnInfo {
    ColumnInfo {
        column_type,
        flags: 0,
        collation,
        decimals,
    }
}

/// INT.
pub(crate) const LONG: ColumnInfo = column(0x03, 63, 0);
/// BIGINT.
pub(crate) const LONGLONG: ColumnInfo = column(0x08, 63, 0);
/// DECIMAL(n, 0).
pub(crate) const NEWDECIMAL: ColumnInfo = column(0xf6, 63, 0);
/// VARCHAR in utf8mb4_general_ci.
pub(crate) const VARCHAR: ColumnInfo = column(0xfd, 45, 0);
/// DOUBLE.
pub(crate) const DOUBLE: ColumnInfo = column(0x05, 63, 31);
