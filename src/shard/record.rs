//! One stored key: its bytes, its value, its expiry (only when it has one) and its last access,
//! in one allocation behind a tagged thin pointer, so a hash table bucket is 8 bytes and a short
//! string key costs one small block. Depends only on the stored types; knows nothing of slots.
//!
//! The pointer carries what every record needs: the value's kind and an expiry flag in its low
//! 4 bits (blocks are 16-aligned) and the last access clock in its top 16 bits (user addresses
//! fit 48 bits). The block then has one of two layouts:
//!
//! ```text
//! compact (a string of at most INLINE_MAX bytes, no expiry, a key shorter than 255 bytes):
//! 0  key length u8        1  value length u8        2  key bytes, then value bytes
//!
//! wide (everything else; every offset from 8 on is a multiple of 8, so the words and the
//! `Bytes` or box pointer are read at their natural alignment):
//! 0  WIDE marker u8       1  inline value length u8     2  key length u16 (u16::MAX: long)
//! 4  a collection's accounted bytes u32 (see `encode_accounted`)
//! 8  [expiry u64, Unix ms]                          when the expiry flag is set
//!    [key length u64]                               long keys
//!    [payload]  Bytes (shared string), or box pointer u64 (collection)
//!    key bytes
//!    [inline string bytes]
//! ```

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::Deref;
use std::ptr::{self, NonNull};

use bytes::{Bytes, BytesMut};

use super::db::{Entry, Value};
use super::types::{Hash, List, Set, Stream, ZSet};

const INLINE: u8 = 0;
const SHARED: u8 = 1;
const LIST: u8 = 2;
const HASH: u8 = 3;
const SET: u8 = 4;
const ZSET: u8 = 5;
const STREAM: u8 = 6;
const KIND: u8 = 0x07;
const HAS_EXPIRY: u8 = 0x08;
/// Low pointer bits holding the kind and the expiry flag (the block is 16-aligned).
const FLAG_BITS: usize = 0x0F;
const ALIGN: usize = 16;
/// The longest idle time a record keeps (2^15 s, 9.1 h): older ones are held there by the
/// ageing pass, half the clock's range, so the 16-bit clock never wraps for a live record.
pub const IDLE_CAP: u32 = 1 << 15;

/// The clock lives in the pointer's top 16 bits.
const CLOCK_SHIFT: u32 = 48;
const ADDRESS_BITS: usize = (1 << CLOCK_SHIFT) - 1;

/// First byte of a wide block: no compact key is this long.
const WIDE: u8 = u8::MAX;
const WIDE_HEADER: usize = 8;
const WORD: usize = 8;
/// Payload of a collection: the box pointer (its accounted bytes are in the header).
const BOXED: usize = WORD;
/// Where a wide block keeps a collection's accounted bytes.
const ACCOUNTED_AT: usize = 4;

/// A collection's accounted bytes in the header's 32 bits: exact below 2^31, else in units
/// of 64 KiB with the top bit set (a figure is read back as it was rounded, so the database
/// adds and later removes the same amount).
fn encode_accounted(bytes: usize) -> u32 {
    if bytes < 1 << 31 {
        bytes as u32
    } else {
        (1 << 31) | (bytes >> 16).min((1 << 31) - 1) as u32
    }
}

fn decode_accounted(word: u32) -> usize {
    if word & (1 << 31) == 0 {
        word as usize
    } else {
        ((word & !(1 << 31)) as usize) << 16
    }
}

/// Strings up to this length live inside the record (the length is one byte); longer ones are
/// kept as their `Bytes`, so GET of a large value shares it instead of copying.
pub const INLINE_MAX: usize = u8::MAX as usize;

/// Keys of this length or more store their length in an extra word (wide layout).
const LONG_KEY_MIN: usize = u16::MAX as usize;

// The payload offsets stay 8-aligned only if a `Bytes` is a whole number of words.
const _: () = assert!(std::mem::size_of::<Bytes>().is_multiple_of(WORD));
const _: () = assert!(std::mem::align_of::<Bytes>() <= WORD);

/// A key and its value, owned through one tagged pointer (see the module doc).
pub struct Record(NonNull<u8>);

