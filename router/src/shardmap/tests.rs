//! Tests of the shard map: parsing, validation of unsharded and sharded keyspaces, and the lookups by key.

use super::*;
use crate::keyrange::KeyRange;

const GOOD: &str = r#"
version: 3
cells: [dc1, dc2]
keyspaces:
  sbtest:
    sharded: false
    shards:
      - name: "0"
        cell: dc1
        primary: 127.0.0.1:3307
        replicas: [ { addr: "127.0.0.1:3308", cell: dc2 } ]
  app:
    shards: [ { name: "0", cell: dc2, primary: "127.0.0.1:3309" } ]
"#;

#[test]
fn parses_a_good_map() {
    let m = ShardMap::from_yaml(GOOD).unwrap();
    assert_eq!(m.version, 3);
    assert_eq!(m.default_keyspace().name, "sbtest");
    assert_eq!(m.keyspace("app").unwrap().only_shard().primary.addr, "127.0.0.1:3309");
    assert!(m.keyspace("App").is_none());
    assert_eq!(
        m.tablet_addrs(),
        vec!["127.0.0.1:3307", "127.0.0.1:3308", "127.0.0.1:3309"]
    );
}

fn err(doc: &str) -> MapError {
    match ShardMap::from_yaml(doc) {
        Ok(_) => panic!("the document was accepted:\n{doc}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_the_path() {
    let e = err(&GOOD.replace("cell: dc2, primary", "cell: dc9, primary"));
    assert_eq!(e.path, "keyspaces.app.shards[0].cell", "{e}");
    let e = err(&GOOD.replace("127.0.0.1:3309", "nowhere"));
    assert_eq!(e.path, "keyspaces.app.shards[0].primary");
    let e = err(&GOOD.replace("sharded: false", "sharded: false\n    colour: blue"));
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    let e = err(&GOOD.replace("  app:", "  mysql:"));
    assert_eq!(e.path, "keyspaces.mysql");
    let e = err(&GOOD.replace("name: \"0\"\n        cell: dc1", "name: \"-80\"\n        cell: dc1"));
    assert_eq!(e.path, "keyspaces.sbtest.shards[0].name");
    let e = err(&GOOD.replace("addr: \"127.0.0.1:3308\"", "addr: \"127.0.0.1:3307\""));
    assert_eq!(e.path, "keyspaces.sbtest.shards[0].replicas[0].addr");
    let e = err("cells: []\nkeyspaces: {}\n");
    assert_eq!(e.path, "cells");
    let e = err("not: [valid");
    assert_eq!(e.path, "not", "the first unknown key is reported: {e}");
    let e = err("cells: [dc1\n");
    assert_eq!(e.path, "shardmap", "a syntax error has no key: {e}");
    assert!(e.message.contains("line"), "{e}");
    let e = err("- a\n- b\n");
    assert_eq!(e.path, "shardmap", "{e}");
}

/// A sharded keyspace `app` on four shards in two cells (listed out of order), with every vindex type, and the
/// unsharded keyspace `app_seq` holding its sequence and lookup tables. Shared with the planner tests.
pub(crate) const SHARDED: &str = r#"
version: 7
cells: [dc1, dc2]
keyspaces:
  app:
    sharded: true
    transaction_mode: multi
    vindexes:
      hash_id: { type: hash }
      email_lkp: { type: lookup, table: app_seq.email_idx, from: email, to: keyspace_id }
      geo: { type: region, column: region, regions: { eu: dc1, us: dc2 } }
      by_range: { type: range, ranges: [ { from: 0, to: 1000, keyspace_id: "10" }, { from: 1000, keyspace_id: "90" } ] }
    tables:
      users:
        column: id
        vindex: hash_id
        auto_increment: { column: id, sequence: app_seq.users_seq }
        secondary_vindexes: [ { column: email, vindex: email_lkp } ]
      orders: { column: user_id, vindex: hash_id }
      items: { column: id, vindex: hash_id }
      customers: { column: id, vindex: geo }
      events: { column: n, vindex: by_range }
      countries: { type: reference }
    shards:
      - { name: "80-c0", cell: dc2, primary: "10.0.0.3:3306" }
      - { name: "-40", cell: dc1, primary: "10.0.0.1:3306", replicas: [ { addr: "10.0.1.1:3306", cell: dc2 } ] }
      - { name: "c0-", cell: dc2, primary: "10.0.0.4:3306" }
      - { name: "40-80", cell: dc1, primary: "10.0.0.2:3306" }
  app_seq:
    shards: [ { name: "0", cell: dc1, primary: "10.0.0.9:3306" } ]
    tables:
      users_seq: { type: sequence }
"#;

/// The parsed [`SHARDED`] map.
pub(crate) fn sharded_map() -> ShardMap {
    ShardMap::from_yaml(SHARDED).expect("the sample sharded map is valid")
}

/// [`SHARDED`] with `from` (which must occur exactly once) replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        SHARDED.matches(from).count(),
        1,
        "{from:?} must occur once in the sample map"
    );
    SHARDED.replace(from, to)
}

