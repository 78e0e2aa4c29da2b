//! The plan cache: plans by (statement shape, keyspace, shard-map generation), shared by all sessions.
//!
//! A hit costs one tokenizer pass ([`normalize`]) and one read-locked hash lookup; `sqlparser` runs only on a miss.
//! Entries of older map generations are never looked up again; when the cache is full it is cleared.

use super::build::build;
use super::{Plan, SharedPlan};
use crate::normalize::{normalize, parser_text, parser_text_with_literals, Param};
use crate::shardmap::ShardMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Plans kept before the cache is cleared.
pub const DEFAULT_CAPACITY: usize = 10_000;

type Key = (u64, u64, usize);

/// A bounded, shared plan cache.
#[derive(Debug)]
pub struct PlanCache {
    plans: RwLock<HashMap<Key, (u64, SharedPlan)>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for PlanCache {
    fn default() -> Self {
        PlanCache::new(DEFAULT_CAPACITY)
    }
}

impl PlanCache {
    /// An empty cache holding at most `capacity` plans.
    pub fn new(capacity: usize) -> PlanCache {
        PlanCache {
            plans: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The plan of `sql` on keyspace `ks_index` of `map`; `generation` identifies the map (a counter the caller
    /// bumps on every swap). Fills `params` with the statement's parameters.
    pub fn plan(
        &self,
        sql: &[u8],
        params: &mut Vec<Param>,
        map: &ShardMap,
        ks_index: usize,
        generation: u64,
    ) -> SharedPlan {
        let digest = normalize(sql, params);
        let key = (digest.hash, generation, ks_index);
        if let Some((check, plan)) = self.plans.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if *check == digest.check {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Arc::clone(plan);
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let ks = &map.keyspaces[ks_index];
        let text = parser_text(sql, params);
        let (plan, parsed) = build(&text, params.len(), map, ks);
        if !parsed && !params.is_empty() {
            // Some statements only parse with their literals in place (`CAST(x AS DECIMAL(10,2))` is fine,
            // `DECIMAL(?1,?2)` is not): plan the original text. Such plans hold their literals, so they are not
            // cached under the shape's digest. Client `?` placeholders are still numbered, as the plan's
            // parameters.
            let raw = parser_text_with_literals(sql, params);
            let (plan, _) = build(&raw, params.len(), map, ks);
            return Arc::new(plan);
        }
        let plan: SharedPlan = Arc::new(plan);
        let mut plans = self.plans.write().unwrap_or_else(|e| e.into_inner());
        if plans.len() >= self.capacity {
            plans.clear();
        }
        plans.insert(key, (digest.check, Arc::clone(&plan)));
        plan
    }

    /// (hits, misses) since start.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Number of cached plans.
    pub fn len(&self) -> usize {
        self.plans.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no plan is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Plans a statement without caching (tests and tools).
pub fn plan_once(sql: &str, map: &ShardMap, keyspace: &str) -> Plan {
    let mut params = Vec::new();
    let cache = PlanCache::new(1);
    let ks = map
        .keyspaces
        .iter()
        .position(|k| k.name == keyspace)
        .expect("keyspace exists");
    let p = cache.plan(sql.as_bytes(), &mut params, map, ks, 0);
    (*p).clone()
}
