//! Redis 7's AOF manifest (`<appendfilename>.manifest` in `appenddirname`): one line per file,
//! `file <name> seq <n> type <b|h|i>`, base first, then history, then incremental files.

use std::io::Write;
use std::path::Path;

use crate::config::file::{quoted, split_args};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Base,
    History,
    Incr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub seq: u64,
    pub kind: FileType,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: Vec<FileEntry>,
}

/// The manifest's file name for `appendfilename`.
pub fn name_of(base: &str) -> String {
    format!("{base}.manifest")
}

impl Manifest {
    /// Reads `dir`'s manifest; None when there is none.
    pub fn read(dir: &Path, base: &str) -> Result<Option<Manifest>, String> {
        let path = dir.join(name_of(base));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "Can't open the AOF manifest {}: {e}",
                    path.display()
                ))
            }
        };
        Manifest::parse(&text).map(Some)
    }

    /// Parses a manifest as Redis does, refusing what Redis refuses with its words: an empty
    /// file, a line over 1024 bytes (or one without its newline), a blank line, fewer than
    /// six or an odd number of words, a key missing, a path for a file name, an unknown
    /// type, a second base, incremental sequences not increasing. `#` lines are comments.
    /// Files keep the manifest's order within their kind; the error names the line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        const MAX_LINE: usize = 1024;
        if text.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        let mut files = Vec::new();
        let mut max_incr = 0;
        let mut rest = text;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let at_line = |err: &str, line: &str| {
                format!("Reading the manifest file, at line {number}: '{line}': {err}")
            };
            let cut = rest.len().min(MAX_LINE);
            let newline = rest.as_bytes()[..cut].iter().position(|&b| b == b'\n');
            if rest.starts_with('#') {
                // Comments are skipped before any other check, as Redis reads them.
                rest = newline.map_or("", |n| &rest[n + 1..]);
                continue;
            }
            let Some(newline) = newline else {
                let line = rest.get(..cut).unwrap_or(rest);
                return Err(at_line(
                    "The AOF manifest file contains too long line",
                    line,
                ));
            };
            let line = rest[..newline].trim_matches([' ', '\t', '\r', '\n']);
            rest = &rest[newline + 1..];
            let invalid = || at_line("Invalid AOF manifest file format", line);
            let words = split_args(line).filter(|w| w.len() >= 6 && w.len() % 2 == 0);
            let Some(words) = words else {
                return Err(invalid());
            };
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for pair in words.chunks(2) {
                let value = &pair[1];
                match pair[0].to_ascii_lowercase().as_str() {
                    "file" => {
                        if value.contains('/') {
                            return Err(at_line("File can't be a path, just a filename", line));
                        }
                        name = Some(value.clone());
                    }
                    // atoll: leading digits, 0 when there are none.
                    "seq" => seq = leading_number(value),
                    "type" => kind = value.bytes().next(),
                    _ => {}
                }
            }
            let (Some(name), true, Some(kind)) = (name, seq > 0, kind) else {
                return Err(invalid());
            };
            let kind = match kind {
                b'b' => FileType::Base,
                b'h' => FileType::History,
                b'i' => FileType::Incr,
                _ => return Err(at_line("Unknown AOF file type", line)),
            };
            match kind {
                FileType::Base if files.iter().any(|f: &FileEntry| f.kind == FileType::Base) => {
                    return Err(at_line("Found duplicate base file information", line));
                }
                FileType::Incr if seq <= max_incr => {
                    return Err(at_line("Found a non-monotonic sequence number", line));
                }
                FileType::Incr => max_incr = seq,
                _ => {}
            }
            files.push(FileEntry { name, seq, kind });
        }
        // Base first, then history, then incremental files, each in the manifest's order.
        files.sort_by_key(|f| match f.kind {
            FileType::Base => 0,
            FileType::History => 1,
            FileType::Incr => 2,
        });
        Ok(Manifest { files })
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let kind = match f.kind {
                FileType::Base => 'b',
                FileType::History => 'h',
                FileType::Incr => 'i',
            };
            let name = if needs_quotes(&f.name) {
                quoted(&f.name)
            } else {
                f.name.clone()
            };
            out.push_str(&format!("file {name} seq {} type {kind}\n", f.seq));
        }
        out
    }

    /// Writes the manifest atomically (temp file, fsync, rename, fsync of the directory).
    pub fn write(&self, dir: &Path, base: &str) -> std::io::Result<()> {
        let path = dir.join(name_of(base));
        let temp = dir.join(format!("temp-{}", name_of(base)));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(self.render().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    }

    pub fn base(&self) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.kind == FileType::Base)
    }

    pub fn last_incr(&self) -> Option<&FileEntry> {
        self.files.iter().rev().find(|f| f.kind == FileType::Incr)
    }

    /// The highest sequence of a kind (0: none yet).
    pub fn top_seq(&self, kind: FileType) -> u64 {
        self.files
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.seq)
            .max()
            .unwrap_or(0)
    }
}

/// Redis quotes a file name holding a blank, a quote, a backslash or an unprintable byte.
fn needs_quotes(name: &str) -> bool {
    name.bytes()
        .any(|b| matches!(b, b'\\' | b'"') || !(0x21..=0x7e).contains(&b))
}

fn leading_number(text: &str) -> u64 {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_redis_writes_and_writes_it_back() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.base().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.last_incr().unwrap().seq, 2);
        assert_eq!(m.render(), text);
        let refused = |text: &str, why: &str| {
            let err = Manifest::parse(text).unwrap_err();
            assert!(err.ends_with(why), "{text:?}: {err}");
        };
        refused("", "Found an empty AOF manifest");
        refused("file x seq\n", "Invalid AOF manifest file format");
        refused("\n", "Invalid AOF manifest file format");
        refused("file x seq 1 type b", "contains too long line");
        refused(
            "file ../x seq 1 type b\n",
            "File can't be a path, just a filename",
        );
        refused("file x seq 1 type x\n", "Unknown AOF file type");
        refused("file x seq 0 type b\n", "Invalid AOF manifest file format");
        refused(
            "file x seq 1 type b\nfile y seq 2 type b\n",
            "Found duplicate base file information",
        );
        refused(
            "file x seq 2 type i\nfile y seq 1 type i\n",
            "Found a non-monotonic sequence number",
        );
        let spaced = Manifest {
            files: vec![FileEntry {
                name: "a b.aof".into(),
                seq: 1,
                kind: FileType::Incr,
            }],
        };
        assert_eq!(spaced.render(), "file \"a b.aof\" seq 1 type i\n");
        assert_eq!(Manifest::parse(&spaced.render()).unwrap(), spaced);
        assert!(Manifest::parse("# comment\n").unwrap().files.is_empty());
    }
}