/// The error of [`SHARDED`] edited; checks the path and that the message contains `says`.
fn edit_err(from: &str, to: &str, path: &str, says: &str) -> MapError {
    let e = err(&edit(from, to));
    assert_eq!(e.path, path, "{e}");
    assert!(e.message.contains(says), "message of {path} lacks {says:?}: {e}");
    e
}

const A: u64 = 0x4000_0000_0000_0000;
const B: u64 = 0x8000_0000_0000_0000;
const C: u64 = 0xc000_0000_0000_0000;

#[test]
fn a_sharded_map_parses() {
    let m = sharded_map();
    assert_eq!(m.version, 7);
    assert_eq!(m.cells, ["dc1", "dc2"]);
    let ks = m.keyspace("app").unwrap();
    assert!(ks.sharded);
    assert_eq!(ks.transaction_mode, TransactionMode::Multi);
    assert!(ks.scatter_writes, "scatter writes are allowed by default");
    let names: Vec<&str> = ks.shards.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["-40", "40-80", "80-c0", "c0-"],
        "shards are sorted by key range"
    );
    let ranges: Vec<KeyRange> = ks.shards.iter().map(|s| s.range).collect();
    assert_eq!(
        ranges,
        [
            KeyRange { start: 0, end: Some(A) },
            KeyRange { start: A, end: Some(B) },
            KeyRange { start: B, end: Some(C) },
            KeyRange { start: C, end: None },
        ]
    );
    let cells: Vec<&str> = ks.shards.iter().map(|s| s.cell.as_str()).collect();
    assert_eq!(cells, ["dc1", "dc1", "dc2", "dc2"]);
    assert_eq!(
        ks.shards[0].primary,
        Tablet {
            addr: "10.0.0.1:3306".into(),
            cell: "dc1".into()
        }
    );
    assert_eq!(
        ks.shards[0].replicas,
        [Tablet {
            addr: "10.0.1.1:3306".into(),
            cell: "dc2".into()
        }]
    );

    let vnames: Vec<&str> = ks.vindexes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        vnames,
        ["hash_id", "email_lkp", "geo", "by_range"],
        "vindexes keep document order"
    );
    let kinds: Vec<&str> = ks.vindexes.iter().map(|v| v.vindex.kind()).collect();
    assert_eq!(kinds, ["hash", "lookup", "region", "range"]);
    assert_eq!(ks.vindex("geo").unwrap().vindex.as_region().unwrap().column(), "region");
    assert!(ks.vindex("nope").is_none());

    let users = ks.table("users").unwrap();
    assert_eq!(
        users.kind,
        TableKind::Sharded {
            column: "id".into(),
            vindex: 0,
            secondary: vec![SecondaryVindex {
                column: "email".into(),
                vindex: 1
            }],
        }
    );
    assert_eq!(
        users.auto_increment,
        Some(AutoIncrement {
            column: "id".into(),
            keyspace: "app_seq".into(),
            table: "users_seq".into(),
            cache: 1000,
        })
    );
    assert_eq!(
        ks.table("customers").unwrap().kind,
        TableKind::Sharded {
            column: "id".into(),
            vindex: 2,
            secondary: vec![]
        }
    );
    assert_eq!(ks.table("countries").unwrap().kind, TableKind::Reference);
    assert!(ks.table("Users").is_none(), "table names are case sensitive");

    let seq = m.keyspace("app_seq").unwrap();
    assert!(!seq.sharded);
    assert_eq!(seq.transaction_mode, TransactionMode::TwoPc, "twopc is the default");
    assert_eq!(seq.only_shard().range, KeyRange::FULL);
    assert_eq!(seq.table("users_seq").unwrap().kind, TableKind::Sequence);
    assert_eq!(
        m.tablet_addrs(),
        [
            "10.0.0.1:3306",
            "10.0.1.1:3306",
            "10.0.0.2:3306",
            "10.0.0.3:3306",
            "10.0.0.4:3306",
            "10.0.0.9:3306"
        ],
        "tablets by keyspace, then shard range"
    );
}

