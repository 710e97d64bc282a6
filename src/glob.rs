//! Redis-style glob matching (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) for KEYS, SCAN MATCH,
//! CONFIG GET and pub/sub patterns. Depends on nothing else in the crate.
//!
//! Greedy matching with a single backtrack point for the last `*` seen: every other token
//! consumes exactly one byte, so remembering only the last star is enough, and the work is
//! bounded by `pattern.len() * text.len()` even on hostile patterns like `*?*?*?...`.

/// What one pattern token matched against a byte, and how long the token is.
fn match_token(pattern: &[u8], c: u8, nocase: bool) -> (bool, usize) {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match pattern[0] {
        b'?' => (true, 1),
        b'\\' if pattern.len() >= 2 => (eq(pattern[1], c), 2),
        b'[' => match_class(pattern, c, nocase),
        p => (eq(p, c), 1),
    }
}

/// Matches a `[...]` class; an unterminated class runs to the end of the pattern, as in Redis.
fn match_class(pattern: &[u8], c: u8, nocase: bool) -> (bool, usize) {
    let mut i = 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = fold(c);
    let mut matched = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            matched |= fold(pattern[i + 1]) == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (mut lo, mut hi) = (fold(pattern[i]), fold(pattern[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= fold(pattern[i]) == c;
            i += 1;
        }
    }
    let len = (i + 1).min(pattern.len());
    (matched != negate, len)
}

/// Redis gives up (no match) once its matcher recurses through more than this many `*`
/// groups; a successful match passes through every group, so such patterns never match.
const MAX_STAR_GROUPS: usize = 1000;

/// Number of `*` runs outside classes and escapes.
fn star_groups(pattern: &[u8]) -> usize {
    let (mut groups, mut i, mut previous_star) = (0, 0, false);
    while i < pattern.len() {
        match pattern[i] {
            b'*' => {
                if !previous_star {
                    groups += 1;
                }
                previous_star = true;
                i += 1;
                continue;
            }
            b'\\' => i += 1,
            b'[' => {
                while i + 1 < pattern.len() && pattern[i + 1] != b']' {
                    i += if pattern[i + 1] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => {}
        }
        previous_star = false;
        i += 1;
    }
    groups
}

/// True when `text` matches the glob `pattern` (Redis's stringmatchlen semantics, including
/// its refusal of patterns with more than 1000 `*` groups).
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if pattern.len() > 2 * MAX_STAR_GROUPS && star_groups(pattern) > MAX_STAR_GROUPS {
        return false;
    }
    glob_match_bounded(pattern, text, nocase)
}

fn glob_match_bounded(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: (pattern index after the star, text index it covers up to).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                while p < pattern.len() && pattern[p] == b'*' {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
                star = Some((p, t));
                continue;
            }
            let (ok, len) = match_token(&pattern[p..], text[t], nocase);
            if ok {
                p += len;
                t += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn basics() {
        assert!(m("*", ""));
        assert!(m("*", "abc"));
        assert!(m("a*", "abc"));
        assert!(!m("a*", "bc"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("*.txt", "a.b.txt"));
        assert!(!m("*.txt", "a.b.txt.gz"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("[\\]]", "]"));
        assert!(glob_match(b"HELLO*", b"hello world", true));
    }

    #[test]
    fn hostile_patterns_are_fast() {
        let pattern = "*?".repeat(25_000);
        let text = "a".repeat(1000);
        let start = std::time::Instant::now();
        assert!(!m(&pattern, &text));
        // Redis refuses patterns with more than 1000 star groups even when they would match.
        assert!(!m(&"*?".repeat(50_000), &"a".repeat(50_000)));
        assert!(m(&"*?".repeat(1000), &"a".repeat(2000)));
        let long = "?".repeat(30_000);
        assert!(m(&long, &"a".repeat(30_000)));
        let pattern = format!("{}b", "a*".repeat(32));
        assert!(!m(&pattern, &"a".repeat(100_000)));
        // A loose bound: quadratic worst case must not turn exponential.
        assert!(start.elapsed().as_secs() < 10);
    }

    #[test]
    fn agrees_with_a_naive_matcher() {
        fn naive(p: &[u8], t: &[u8]) -> bool {
            match (p.first(), t.first()) {
                (None, _) => t.is_empty(),
                (Some(b'*'), _) => naive(&p[1..], t) || (!t.is_empty() && naive(p, &t[1..])),
                (Some(b'?'), Some(_)) => naive(&p[1..], &t[1..]),
                (Some(c), Some(d)) if c == d => naive(&p[1..], &t[1..]),
                _ => false,
            }
        }
        let alphabet = [b'a', b'b', b'*', b'?'];
        let mut seed = 12345u64;
        for _ in 0..20_000 {
            let mut next = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) as usize
            };
            let plen = next() % 7;
            let tlen = next() % 7;
            let p: Vec<u8> = (0..plen).map(|_| alphabet[next() % 4]).collect();
            let t: Vec<u8> = (0..tlen).map(|_| alphabet[next() % 2]).collect();
            assert_eq!(glob_match(&p, &t, false), naive(&p, &t), "{p:?} {t:?}");
        }
    }
}
