//! Values in Redis's RDB serialization, as DUMP and RESTORE exchange them
//! (Redis's rdb.c: `rdbSaveObject` / `rdbLoadObject`, and cluster.c's
//! payload footer).
//!
//! A payload is `type byte, value, RDB version (2 bytes LE), CRC64 (8
//! bytes LE)` over everything before the CRC. Written here in the plain
//! encodings every Redis since 2.x loads (length-prefixed strings, lists,
//! sets, hashes, binary-double sorted sets): a RESTORE on Redis 7.0 turns
//! them into its compact forms itself. Read here in those and in the
//! compact ones Redis 7.0 writes (integer-encoded and LZF-compressed
//! strings, intsets, listpacks, quicklists of listpacks) and those Redis
//! 6.x wrote (ziplists, quicklists of ziplists), so a value dumped from
//! either restores here. Zipmaps (Redis 2.4), modules and streams are
//! refused as bad data.
//!
//! Hand-written: no maintained crate reads or writes RDB values, and the
//! formats are small. The CRC is the `crc` crate's CRC-64/REDIS.

use crate::types::list::{End, List};
use crate::types::zset::{AddFlags, ZSet};
use crate::types::{HashVal, SetVal, StrVal, Value};

/// RDB version 10: Redis 7.0's, the newest a 7.0 RESTORE accepts.
pub const RDB_VERSION: u16 = 10;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;

const ENC_INT8: u64 = 0;
const ENC_INT16: u64 = 1;
const ENC_INT32: u64 = 2;
const ENC_LZF: u64 = 3;

/// A quicklist node holding one element as is, or a listpack of them.
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Why a payload was refused, as RESTORE reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum BadPayload {
    /// Too short, from a newer RDB version, or a wrong checksum.
    Footer,
    /// Framed right but not a value this server reads.
    Format,
}

/// DUMP's payload for `v`.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(&mut out, v);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A value as RDB stores it: type byte, then the body.
fn put_value(out: &mut Vec<u8>, v: &Value) {
    out.push(value_type(v));
    put_body(out, v);
}

/// The type byte of the plain encoding `put_body` writes.
fn value_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST,
        Value::Set(_) => TYPE_SET,
        Value::Hash(_) => TYPE_HASH,
        Value::ZSet(_) => TYPE_ZSET_2,
    }
}

fn put_body(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => s.with_bytes(|b| put_string(out, b)),
        Value::List(l) => {
            put_len(out, l.len() as u64);
            for e in l.iter() {
                put_string(out, e);
            }
        }
        Value::Set(s) => {
            put_len(out, s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| put_string(out, b));
            }
        }
        Value::Hash(h) => {
            put_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                put_string(out, f);
                put_string(out, v);
            }
        }
        Value::ZSet(z) => {
            put_len(out, z.len() as u64);
            for (m, score) in z.iter() {
                put_string(out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
}

const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;

/// An RDB file's start: magic, version, and the auxiliary fields a
/// loading Redis reports (`redis-ver`, `redis-bits`, `ctime`...).
pub fn put_file_header(out: &mut Vec<u8>, aux: &[(&str, &[u8])]) {
    out.extend_from_slice(b"REDIS");
    out.extend_from_slice(format!("{RDB_VERSION:04}").as_bytes());
    for (k, v) in aux {
        out.push(OP_AUX);
        put_string(out, k.as_bytes());
        put_string(out, v);
    }
}

/// A database's section: its number and (a hint for the loader's hash
/// tables) how many keys, and keys with a TTL, follow.
pub fn put_db_header(out: &mut Vec<u8>, db: usize, keys: usize, expires: usize) {
    out.push(OP_SELECTDB);
    put_len(out, db as u64);
    out.push(OP_RESIZEDB);
    put_len(out, keys as u64);
    put_len(out, expires as u64);
}

/// One key of the current database section; `expire_at` in unix ms, 0
/// for none.
pub fn put_entry(out: &mut Vec<u8>, key: &[u8], v: &Value, expire_at: u64) {
    if expire_at != 0 {
        out.push(OP_EXPIRETIME_MS);
        out.extend_from_slice(&expire_at.to_le_bytes());
    }
    out.push(value_type(v));
    put_string(out, key);
    put_body(out, v);
}

/// A function library (its code, `#!lua name=...` first), between the
/// header and the databases, as Redis 7.0 writes them.
pub fn put_function(out: &mut Vec<u8>, code: &[u8]) {
    out.push(OP_FUNCTION2);
    put_string(out, code);
}

/// The end of an RDB file: EOF opcode and the CRC64 of everything before.
pub fn put_file_end(out: &mut Vec<u8>) {
    out.push(OP_EOF);
    let crc = CRC64.checksum(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

// An RDB file as a replica receives it in a full sync (Redis's rdb.c
// `rdbLoadRioWithLoadingCtx`): the header, then opcodes and entries until
// EOF and the checksum.

const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_EXPIRETIME: u8 = 0xFD;

const TYPE_MODULE_PRE_GA: u8 = 6;
const TYPE_MODULE_2: u8 = 7;
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;
/// Redis 7.2 (RDB 11): refused by the version check already, named here
/// so that a file that claims 10 and holds them gets a clear message.
const TYPE_SET_LISTPACK: u8 = 20;
const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// Why an RDB file cannot be loaded, worded for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum FileError {
    /// Not an RDB file, or one from a newer Redis than this reader knows.
    Header(String),
    /// It ends before its EOF opcode (or its checksum).
    Truncated,
    /// Bytes that are not RDB data, in the item starting at `at`.
    Corrupt { at: usize, what: String },
    /// Valid data halocline has nothing to hold it in (streams, modules).
    Unsupported(String),
    /// The CRC64 after the EOF opcode does not match the file.
    Checksum,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Header(e) => write!(f, "{e}"),
            FileError::Truncated => write!(f, "the RDB file is truncated"),
            FileError::Corrupt { at, what } => {
                write!(f, "corrupt RDB data at byte {at}: bad {what}")
            }
            FileError::Unsupported(e) => write!(f, "{e}"),
            FileError::Checksum => write!(f, "wrong RDB checksum"),
        }
    }
}

/// One key of an RDB file.
pub struct FileEntry {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    /// Unix ms; 0 for none. A key already expired is still an entry (a
    /// replica loads it: its master deletes it in due course).
    pub expire_at: u64,
    /// The LRU idle time (seconds) or LFU counter saved with it, if any.
    pub idle: Option<u64>,
    pub freq: Option<u8>,
}

/// Reads an RDB file's keys one at a time, so a loader never holds a
/// second copy of the whole dataset as values.
pub struct FileReader<'a> {
    r: Reader<'a>,
    pub version: u32,
    db: usize,
    /// The auxiliary fields (`redis-ver`, `repl-id`, ...), as read so far.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function libraries' code, for the loader to FUNCTION LOAD.
    pub functions: Vec<Vec<u8>>,
    /// Empty collections passed over, as Redis 7.0 does when loading.
    pub empty_skipped: usize,
    done: bool,
}

