//! Reading redis.conf: Redis's quoting, `include` (with globs), `rename-command`, and the
//! fatal error redis-server prints for a line it cannot take.

use std::path::Path;

use super::{spec, Config, ConfigError, Kind};

/// Includes nested deeper than this are refused (a file including itself would never end).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Redis's quoting of a string value (sdscatrepr), which [`split_args`] reads back.
pub fn quoted(value: &str) -> String {
    crate::protocol::repr::repr(value.as_bytes())
}

/// Splits a line into arguments as Redis does: words separated by blanks; `"..."` with the
/// escapes `\n \r \t \b \a \\ \" \xHH`; `'...'` with `\'`. A closing quote must be followed by
/// a blank or the end. None when quotes do not balance.
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            return Some(args);
        }
        let mut word: Vec<u8> = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = bytes.get(i).copied();
            if in_double {
                match c {
                    None => return None,
                    Some(b'\\')
                        if bytes.get(i + 1) == Some(&b'x') && hex_pair(bytes, i + 2).is_some() =>
                    {
                        word.push(hex_pair(bytes, i + 2)?);
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        i += 1;
                        word.push(match bytes[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if bytes.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => word.push(other),
                }
            } else if in_single {
                match c {
                    None => return None,
                    Some(b'\\') if bytes.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        word.push(b'\'');
                    }
                    Some(b'\'') => {
                        if bytes.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => word.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => word.push(other),
                }
            }
            i += 1;
        }
        args.push(String::from_utf8_lossy(&word).into_owned());
    }
}

fn hex_pair(bytes: &[u8], at: usize) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    let (hi, lo) = (digit(*bytes.get(at)?)?, digit(*bytes.get(at + 1)?)?);
    Some((hi * 16 + lo) as u8)
}

/// redis-server's report of a configuration line it refuses.
pub fn fatal(line_number: usize, line: &str, why: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (ringkv {}) ***\nReading the configuration file, at line {line_number}\n>>> '{line}'\n{why}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Options that take several words (joined by one blank); the rest take exactly one.
fn multi_word(kind: Kind, name: &str) -> bool {
    matches!(
        kind,
        Kind::SavePoints
            | Kind::OutputLimits
            | Kind::ShutdownFlags
            | Kind::OomValues
            | Kind::Percentiles
    ) || matches!(name, "bind" | "replicaof")
}

/// The arguments after the configuration file as redis-server reads them: as text in the
/// file's syntax. `--name` starts a line; the arguments that follow are its values (quoted),
/// and so is the next `--word` right after a bare `--name` (`--port --bla`). One argument
/// may hold a name and values (`"--maxmemory 700mb"`); `--save` followed by an option or
/// by nothing is `save ""`.
pub(super) fn command_line_options(args: &[String]) -> String {
    let mut options = String::new();
    let mut value_taken = true;
    for (j, arg) in args.iter().enumerate() {
        if value_taken && arg.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&arg[2..]);
            options.push(' ');
            value_taken = split_args(arg).is_none_or(|words| words.len() != 1);
            let next_is_option = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
            let last = j + 1 == args.len();
            if !value_taken && arg.eq_ignore_ascii_case("--save") && (next_is_option || last) {
                options.push_str("\"\"");
                value_taken = true;
            }
        } else {
            options.push_str(&quoted(arg));
            options.push(' ');
            value_taken = true;
        }
    }
    options
}

