//! Access control: the process-wide ACL users, each connection's login, the ACL LOG, and the
//! ACL file. Users live in one shared map that changes rarely (ACL SETUSER, AUTH-related
//! CONFIG SET); every change bumps a generation counter, and a connection re-reads its user
//! only when the counter moved, so the per-command check for an unrestricted user is one
//! relaxed atomic load. It lives in `command` because an ACL id is a command-table row: it
//! consumes the table (through `catalog`), and the table depends on nothing here. Depends on
//! the table and `glob`; never on `server`, sockets, or a command handler.

pub mod catalog;
mod user;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use user::{hash_password, Denial, RuleError, User};

static USERS: LazyLock<RwLock<BTreeMap<String, Arc<User>>>> = LazyLock::new(|| {
    let default = Arc::new(User::default_user());
    RwLock::new(BTreeMap::from([("default".to_string(), default)]))
});

/// Bumped on every change of any user.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The default user is `nopass` and on: connections need no AUTH (Redis's !authRequired).
static DEFAULT_OPEN: AtomicBool = AtomicBool::new(true);

/// acl-pubsub-default is allchannels: new users (and `reset`) get every channel.
pub static PUBSUB_ALL_CHANNELS: AtomicBool = AtomicBool::new(false);

/// acllog-max-len.
pub static LOG_MAX_LEN: AtomicUsize = AtomicUsize::new(128);

/// True when the default user needs no password (protected mode applies).
pub fn default_nopass() -> bool {
    user(b"default").is_some_and(|u| u.nopass)
}

/// Redis's authRequired for a connection that has not authenticated.
pub fn auth_required_by_default() -> bool {
    !DEFAULT_OPEN.load(Relaxed)
}

/// A user by name.
pub fn user(name: &[u8]) -> Option<Arc<User>> {
    let users = USERS.read().unwrap_or_else(|e| e.into_inner());
    users.get(String::from_utf8_lossy(name).as_ref()).cloned()
}

/// Every user, by name.
pub fn users() -> Vec<Arc<User>> {
    let users = USERS.read().unwrap_or_else(|e| e.into_inner());
    users.values().cloned().collect()
}

/// Changes the user set under the lock; connections see the change at their next command.
pub fn update<R>(change: impl FnOnce(&mut BTreeMap<String, Arc<User>>) -> R) -> R {
    let mut users = USERS.write().unwrap_or_else(|e| e.into_inner());
    let result = change(&mut users);
    users
        .entry("default".to_string())
        .or_insert_with(|| Arc::new(User::default_user()));
    let default = &users["default"];
    DEFAULT_OPEN.store(default.nopass && default.enabled, Relaxed);
    GENERATION.fetch_add(1, Relaxed);
    result
}

/// requirepass: resets the default user's passwords to `password`, or makes it nopass.
pub fn set_default_password(password: &[u8]) {
    update(|users| {
        let mut default = users
            .get("default")
            .map_or_else(User::default_user, |u| (**u).clone());
        let _ = default.apply(b"resetpass");
        if password.is_empty() {
            let _ = default.apply(b"nopass");
        } else {
            let mut op = vec![b'>'];
            op.extend_from_slice(password);
            let _ = default.apply(&op);
        }
        users.insert("default".into(), Arc::new(default));
    });
}

/// A connection's identity: its user and whether it authenticated.
pub struct Login {
    pub user: Arc<User>,
    /// AUTH succeeded, or the default user needed no password when the connection began.
    pub authenticated: bool,
    generation: u64,
    unrestricted: bool,
}

impl Default for Login {
    fn default() -> Self {
        let generation = GENERATION.load(Relaxed);
        let user = user(b"default").unwrap_or_else(|| Arc::new(User::default_user()));
        Login {
            authenticated: user.nopass && user.enabled,
            unrestricted: user.unrestricted(),
            user,
            generation,
        }
    }
}

impl Login {
    /// True when the call needs no further look: authenticated (or no AUTH needed), an
    /// unrestricted user, and no ACL change since the last look.
    #[inline]
    pub fn passes(&self) -> bool {
        self.unrestricted
            && self.generation == GENERATION.load(Relaxed)
            && (self.authenticated || DEFAULT_OPEN.load(Relaxed))
    }

    /// Re-reads the user after an ACL change; false when the user was deleted.
    pub fn refresh(&mut self) -> bool {
        let generation = GENERATION.load(Relaxed);
        if generation == self.generation {
            return true;
        }
        self.generation = generation;
        match user(self.user.name.as_bytes()) {
            Some(user) => {
                self.unrestricted = user.unrestricted();
                self.user = user;
                true
            }
            None => {
                self.unrestricted = false;
                false
            }
        }
    }

    /// Redis's authRequired: not authenticated and the default user wants a password.
    pub fn auth_required(&self) -> bool {
        !self.authenticated && !DEFAULT_OPEN.load(Relaxed)
    }

    /// Logs in as `user`.
    pub fn login(&mut self, user: Arc<User>) {
        self.generation = GENERATION.load(Relaxed);
        self.unrestricted = user.unrestricted();
        self.user = user;
        self.authenticated = true;
    }
}

