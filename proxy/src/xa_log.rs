//! The two-phase-commit decision log: one fsync'd file per committing XA transaction.
//!
//! The proxy writes a transaction's record after every branch is prepared and before it sends the first
//! `XA COMMIT`; the record is the commit decision. It is deleted once every branch has committed. After a crash,
//! [`XaLog::pending`] lists decided transactions: their prepared branches are committed, and prepared branches of
//! this proxy with no record are rolled back (the crash came before the decision).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The log directory.
#[derive(Debug, Clone)]
pub struct XaLog {
    dir: PathBuf,
}

/// One decided transaction: its global id and its branches (backend address, branch qualifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Global transaction id.
    pub gtrid: String,
    /// Branches: backend address and branch qualifier.
    pub branches: Vec<(String, String)>,
}

impl XaLog {
    /// Opens (creating) the log directory.
    pub fn open(dir: &Path) -> std::io::Result<XaLog> {
        fs::create_dir_all(dir)?;
        Ok(XaLog { dir: dir.to_path_buf() })
    }

    fn path(&self, gtrid: &str) -> PathBuf {
        self.dir.join(format!("{gtrid}.commit"))
    }

    /// Durably records the commit decision for `d` (file and directory fsync'd before returning).
    pub fn record(&self, d: &Decision) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{}.tmp", d.gtrid));
        let mut f = fs::File::create(&tmp)?;
        for (addr, bqual) in &d.branches {
            writeln!(f, "{addr} {bqual}")?;
        }
        f.sync_all()?;
        fs::rename(&tmp, self.path(&d.gtrid))?;
        fs::File::open(&self.dir)?.sync_all()
    }

    /// Forgets a transaction whose branches all committed.
    pub fn done(&self, gtrid: &str) {
        if let Err(e) = fs::remove_file(self.path(gtrid)) {
            tracing::warn!(gtrid, error = %e, "could not remove an XA decision record");
        }
    }

    /// Every decided transaction still on record.
    pub fn pending(&self) -> std::io::Result<Vec<Decision>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(gtrid) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".commit"))
            else {
                continue;
            };
            let branches = fs::read_to_string(&path)?
                .lines()
                .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
                .collect();
            out.push(Decision {
                gtrid: gtrid.to_string(),
                branches,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let log = XaLog::open(dir.path()).unwrap();
        let d = Decision {
            gtrid: "sg-p-1-2".into(),
            branches: vec![("127.0.0.1:1".into(), "0".into()), ("127.0.0.1:2".into(), "1".into())],
        };
        log.record(&d).unwrap();
        let again = XaLog::open(dir.path()).unwrap();
        assert_eq!(again.pending().unwrap(), vec![d]);
        again.done("sg-p-1-2");
        assert!(log.pending().unwrap().is_empty());
    }
}