#[test]
fn shard_index_for_is_right_at_the_boundaries() {
    let m = sharded_map();
    let ks = m.keyspace("app").unwrap();
    for (id, want) in [
        (0, 0),
        (1, 0),
        (A - 1, 0),
        (A, 1),
        (A + 1, 1),
        (B - 1, 1),
        (B, 2),
        (C - 1, 2),
        (C, 3),
        (u64::MAX - 1, 3),
        (u64::MAX, 3),
    ] {
        assert_eq!(ks.shard_index_for(id), want, "{id:016x}");
        assert!(ks.shards[want].range.contains(id));
    }
    // Every id belongs to exactly the shard `shard_index_for` names.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let owners: Vec<usize> = (0..ks.shards.len())
            .filter(|&i| ks.shards[i].range.contains(x))
            .collect();
        assert_eq!(owners, [ks.shard_index_for(x)], "{x:016x}");
    }
    let unsharded = m.keyspace("app_seq").unwrap();
    for id in [0, B, u64::MAX] {
        assert_eq!(unsharded.shard_index_for(id), 0);
    }
}

#[test]
fn shard_indexes_in_is_right_at_the_boundaries() {
    let m = sharded_map();
    let ks = m.keyspace("app").unwrap();
    let r = |start: u64, end: Option<u64>| KeyRange { start, end };
    let within = |range: KeyRange| ks.shard_indexes_in(range).collect::<Vec<_>>();
    assert_eq!(within(KeyRange::FULL), [0, 1, 2, 3]);
    assert_eq!(within(r(0, Some(B))), [0, 1], "the end is exclusive");
    assert_eq!(within(r(0, Some(B + 1))), [0, 1, 2]);
    assert_eq!(within(r(A, Some(B))), [1]);
    assert_eq!(within(r(A - 1, Some(A))), [0]);
    assert_eq!(within(r(A - 1, Some(A + 1))), [0, 1]);
    assert_eq!(within(r(B, None)), [2, 3]);
    assert_eq!(within(r(u64::MAX, None)), [3]);
    assert_eq!(within(r(C - 1, None)), [2, 3]);
    assert_eq!(within(r(5, Some(6))), [0]);
    // Against a brute-force overlap check over random ranges.
    let mut x: u64 = 12345;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x
    };
    for _ in 0..2000 {
        let (a, b) = (next(), next());
        let (lo, hi) = (a.min(b), a.max(b));
        let range = if hi == lo || hi % 5 == 0 {
            r(lo, None)
        } else {
            r(lo, Some(hi))
        };
        let last = range.end.map_or(u64::MAX, |e| e - 1);
        let want: Vec<usize> = (ks.shard_index_for(range.start)..=ks.shard_index_for(last)).collect();
        assert_eq!(within(range), want, "{range:?}");
    }
}