// SAFETY: a Record owns its block and what the payload points to (a `Bytes` or a boxed
// collection, all Send and Sync) exactly as a `Box` would; no other pointer to them exists.
unsafe impl Send for Record {}
// SAFETY: as above; `&Record` only hands out shared references.
unsafe impl Sync for Record {}

/// A stored string: inside the record, or a shared `Bytes` for a long one.
#[derive(Clone, Copy)]
pub enum StrRef<'a> {
    Inline(&'a [u8]),
    Shared(&'a Bytes),
}

impl StrRef<'_> {
    /// The string as `Bytes`: the stored one shared when long, a copy when inline.
    pub fn to_bytes(self) -> Bytes {
        match self {
            StrRef::Inline(s) => Bytes::copy_from_slice(s),
            StrRef::Shared(b) => b.clone(),
        }
    }
}

impl Deref for StrRef<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StrRef::Inline(s) => s,
            StrRef::Shared(b) => b,
        }
    }
}

/// A stored value, borrowed.
#[derive(Clone, Copy)]
pub enum ValueRef<'a> {
    Str(StrRef<'a>),
    List(&'a List),
    Hash(&'a Hash),
    Set(&'a Set),
    ZSet(&'a ZSet),
    Stream(&'a Stream),
}

impl ValueRef<'_> {
    /// The name TYPE reports.
    pub fn type_name(self) -> &'static str {
        match self {
            ValueRef::Str(_) => "string",
            ValueRef::List(_) => "list",
            ValueRef::Hash(_) => "hash",
            ValueRef::Set(_) => "set",
            ValueRef::ZSet(_) => "zset",
            ValueRef::Stream(_) => "stream",
        }
    }

    /// An owned copy of the value.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Str(s) => Value::Str(s.to_bytes()),
            ValueRef::List(l) => Value::List(Box::new(l.clone())),
            ValueRef::Hash(h) => Value::Hash(Box::new(h.clone())),
            ValueRef::Set(s) => Value::Set(Box::new(s.clone())),
            ValueRef::ZSet(z) => Value::ZSet(Box::new(z.clone())),
            ValueRef::Stream(s) => Value::Stream(Box::new(s.clone())),
        }
    }
}

/// A stored value, borrowed for change in place: collections only (a string is replaced
/// whole through the database, which keeps its accounting).
pub enum ValueMut<'a> {
    Str(StrRef<'a>),
    List(&'a mut List),
    Hash(&'a mut Hash),
    Set(&'a mut Set),
    ZSet(&'a mut ZSet),
    Stream(&'a mut Stream),
}

/// A value type a record can hold behind a box, named to read a key "as T, or WRONGTYPE"
/// (`command::read_as`) without one accessor per type.
pub trait Typed {
    /// The value as `Self`, or None when the record holds another type.
    fn of(value: ValueRef<'_>) -> Option<&Self>;
    /// The value as `Self` for a change, or None when the record holds another type.
    fn of_mut(value: ValueMut<'_>) -> Option<&mut Self>;
    /// An empty value of this type, for a write that creates its key.
    fn empty() -> Value;
}

macro_rules! typed {
    ($($variant:ident => $ty:ty),*) => {$(
        impl Typed for $ty {
            fn of(value: ValueRef<'_>) -> Option<&Self> {
                match value {
                    ValueRef::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn of_mut(value: ValueMut<'_>) -> Option<&mut Self> {
                match value {
                    ValueMut::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn empty() -> Value {
                Value::$variant(Box::default())
            }
        }
    )*};
}

typed!(List => List, Hash => Hash, Set => Set, ZSet => ZSet, Stream => Stream);

fn layout(len: usize) -> Layout {
    Layout::from_size_align(len, ALIGN).expect("record size fits a Layout")
}

fn payload_len(flags: u8) -> usize {
    match flags & KIND {
        INLINE => 0,
        SHARED => std::mem::size_of::<Bytes>(),
        _ => BOXED,
    }
}

/// The clock as the pointer keeps it: seconds modulo 2^16.
fn clock_bits(clock: u32) -> usize {
    (clock as u16 as usize) << CLOCK_SHIFT
}

impl Record {
    /// Packs `key` and `value` into one block. Strings up to `INLINE_MAX` bytes are copied in;
    /// longer ones and collections are moved in.
    pub fn new(key: &[u8], value: Value, expire_at: u64, touched: u32) -> Record {
        match value {
            Value::Str(s) if s.len() <= INLINE_MAX => {
                Self::build(key, INLINE, &s, None, expire_at, touched)
            }
            value => {
                let kind = match &value {
                    Value::Str(_) => SHARED,
                    Value::List(_) => LIST,
                    Value::Hash(_) => HASH,
                    Value::Set(_) => SET,
                    Value::ZSet(_) => ZSET,
                    Value::Stream(_) => STREAM,
                };
                Self::build(key, kind, &[], Some(value), expire_at, touched)
            }
        }
    }

    /// `new` for a string given as a slice: one up to `INLINE_MAX` bytes is copied straight
    /// into the block, a longer one into its own buffer.
    pub fn new_str(key: &[u8], value: &[u8], expire_at: u64, touched: u32) -> Record {
        if value.len() <= INLINE_MAX {
            Self::build(key, INLINE, value, None, expire_at, touched)
        } else {
            let value = Value::Str(Bytes::copy_from_slice(value));
            Self::build(key, SHARED, &[], Some(value), expire_at, touched)
        }
    }

    /// Allocates and fills the block of a record of `kind`: `inline` is an INLINE string's
    /// bytes, `value` the moved-in value of every other kind.
    fn build(
        key: &[u8],
        kind: u8,
        inline_bytes: &[u8],
        value: Option<Value>,
        expire_at: u64,
        touched: u32,
    ) -> Record {
        debug_assert!(inline_bytes.len() <= INLINE_MAX);
        debug_assert_eq!(kind == INLINE, value.is_none());
        let inline = inline_bytes.len();
        let flags = kind | if expire_at != 0 { HAS_EXPIRY } else { 0 };
        let compact = flags == INLINE && key.len() < WIDE as usize;
        let long = key.len() >= LONG_KEY_MIN;
        let payload = WIDE_HEADER + WORD * usize::from(expire_at != 0) + WORD * usize::from(long);
        let key_at = if compact {
            2
        } else {
            payload + payload_len(flags)
        };
        let len = key_at + key.len() + inline;
        // SAFETY: `len` >= 2 > 0. Every write below stays inside the `len` bytes just
        // allocated, at an offset that is a multiple of its type's alignment (u8s at 0/1, the
        // u16 at 2, the words and the payload at multiples of 8) in a 16-aligned block; the
        // key and inline bytes are u8.
        unsafe {
            let p = alloc(layout(len));
            if p.is_null() {
                handle_alloc_error(layout(len));
            }
            p.add(1).write(inline as u8);
            if compact {
                p.write(key.len() as u8);
            } else {
                p.write(WIDE);
                let short_len = if long { u16::MAX } else { key.len() as u16 };
                p.add(2).cast::<u16>().write(short_len);
                p.add(ACCOUNTED_AT).cast::<u32>().write(0);
                if expire_at != 0 {
                    p.add(WIDE_HEADER).cast::<u64>().write(expire_at);
                }
                if long {
                    p.add(payload - WORD).cast::<u64>().write(key.len() as u64);
                }
            }
            // Used by the wide kinds only, whose payload is inside the block.
            let at = p.wrapping_add(payload);
            match value {
                None => {
                    let to = p.add(key_at + key.len());
                    ptr::copy_nonoverlapping(inline_bytes.as_ptr(), to, inline);
                }
                Some(Value::Str(s)) => at.cast::<Bytes>().write(s),
                Some(Value::List(b)) => Self::put_box(at, b),
                Some(Value::Hash(b)) => Self::put_box(at, b),
                Some(Value::Set(b)) => Self::put_box(at, b),
                Some(Value::ZSet(b)) => Self::put_box(at, b),
                Some(Value::Stream(b)) => Self::put_box(at, b),
            }
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(key_at), key.len());
            Record::tagged(p, flags, touched)
        }
    }

    /// The tagged pointer for block `p`. Panics if the address does not fit 48 bits (Linux
    /// hands user space such addresses unless a program asks mmap for higher ones).
    fn tagged(p: *mut u8, flags: u8, clock: u32) -> Record {
        assert!(p.addr() & !ADDRESS_BITS == 0, "address beyond 48 bits");
        debug_assert!(p.addr() & FLAG_BITS == 0, "block not 16-aligned");
        let tagged = p.map_addr(|a| a | flags as usize | clock_bits(clock));
        Record(NonNull::new(tagged).expect("allocation is not null"))
    }

    /// SAFETY (caller): `at` is the 8-aligned payload of a block being built, with room for
    /// a word.
    unsafe fn put_box<T>(at: *mut u8, b: Box<T>) {
        at.cast::<*mut T>().write(Box::into_raw(b));
    }

    /// Starts loading the block's first cache line (its lengths and the start of its key).
    pub fn prefetch(&self) {
        prefetch(self.block());
    }

    /// The block's address (the pointer without its tag).
    fn block(&self) -> *mut u8 {
        self.0.as_ptr().map_addr(|a| a & ADDRESS_BITS & !FLAG_BITS)
    }

    fn flags(&self) -> u8 {
        (self.0.as_ptr().addr() & FLAG_BITS) as u8
    }

    fn byte(&self, at: usize) -> u8 {
        // SAFETY: called for bytes 0 and 1, which every block has and `new` wrote.
        unsafe { *self.block().add(at) }
    }

    fn is_compact(&self) -> bool {
        self.flags() == INLINE && self.byte(0) != WIDE
    }

    fn inline_len(&self) -> usize {
        self.byte(1) as usize
    }

    fn is_long(&self) -> bool {
        // SAFETY: a wide block has its u16 key length at offset 2 (u16-aligned).
        !self.is_compact() && unsafe { self.block().add(2).cast::<u16>().read() } == u16::MAX
    }

    /// Offset of the payload in a wide block.
    fn payload_offset(&self) -> usize {
        WIDE_HEADER
            + WORD * usize::from(self.flags() & HAS_EXPIRY != 0)
            + WORD * usize::from(self.is_long())
    }

    fn key_len(&self) -> usize {
        if self.is_compact() {
            return self.byte(0) as usize;
        }
        // SAFETY: the short length is at offset 2 (u16-aligned); the long one is the word just
        // before the payload (8-aligned), present when the short one says so; `new` wrote both.
        unsafe {
            let short = self.block().add(2).cast::<u16>().read();
            if short == u16::MAX {
                let at = self.payload_offset() - WORD;
                self.block().add(at).cast::<u64>().read() as usize
            } else {
                short as usize
            }
        }
    }

    fn key_offset(&self) -> usize {
        if self.is_compact() {
            2
        } else {
            self.payload_offset() + payload_len(self.flags())
        }
    }

    /// Bytes of the block: what `new` asked for, recomputed from the header.
    pub fn alloc_len(&self) -> usize {
        if self.is_compact() {
            return 2 + self.byte(0) as usize + self.inline_len();
        }
        self.key_offset() + self.key_len() + self.inline_len()
    }

    /// Length of a long string kept as `Bytes` (its own heap block); 0 for other values.
    pub fn shared_len(&self) -> usize {
        if self.flags() & KIND != SHARED {
            return 0;
        }
        // SAFETY: a SHARED record holds a `Bytes` at its 8-aligned payload.
        unsafe { (*self.payload().cast::<Bytes>()).len() }
    }

    fn payload(&self) -> *mut u8 {
        // SAFETY: the payload offset of a wide block is inside it (it precedes the key).
        unsafe { self.block().add(self.payload_offset()) }
    }

    /// The box pointer of a collection record (SAFETY (caller): the kind holds a `T`).
    unsafe fn boxed<T>(&self) -> *mut T {
        self.payload().cast::<*mut T>().read()
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        if self.is_compact() {
            // SAFETY: a compact block holds its key's length at byte 0 and the key from 2.
            return unsafe {
                std::slice::from_raw_parts(self.block().add(2), self.byte(0) as usize)
            };
        }
        // SAFETY: `new` copied `key_len` bytes at `key_offset`, inside the block, which lives
        // as long as `self`.
        unsafe { std::slice::from_raw_parts(self.block().add(self.key_offset()), self.key_len()) }
    }

    /// Absolute expiry in Unix ms, 0 when none.
    pub fn expire_at(&self) -> u64 {
        if self.flags() & HAS_EXPIRY == 0 {
            return 0;
        }
        // SAFETY: the expiry flag means a wide block with the expiry word at offset 8.
        unsafe { self.block().add(WIDE_HEADER).cast::<u64>().read() }
    }

    /// True when the record has an expiry.
    pub fn has_expiry(&self) -> bool {
        self.flags() & HAS_EXPIRY != 0
    }

    /// True when the record has not expired at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        let at = self.expire_at();
        at == 0 || at > now_ms
    }

    /// Last access, in seconds since the shard started, modulo 2^16 (see `idle`).
    pub fn touched(&self) -> u32 {
        (self.0.as_ptr().addr() >> CLOCK_SHIFT) as u32
    }

    /// Seconds since the last access at `clock`, modulo 2^16. The shard's ageing pass
    /// (`Shard::age_clocks`) holds every record's idle time at or below [`IDLE_CAP`] plus the
    /// pass's period, so it never wraps: exact up to 9.1 h, then read as about 9 h (Redis's
    /// 24-bit clock wraps after 194 days).
    pub fn idle(&self, clock: u32) -> u32 {
        idle_at(self.touched(), clock)
    }

    /// Marks an access at `clock` (see `touched`).
    pub fn touch(&mut self, clock: u32) {
        let tag = self.0.as_ptr().addr() & (ADDRESS_BITS | FLAG_BITS);
        let tagged = self.0.as_ptr().map_addr(|_| tag | clock_bits(clock));
        self.0 = NonNull::new(tagged).expect("tagged pointer is not null");
    }

    /// True for a collection (its value is boxed and changed in place).
    pub fn is_collection(&self) -> bool {
        self.flags() & KIND >= LIST
    }

    /// Where an inline string's bytes start: right after the key.
    fn inline_at(&self) -> *mut u8 {
        // SAFETY: the key ends inside the block (`new` laid it out so).
        unsafe { self.block().add(self.key_offset() + self.key_len()) }
    }

    /// The value, borrowed.
    pub fn value(&self) -> ValueRef<'_> {
        // SAFETY: the kind in the tag says what the block holds (`new` wrote it): the inline
        // bytes follow the key; a `Bytes` or a box pointer sits at the 8-aligned payload of a
        // wide block. The borrows live no longer than `&self`, which owns them.
        unsafe {
            match self.flags() & KIND {
                INLINE => ValueRef::Str(StrRef::Inline(std::slice::from_raw_parts(
                    self.inline_at(),
                    self.inline_len(),
                ))),
                SHARED => ValueRef::Str(StrRef::Shared(&*self.payload().cast::<Bytes>())),
                LIST => ValueRef::List(&*self.boxed::<List>()),
                HASH => ValueRef::Hash(&*self.boxed::<Hash>()),
                SET => ValueRef::Set(&*self.boxed::<Set>()),
                ZSET => ValueRef::ZSet(&*self.boxed::<ZSet>()),
                _ => ValueRef::Stream(&*self.boxed::<Stream>()),
            }
        }
    }

    /// Overwrites an inline string with `value` of the same length, in place (INCR from 41 to
    /// 42). False, with nothing written, for any other value or a string of another length.
    pub fn overwrite_inline(&mut self, value: &[u8]) -> bool {
        if self.flags() & KIND != INLINE || self.inline_len() != value.len() {
            return false;
        }
        // SAFETY: an inline string of this length follows the key (as `value` reads it), inside
        // the block `&mut self` owns alone.
        unsafe { ptr::copy_nonoverlapping(value.as_ptr(), self.inline_at(), value.len()) };
        true
    }

    /// A long string (kept as `Bytes`) changed in place, as Redis changes its sds: `f` gets it
    /// as a `BytesMut` that takes over the buffer without a copy, unless another holder shares
    /// it (a reply still being written: then it gets a copy), and the result is stored back.
    /// None, with `f` not called, for any other value (an inline string is rebuilt instead).
    pub fn change_long_str<R>(&mut self, f: impl FnOnce(&mut BytesMut) -> R) -> Option<R> {
        if self.flags() & KIND != SHARED {
            return None;
        }
        // SAFETY: a SHARED record holds a `Bytes` at its 8-aligned payload, owned by the
        // record; `&mut self` makes this the only access. An empty `Bytes` stands in while
        // `f` runs, so that a panic in it leaves a valid record.
        let slot = unsafe { &mut *self.payload().cast::<Bytes>() };
        let mut buffer = BytesMut::from(std::mem::take(slot));
        let result = f(&mut buffer);
        *slot = buffer.freeze();
        Some(result)
    }

    /// The value, borrowed for change in place (collections; see `ValueMut`).
    pub fn value_mut(&mut self) -> ValueMut<'_> {
        // SAFETY: as in `value`; `&mut self` is the only way to the boxed collection, so the
        // mutable borrow is exclusive.
        unsafe {
            match self.flags() & KIND {
                LIST => ValueMut::List(&mut *self.boxed::<List>()),
                HASH => ValueMut::Hash(&mut *self.boxed::<Hash>()),
                SET => ValueMut::Set(&mut *self.boxed::<Set>()),
                ZSET => ValueMut::ZSet(&mut *self.boxed::<ZSet>()),
                STREAM => ValueMut::Stream(&mut *self.boxed::<Stream>()),
                _ => match self.value() {
                    ValueRef::Str(s) => ValueMut::Str(s),
                    _ => unreachable!("string kinds give strings"),
                },
            }
        }
    }

    /// The accounted bytes last recorded for a collection (see `shard::memory`); 0 for strings.
    pub(super) fn collection_bytes(&self) -> usize {
        if self.flags() & KIND < LIST {
            return 0;
        }
        // SAFETY: a collection's block is wide, with the accounted bytes at ACCOUNTED_AT.
        decode_accounted(unsafe { self.block().add(ACCOUNTED_AT).cast::<u32>().read() })
    }

    /// Records a collection's accounted bytes (ignored for strings).
    pub(super) fn set_collection_bytes(&mut self, bytes: usize) {
        if self.flags() & KIND < LIST {
            return;
        }
        // SAFETY: as in `collection_bytes`; `&mut self` makes the write exclusive.
        unsafe {
            self.block()
                .add(ACCOUNTED_AT)
                .cast::<u32>()
                .write(encode_accounted(bytes))
        }
    }

    /// Sets (or clears with 0) the expiry: in place when the record keeps or lacks one
    /// either way, else rebuilt in the layout the new state needs (the value moves over).
    pub(super) fn set_expire(&mut self, expire_at: u64) {
        match (self.has_expiry(), expire_at != 0) {
            // SAFETY: the expiry flag means a wide block with the expiry word at offset 8.
            (true, true) => unsafe { self.block().add(WIDE_HEADER).cast::<u64>().write(expire_at) },
            (false, false) => {}
            _ => {
                let bytes = self.collection_bytes();
                let key = self.key().to_vec();
                let placeholder = Record::new(b"", Value::Str(Bytes::new()), 0, 0);
                let old = std::mem::replace(self, placeholder);
                let Entry { value, touched, .. } = old.into_entry();
                *self = Record::new(&key, value, expire_at, touched);
                self.set_collection_bytes(bytes);
            }
        }
    }

    /// The record as an owned entry, its value moved out (an inline string is copied).
    pub fn into_entry(self) -> Entry {
        let expire_at = self.expire_at();
        let touched = self.touched();
        let len = self.alloc_len();
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the payload is read out exactly once and `this` is never dropped, so the
        // `Bytes` or box changes owner rather than being freed twice; then the block is freed
        // with the layout it was allocated with.
        unsafe {
            let value = match this.flags() & KIND {
                INLINE => match this.value() {
                    ValueRef::Str(s) => Value::Str(Bytes::copy_from_slice(&s)),
                    _ => unreachable!("inline records hold strings"),
                },
                SHARED => Value::Str(this.payload().cast::<Bytes>().read()),
                LIST => Value::List(Box::from_raw(this.boxed::<List>())),
                HASH => Value::Hash(Box::from_raw(this.boxed::<Hash>())),
                SET => Value::Set(Box::from_raw(this.boxed::<Set>())),
                ZSET => Value::ZSet(Box::from_raw(this.boxed::<ZSet>())),
                _ => Value::Stream(Box::from_raw(this.boxed::<Stream>())),
            };
            dealloc(this.block(), layout(len));
            Entry {
                value,
                expire_at,
                touched,
            }
        }
    }

    /// An owned copy of the record's value, expiry and last access.
    pub fn to_entry(&self) -> Entry {
        Entry {
            value: self.value().to_value(),
            expire_at: self.expire_at(),
            touched: self.touched(),
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let len = self.alloc_len();
        // SAFETY: the payload is dropped once, by its kind (`into_entry` skips this drop), and
        // the block is freed with the layout `new` gave it.
        unsafe {
            match self.flags() & KIND {
                INLINE => {}
                SHARED => ptr::drop_in_place(self.payload().cast::<Bytes>()),
                LIST => drop(Box::from_raw(self.boxed::<List>())),
                HASH => drop(Box::from_raw(self.boxed::<Hash>())),
                SET => drop(Box::from_raw(self.boxed::<Set>())),
                ZSET => drop(Box::from_raw(self.boxed::<ZSet>())),
                _ => drop(Box::from_raw(self.boxed::<Stream>())),
            }
            dealloc(self.block(), layout(len));
        }
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("type", &self.value().type_name())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

/// Asks the CPU to start loading the cache line at `at` into L1, without waiting for it; a
/// hint only (any address is allowed: a prefetch never faults).
pub fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch reads nothing architecturally.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// `prefetch` for every cache line of `value` (a hint, as `prefetch`).
pub fn prefetch_value<T>(value: &T) {
    let at: *const u8 = std::ptr::from_ref(value).cast();
    for offset in (0..std::mem::size_of::<T>()).step_by(64) {
        prefetch(at.wrapping_add(offset));
    }
}

/// Seconds from an access field (`Record::touched`) to `clock`, modulo 2^16 (see
/// `Record::idle`).
pub fn idle_at(touched: u32, clock: u32) -> u32 {
    (clock as u16).wrapping_sub(touched as u16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(len: usize) -> Value {
        Value::Str(Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>()))
    }

    fn str_of(record: &Record) -> Vec<u8> {
        match record.value() {
            ValueRef::Str(s) => s.to_vec(),
            other => panic!("not a string: {}", other.type_name()),
        }
    }

    #[test]
    fn benchmark_key_fits_thirty_two_bytes() {
        let r = Record::new(b"key:0000000001", string(16), 0, 7);
        assert_eq!(r.alloc_len(), 32);
        assert_eq!(r.key(), b"key:0000000001");
        assert_eq!(str_of(&r), (0..16).collect::<Vec<u8>>());
        assert_eq!((r.expire_at(), r.touched()), (0, 7));
        assert!(matches!(r.value(), ValueRef::Str(StrRef::Inline(_))));
    }

    #[test]
    fn inline_strings_are_overwritten_in_place_only_at_their_length() {
        let long_key = vec![b'k'; LONG_KEY_MIN + 1];
        for key in [&b"counter"[..], &long_key] {
            for expire_at in [0, 77] {
                let mut r = Record::new(key, Value::Str(Bytes::from_static(b"41")), expire_at, 5);
                let len = r.alloc_len();
                assert!(r.overwrite_inline(b"42"));
                assert_eq!(str_of(&r), b"42");
                assert!(!r.overwrite_inline(b"100"), "another length");
                assert!(!r.overwrite_inline(b"7"), "another length");
                assert_eq!(str_of(&r), b"42");
                assert_eq!(
                    (r.key(), r.expire_at(), r.alloc_len()),
                    (key, expire_at, len)
                );
                assert_eq!(r.touched(), 5);
            }
        }
        let mut shared = Record::new(b"k", string(INLINE_MAX + 1), 0, 0);
        assert!(!shared.overwrite_inline(&[1u8; INLINE_MAX + 1]));
        assert_eq!(
            str_of(&shared),
            str_of(&Record::new(b"k", string(INLINE_MAX + 1), 0, 0))
        );
        let mut list = Record::new(b"k", Value::List(Box::default()), 0, 0);
        assert!(!list.overwrite_inline(b""));
        assert!(matches!(list.value(), ValueRef::List(_)));
    }

    #[test]
    fn long_strings_are_shared_not_copied_and_dropped_once() {
        let big = Bytes::from(vec![5u8; INLINE_MAX + 1]);
        let r = Record::new(b"k", Value::Str(big.clone()), 0, 0);
        match r.value() {
            ValueRef::Str(s) => assert_eq!(s.to_bytes().as_ptr(), big.as_ptr()),
            _ => unreachable!(),
        }
        assert!(!big.is_unique());
        drop(r);
        // The record's reference is gone, and only that one.
        assert!(big.is_unique());
        let r = Record::new(b"k", Value::Str(big.clone()), 3, 0);
        let Entry { value, .. } = r.into_entry();
        assert!(!big.is_unique());
        drop(value);
        assert!(big.is_unique());
    }

    #[test]
    fn expiry_is_added_and_dropped_in_place_for_every_layout() {
        let long_key = vec![b'x'; LONG_KEY_MIN + 3];
        let values = || {
            vec![
                string(0),
                string(16),
                string(INLINE_MAX),
                string(INLINE_MAX + 1),
                Value::List(Box::new(List::from_items([&b"a"[..], b"b"]))),
                Value::Hash(Box::default()),
                Value::Stream(Box::default()),
            ]
        };
        for key in [&b"key"[..], &long_key] {
            for value in values() {
                let kind = match &value {
                    Value::Str(s) => format!("string {}", s.len()),
                    _ => "collection".into(),
                };
                let mut r = Record::new(key, value, 0, 9);
                let (len, before) = (r.alloc_len(), r.value().to_value());
                r.set_collection_bytes(1234);
                r.set_expire(55);
                let with = r.alloc_len();
                assert_eq!(r.expire_at(), 55, "{kind}");
                assert!(with > len, "{kind}");
                r.set_expire(66);
                assert_eq!((r.expire_at(), r.alloc_len()), (66, with), "{kind}");
                assert_eq!(r.key(), key, "{kind}");
                r.set_expire(0);
                assert_eq!((r.expire_at(), r.alloc_len()), (0, len), "{kind}");
                assert_eq!(r.key(), key, "{kind}");
                assert_eq!(r.touched(), 9);
                assert_eq!(
                    format!("{:?}", r.value().to_value()),
                    format!("{before:?}"),
                    "{kind}"
                );
                if kind == "collection" {
                    assert_eq!(r.collection_bytes(), 1234);
                }
            }
        }
    }

    #[test]
    fn accounted_bytes_read_back_as_recorded_and_a_collection_key_fits_thirty_two_bytes() {
        for bytes in [
            0,
            1,
            4096,
            (1 << 31) - 1,
            1 << 31,
            3 << 40,
            (1 << 46) + 12345,
        ] {
            let back = decode_accounted(encode_accounted(bytes));
            assert!(
                back <= bytes && bytes - back < 1 << 16,
                "{bytes} read back as {back}"
            );
            assert_eq!(decode_accounted(encode_accounted(back)), back);
        }
        let mut r = Record::new(b"k:00000001", Value::Hash(Box::default()), 0, 0);
        assert_eq!(r.alloc_len(), 8 + 8 + 10);
        r.set_collection_bytes(5 << 31);
        assert_eq!(r.collection_bytes(), 5 << 31);
    }

    #[test]
    fn collections_change_in_place_and_move_out() {
        let mut r = Record::new(b"l", Value::List(Box::default()), 0, 0);
        match r.value_mut() {
            ValueMut::List(l) => l.push(false, b"one"),
            _ => unreachable!(),
        }
        r.touch(3);
        assert_eq!(r.touched(), 3);
        let copy = r.to_entry();
        match r.into_entry().value {
            Value::List(l) => assert_eq!(l.len(), 1),
            _ => unreachable!(),
        }
        match copy.value {
            Value::List(l) => assert_eq!(l.len(), 1),
            _ => unreachable!(),
        }
        for value in [
            Value::Set(Box::default()),
            Value::ZSet(Box::default()),
            Value::Stream(Box::default()),
        ] {
            let name = Record::new(b"c", value, 1, 0).value().type_name();
            assert_ne!(name, "string");
        }
    }

    #[test]
    fn the_clock_rides_in_the_pointer_and_wraps() {
        let mut r = Record::new(b"k", string(3), 0, 70_000);
        assert_eq!(r.touched(), 70_000 % 65_536);
        assert_eq!(r.idle(70_010), 10);
        r.touch(65_535);
        assert_eq!(r.idle(65_536 + 4), 5);
        // The tag leaves the key, the value and the expiry alone.
        r.set_expire(77);
        r.touch(3);
        assert_eq!((r.key(), r.expire_at(), r.touched()), (&b"k"[..], 77, 3));
        assert_eq!(str_of(&r), vec![0, 1, 2]);
    }
}
