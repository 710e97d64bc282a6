//! The open-files limit: how many descriptors the server keeps for itself and raising
//! RLIMIT_NOFILE at start, as Redis does. Depends on nothing in the crate.

/// Descriptors kept for everything but clients: Redis's CONFIG_MIN_RESERVED_FDS (32), plus
/// each thread's listeners, ring or epoll instance and wake-up descriptors.
pub fn reserved_fds(threads: usize) -> u64 {
    32 + 4 * threads as u64
}

/// What raising RLIMIT_NOFILE achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now (at least `was`).
    pub now: u64,
    /// Why the wanted limit could not be set, when it could not.
    pub error: Option<String>,
}

/// Raises the soft RLIMIT_NOFILE toward `wanted` when it is lower, as Redis's
/// adjustOpenFilesLimit: the wanted value first, then 16 less at a time down to the current
/// limit. The hard limit is raised only when that is allowed (root); it is never lowered.
pub fn raise_open_files_limit(wanted: u64) -> OpenFiles {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the local value the pointer refers to.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let error = os_error_text();
        return OpenFiles {
            was: 1024,
            now: 1024,
            error: Some(error),
        };
    }
    let was = limit.rlim_cur;
    if was >= wanted {
        return OpenFiles {
            was,
            now: was,
            error: None,
        };
    }
    let mut error = None;
    let mut best = wanted;
    while best > was {
        let next = libc::rlimit {
            rlim_cur: best,
            rlim_max: limit.rlim_max.max(best),
        };
        // SAFETY: setrlimit only reads the local `rlimit` the pointer refers to.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &next) } == 0 {
            break;
        }
        if error.is_none() {
            error = Some(os_error_text());
        }
        // Past the hard limit only root may go: try the hard limit itself next.
        best = if best > limit.rlim_max && limit.rlim_max > was {
            limit.rlim_max
        } else {
            best.saturating_sub(16)
        };
    }
    let now = best.max(was);
    OpenFiles {
        was,
        now,
        error: if now >= wanted { None } else { error },
    }
}

/// The last OS error as strerror prints it.
fn os_error_text() -> String {
    strerror(&std::io::Error::last_os_error())
}

/// `e` as strerror prints it: Redis's log texts carry no "(os error N)".
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}