#[test]
fn unknown_keys_name_their_path() {
    edit_err(
        "users:\n        column: id",
        "users:\n        colum: id",
        "keyspaces.app.tables.users.colum",
        "unknown field `colum`",
    );
    edit_err(
        "transaction_mode: multi",
        "transaction_mode: multi\n    colour: blue",
        "keyspaces.app.colour",
        "unknown field `colour`",
    );
    edit_err(
        "{ name: \"c0-\", cell: dc2,",
        "{ name: \"c0-\", weight: 2, cell: dc2,",
        "keyspaces.app.shards[2].weight",
        "unknown field `weight`",
    );
    edit_err(
        "{ addr: \"10.0.1.1:3306\", cell: dc2 }",
        "{ addr: \"10.0.1.1:3306\", cell: dc2, lag: 1 }",
        "keyspaces.app.shards[1].replicas[0].lag",
        "unknown field `lag`",
    );
    edit_err(
        "sequence: app_seq.users_seq }",
        "sequence: app_seq.users_seq, start: 1 }",
        "keyspaces.app.tables.users.auto_increment.start",
        "unknown field `start`",
    );
    edit_err(
        "{ column: email, vindex: email_lkp }",
        "{ column: email, vindex: email_lkp, unique: true }",
        "keyspaces.app.tables.users.secondary_vindexes[0].unique",
        "unknown field `unique`",
    );
    edit_err(
        "version: 7",
        "version: 7\nversoin: 8",
        "versoin",
        "unknown field `versoin`",
    );
    edit_err(
        "hash_id: { type: hash }",
        "hash_id: { type: hash, colum: id }",
        "keyspaces.app.vindexes.hash_id.colum",
        "unknown key",
    );
    edit_err(
        "geo: { type: region, column: region,",
        "geo: { type: region, cells: [dc1], column: region,",
        "keyspaces.app.vindexes.geo.cells",
        "unknown key",
    );
    // A missing key names the key that is missing.
    edit_err(
        "{ name: \"c0-\", cell: dc2, primary: \"10.0.0.4:3306\" }",
        "{ name: \"c0-\", cell: dc2 }",
        "keyspaces.app.shards[2].primary",
        "missing field `primary`",
    );
    // Wrong types name the key with the wrong value.
    edit_err("cells: [dc1, dc2]", "cells: dc1", "cells", "invalid type");
    // Locations are given once.
    let e = edit_err(
        "users:\n        column: id",
        "users:\n        colum: id",
        "keyspaces.app.tables.users.colum",
        "line",
    );
    assert_eq!(e.message.matches("line").count(), 1, "{e}");
}

#[test]
fn key_range_coverage_errors() {
    // A gap between -40 and 80-c0.
    edit_err(
        "\"40-80\"",
        "\"50-80\"",
        "keyspaces.app.shards[3].name",
        "key range gap: no shard covers 4000000000000000 up to 5000000000000000",
    );
    // Missing the first range.
    edit_err("\"-40\"", "\"10-40\"", "keyspaces.app.shards[1].name", "key range gap");
    // Overlap: 30-80 overlaps -40.
    edit_err(
        "\"40-80\"",
        "\"30-80\"",
        "keyspaces.app.shards[3].name",
        "overlaps shard \"-40\"",
    );
    // Two shards running to the end.
    edit_err("\"80-c0\"", "\"80-\"", "keyspaces.app.shards[2].name", "overlaps");
    // Missing last range.
    edit_err(
        "\"c0-\"",
        "\"c0-f0\"",
        "keyspaces.app.shards[2].name",
        "no shard covers f000000000000000 to the end of the key space",
    );
    // No shards at all.
    let doc = edit(
        "shards:\n      - { name: \"80-c0\"",
        "shards: []\n    old_shards:\n      - { name: \"80-c0\"",
    );
    let e = err(&doc);
    assert!(e.path.starts_with("keyspaces.app"), "{e}");
    // A sharded keyspace may have one shard covering everything.
    let one = r#"
cells: [dc1]
keyspaces:
  app:
    sharded: true
    vindexes: { h: { type: hash } }
    tables: { t: { column: id, vindex: h } }
    shards: [ { name: "-", cell: dc1, primary: "h:1" } ]
"#;
    let m = ShardMap::from_yaml(one).unwrap();
    assert_eq!(m.keyspaces[0].shards.len(), 1);
    assert_eq!(m.keyspaces[0].shard_index_for(u64::MAX), 0);
    // A duplicate shard overlaps.
    let dup = one.replace(
        "shards: [ { name: \"-\", cell: dc1, primary: \"h:1\" } ]",
        "shards: [ { name: \"-80\", cell: dc1, primary: \"h:1\" }, { name: \"-80\", cell: dc1, primary: \"h:2\" }, { name: \"80-\", cell: dc1, primary: \"h:3\" } ]",
    );
    let e = err(&dup);
    assert!(e.message.contains("overlaps"), "{e}");
}

