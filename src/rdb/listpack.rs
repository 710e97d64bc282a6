//! Writing listpacks (the blob a stream node is stored as): entries encoded as Redis's
//! listpack.c does, integers in their smallest form, each followed by its back-length.

/// A listpack under construction; `finish` adds the header and terminator.
#[derive(Default)]
pub struct ListpackWriter {
    body: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    pub fn int(&mut self, v: i64) {
        let start = self.body.len();
        let b = &mut self.body;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            b.push(0xC0 | (u >> 8) as u8);
            b.push(u as u8);
        } else if i16::try_from(v).is_ok() {
            b.push(0xF1);
            b.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            b.push(0xF2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if i32::try_from(v).is_ok() {
            b.push(0xF3);
            b.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            b.push(0xF4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.close(start);
    }

    /// A string, stored as an integer when it is one's canonical text (as lpAppend does).
    pub fn string(&mut self, s: &[u8]) {
        if let Some(v) = canonical_int(s) {
            return self.int(v);
        }
        let start = self.body.len();
        let b = &mut self.body;
        let n = s.len();
        if n < 64 {
            b.push(0x80 | n as u8);
        } else if n < 4096 {
            b.push(0xE0 | (n >> 8) as u8);
            b.push(n as u8);
        } else {
            b.push(0xF0);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.close(start);
    }

    /// Appends the back-length of the entry that began at `start`.
    fn close(&mut self, start: usize) {
        let l = (self.body.len() - start) as u64;
        let b = &mut self.body;
        let groups = match l {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        // Most significant group first, every group but the first marked with the high bit,
        // so a reader walking right to left knows when to stop.
        for i in (0..groups).rev() {
            let group = ((l >> (7 * i)) & 127) as u8;
            b.push(if i == groups - 1 { group } else { group | 128 });
        }
        self.count += 1;
    }

    pub fn finish(self) -> Vec<u8> {
        let total = self.body.len() + 7;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(self.count.min(65535) as u16).to_le_bytes());
        out.extend_from_slice(&self.body);
        out.push(0xFF);
        out
    }
}

/// `s` as an i64 when it is exactly that number's decimal text (no sign, zero or space
/// padding), as Redis's string2ll accepts.
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}
