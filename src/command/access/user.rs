//! One ACL user: flags, password hashes and its permissions (commands as a bitmap over ACL ids,
//! key patterns, channel patterns), how ACL SETUSER rules change it, how ACL LIST describes
//! it, and the per-call check. Redis 7.0's root selector only (no `(...)` selectors).

use sha2::{Digest, Sha256};

use super::catalog::{self, ENTRIES};
use crate::glob::glob_match;

/// Why a call was refused (ACL LOG `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    Command,
    Key,
    Channel,
}

/// Why an ACL SETUSER rule was refused; `message` is Redis's text for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownName,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelsAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

/// A key pattern with the access it grants (`~p` both, `%R~p` read, `%W~p` write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.pattern);
        match (self.read, self.write) {
            (true, true) => format!("~{text}"),
            (true, false) => format!("%R~{text}"),
            _ => format!("%W~{text}"),
        }
    }
}

/// The payload-sanitising flag (accepted and reported; RESTORE does not exist here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sanitize {
    Unset,
    On,
    Skip,
}

/// What the user may run and touch.
#[derive(Clone, Debug)]
struct Permissions {
    /// One bit per ACL id (see `catalog`).
    allowed: Vec<u64>,
    /// Redis's reserved "future commands" bit: set only by `+@all` / `allcommands`.
    future: bool,
    /// Skip the bitmap test altogether (`+@all` with nothing removed since).
    all_commands: bool,
    /// Allowed first arguments of otherwise blocked commands (`+select|0`), by id.
    firstargs: Vec<(usize, Vec<Vec<u8>>)>,
    keys: Vec<KeyPattern>,
    all_keys: bool,
    channels: Vec<Vec<u8>>,
    all_channels: bool,
}

impl Permissions {
    fn none() -> Self {
        Permissions {
            allowed: vec![0; catalog::count().div_ceil(64)],
            future: false,
            all_commands: false,
            firstargs: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels: false,
        }
    }

    /// A new user's (or a reset one's): nothing, but every channel when acl-pubsub-default
    /// is allchannels.
    fn new_user() -> Self {
        let mut perms = Permissions::none();
        perms.all_channels = super::PUBSUB_ALL_CHANNELS.load(std::sync::atomic::Ordering::Relaxed);
        perms
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, value: bool) {
        if value {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// Allows or blocks one command; a container's subcommands follow it.
    fn change(&mut self, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.retain(|(i, _)| *i != id);
        if ENTRIES[id].parent.is_none() {
            for sub in catalog::subcommands_of(id) {
                self.set_bit(sub, allow);
            }
        }
    }

    fn change_category(&mut self, category: u32, allow: bool) {
        for (id, entry) in ENTRIES.iter().enumerate() {
            if entry.categories & category != 0 {
                self.change(id, allow);
            }
        }
    }

    fn set_all(&mut self, allow: bool) {
        let fill = if allow { u64::MAX } else { 0 };
        self.allowed.iter_mut().for_each(|w| *w = fill);
        self.future = allow;
        self.all_commands = allow;
        self.firstargs.clear();
    }

    /// Commands in `category` that are (on) and are not (off) allowed.
    fn count_category(&self, category: u32) -> (usize, usize) {
        let mut counts = (0, 0);
        for (id, entry) in ENTRIES.iter().enumerate() {
            if entry.categories & category != 0 {
                if self.bit(id) {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
            }
        }
        counts
    }

    /// The command rules that rebuild this bitmap: `+@all` or `-@all`, the categories that fit
    /// best, then single commands — Redis 7.0's ACLDescribeSelectorCommandRules.
    fn describe_commands(&self) -> String {
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = Permissions::none();
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = vec![false; catalog::CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.change_category(1 << j, additive);
            temp.change_category(1 << j, !additive);
            let sign = if additive { "+@" } else { "-@" };
            rules.push(format!("{sign}{}", catalog::CATEGORIES[j]));
            applied[j] = true;
        }
        for (id, entry) in ENTRIES.iter().enumerate() {
            let mine = self.bit(id);
            if mine != fake.bit(id) {
                rules.push(format!(
                    "{}{}",
                    if mine { '+' } else { '-' },
                    entry.fullname
                ));
                fake.change(id, mine);
            }
            if !mine {
                if let Some((_, args)) = self.firstargs.iter().find(|(i, _)| *i == id) {
                    for arg in args {
                        rules.push(format!(
                            "+{}|{}",
                            entry.fullname,
                            String::from_utf8_lossy(arg)
                        ));
                    }
                }
            }
        }
        rules.join(" ")
    }

    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
        } else if op.len() > 1 && op[1] == b'@' && (op[0] == b'+' || op[0] == b'-') {
            let category = catalog::category_bit(&op[2..]).ok_or(RuleError::UnknownName)?;
            self.change_category(category, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow(&op[1..])?;
        } else if op[0] == b'-' {
            let id = catalog::id_of(&op[1..]).ok_or(RuleError::UnknownName)?;
            self.change(id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeysAfterAll);
        }
        let (mut read, mut write, mut offset) = (false, false, 1);
        if op[0] == b'%' {
            let mut ok = false;
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if !read => read = true,
                    b'W' if !write => write = true,
                    b'~' => {
                        offset += 1;
                        ok = true;
                        break;
                    }
                    _ => break,
                }
                offset += 1;
            }
            if !ok || !(read || write) {
                return Err(RuleError::Syntax);
            }
        } else {
            (read, write) = (true, true);
        }
        let pattern = &op[offset..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(existing) => {
                existing.read |= read;
                existing.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        Ok(())
    }

    /// `+name`, `+container|sub` or `+command|first-arg`.
    fn allow(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let id = catalog::id_of(name).ok_or(RuleError::UnknownName)?;
            self.change(id, true);
            return Ok(());
        };
        let (command, sub) = (&name[..bar], &name[bar + 1..]);
        let id = catalog::id_of(command).ok_or(RuleError::UnknownName)?;
        if ENTRIES[id].parent.is_some() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if catalog::subcommands_of(id).next().is_some() {
            let sub_id = catalog::id_of(name).ok_or(RuleError::UnknownName)?;
            self.change(sub_id, true);
        } else {
            let lower = sub.to_ascii_lowercase();
            match self.firstargs.iter_mut().find(|(i, _)| *i == id) {
                Some((_, args)) if !args.contains(&lower) => args.push(lower),
                Some(_) => {}
                None => self.firstargs.push((id, vec![lower])),
            }
        }
        Ok(())
    }
}

fn has_spaces(text: &[u8]) -> bool {
    text.iter().any(|&c| c.is_ascii_whitespace() || c == 0)
}

/// Lower-case hex SHA-256 of a password, as ACL stores and shows passwords.
pub fn hash_password(password: &[u8]) -> String {
    Sha256::digest(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_hash(hash: &[u8]) -> bool {
    hash.len() == 64 && hash.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// An ACL user.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    sanitize: Sanitize,
    passwords: Vec<String>,
    perms: Permissions,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no commands or keys, and no
    /// channels unless acl-pubsub-default says all.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Unset,
            passwords: Vec::new(),
            perms: Permissions::new_user(),
        }
    }

    /// The `default` user at start: on, nopass, every command, key and channel.
    pub fn default_user() -> User {
        let mut user = User::new("default");
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = user.apply(op.as_bytes());
        }
        user
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Sanitize::Skip;
        } else if is("sanitize-payload") {
            self.sanitize = Sanitize::On;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if is("clearselectors") {
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            self.perms = Permissions::new_user();
            self.enabled = false;
            self.sanitize = Sanitize::On;
        } else if op[0] == b'(' {
            return Err(RuleError::Syntax);
        } else {
            self.perms.apply(op)?;
        }
        Ok(())
    }