impl Config {
    /// Applies a redis.conf text: directives, `#` comments, quoted values, `include` and
    /// `rename-command`. Included paths are relative to the working directory, as in Redis.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        self.load_nested(text, 0)
    }

    fn load_nested(&mut self, text: &str, depth: usize) -> Result<(), String> {
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |why: &str| fatal(number + 1, line, why);
            let Some(args) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            let Some(name) = args.first().map(|n| n.to_ascii_lowercase()) else {
                continue;
            };
            match name.as_str() {
                "include" if args.len() == 2 => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(fail("Too many nested includes"));
                    }
                    for path in include_paths(&args[1]).map_err(|e| fail(&e))? {
                        let text = std::fs::read_to_string(&path).map_err(|e| {
                            fail(&format!(
                                "Fatal error, can't open config file '{}': {e}",
                                path.display()
                            ))
                        })?;
                        self.load_nested(&text, depth + 1)?;
                    }
                }
                "user" if args.len() >= 2 => {
                    self.set_startup("user", &args[1..].join(" "))
                        .map_err(|e| match e {
                            ConfigError::Invalid(_, why) => fail(&why),
                            other => fail(&other.to_string()),
                        })?;
                }
                "rename-command" if args.len() == 3 => {
                    self.renames.push((args[1].clone(), args[2].clone()));
                }
                _ => {
                    let Some(spec) = spec(&name) else {
                        return Err(fail("Bad directive or wrong number of arguments"));
                    };
                    let value = if multi_word(spec.kind, spec.name) {
                        // No value at all is an empty list, for the option to judge (as
                        // Redis: `save` alone clears the save points); `replicaof` is no
                        // such list and needs its two words.
                        if spec.name == "replicaof" {
                            check_replicaof(&args[1..]).map_err(fail)?;
                        }
                        args[1..].join(" ")
                    } else if args.len() == 2 {
                        args[1].clone()
                    } else {
                        return Err(fail("wrong number of arguments"));
                    };
                    self.set_startup(&name, &value).map_err(|e| match e {
                        ConfigError::Invalid(_, why) => fail(&why),
                        other => fail(&other.to_string()),
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// `replicaof host port` (or `no one`) as Redis reads it: two words, a port from 0 to 65535.
fn check_replicaof(words: &[String]) -> Result<(), &'static str> {
    let [host, port] = words else {
        return Err("wrong number of arguments");
    };
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return Ok(());
    }
    match port.parse::<i64>() {
        Ok(p) if (0..=65535).contains(&p) => Ok(()),
        _ => Err("Invalid master port"),
    }
}

/// The files an `include` names, in order: one path, or a glob in its last component (sorted,
/// as glob(3) returns them). A glob that matches nothing includes nothing.
fn include_paths(pattern: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let path = Path::new(pattern).to_path_buf();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return Ok(vec![path]);
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(parent).map_err(|e| {
        format!(
            "Fatal error, can't open config file '{}': {e}",
            path.display()
        )
    })?;
    let mut found: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            crate::glob::glob_match(name.as_bytes(), e.file_name().as_encoded_bytes(), false)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_split_as_redis() {
        assert_eq!(split_args("save \"\"").unwrap(), vec!["save", ""]);
        assert_eq!(
            split_args("a \"x\\ty\\x41\" 'it\\'s' b").unwrap(),
            vec!["a", "x\tyA", "it's", "b"]
        );
        assert!(split_args("a \"unclosed").is_none());
        assert!(split_args("a \"x\"y").is_none());
    }

    #[test]
    fn unknown_directive_is_fatal_with_the_line() {
        let mut config = Config::default();
        let e = config
            .load_text("port 7000\nnot-an-option 1\n")
            .unwrap_err();
        assert!(
            e.contains("at line 2\n>>> 'not-an-option 1'\nBad directive"),
            "{e}"
        );
        let e = config.load_text("daemonize maybe").unwrap_err();
        assert!(e.ends_with("argument must be 'yes' or 'no'"), "{e}");
    }

    #[test]
    fn command_line_reads_as_redis_server_does() {
        let text = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            command_line_options(&args)
        };
        assert_eq!(text(&["--port", "6379", "6380"]), "port \"6379\" \"6380\" ");
        assert_eq!(
            text(&["--port", "--bla", "--loglevel", "v"]),
            "port \"--bla\" \nloglevel \"v\" "
        );
        assert_eq!(
            text(&["--maxmemory 7mb", "--save"]),
            "maxmemory 7mb \nsave \"\""
        );
        assert_eq!(text(&["--save", "--port", "1"]), "save \"\"\nport \"1\" ");
        assert_eq!(text(&["loglevel", "verbose"]), "\"loglevel\" \"verbose\" ");
        let mut config = Config::default();
        config
            .load_text(&text(&[
                "loglevel",
                "verbose",
                "--maxmemory '700mb'",
                "--save",
            ]))
            .unwrap();
        assert_eq!(config.get("loglevel"), "verbose");
        assert_eq!(config.get("maxmemory"), "734003200");
        assert_eq!(config.get("save"), "");
    }

    #[test]
    fn save_alone_clears_the_save_points() {
        // Redis's test runner writes `save ` for an override of `save ""`.
        let mut config = Config::default();
        config.load_text("save 900 1\nsave \n").unwrap();
        assert_eq!(config.get("save"), "");
        // As redis-server 7.0.15 words it.
        let e = Config::default().load_text("replicaof\n").unwrap_err();
        assert!(e.ends_with("\nwrong number of arguments"), "{e}");
    }

    #[test]
    fn include_reads_globbed_files_in_order() {
        let dir = std::env::temp_dir().join(format!("ringkv-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.conf"), "maxclients 11\n").unwrap();
        std::fs::write(
            dir.join("b.conf"),
            "maxclients 22\nrename-command FLUSHALL \"\"\n",
        )
        .unwrap();
        let mut config = Config::default();
        let text = format!("include {}/*.conf\n", dir.display());
        config.load_text(&text).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.get("maxclients"), "22");
        assert_eq!(config.renames, vec![("FLUSHALL".into(), "".into())]);
    }
}