impl<'a> FileReader<'a> {
    /// Check the header: "REDIS" and a four-digit version this reader loads.
    pub fn new(b: &'a [u8]) -> Result<FileReader<'a>, FileError> {
        if b.len() < 9 || &b[..5] != b"REDIS" {
            return Err(FileError::Header(
                "not an RDB file (no REDIS signature)".into(),
            ));
        }
        let version = std::str::from_utf8(&b[5..9])
            .ok()
            .filter(|v| v.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| FileError::Header("not an RDB file (bad version digits)".into()))?;
        if version == 0 || version > u32::from(RDB_VERSION) {
            return Err(FileError::Header(format!(
                "RDB version {version} is not supported (this server loads 1 to {RDB_VERSION})"
            )));
        }
        Ok(FileReader {
            r: Reader { b, at: 9 },
            version,
            db: 0,
            aux: Vec::new(),
            functions: Vec::new(),
            empty_skipped: 0,
            done: false,
        })
    }

    /// The next key, or None after the EOF opcode (and a checksum that
    /// matches, or is 0: written with rdbchecksum no).
    pub fn next_entry(&mut self) -> Result<Option<FileEntry>, FileError> {
        if self.done {
            return Ok(None);
        }
        let (mut expire_at, mut idle, mut freq) = (0u64, None, None);
        loop {
            let at = self.r.at;
            let bad = |what: &str| FileError::Corrupt {
                at,
                what: what.to_string(),
            };
            let Some(op) = self.r.byte() else {
                return Err(FileError::Truncated);
            };
            match op {
                OP_EXPIRETIME_MS => {
                    let b = self.r.take(8).ok_or(FileError::Truncated)?;
                    let ms = i64::from_le_bytes(b.try_into().map_err(|_| bad("expire time"))?);
                    // A time before 1970 is long past, not "no TTL".
                    expire_at = ms.max(1) as u64;
                }
                OP_EXPIRETIME => {
                    let b = self.r.take(4).ok_or(FileError::Truncated)?;
                    let s = i32::from_le_bytes(b.try_into().map_err(|_| bad("expire time"))?);
                    expire_at = (i64::from(s) * 1000).max(1) as u64;
                }
                OP_FREQ => freq = Some(self.r.byte().ok_or(FileError::Truncated)?),
                OP_IDLE => idle = Some(self.plain_len().ok_or_else(|| bad("idle time"))?),
                OP_SELECTDB => {
                    let n = self.plain_len().ok_or_else(|| bad("database number"))?;
                    self.db = usize::try_from(n).map_err(|_| bad("database number"))?;
                }
                OP_RESIZEDB => {
                    self.plain_len().ok_or_else(|| bad("database size"))?;
                    self.plain_len().ok_or_else(|| bad("database size"))?;
                }
                OP_AUX => {
                    let k = self.r.string().ok_or_else(|| bad("auxiliary field"))?;
                    let v = self.r.string().ok_or_else(|| bad("auxiliary field"))?;
                    self.aux.push((k, v));
                }
                OP_FUNCTION2 => {
                    let code = self.r.string().ok_or_else(|| bad("function library"))?;
                    self.functions.push(code);
                }
                OP_FUNCTION_PRE_GA => {
                    return Err(FileError::Unsupported(
                        "function libraries in the format of Redis 7.0 release candidates".into(),
                    ))
                }
                OP_MODULE_AUX => {
                    return Err(FileError::Unsupported(
                        "module data (halocline loads no modules)".into(),
                    ))
                }
                OP_EOF => {
                    self.done = true;
                    if self.version >= 5 {
                        let end = self.r.at;
                        let b = self.r.take(8).ok_or(FileError::Truncated)?;
                        let want = u64::from_le_bytes(b.try_into().map_err(|_| bad("checksum"))?);
                        if want != 0 && CRC64.checksum(&self.r.b[..end]) != want {
                            return Err(FileError::Checksum);
                        }
                    }
                    return Ok(None);
                }
                t => {
                    if !is_file_type(t) {
                        return Err(bad(&format!("opcode or type {t}")));
                    }
                    let key = self.r.string().ok_or_else(|| bad("key"))?;
                    let name = || String::from_utf8_lossy(&key[..key.len().min(128)]).into_owned();
                    match t {
                        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => {
                            return Err(FileError::Unsupported(format!(
                                "key '{}' holds a module type (halocline loads no modules)",
                                name()
                            )))
                        }
                        TYPE_STREAM_LISTPACKS
                        | TYPE_STREAM_LISTPACKS_2
                        | TYPE_STREAM_LISTPACKS_3 => {
                            return Err(FileError::Unsupported(format!(
                                "key '{}' is a stream (halocline has no streams)",
                                name()
                            )))
                        }
                        TYPE_SET_LISTPACK => {
                            return Err(FileError::Unsupported(format!(
                                "key '{}' is a set in Redis 7.2's listpack encoding",
                                name()
                            )))
                        }
                        _ => {}
                    }
                    let value = self
                        .r
                        .body(t)
                        .ok_or_else(|| bad(&format!("value of type {t} (key '{}')", name())))?;
                    if is_empty(&value) {
                        self.empty_skipped += 1;
                        (expire_at, idle, freq) = (0, None, None);
                        continue;
                    }
                    return Ok(Some(FileEntry {
                        db: self.db,
                        key,
                        value,
                        expire_at,
                        idle,
                        freq,
                    }));
                }
            }
        }
    }

    fn plain_len(&mut self) -> Option<u64> {
        match self.r.raw_len()? {
            Len::Plain(n) => Some(n),
            Len::Special(_) => None,
        }
    }
}

/// A type byte an RDB file may hold for a key (loadable or not).
fn is_file_type(t: u8) -> bool {
    matches!(t, 0..=7 | 10..=21)
}

/// FUNCTION DUMP's payload: each library's code as a function record,
/// then the version and checksum footer DUMP payloads end with.
pub fn dump_functions<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for c in codes {
        put_function(&mut out, c);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The libraries' code in a FUNCTION RESTORE payload. `Err`: Redis's error
/// message (without its code).
pub fn restore_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    const WRONG: &str = "DUMP payload version or checksum are wrong";
    if payload.len() < 10 {
        return Err(WRONG);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > RDB_VERSION
        || CRC64.checksum(&payload[..payload.len() - 8]) != u64::from_le_bytes(crc)
    {
        return Err(WRONG);
    }
    let mut r = Reader { b: body, at: 0 };
    let mut codes = Vec::new();
    while r.at < body.len() {
        let t = r.byte().ok_or("can not read data type")?;
        if t != OP_FUNCTION2 {
            return Err("given type is not a function");
        }
        codes.push(
            r.string()
                .ok_or("failed loading the given functions payload")?,
        );
    }
    Ok(codes)
}

/// The value a RESTORE payload holds.
pub fn restore(payload: &[u8]) -> Result<Value, BadPayload> {
    if payload.len() < 10 {
        return Err(BadPayload::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(BadPayload::Footer);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if CRC64.checksum(&payload[..payload.len() - 8]) != u64::from_le_bytes(crc) {
        return Err(BadPayload::Footer);
    }
    let mut r = Reader { b: body, at: 0 };
    let v = r.value().ok_or(BadPayload::Format)?;
    // Bytes after the value are ignored, as Redis's RESTORE does; an
    // empty collection is no value.
    if is_empty(&v) {
        return Err(BadPayload::Format);
    }
    Ok(v)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Str(_) => false,
        Value::List(l) => l.len() == 0,
        Value::Set(s) => s.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::ZSet(z) => z.is_empty(),
    }
}

/// RDB's length encoding: 6, 14, 32 or 64 bits.
fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

/// A length, or (`special`) the code of a specially encoded string.
enum Len {
    Plain(u64),
    Special(u64),
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }

    fn raw_len(&mut self) -> Option<Len> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3F)),
            1 => Len::Plain(u64::from(first & 0x3F) << 8 | u64::from(self.byte()?)),
            3 => Len::Special(u64::from(first & 0x3F)),
            _ => match first {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
        })
    }

    /// A count of elements: bounded by what the payload could hold, so a
    /// forged length cannot make a huge allocation.
    fn count(&mut self) -> Option<usize> {
        match self.raw_len()? {
            Len::Plain(n) if n <= (self.b.len() - self.at) as u64 => Some(n as usize),
            _ => None,
        }
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.raw_len()? {
            Len::Plain(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Len::Special(ENC_INT8) => Some(int_bytes(i64::from(self.byte()? as i8))),
            Len::Special(ENC_INT16) => Some(int_bytes(i64::from(i16::from_le_bytes(
                self.take(2)?.try_into().ok()?,
            )))),
            Len::Special(ENC_INT32) => Some(int_bytes(i64::from(i32::from_le_bytes(
                self.take(4)?.try_into().ok()?,
            )))),
            Len::Special(ENC_LZF) => {
                let clen = self.count()?;
                let Len::Plain(len) = self.raw_len()? else {
                    return None;
                };
                lzf_decompress(self.take(clen)?, usize::try_from(len).ok()?)
            }
            Len::Special(_) => None,
        }
    }

    fn double_le(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// RDB_TYPE_ZSET's scores: a length-prefixed decimal string, or 253,
    /// 254, 255 for NaN, +inf and -inf.
    fn double_text(&mut self) -> Option<f64> {
        match self.byte()? {
            253 => None,
            254 => Some(f64::INFINITY),
            255 => Some(f64::NEG_INFINITY),
            n => std::str::from_utf8(self.take(usize::from(n))?)
                .ok()?
                .parse()
                .ok(),
        }
    }

    /// A list's elements in order, from any of its encodings: plain,
    /// a ziplist, a quicklist of ziplists (Redis 6), or a quicklist of
    /// listpacks and plain nodes (Redis 7).
    fn list_elements(&mut self, t: u8) -> Option<Vec<Vec<u8>>> {
        if t == TYPE_LIST_ZIPLIST {
            return ziplist(&self.string()?);
        }
        let mut out = Vec::new();
        for _ in 0..self.count()? {
            match t {
                TYPE_LIST => out.push(self.string()?),
                TYPE_LIST_QUICKLIST => out.extend(ziplist(&self.string()?)?),
                _ => {
                    let Len::Plain(container) = self.raw_len()? else {
                        return None;
                    };
                    let node = self.string()?;
                    match container {
                        QUICKLIST_NODE_PLAIN => out.push(node),
                        QUICKLIST_NODE_PACKED => out.extend(listpack(&node)?),
                        _ => return None,
                    }
                }
            }
        }
        Some(out)
    }

    /// The entries of a listpack (or, Redis 6, ziplist) of pairs: field
    /// and value, or member and score.
    fn packed_pairs(&mut self, is_listpack: bool) -> Option<Vec<Vec<u8>>> {
        let blob = self.string()?;
        let items = if is_listpack {
            listpack(&blob)?
        } else {
            ziplist(&blob)?
        };
        (items.len() % 2 == 0).then_some(items)
    }

    fn value(&mut self) -> Option<Value> {
        let t = self.byte()?;
        self.body(t)
    }

    /// A value of type `t` (its type byte already read: an RDB file puts
    /// the key between the two).
    fn body(&mut self, t: u8) -> Option<Value> {
        Some(match t {
            TYPE_STRING => Value::Str(StrVal::from_bytes(&self.string()?)),
            TYPE_LIST | TYPE_LIST_ZIPLIST | TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
                let mut l = List::new();
                for e in self.list_elements(t)? {
                    l.push(&e, End::Right);
                }
                Value::List(Box::new(l))
            }
            TYPE_SET => {
                let mut s = SetVal::new_intset();
                for _ in 0..self.count()? {
                    // A member twice is corrupt data to Redis too.
                    if !s.insert(&self.string()?) {
                        return None;
                    }
                }
                Value::Set(Box::new(s))
            }
            TYPE_SET_INTSET => {
                let mut s = SetVal::new_intset();
                for x in intset(&self.string()?)? {
                    if !s.insert(&int_bytes(x)) {
                        return None;
                    }
                }
                Value::Set(Box::new(s))
            }
            TYPE_HASH => {
                let mut h = HashVal::new();
                for _ in 0..self.count()? {
                    let (f, v) = (self.string()?, self.string()?);
                    if !h.set(&f, &v) {
                        return None;
                    }
                }
                Value::Hash(h)
            }
            TYPE_HASH_LISTPACK | TYPE_HASH_ZIPLIST => {
                let mut h = HashVal::new();
                let items = self.packed_pairs(t == TYPE_HASH_LISTPACK)?;
                for p in items.chunks(2) {
                    if !h.set(&p[0], &p[1]) {
                        return None;
                    }
                }
                Value::Hash(h)
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count()?;
                let mut z = ZSet::with_hint(n);
                for _ in 0..n {
                    let m = self.string()?;
                    let score = if t == TYPE_ZSET_2 {
                        self.double_le()?
                    } else {
                        self.double_text()?
                    };
                    zadd(&mut z, score, &m)?;
                }
                z.shrink_if_small();
                Value::ZSet(z)
            }
            TYPE_ZSET_LISTPACK | TYPE_ZSET_ZIPLIST => {
                let items = self.packed_pairs(t == TYPE_ZSET_LISTPACK)?;
                let mut z = ZSet::with_hint(items.len() / 2);
                for p in items.chunks(2) {
                    let score: f64 = std::str::from_utf8(&p[1]).ok()?.parse().ok()?;
                    zadd(&mut z, score, &p[0])?;
                }
                z.shrink_if_small();
                Value::ZSet(z)
            }
            _ => return None,
        })
    }
}