    /// True when `password` logs this user in.
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = hash_password(password);
        self.passwords
            .iter()
            .fold(false, |found, p| found | constant_time_eq(p, &hash))
    }

    /// True when nothing is restricted: every command, key and channel.
    pub fn unrestricted(&self) -> bool {
        self.perms.all_commands && self.perms.all_keys && self.perms.all_channels
    }

    /// Checks one call: `id` from `catalog::id_for_call`, its keys with the access they need,
    /// its channels (`pattern` when they are PSUBSCRIBE patterns, compared literally).
    /// On refusal returns the reason and the argument at fault (for ACL LOG).
    pub fn check<'k>(
        &self,
        id: usize,
        first_arg: Option<&[u8]>,
        keys: impl Iterator<Item = (bool, bool, &'k [u8])>,
        channels: (&[bytes::Bytes], bool),
    ) -> Result<(), (Denial, Option<Vec<u8>>)> {
        let p = &self.perms;
        if !p.all_commands && !p.bit(id) {
            let allowed = first_arg.is_some_and(|arg| {
                p.firstargs
                    .iter()
                    .find(|(i, _)| *i == id)
                    .is_some_and(|(_, args)| args.iter().any(|a| a.eq_ignore_ascii_case(arg)))
            });
            if !allowed {
                return Err((Denial::Command, None));
            }
        }
        if !p.all_keys {
            for (read, write, key) in keys {
                let ok = p.keys.iter().any(|k| {
                    (k.read || !read) && (k.write || !write) && glob_match(&k.pattern, key, false)
                });
                if !ok {
                    return Err((Denial::Key, Some(key.to_vec())));
                }
            }
        }
        let (list, patterns) = channels;
        if let Some(channel) = list.iter().find(|c| !self.channel_allowed(c, patterns)) {
            return Err((Denial::Channel, Some(channel.to_vec())));
        }
        Ok(())
    }

    /// Whether this user's channels still grant everything `original`'s did, judged as Redis
    /// does before closing subscribers: every channel, or a superset of the original's literal
    /// list (an original with every channel is kept only by every channel).
    pub fn keeps_channels_of(&self, original: &User) -> bool {
        self.perms.all_channels
            || (!original.perms.all_channels
                && original
                    .perms
                    .channels
                    .iter()
                    .all(|c| self.perms.channels.contains(c)))
    }

    /// Whether a subscription to `name` (a pattern when `pattern`: compared literally) is
    /// allowed.
    pub fn channel_allowed(&self, name: &[u8], pattern: bool) -> bool {
        self.perms.all_channels
            || self.perms.channels.iter().any(|c| {
                if pattern {
                    c.as_slice() == name
                } else {
                    glob_match(c, name, false)
                }
            })
    }

    /// The flags ACL LIST and GETUSER show, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize {
            Sanitize::Skip => flags.push("skip-sanitize-payload"),
            Sanitize::On => flags.push("sanitize-payload"),
            Sanitize::Unset => {}
        }
        flags
    }

    /// Password hashes (hex), in the order they were added.
    pub fn passwords(&self) -> &[String] {
        &self.passwords
    }

    /// Command rules as GETUSER shows them (`+@all -@dangerous`).
    pub fn command_rules(&self) -> String {
        self.perms.describe_commands()
    }

    /// Key patterns as GETUSER shows them (`~*`, `~a* %R~b*`).
    pub fn key_rules(&self) -> String {
        if self.perms.all_keys {
            return "~*".into();
        }
        let list: Vec<String> = self.perms.keys.iter().map(KeyPattern::describe).collect();
        list.join(" ")
    }

    /// Channel patterns as GETUSER shows them (`&*`, `&a &b`).
    pub fn channel_rules(&self) -> String {
        if self.perms.all_channels {
            return "&*".into();
        }
        let list: Vec<String> = self
            .perms
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        list.join(" ")
    }

    /// The rules after `user NAME` in ACL LIST and the ACL file.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.flags().iter().map(|f| f.to_string()).collect();
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        let keys = self.key_rules();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.perms.all_channels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            let channels = self.channel_rules();
            if !channels.is_empty() {
                parts.push(channels);
            }
        }
        parts.push(self.command_rules());
        parts.join(" ")
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ops: &[&str]) -> User {
        let mut u = User::new("u");
        for op in ops {
            u.apply(op.as_bytes()).unwrap();
        }
        u
    }

    #[test]
    fn describes_like_redis() {
        assert_eq!(
            User::default_user().describe(),
            "on nopass ~* &* +@all".to_string()
        );
        assert_eq!(User::new("x").describe(), "off resetchannels -@all");
        let u = user(&["on", ">pw", "+@all", "-@dangerous", "+get", "~foo*", "&ch*"]);
        assert_eq!(
            u.describe(),
            "on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~foo* resetchannels &ch* +@all -@dangerous"
        );
        let u = user(&["-@all", "+get", "+set", "-@all", "+ping"]);
        assert_eq!(u.command_rules(), "-@all +ping");
        let u = user(&["~k*", "%R~r*", "%W~w*", "%W~k*"]);
        assert_eq!(u.key_rules(), "~k* %R~r* %W~w*");
        let u = user(&["reset"]);
        assert_eq!(u.describe(), "off sanitize-payload resetchannels -@all");
    }

    #[test]
    fn rule_errors() {
        let mut u = User::new("u");
        assert_eq!(u.apply(b"+nosuch"), Err(RuleError::UnknownName));
        assert_eq!(u.apply(b"#abc"), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"foo"), Err(RuleError::Syntax));
        assert_eq!(u.apply(b"<nope"), Err(RuleError::NoSuchPassword));
        u.apply(b"allkeys").unwrap();
        assert_eq!(u.apply(b"~x"), Err(RuleError::KeysAfterAll));
        u.apply(b"allchannels").unwrap();
        assert_eq!(u.apply(b"&x"), Err(RuleError::ChannelsAfterAll));
        assert_eq!(u.apply(b"%X~x"), Err(RuleError::KeysAfterAll));
        assert_eq!(
            u.apply(b"+config|get|x"),
            Err(RuleError::FirstArgOfSubcommand)
        );
    }

    #[test]
    fn checks_commands_keys_channels() {
        let u = user(&["on", "nopass", "-@all", "+get", "+select|0", "~k*", "&ch"]);
        let get = catalog::id_of(b"get").unwrap();
        let set = catalog::id_of(b"set").unwrap();
        let select = catalog::id_of(b"select").unwrap();
        let none: &[bytes::Bytes] = &[];
        let key = |k: &'static [u8]| std::iter::once((true, false, k));
        assert!(u.check(get, None, key(b"k1"), (none, false)).is_ok());
        assert_eq!(
            u.check(get, None, key(b"x"), (none, false)),
            Err((Denial::Key, Some(b"x".to_vec())))
        );
        assert!(u.check(set, None, key(b"k1"), (none, false)).is_err());
        assert!(u
            .check(select, Some(b"0"), key(b"k"), (none, false))
            .is_ok());
        assert!(u
            .check(select, Some(b"1"), key(b"k"), (none, false))
            .is_err());
        let chans = [bytes::Bytes::from_static(b"ch")];
        assert!(u
            .check(get, None, std::iter::empty(), (&chans, false))
            .is_ok());
        let other = [bytes::Bytes::from_static(b"c*")];
        assert!(u
            .check(get, None, std::iter::empty(), (&other, true))
            .is_err());
        assert!(u.password_ok(b"anything"));
    }
}
