//! The live client sessions by connection id, so `KILL [QUERY] <id>` (the id clients got in their greeting) acts on
//! the right proxy session: it cancels the statement that session is running on its backend, never a statement of
//! whichever session happens to use a backend thread with that number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What other sessions may see of, and do to, one session.
pub struct SessionHandle {
    /// Connection id (the greeting's).
    pub id: u32,
    user: Mutex<String>,
    /// The backend (`addr`, thread id) running this session's statement, if one is running. A killer holds this
    /// lock while its `KILL QUERY` is in flight, and the session clears the entry under the same lock before it
    /// may return the connection to the pool, so a kill can never hit a connection another session got since.
    pub running: tokio::sync::Mutex<Option<(Arc<str>, u32)>>,
    killed: AtomicBool,
    kill: Notify,
}

impl SessionHandle {
    /// The session's current user.
    pub fn user(&self) -> String {
        self.user.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a new user after COM_CHANGE_USER.
    pub fn set_user(&self, user: &str) {
        *self.user.lock().unwrap_or_else(|e| e.into_inner()) = user.to_string();
    }

    /// Asks the session to close (KILL CONNECTION).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }

    /// True once the session has been killed.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Completes when the session is killed.
    pub async fn killed(&self) {
        self.kill.notified().await
    }
}

/// All live sessions.
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<u32, Arc<SessionHandle>>>,
}

impl SessionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<SessionHandle>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a session; it is removed when the returned guard drops.
    pub fn register(self: &Arc<Self>, id: u32, user: &str) -> Registered {
        let handle = Arc::new(SessionHandle {
            id,
            user: Mutex::new(user.to_string()),
            running: tokio::sync::Mutex::new(None),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        });
        self.lock().insert(id, handle.clone());
        Registered {
            registry: self.clone(),
            handle,
        }
    }

    /// The session with connection id `id`.
    pub fn get(&self, id: u64) -> Option<Arc<SessionHandle>> {
        u32::try_from(id).ok().and_then(|id| self.lock().get(&id).cloned())
    }
}

/// A session's registration; dropping it removes the session from the registry.
pub struct Registered {
    registry: Arc<SessionRegistry>,
    /// The session's handle.
    pub handle: Arc<SessionHandle>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.handle.id);
    }
}