/// Add a new member: a NaN score or a member twice is bad data.
fn zadd(z: &mut ZSet, score: f64, member: &[u8]) -> Option<()> {
    use crate::types::zset::AddOutcome;
    match z.add(score, member, AddFlags::default()) {
        AddOutcome::Added(_) => Some(()),
        _ => None,
    }
}

fn int_bytes(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// An intset's members: encoding (2, 4 or 8 bytes), count, then the
/// integers, all little-endian.
fn intset(b: &[u8]) -> Option<Vec<i64>> {
    let enc = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    let n = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(enc, 2 | 4 | 8) || b.len() != 8 + n.checked_mul(enc)? {
        return None;
    }
    Some(
        b[8..]
            .chunks_exact(enc)
            .map(|c| match enc {
                2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// A listpack's entries (Redis's listpack.c format: a 6-byte header, each
/// entry an encoding byte, its data, and its own length backwards; 0xFF
/// ends it). Integers come back as their decimal text, as Redis reads
/// them.
fn listpack(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    if total != b.len() {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 6;
    loop {
        let enc = *b.get(at)?;
        if enc == 0xFF {
            break;
        }
        let start = at;
        let int = |x: i64| Some(int_bytes(x));
        let (item, len) = match enc {
            0x00..=0x7F => (int(i64::from(enc))?, 1),
            0x80..=0xBF => {
                let n = usize::from(enc & 0x3F);
                (b.get(at + 1..at + 1 + n)?.to_vec(), 1 + n)
            }
            0xC0..=0xDF => {
                let raw = (u16::from(enc & 0x1F) << 8) | u16::from(*b.get(at + 1)?);
                // 13-bit two's complement.
                let v = (i64::from(raw) << 51) >> 51;
                (int(v)?, 2)
            }
            0xE0..=0xEF => {
                let n = (usize::from(enc & 0x0F) << 8) | usize::from(*b.get(at + 1)?);
                (b.get(at + 2..at + 2 + n)?.to_vec(), 2 + n)
            }
            0xF0 => {
                let n = u32::from_le_bytes(b.get(at + 1..at + 5)?.try_into().ok()?) as usize;
                (b.get(at + 5..at.checked_add(5 + n)?)?.to_vec(), 5 + n)
            }
            0xF1 => (
                int(i64::from(i16::from_le_bytes(
                    b.get(at + 1..at + 3)?.try_into().ok()?,
                )))?,
                3,
            ),
            0xF2 => {
                let x = b.get(at + 1..at + 4)?;
                let v = (i64::from(i32::from_le_bytes([0, x[0], x[1], x[2]]))) >> 8;
                (int(v)?, 4)
            }
            0xF3 => (
                int(i64::from(i32::from_le_bytes(
                    b.get(at + 1..at + 5)?.try_into().ok()?,
                )))?,
                5,
            ),
            0xF4 => (
                int(i64::from_le_bytes(b.get(at + 1..at + 9)?.try_into().ok()?))?,
                9,
            ),
            _ => return None,
        };
        // The back-length: 7 bits per byte, as many bytes as it takes.
        let back = match len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        at = start + len + back;
        out.push(item);
    }
    (at + 1 == b.len()).then_some(out)
}

/// A ziplist's entries (Redis 6.x's compact lists, hashes and sorted sets:
/// a 10-byte header, each entry its predecessor's length (1 or 5 bytes),
/// an encoding and its data; 0xFF ends it). Integers come back as their
/// decimal text.
fn ziplist(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    if total != b.len() {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 10;
    loop {
        if *b.get(at)? == 0xFF {
            break;
        }
        at += if b[at] < 0xFE { 1 } else { 5 };
        let enc = *b.get(at)?;
        let int = |x: i64| Some(int_bytes(x));
        let le = |n: usize| -> Option<[u8; 8]> {
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(b.get(at + 1..at + 1 + n)?);
            Some(w)
        };
        let (item, len) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3F);
                (b.get(at + 1..at + 1 + n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(enc & 0x3F) << 8) | usize::from(*b.get(at + 1)?);
                (b.get(at + 2..at + 2 + n)?.to_vec(), 2 + n)
            }
            2 if enc == 0x80 => {
                let n = u32::from_be_bytes(b.get(at + 1..at + 5)?.try_into().ok()?) as usize;
                (b.get(at + 5..at.checked_add(5 + n)?)?.to_vec(), 5 + n)
            }
            3 => match enc {
                0xC0 => (
                    int(i64::from(i16::from_le_bytes([le(2)?[0], le(2)?[1]])))?,
                    3,
                ),
                0xD0 => {
                    let w = le(4)?;
                    (
                        int(i64::from(i32::from_le_bytes([w[0], w[1], w[2], w[3]])))?,
                        5,
                    )
                }
                0xE0 => (int(i64::from_le_bytes(le(8)?))?, 9),
                0xF0 => {
                    let w = le(3)?;
                    (
                        int(i64::from(i32::from_le_bytes([0, w[0], w[1], w[2]]) >> 8))?,
                        4,
                    )
                }
                0xFE => (int(i64::from(le(1)?[0] as i8))?, 2),
                0xF1..=0xFD => (int(i64::from(enc & 0x0F) - 1)?, 1),
                _ => return None,
            },
            _ => return None,
        };
        at += len;
        out.push(item);
    }
    (at + 1 == b.len()).then_some(out)
}

/// LZF decompression (liblzf's format, which Redis uses for long strings):
/// literal runs of 1-32 bytes and back-references of 3-264 bytes up to 8K
/// back. None unless it yields exactly `len` bytes.
fn lzf_decompress(src: &[u8], len: usize) -> Option<Vec<u8>> {
    // Room is reserved as output arrives, fallibly: a forged length (or a
    // run of back-references, 264 bytes from 2-3 input bytes) must end in
    // "Bad data format", not in an allocation failure that aborts.
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve(len.min(1 << 20)).ok()?;
    let mut i = 0;
    while i < src.len() {
        let ctrl = usize::from(src[i]);
        i += 1;
        if ctrl < 32 {
            let run = src.get(i..i + ctrl + 1)?;
            out.try_reserve(run.len()).ok()?;
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += usize::from(*src.get(i)?);
                i += 1;
            }
            let back = ((ctrl & 0x1F) << 8) + usize::from(*src.get(i)?) + 1;
            i += 1;
            let from = out.len().checked_sub(back)?;
            out.try_reserve(n + 2).ok()?;
            for k in 0..n + 2 {
                let byte = out[from + k];
                out.push(byte);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_of(items: &[&str]) -> Value {
        let mut l = List::new();
        for i in items {
            l.push(i.as_bytes(), End::Right);
        }
        Value::List(Box::new(l))
    }

    #[test]
    fn every_type_round_trips() {
        let mut set = SetVal::new_intset();
        for m in ["1", "x", "-7"] {
            set.insert(m.as_bytes());
        }
        let mut h = HashVal::new();
        h.set(b"f", b"v");
        h.set(b"n", b"1");
        let mut z = ZSet::with_hint(2);
        zadd(&mut z, 1.5, b"a");
        zadd(&mut z, f64::NEG_INFINITY, b"b");
        let long = "y".repeat(20000);
        for v in [
            Value::Str(StrVal::from_bytes(b"hello")),
            Value::Str(StrVal::from_bytes(b"-123")),
            Value::Str(StrVal::from_bytes(long.as_bytes())),
            list_of(&["a", "", "3", &long]),
            Value::Set(Box::new(set)),
            Value::Hash(h),
            Value::ZSet(z),
        ] {
            let p = dump(&v);
            let back = restore(&p).expect("restores");
            assert_eq!(dump(&back), p);
        }
    }

    #[test]
    fn footer_and_format_errors() {
        let p = dump(&list_of(&["a"]));
        assert_eq!(restore(&p[..9]).err(), Some(BadPayload::Footer));
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert_eq!(restore(&bad).err(), Some(BadPayload::Footer));
        let mut newer = p.clone();
        let n = newer.len();
        newer[n - 10] = 11;
        assert_eq!(restore(&newer).err(), Some(BadPayload::Footer));
        // Well framed, but a stream (type 15), a truncated list, a set, a
        // hash and a sorted set naming a member twice, a quicklist node of
        // an unknown container.
        for body in [
            &[15u8, 0][..],
            &[TYPE_LIST, 2, 1, b'a'][..],
            &[TYPE_SET, 2, 1, b'a', 1, b'a'][..],
            &[TYPE_HASH, 2, 1, b'f', 0, 1, b'f', 0][..],
            &[TYPE_ZSET, 2, 1, b'm', 1, b'1', 1, b'm', 1, b'2'][..],
            &[TYPE_LIST_QUICKLIST_2, 1, 3, 1, b'x'][..],
        ] {
            assert_eq!(
                restore(&framed(body)).err(),
                Some(BadPayload::Format),
                "{body:?}"
            );
        }
        // Bytes after the value are ignored (as Redis's RESTORE does).
        let mut body = p[..p.len() - 10].to_vec();
        body.extend_from_slice(b"junk");
        assert!(restore(&framed(&body)).is_ok());
    }

    /// `body` framed as a payload with a correct footer.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    proptest::proptest! {
        /// RESTORE parses what clients send: any body, correctly framed
        /// (so the parser, not the checksum, meets it), is a value or an
        /// error, never a panic or a huge allocation.
        #[test]
        fn any_framed_body_is_a_value_or_an_error(
            t in 0u8..20,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut b = vec![t];
            b.extend_from_slice(&body);
            let _ = restore(&framed(&b));
        }

        /// The compact containers' parsers on arbitrary bytes behind a
        /// consistent total-length header.
        #[test]
        fn containers_never_panic(
            mut b in proptest::collection::vec(proptest::prelude::any::<u8>(), 10..200),
        ) {
            let total = b.len() as u32;
            b[..4].copy_from_slice(&total.to_le_bytes());
            let _ = ziplist(&b);
            let _ = listpack(&b);
            let _ = intset(&b);
            let _ = lzf_decompress(&b, 1000);
        }

        /// Valid payloads with bytes flipped, refreamed.
        #[test]
        fn mutated_payloads_are_values_or_errors(
            which in 0usize..5,
            flips in proptest::collection::vec((0usize..400, 1u8..=255), 1..6),
        ) {
            let long = "ab".repeat(100);
            let mut h = HashVal::new();
            h.set(b"f", long.as_bytes());
            let mut z = ZSet::with_hint(1);
            zadd(&mut z, 2.5, b"m");
            let v = [
                Value::Str(StrVal::from_bytes(long.as_bytes())),
                list_of(&["a", "1", &long]),
                Value::Set(Box::new(SetVal::for_member(b"7"))),
                Value::Hash(h),
                Value::ZSet(z),
            ];
            let p = dump(&v[which]);
            let mut body = p[..p.len() - 10].to_vec();
            for (at, x) in flips {
                let n = body.len();
                body[at % n] ^= x;
            }
            let _ = restore(&framed(&body));
        }
    }

    /// Every entry a reader gives back, with its value as a DUMP payload
    /// (comparable), and how the reading ended.
    type Read = (Vec<(usize, Vec<u8>, Vec<u8>, u64)>, Result<(), FileError>);

    fn read_all(file: &[u8]) -> Read {
        let mut out = Vec::new();
        let mut r = match FileReader::new(file) {
            Ok(r) => r,
            Err(e) => return (out, Err(e)),
        };
        loop {
            match r.next_entry() {
                Ok(Some(e)) => out.push((e.db, e.key, dump(&e.value), e.expire_at)),
                Ok(None) => return (out, Ok(())),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    /// A database's keys: (key, value, expire_at).
    type Section = (usize, Vec<(Vec<u8>, Value, u64)>);

    fn file_of(dbs: &[Section]) -> Vec<u8> {
        let mut f = Vec::new();
        put_file_header(&mut f, &[("redis-ver", b"7.0.15"), ("redis-bits", b"64")]);
        for (db, entries) in dbs {
            let expires = entries.iter().filter(|e| e.2 != 0).count();
            put_db_header(&mut f, *db, entries.len(), expires);
            for (k, v, exp) in entries {
                put_entry(&mut f, k, v, *exp);
            }
        }
        put_file_end(&mut f);
        f
    }

    #[test]
    fn file_reader_reads_what_the_writers_write() {
        let mut h = HashVal::new();
        h.set(b"f", b"v");
        let mut z = ZSet::with_hint(1);
        zadd(&mut z, -2.5, b"m");
        let f = file_of(&[
            (
                0,
                vec![
                    (b"s".to_vec(), Value::Str(StrVal::from_bytes(b"12")), 0),
                    (b"l".to_vec(), list_of(&["a", "b"]), 1_700_000_000_123),
                ],
            ),
            (
                5,
                vec![
                    (b"h".to_vec(), Value::Hash(h), 0),
                    (b"z".to_vec(), Value::ZSet(z), 0),
                ],
            ),
        ]);
        let (entries, end) = read_all(&f);
        assert_eq!(end, Ok(()));
        let got: Vec<(usize, &[u8], u64)> = entries
            .iter()
            .map(|(db, k, _, exp)| (*db, &k[..], *exp))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, &b"s"[..], 0),
                (0, b"l", 1_700_000_000_123),
                (5, b"h", 0),
                (5, b"z", 0)
            ]
        );
        assert_eq!(entries[1].2, dump(&list_of(&["a", "b"])));
        let r = FileReader::new(&f).expect("header");
        assert_eq!(r.version, 10);
    }

    #[test]
    fn file_reader_opcodes_and_refusals() {
        // A hand-made Redis 7.0 style file: aux fields, a function library,
        // an expire in seconds, LFU and LRU metadata, an empty set (skipped).
        let mut f = b"REDIS0010".to_vec();
        f.push(OP_AUX);
        put_string(&mut f, b"redis-bits");
        f.extend_from_slice(&[0xC0, 64]); // the integer 64
        f.push(OP_FUNCTION2);
        put_string(
            &mut f,
            b"#!lua name=lib\nredis.register_function('f', function() end)",
        );
        f.extend_from_slice(&[OP_SELECTDB, 3, OP_RESIZEDB, 2, 1]);
        f.push(OP_EXPIRETIME);
        f.extend_from_slice(&2_000_000_000i32.to_le_bytes());
        f.extend_from_slice(&[OP_FREQ, 7, TYPE_STRING]);
        put_string(&mut f, b"k");
        put_string(&mut f, b"v");
        f.extend_from_slice(&[OP_IDLE, 42, TYPE_SET, 1, b'e', 0]);
        f.extend_from_slice(&[OP_IDLE, 9, TYPE_SET_INTSET, 1, b'i']);
        put_string(&mut f, &[2, 0, 0, 0, 1, 0, 0, 0, 5, 0]);
        let mut no_crc = f.clone();
        put_file_end(&mut f);
        let mut r = FileReader::new(&f).expect("header");
        let e = r.next_entry().expect("ok").expect("an entry");
        assert_eq!(
            (e.db, &e.key[..], e.expire_at),
            (3, &b"k"[..], 2_000_000_000_000)
        );
        assert_eq!((e.freq, e.idle), (Some(7), None));
        let e = r.next_entry().expect("ok").expect("an entry");
        assert_eq!((&e.key[..], e.idle, e.freq), (&b"i"[..], Some(9), None));
        assert!(r.next_entry().expect("ok").is_none());
        assert_eq!((r.functions.len(), r.empty_skipped), (1, 1));
        assert_eq!(r.aux, vec![(b"redis-bits".to_vec(), b"64".to_vec())]);
        // A zero checksum is not checked; a wrong one is refused.
        no_crc.push(OP_EOF);
        no_crc.extend_from_slice(&[0; 8]);
        assert_eq!(read_all(&no_crc).1, Ok(()));
        let n = f.len();
        f[n - 1] ^= 1;
        assert_eq!(read_all(&f).1, Err(FileError::Checksum));
        // Missing the end, a newer version, not RDB.
        assert_eq!(
            read_all(&no_crc[..no_crc.len() - 9]).1,
            Err(FileError::Truncated)
        );
        assert!(matches!(
            read_all(b"REDIS0011\xff").1,
            Err(FileError::Header(_))
        ));
        assert!(matches!(
            read_all(b"RADIS0009\xff").1,
            Err(FileError::Header(_))
        ));
        // A stream, a module value, module aux data: refused by name.
        for (t, want) in [
            (TYPE_STREAM_LISTPACKS, "stream"),
            (TYPE_STREAM_LISTPACKS_2, "stream"),
            (TYPE_MODULE_2, "module"),
        ] {
            let mut f = b"REDIS0010".to_vec();
            f.push(t);
            put_string(&mut f, b"events");
            f.extend_from_slice(&[0; 16]);
            match read_all(&f).1 {
                Err(FileError::Unsupported(m)) => {
                    assert!(m.contains(want) && m.contains("events"), "{m}")
                }
                other => panic!("type {t}: {other:?}"),
            }
        }
        let f = b"REDIS0010\xf7\x01\x02".to_vec();
        assert!(matches!(read_all(&f).1, Err(FileError::Unsupported(_))));
    }

    /// A value for proptest, which wants to print what it generated.
    struct V(Value);

    impl std::fmt::Debug for V {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", dump(&self.0))
        }
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = V> {
        use proptest::prelude::*;
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            bytes().prop_map(|b| V(Value::Str(StrVal::from_bytes(&b)))),
            proptest::collection::vec(bytes(), 1..20).prop_map(|items| {
                let mut l = List::new();
                for i in &items {
                    l.push(i, End::Right);
                }
                V(Value::List(Box::new(l)))
            }),
            proptest::collection::btree_set(bytes(), 1..20).prop_map(|m| {
                let mut s = SetVal::new_intset();
                for x in &m {
                    s.insert(x);
                }
                V(Value::Set(Box::new(s)))
            }),
            proptest::collection::btree_map(bytes(), bytes(), 1..20).prop_map(|m| {
                let mut h = HashVal::new();
                for (f, v) in &m {
                    h.set(f, v);
                }
                V(Value::Hash(h))
            }),
            proptest::collection::btree_map(bytes(), -1e9f64..1e9, 1..20).prop_map(|m| {
                let mut z = ZSet::with_hint(m.len());
                for (x, s) in &m {
                    zadd(&mut z, *s, x);
                }
                V(Value::ZSet(z))
            }),
        ]
    }

    proptest::proptest! {
        /// Files the writers make read back entry for entry.
        #[test]
        fn files_round_trip(
            dbs in proptest::collection::vec(
                (0usize..20, proptest::collection::vec(
                    (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
                     arb_value(),
                     proptest::prop_oneof![proptest::strategy::Just(0u64), 1u64..u64::MAX / 2]),
                    0..8)),
                0..4),
        ) {
            let dbs: Vec<Section> = dbs
                .into_iter()
                .map(|(db, es)| (db, es.into_iter().map(|(k, v, e)| (k, v.0, e)).collect()))
                .collect();
            let f = file_of(&dbs);
            let (entries, end) = read_all(&f);
            proptest::prop_assert_eq!(end, Ok(()));
            let want: Vec<(usize, Vec<u8>, Vec<u8>, u64)> = dbs
                .iter()
                .flat_map(|(db, es)| es.iter().map(move |(k, v, e)| (*db, k.clone(), dump(v), *e)))
                .collect();
            proptest::prop_assert_eq!(entries, want);
        }

        /// A master's bytes are not trusted: any bytes after a valid
        /// header, and valid files with bytes flipped, end in entries or
        /// an error, never a panic or a runaway allocation.
        #[test]
        fn file_reader_never_panics(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        ) {
            let mut f = b"REDIS0010".to_vec();
            f.extend_from_slice(&body);
            let _ = read_all(&f);
        }

        #[test]
        fn mutated_files_never_panic(
            v in arb_value(),
            flips in proptest::collection::vec((0usize..2000, 1u8..=255), 1..6),
            cut in 0usize..2000,
        ) {
            let mut f = file_of(&[(1, vec![(b"key".to_vec(), v.0, 1_700_000_000_000)])]);
            for (at, x) in flips {
                let n = f.len();
                f[at % n] ^= x;
            }
            let _ = read_all(&f);
            let cut = cut % f.len();
            let _ = read_all(&f[..cut]);
        }
    }

    #[test]
    fn forged_lengths_do_not_allocate_what_they_claim() {
        // An LZF string claiming 2^40 bytes from 3 input bytes.
        let mut b = vec![TYPE_STRING, 0xC0 | ENC_LZF as u8, 3, 0x81];
        b.extend_from_slice(&(1u64 << 40).to_be_bytes());
        b.extend_from_slice(&[0, b'a', 0]);
        assert_eq!(restore(&framed(&b)).err(), Some(BadPayload::Format));
        // A list claiming 2^60 elements.
        let mut b = vec![TYPE_LIST, 0x81];
        b.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert_eq!(restore(&framed(&b)).err(), Some(BadPayload::Format));
    }

    /// A ziplist as Redis 6.x writes one: every entry encoding, and a
    /// 5-byte previous-length after a long entry.
    #[test]
    fn redis6_ziplists() {
        let mut zl = vec![0u8; 10];
        let mut prev = 0usize;
        let mut push = |zl: &mut Vec<u8>, entry: &[u8]| {
            if prev < 254 {
                zl.push(prev as u8);
            } else {
                zl.push(0xFE);
                zl.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            zl.extend_from_slice(entry);
            prev = entry.len() + if prev < 254 { 1 } else { 5 };
        };
        push(&mut zl, &[0x02, b'h', b'i']);
        let long = vec![b'z'; 300];
        let mut e = vec![0x40 | (300 >> 8) as u8, (300 & 0xFF) as u8];
        e.extend_from_slice(&long);
        push(&mut zl, &e);
        push(&mut zl, &[0xC0, 0x18, 0xFC]); // int16 -1000
        push(&mut zl, &[0xD0, 0x40, 0x42, 0x0F, 0x00]); // int32 1000000
        push(&mut zl, &[0xE0, 0, 0, 0, 0, 0, 0, 0, 0x80]); // int64 min
        push(&mut zl, &[0xF0, 0xFF, 0xFF, 0xFF]); // int24 -1
        push(&mut zl, &[0xFE, 0x80]); // int8 -128
        push(&mut zl, &[0xF1]); // immediate 0
        push(&mut zl, &[0xFD]); // immediate 12
        zl.push(0xFF);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        let want: Vec<Vec<u8>> = vec![
            b"hi".to_vec(),
            long,
            b"-1000".to_vec(),
            b"1000000".to_vec(),
            i64::MIN.to_string().into_bytes(),
            b"-1".to_vec(),
            b"-128".to_vec(),
            b"0".to_vec(),
            b"12".to_vec(),
        ];
        assert_eq!(ziplist(&zl), Some(want.clone()));
        // As a Redis 6 list (a quicklist of one ziplist node) and a hash.
        let mut body = vec![TYPE_LIST_QUICKLIST, 1];
        put_string(&mut body, &zl);
        let Ok(Value::List(l)) = restore(&framed(&body)) else {
            panic!("a quicklist restores as a list");
        };
        assert_eq!(l.iter().map(|e| e.to_vec()).collect::<Vec<_>>(), want);
        let mut pairs = vec![0u8; 10];
        for e in [&[0u8, 0x01, b'f'][..], &[3, 0xF2]] {
            pairs.extend_from_slice(e);
        }
        pairs.push(0xFF);
        let total = pairs.len() as u32;
        pairs[..4].copy_from_slice(&total.to_le_bytes());
        let mut body = vec![TYPE_HASH_ZIPLIST];
        put_string(&mut body, &pairs);
        let Ok(Value::Hash(h)) = restore(&framed(&body)) else {
            panic!("a ziplist hash restores as a hash");
        };
        assert_eq!(h.get(b"f"), Some(&b"1"[..]));
        assert_eq!(ziplist(&zl[..zl.len() - 1]), None, "no end byte");
    }

    #[test]
    fn redis_compact_encodings() {
        // An intset of 1, 2, -3 (16-bit).
        let mut is = vec![2, 0, 0, 0, 3, 0, 0, 0];
        for x in [1i16, 2, -3] {
            is.extend_from_slice(&x.to_le_bytes());
        }
        assert_eq!(intset(&is), Some(vec![1, 2, -3]));
        // A listpack: "ab", 5, -100, 300000, then the end byte.
        let mut lp = vec![0, 0, 0, 0, 4, 0];
        lp.extend_from_slice(&[0x82, b'a', b'b', 3]);
        lp.extend_from_slice(&[0x05, 1]);
        let v13 = (-100i16 as u16) & 0x1FFF;
        lp.extend_from_slice(&[0xC0 | (v13 >> 8) as u8, v13 as u8, 2]);
        let v24 = 300000i32.to_le_bytes();
        lp.extend_from_slice(&[0xF2, v24[0], v24[1], v24[2], 4]);
        lp.push(0xFF);
        let total = lp.len() as u32;
        lp[..4].copy_from_slice(&total.to_le_bytes());
        let items = listpack(&lp).expect("valid listpack");
        assert_eq!(items, [&b"ab"[..], b"5", b"-100", b"300000"]);
        // LZF: a literal run, then a back-reference copying it.
        // 0b001_00000: a 3-byte reference, 0 and then 2 + 1 back.
        let src = [2u8, b'a', b'b', b'c', 1 << 5, 2];
        assert_eq!(lzf_decompress(&src, 6).as_deref(), Some(&b"abcabc"[..]));
        assert_eq!(lzf_decompress(&src, 7), None);
        assert_eq!(
            lzf_decompress(&[1 << 5, 9], 3),
            None,
            "reference before the start"
        );
    }
}
