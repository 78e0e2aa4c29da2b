//! Child processes of the harness: spawning them so they cannot outlive the test process, signals, bounded waits.
//!
//! Every long-running child (servers, proxies) is killed by the `Drop` of the value that owns it, also while a test
//! panics. That does not cover a test process that is itself killed (`SIGKILL`, a CI timeout), so children are also
//! spawned with `PR_SET_PDEATHSIG(SIGKILL)`: the kernel kills them when their parent dies. The "parent" for that
//! setting is the *thread* that forked, not the process, and tokio's worker and blocking threads come and go; so all
//! children are forked by one dedicated thread that lives as long as the process ([`spawn`] sends the command to it
//! and waits for the result). Any thread may later signal and wait for the child: waiting is per process.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A spawn request for the spawner thread and where to send the result.
struct Request {
    cmd: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// The channel to the spawner thread, which is started on first use and never exits.
fn spawner() -> &'static Mutex<mpsc::Sender<Request>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("shardgate-tests-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop never ends and the thread (the children's
                // "parent" for PR_SET_PDEATHSIG) lives until the process exits.
                for mut req in rx {
                    let _ = req.reply.send(spawn_here(&mut req.cmd));
                }
            })
            .expect("start the harness's spawner thread");
        Mutex::new(tx)
    })
}

/// Forks `cmd` on the current thread with `PR_SET_PDEATHSIG(SIGKILL)` set in the child.
fn spawn_here(cmd: &mut Command) -> io::Result<Child> {
    // SAFETY: `getpid` before the fork; in the child only async-signal-safe calls (`prctl`, `getppid`).
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would ever kill us.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Spawns `cmd` so that the kernel kills it (SIGKILL) when the test process exits or dies, however that happens.
///
/// Use it for any long-running helper process a test starts (the harness uses it for `mariadbd` and the proxy).
/// The caller still owns the [`Child`] and should kill and wait for it when done, e.g. with [`kill_and_wait`].
pub fn spawn(cmd: Command) -> io::Result<Child> {
    let (reply, result) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(Request { cmd, reply })
        .map_err(|_| io::Error::other("the harness's spawner thread is gone"))?;
    result
        .recv()
        .map_err(|_| io::Error::other("the harness's spawner thread dropped a request"))?
}

/// Sends signal `sig` (e.g. `libc::SIGTERM`) to `child`; a no-op if it has already been waited for.
pub fn signal(child: &mut Child, sig: libc::c_int) -> io::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    // SAFETY: plain syscall; the child is not reaped yet (checked above), so the pid is still ours.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running then.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills `child` with SIGKILL (unless it already exited) and reaps it, so no zombie is left behind.
pub fn kill_and_wait(child: &mut Child) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    // `kill` fails only if the child exited in the meantime; `wait` reaps it either way.
    let _ = child.kill();
    child.wait()
}

/// The last `lines` lines of the file at `path` (at most its last 64 KiB), or a note saying why it cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    tail_from(path, 0, lines)
}

/// Like [`tail`], but ignoring the file's first `from` bytes (e.g. what an earlier run of a server wrote).
pub fn tail_from(path: &Path, from: u64, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let read = || -> io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(MAX).max(from)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}
