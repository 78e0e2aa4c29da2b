//! Merging the result sets of several shards into the one result MySQL would return.
//!
//! (Skeleton: the implementation is being written.)
