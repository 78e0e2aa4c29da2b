use super::cache::plan_once;
use crate::shardmap::tests::sharded_map;

#[test]
fn scratch_explore() {
    let m = sharded_map();
    let sqls = std::fs::read_to_string("/tmp/scratch/sqls.txt").unwrap();
    for sql in sqls.lines().filter(|l| !l.trim().is_empty()) {
        let p = plan_once(sql, &m, "app");
        println!("== {sql}\n   {:?}\n   target {:?}", p.action, p.target);
        if let super::Action::Select(s) = &p.action {
            if let Some(t) = &s.shard_sql {
                let mut params = Vec::new();
                crate::normalize::normalize(sql.as_bytes(), &mut params);
                let vals = super::ParamValues::text(sql.as_bytes(), &params);
                let mut out = Vec::new();
                super::render(t, &vals, Some(99), &mut out);
                println!("   SHARD SQL: {}", String::from_utf8_lossy(&out));
            }
        }
    }
}
