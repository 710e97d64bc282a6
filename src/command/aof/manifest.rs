//! Redis 7's AOF manifest (`<appendfilename>.manifest` in `appenddirname`): one line per file,
//! `file <name> seq <n> type <b|h|i>`, base first, then history, then incremental files.

use std::io::Write;
use std::path::Path;

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

    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut files = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair {
                    ["file", v] => name = Some(v.trim_matches('"').to_string()),
                    ["seq", v] => seq = v.parse::<u64>().ok(),
                    ["type", "b"] => kind = Some(FileType::Base),
                    ["type", "h"] => kind = Some(FileType::History),
                    ["type", "i"] => kind = Some(FileType::Incr),
                    [_, _] => {}
                    _ => return Err("Invalid AOF manifest file format".into()),
                }
            }
            match (name, seq, kind) {
                (Some(name), Some(seq), Some(kind)) if !name.contains('/') => {
                    files.push(FileEntry { name, seq, kind })
                }
                _ => return Err("Invalid AOF manifest file format".into()),
            }
        }
        if files.iter().filter(|f| f.kind == FileType::Base).count() > 1 {
            return Err("Found duplicate base file information".into());
        }
        files.sort_by_key(|f| match f.kind {
            FileType::Base => (0, f.seq),
            FileType::History => (1, f.seq),
            FileType::Incr => (2, f.seq),
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
            out.push_str(&format!("file {} seq {} type {kind}\n", f.name, f.seq));
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
        assert!(Manifest::parse("file x seq\n").is_err());
        assert!(Manifest::parse("file ../x seq 1 type b\n").is_err());
    }
}