#[test]
fn table_errors() {
    edit_err(
        "users:\n        column: id\n        vindex: hash_id",
        "users:\n        column: id\n        vindex: hash",
        "keyspaces.app.tables.users.vindex",
        "no vindex named \"hash\"",
    );
    edit_err(
        "orders: { column: user_id, vindex: hash_id }",
        "orders: { column: user_id, vindex: email_lkp }",
        "keyspaces.app.tables.orders.vindex",
        "is a lookup vindex",
    );
    edit_err(
        "{ column: email, vindex: email_lkp }",
        "{ column: email, vindex: hash_id }",
        "keyspaces.app.tables.users.secondary_vindexes[0].vindex",
        "is not a lookup vindex",
    );
    edit_err(
        "{ column: email, vindex: email_lkp }",
        "{ column: email, vindex: nope }",
        "keyspaces.app.tables.users.secondary_vindexes[0].vindex",
        "no vindex named \"nope\"",
    );
    edit_err(
        "countries: { type: reference }",
        "countries: { type: copied }",
        "keyspaces.app.tables.countries.type",
        "not a table type",
    );
    edit_err(
        "countries: { type: reference }",
        "countries: { type: reference, column: code }",
        "keyspaces.app.tables.countries.column",
        "a reference table has no `column`",
    );
    edit_err(
        "countries: { type: reference }",
        "countries: { type: reference, vindex: hash_id }",
        "keyspaces.app.tables.countries.vindex",
        "a reference table has no `vindex`",
    );
    edit_err(
        "countries: { type: reference }",
        "countries: { type: sequence }",
        "keyspaces.app.tables.countries.type",
        "unsharded keyspace",
    );
    edit_err(
        "users_seq: { type: sequence }",
        "users_seq: { type: reference }",
        "keyspaces.app_seq.tables.users_seq.type",
        "reference tables belong to sharded keyspaces",
    );
    edit_err(
        "users_seq: { type: sequence }",
        "users_seq: { column: id, vindex: h }",
        "keyspaces.app_seq.tables.users_seq.type",
        "set `sharded: true`",
    );
    edit_err(
        "items: { column: id, vindex: hash_id }",
        "items: { vindex: hash_id }",
        "keyspaces.app.tables.items.column",
        "column: id",
    );
    edit_err(
        "items: { column: id, vindex: hash_id }",
        "items: { column: id }",
        "keyspaces.app.tables.items.vindex",
        "vindex: hash_id",
    );
    edit_err(
        "countries: { type: reference }",
        "countries: { type: reference, auto_increment: { column: id, sequence: app_seq.users_seq } }",
        "keyspaces.app.tables.countries.auto_increment",
        "only sharded tables",
    );
    // Names are unique within their mapping.
    edit_err(
        "      countries: { type: reference }",
        "      countries: { type: reference }\n      items: { type: reference }",
        "keyspaces.app.tables.items",
        "defined twice",
    );
    edit_err(
        "      geo: { type: region",
        "      hash_id: { type: hash }\n      geo: { type: region",
        "keyspaces.app.vindexes.hash_id",
        "defined twice",
    );
}

#[test]
fn sequence_and_lookup_errors() {
    edit_err(
        "sequence: app_seq.users_seq }",
        "sequence: nowhere.users_seq }",
        "keyspaces.app.tables.users.auto_increment.sequence",
        "no keyspace named \"nowhere\"",
    );
    edit_err(
        "sequence: app_seq.users_seq }",
        "sequence: app.users_seq }",
        "keyspaces.app.tables.users.auto_increment.sequence",
        "is sharded",
    );
    edit_err(
        "sequence: app_seq.users_seq }",
        "sequence: users_seq }",
        "keyspaces.app.tables.users.auto_increment.sequence",
        "keyspace.table",
    );
    edit_err(
        "sequence: app_seq.users_seq }",
        "sequence: app_seq.users_seq, cache: 0 }",
        "keyspaces.app.tables.users.auto_increment.cache",
        "at least 1",
    );
    let m = ShardMap::from_yaml(&edit(
        "sequence: app_seq.users_seq }",
        "sequence: app_seq.users_seq, cache: 5 }",
    ))
    .unwrap();
    let users = m.keyspace("app").unwrap().table("users").unwrap();
    assert_eq!(users.auto_increment.as_ref().unwrap().cache, 5);
    edit_err(
        "table: app_seq.email_idx",
        "table: lookups.email_idx",
        "keyspaces.app.vindexes.email_lkp.table",
        "no keyspace named \"lookups\"",
    );
    edit_err(
        "table: app_seq.email_idx",
        "table: app.email_idx",
        "keyspaces.app.vindexes.email_lkp.table",
        "is sharded",
    );
    edit_err(
        "table: app_seq.email_idx",
        "table: email_idx",
        "keyspaces.app.vindexes.email_lkp.table",
        "keyspace.table",
    );
}

