//! The connection-local state that pins a session, tracked so the pin is released when the state is gone: temporary
//! tables until dropped, named locks until released, table locks until UNLOCK TABLES, SQL-level prepared statements
//! until deallocated, and `SQL_CALC_FOUND_ROWS` until the next statement has run (it may read `FOUND_ROWS()`).

use shardgate_router::PinChange;
use std::collections::HashSet;

/// What the session's pinned connection holds that the proxy can see go away.
#[derive(Debug, Default)]
pub(super) struct PinLedger {
    temporary_tables: HashSet<String>,
    named_locks: HashSet<String>,
    table_locks: bool,
    sql_prepared: HashSet<String>,
    found_rows: bool,
}

impl PinLedger {
    /// True while any tracked state lives on the connection.
    pub(super) fn holds_state(&self) -> bool {
        !self.temporary_tables.is_empty()
            || !self.named_locks.is_empty()
            || self.table_locks
            || !self.sql_prepared.is_empty()
            || self.found_rows
    }

    /// Records the changes of a statement that succeeded.
    pub(super) fn apply(&mut self, changes: &[PinChange]) {
        let mut calc = false;
        for c in changes {
            match c {
                PinChange::CreateTemporaryTable(n) => {
                    self.temporary_tables.insert(n.clone());
                }
                PinChange::DropTemporaryTable(n) => {
                    self.temporary_tables.remove(n);
                }
                PinChange::GetLock(n) => {
                    self.named_locks.insert(n.to_lowercase());
                }
                PinChange::ReleaseLock(n) => {
                    self.named_locks.remove(&n.to_lowercase());
                }
                PinChange::ReleaseAllLocks => self.named_locks.clear(),
                PinChange::LockTables => self.table_locks = true,
                // UNLOCK TABLES also ends a FLUSH TABLES … WITH READ LOCK, which is a sticky pin.
                PinChange::UnlockTables => self.table_locks = false,
                PinChange::Prepare(n) => {
                    self.sql_prepared.insert(n.to_lowercase());
                }
                PinChange::Deallocate(n) => {
                    self.sql_prepared.remove(&n.to_lowercase());
                }
                PinChange::CalcFoundRows => calc = true,
            }
        }
        self.found_rows = calc;
    }

    /// Forgets everything (the connection was reset or lost).
    pub(super) fn clear(&mut self) {
        *self = PinLedger::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_come_and_go_with_their_state() {
        let mut l = PinLedger::default();
        l.apply(&[PinChange::CreateTemporaryTable("t".into())]);
        assert!(l.holds_state());
        l.apply(&[PinChange::GetLock("Job".into())]);
        l.apply(&[PinChange::DropTemporaryTable("t".into())]);
        assert!(l.holds_state(), "the lock is still held");
        l.apply(&[PinChange::ReleaseLock("JOB".into())]);
        assert!(!l.holds_state(), "lock names are case-insensitive");
        l.apply(&[PinChange::CalcFoundRows]);
        assert!(l.holds_state());
        l.apply(&[]);
        assert!(!l.holds_state(), "released after the next statement");
        l.apply(&[PinChange::GetLock(String::new())]);
        l.apply(&[PinChange::ReleaseAllLocks]);
        assert!(!l.holds_state());
    }
}
