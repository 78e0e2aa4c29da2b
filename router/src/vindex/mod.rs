//! Vindexes: functions from a shard-key value to a 64-bit keyspace id, behind one trait, built by type name.
//!
//! (Skeleton: the implementation is being written.)