#[test]
fn region_homes_must_match_the_shard_cells() {
    // Region eu (dc1) owns -80; shard 40-80 in dc2 holds part of it.
    edit_err(
        "{ name: \"40-80\", cell: dc1,",
        "{ name: \"40-80\", cell: dc2,",
        "keyspaces.app.vindexes.geo.regions.eu",
        "shard \"40-80\" (cell \"dc2\")",
    );
    // Region us (dc2) owns 80-; shard c0- in dc1.
    edit_err(
        "{ name: \"c0-\", cell: dc2,",
        "{ name: \"c0-\", cell: dc1,",
        "keyspaces.app.vindexes.geo.regions.us",
        "homed in cell \"dc2\"",
    );
    // Three regions split at 5555… and aaaa…: us (dc1) owns 5555…-aaaa…, partly held by shard 80-c0 (dc2).
    edit_err(
        "regions: { eu: dc1, us: dc2 }",
        "regions: { eu: dc1, us: dc1, ap: dc2 }",
        "keyspaces.app.vindexes.geo.regions.us",
        "shard \"80-c0\" (cell \"dc2\") holds part of it",
    );
    edit_err(
        "regions: { eu: dc1, us: dc2 }",
        "regions: { eu: dc1, us: dc3 }",
        "keyspaces.app.vindexes.geo.regions.us",
        "homed in cell \"dc3\"",
    );
    edit_err(
        "geo: { type: region, column: region,",
        "geo: { type: region,",
        "keyspaces.app.vindexes.geo.column",
        "missing",
    );
    edit_err(
        "hash_id: { type: hash }",
        "hash_id: { type: md5 }",
        "keyspaces.app.vindexes.hash_id.type",
        "unknown vindex type",
    );
}

#[test]
fn keyspace_option_errors() {
    edit_err(
        "transaction_mode: multi",
        "transaction_mode: xa",
        "keyspaces.app.transaction_mode",
        "write single, multi or twopc",
    );
    edit_err(
        "transaction_mode: multi",
        "transaction_mode: multi\n    scatter_writes: sometimes",
        "keyspaces.app.scatter_writes",
        "write allow or refuse",
    );
    for (mode, want) in [
        ("single", TransactionMode::Single),
        ("multi", TransactionMode::Multi),
        ("twopc", TransactionMode::TwoPc),
    ] {
        let m = ShardMap::from_yaml(&edit("transaction_mode: multi", &format!("transaction_mode: {mode}"))).unwrap();
        assert_eq!(m.keyspace("app").unwrap().transaction_mode, want);
    }
    for (v, want) in [("allow", true), ("refuse", false)] {
        let m = ShardMap::from_yaml(&edit(
            "transaction_mode: multi",
            &format!("transaction_mode: multi\n    scatter_writes: {v}"),
        ))
        .unwrap();
        assert_eq!(m.keyspace("app").unwrap().scatter_writes, want);
    }
    edit_err(
        "    tables:\n      users_seq",
        "    vindexes: { h: { type: hash } }\n    tables:\n      users_seq",
        "keyspaces.app_seq.vindexes.h",
        "set `sharded: true`",
    );
    edit_err(
        "    shards: [ { name: \"0\", cell: dc1, primary: \"10.0.0.9:3306\" } ]",
        "    shards: [ { name: \"-80\", cell: dc1, primary: \"10.0.0.9:3306\" }, { name: \"80-\", cell: dc1, primary: \"10.0.0.8:3306\" } ]",
        "keyspaces.app_seq.shards",
        "exactly one shard",
    );
    edit_err("  app_seq:", "  sys:", "keyspaces.sys", "system database");
    edit_err("  app_seq:", "  app:", "keyspaces.app", "defined twice");
}

#[test]
fn errors_display_path_and_message() {
    let e = MapError::new("keyspaces.app.shards[0].cell", "cell \"dc9\" is not listed");
    assert_eq!(
        e.to_string(),
        "keyspaces.app.shards[0].cell: cell \"dc9\" is not listed"
    );
}

