//! Text result sets the proxy answers itself (e.g. `SHOW DATABASES`), encoded with `mysql_common`'s column
//! definition and the client's EOF convention.

use super::codec::write_packets;
use super::lenenc;
use super::packets::eof_payload;
use bytes::BytesMut;
use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::io::WriteMysqlExt;
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;

/// A small text result set of string columns, answered by the proxy itself.
pub struct TextResultSet<'a> {
    /// Schema reported in the column definitions.
    pub schema: &'a str,
    /// Table reported in the column definitions.
    pub table: &'a str,
    /// Column names.
    pub columns: &'a [&'a str],
    /// Rows; `None` is SQL NULL.
    pub rows: &'a [Vec<Option<String>>],
}

impl TextResultSet<'_> {
    /// Writes the complete result set to `out`, starting at sequence id `*seq`, ending with `status`.
    pub fn write(&self, out: &mut BytesMut, seq: &mut u8, status: u16, deprecate_eof: bool) {
        let mut p = Vec::with_capacity(64);
        p.write_lenenc_int(self.columns.len() as u64).expect("vec write");
        write_packets(out, seq, &p);
        for name in self.columns {
            let col = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
                .with_schema(self.schema.as_bytes())
                .with_table(self.table.as_bytes())
                .with_org_table(self.table.as_bytes())
                .with_name(name.as_bytes())
                .with_org_name(name.as_bytes())
                .with_character_set(45)
                .with_column_length(256)
                .with_flags(ColumnFlags::NOT_NULL_FLAG);
            p.clear();
            col.serialize(&mut p);
            write_packets(out, seq, &p);
        }
        let mut b = BytesMut::new();
        if !deprecate_eof {
            eof_payload(&mut b, status, false);
            write_packets(out, seq, &b);
        }
        for row in self.rows {
            b.clear();
            for v in row {
                match v {
                    Some(s) => lenenc::put_str(&mut b, s.as_bytes()),
                    None => b.extend_from_slice(&[0xfb]),
                }
            }
            write_packets(out, seq, &b);
        }
        b.clear();
        eof_payload(&mut b, status, deprecate_eof);
        write_packets(out, seq, &b);
    }
}