/// Checks a username and password: the user when they match and it is on.
pub fn authenticate(username: &[u8], password: &[u8]) -> Option<Arc<User>> {
    user(username).filter(|u| u.password_ok(password))
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: String,
    pub username: String,
    /// Unix milliseconds of the latest occurrence.
    pub ctime_ms: u64,
    pub client_info: String,
}

static LOG: Mutex<VecDeque<LogEntry>> = Mutex::new(VecDeque::new());

/// Entries this close in time with the same reason, context, object and user are counted in one.
const LOG_GROUPING_MS: u64 = 60_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Records a refusal (newest first), as Redis's addACLLogEntry.
pub fn log(
    reason: &'static str,
    context: &'static str,
    object: String,
    username: String,
    client_info: String,
) {
    let now = now_ms();
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let same = log.iter().position(|e| {
        e.reason == reason
            && e.context == context
            && now.saturating_sub(e.ctime_ms) < LOG_GROUPING_MS
            && e.object == object
            && e.username == username
    });
    let entry = match same.and_then(|i| log.remove(i)) {
        Some(mut e) => {
            e.count += 1;
            e.ctime_ms = now;
            e.client_info = client_info;
            e
        }
        None => LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime_ms: now,
            client_info,
        },
    };
    log.push_front(entry);
    log.truncate(LOG_MAX_LEN.load(Relaxed));
}

/// Reads the newest `count` entries through `read`.
pub fn with_log<R>(read: impl FnOnce(&VecDeque<LogEntry>, u64) -> R) -> R {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    read(&log, now_ms())
}

/// ACL LOG RESET.
pub fn reset_log() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// The ACL file text for the current users.
pub fn file_text() -> String {
    users()
        .iter()
        .map(|u| format!("user {} {}\n", u.name, u.describe()))
        .collect()
}

/// Writes the users to `path` (through a temporary file and a rename).
pub fn save(path: &str) -> std::io::Result<()> {
    let temp = format!("{path}.tmp-{}-{}", std::process::id(), now_ms());
    std::fs::write(&temp, file_text())?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Parses an ACL file; Err holds Redis's error text. Nothing changes on error.
pub fn parse_file(path: &str, text: &str) -> Result<BTreeMap<String, Arc<User>>, String> {
    let mut errors = String::new();
    let mut users: BTreeMap<String, Arc<User>> = BTreeMap::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        let number = i + 1;
        if words.len() < 2 || words[0] != "user" {
            errors.push_str(&format!(
                "{path}:{number} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1];
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {number}. "
            ));
            continue;
        }
        let mut user = User::new(name);
        let mut syntax_reported = false;
        for op in &words[2..] {
            let op = op.trim_matches(['\t', '\r', '\n']);
            if let Err(e) = user.apply(op.as_bytes()) {
                if e == RuleError::UnknownName {
                    errors.push_str(&format!(
                        "{path}:{number}: Error in applying operation '{op}': {}. ",
                        e.message()
                    ));
                } else if !syntax_reported {
                    errors.push_str(&format!("{path}:{number}: {}. ", e.message()));
                    syntax_reported = true;
                }
            }
        }
        users.insert(name.to_string(), Arc::new(user));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    users
        .entry("default".to_string())
        .or_insert_with(|| Arc::new(User::default_user()));
    Ok(users)
}

/// Creates the users of the configuration's `user` directives (name first, then rules); a
/// `default` line starts from a reset default user. Err: the rule that failed, as Redis
/// words it.
pub fn load_configured(lines: &[Vec<String>]) -> Result<(), String> {
    let mut loaded = Vec::with_capacity(lines.len());
    for words in lines {
        let name = &words[0];
        let mut user = User::new(name);
        if name == "default" {
            user = self::user(b"default").map_or_else(User::default_user, |u| (*u).clone());
            let _ = user.apply(b"reset");
        }
        for rule in &words[1..] {
            user.apply(rule.as_bytes()).map_err(|e| {
                format!(
                    "Error loading ACL rule '{rule}' for the user named '{name}': {}",
                    e.message()
                )
            })?;
        }
        loaded.push(user);
    }
    update(|users| {
        for user in loaded {
            users.insert(user.name.clone(), Arc::new(user));
        }
    });
    Ok(())
}

/// Replaces every user with the ACL file's.
pub fn load(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {e}"))?;
    let loaded = parse_file(path, &text)?;
    update(|users| *users = loaded);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_roundtrip_and_errors() {
        let text = "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~foo* resetchannels &ch* +@all -@dangerous\nuser default on nopass ~* &* +@all\n";
        let users = parse_file("f.acl", text).unwrap();
        let again: String = users
            .values()
            .map(|u| format!("user {} {}\n", u.name, u.describe()))
            .collect();
        assert_eq!(again, text);
        assert_eq!(
            parse_file("f.acl", "user x +nosuch\nfoo\n").unwrap_err(),
            "f.acl:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. f.acl:2 should start with user keyword followed by the username. "
        );
        let users = parse_file("f.acl", "user bob on >pw\n").unwrap();
        assert!(users.contains_key("default"));
        assert!(users["bob"].password_ok(b"pw"));
    }
}