use crate::test_rng::Lcg;

/// A one-keyspace sharded map with shards named `names`, in that order.
fn layout(names: &[String]) -> String {
    let shards: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("      - {{ name: \"{n}\", cell: dc1, primary: \"10.0.0.{i}:3306\" }}\n"))
        .collect();
    format!(
        "cells: [dc1]\nkeyspaces:\n  app:\n    sharded: true\n    vindexes: {{ h: {{ type: hash }} }}\n    tables: {{ t: {{ column: id, vindex: h }} }}\n    shards:\n{}",
        shards.concat()
    )
}

#[test]
fn property_random_layouts_cover_the_key_space() {
    let mut rng = Lcg(0xc0ffee);
    for case in 0..400 {
        // Distinct split points, as one- or two-byte prefixes.
        let mut bounds: Vec<u64> = (0..1 + rng.index(7))
            .map(|_| {
                if rng.index(2) == 0 {
                    (1 + rng.index(255) as u64) << 56
                } else {
                    (1 + rng.index(65535) as u64) << 48
                }
            })
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let hex = |b: u64| {
            if b.trailing_zeros() >= 56 {
                format!("{:02x}", b >> 56)
            } else {
                format!("{:04x}", b >> 48)
            }
        };
        let sorted: Vec<String> = (0..=bounds.len())
            .map(|i| {
                let lo = if i == 0 { String::new() } else { hex(bounds[i - 1]) };
                let hi = if i == bounds.len() {
                    String::new()
                } else {
                    hex(bounds[i])
                };
                format!("{lo}-{hi}")
            })
            .collect();
        let mut shuffled = sorted.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.index(i + 1));
        }
        let m = ShardMap::from_yaml(&layout(&shuffled)).unwrap_or_else(|e| panic!("case {case}: {shuffled:?}: {e}"));
        let ks = &m.keyspaces[0];
        let names: Vec<&str> = ks.shards.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, sorted, "case {case}: shards are sorted by range");
        for _ in 0..50 {
            let id = match rng.index(3) {
                0 => bounds[rng.index(bounds.len())].wrapping_sub(rng.index(2) as u64),
                _ => rng.next(),
            };
            let want = bounds.iter().filter(|&&b| b <= id).count();
            assert_eq!(ks.shard_index_for(id), want, "case {case}: {id:016x} in {sorted:?}");
        }
        // Without one shard there is a gap; with one twice, an overlap.
        let mut gap = shuffled.clone();
        gap.remove(rng.index(gap.len()));
        let e = err(&layout(&gap));
        assert!(e.path.starts_with("keyspaces.app.shards["), "case {case}: {e}");
        assert!(e.message.contains("key range gap"), "case {case}: {gap:?}: {e}");
        let mut twice = shuffled.clone();
        twice.push(shuffled[rng.index(shuffled.len())].clone());
        let e = err(&layout(&twice));
        assert!(e.message.contains("overlaps"), "case {case}: {twice:?}: {e}");
    }
}

#[test]
fn four_regions_on_four_shards() {
    let doc = edit(
        "regions: { eu: dc1, us: dc2 }",
        "regions: { eu: dc1, af: dc1, us: dc2, ap: dc2 }",
    );
    let m = ShardMap::from_yaml(&doc).unwrap();
    let ks = m.keyspace("app").unwrap();
    let geo = ks.vindex("geo").unwrap().vindex.as_region().unwrap();
    let ranges: Vec<(&str, &str, KeyRange)> = geo
        .regions()
        .iter()
        .map(|(n, c, r)| (n.as_str(), c.as_str(), *r))
        .collect();
    assert_eq!(
        ranges,
        [
            ("eu", "dc1", ks.shards[0].range),
            ("af", "dc1", ks.shards[1].range),
            ("us", "dc2", ks.shards[2].range),
            ("ap", "dc2", ks.shards[3].range),
        ]
    );
    edit_err(
        "regions: { eu: dc1, us: dc2 }",
        "regions: { eu: dc1, af: dc2, us: dc2, ap: dc2 }",
        "keyspaces.app.vindexes.geo.regions.af",
        "shard \"40-80\" (cell \"dc1\")",
    );
}
