//! Keyspace notifications (`notify-keyspace-events`): Pub/Sub messages on
//! `__keyspace@<db>__:<key>` (the event as message) and
//! `__keyevent@<db>__:<event>` (the key as message) for every change of a
//! class the setting enables, with Redis 7.0's event names.
//!
//! Events are raised where the change happens (a command's handler, a
//! keyspace primitive for expiry and key creation, the eviction loop), on
//! whichever reactor owns the key, and queued in a per-thread buffer; the
//! reactor publishes them at the end of its loop turn (`flush_outboxes`).
//! The setting is one process-wide atomic because every one of those
//! places must test it; with notifications off (the default) a raise point
//! costs a relaxed load and a branch.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};

pub const KEYSPACE: u32 = 1 << 0; // K
pub const KEYEVENT: u32 = 1 << 1; // E
pub const GENERIC: u32 = 1 << 2; // g
pub const STRING: u32 = 1 << 3; // $
pub const LIST: u32 = 1 << 4; // l
pub const SET: u32 = 1 << 5; // s
pub const HASH: u32 = 1 << 6; // h
pub const ZSET: u32 = 1 << 7; // z
pub const EXPIRED: u32 = 1 << 8; // x
pub const EVICTED: u32 = 1 << 9; // e
pub const STREAM: u32 = 1 << 10; // t
pub const KEY_MISS: u32 = 1 << 11; // m
pub const MODULE: u32 = 1 << 13; // d
pub const NEW: u32 = 1 << 14; // n
/// `A`: every class but key-miss and new-key events, as Redis defines it.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

static FLAGS: AtomicU32 = AtomicU32::new(0);

/// The classes enabled now (0: notifications off).
#[inline]
pub fn flags() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

pub fn set_flags(f: u32) {
    FLAGS.store(f, Ordering::Relaxed);
}

/// Redis's keyspaceEventsStringToFlags: None for an unknown character.
pub fn parse(s: &[u8]) -> Option<u32> {
    let mut f = 0;
    for &c in s {
        f |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// Redis's keyspaceEventsFlagsToString: `A` when every class of it is on,
/// else the classes in a fixed order, then K, E and m.
pub fn format(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// One raised event, waiting for its reactor to publish it.
pub struct Event {
    pub db: usize,
    pub event: &'static str,
    pub key: Vec<u8>,
}

thread_local! {
    static PENDING: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
    static ANY: Cell<bool> = const { Cell::new(false) };
}

/// A read found no `key` in database `db` (Redis's `keymiss`, class `m`).
#[inline]
pub fn key_miss(db: usize, key: &[u8]) {
    notify(KEY_MISS, "keymiss", db, key);
}

/// Raise `event` of `class` on `key` of database `db`, if that class is on.
#[inline]
pub fn notify(class: u32, event: &'static str, db: usize, key: &[u8]) {
    let f = flags();
    if f & class == 0 || f & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    raise(event, db, key);
}

#[cold]
fn raise(event: &'static str, db: usize, key: &[u8]) {
    PENDING.with(|p| {
        p.borrow_mut().push(Event {
            db,
            event,
            key: key.to_vec(),
        })
    });
    ANY.with(|a| a.set(true));
}

/// Whether events wait to be published (cheap: no borrow).
#[inline]
pub fn pending() -> bool {
    ANY.with(|a| a.get())
}

/// How many events wait on this thread (a mark for `forget`).
pub fn raised() -> usize {
    PENDING.with(|p| p.borrow().len())
}

/// Drop the events raised since `raised()` answered `mark`: the writes
/// that raised them were undone (a script that starts over).
pub fn forget(mark: usize) {
    PENDING.with(|p| p.borrow_mut().truncate(mark));
}

/// The events raised on this thread since the last call, in order.
pub fn take() -> Vec<Event> {
    ANY.with(|a| a.set(false));
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_prints_them() {
        let cases: &[(&str, &str)] = &[
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("", ""),
            ("Ex", "xE"),
            ("En", "nE"),
            ("AKEmn", "AKEm"),
        ];
        for (input, shown) in cases {
            let f = parse(input.as_bytes()).expect(input);
            assert_eq!(format(f), *shown, "{input}");
        }
        assert_eq!(parse(b"KEQ"), None);
    }

    #[test]
    fn only_enabled_classes_are_raised() {
        set_flags(parse(b"Kl").unwrap_or(0));
        notify(STRING, "set", 0, b"a");
        notify(LIST, "lpush", 0, b"b");
        let got: Vec<_> = take().into_iter().map(|e| (e.event, e.key)).collect();
        assert_eq!(got, vec![("lpush", b"b".to_vec())]);
        assert!(!pending());
        set_flags(parse(b"l").unwrap_or(0));
        notify(LIST, "lpush", 0, b"b");
        assert!(!pending(), "neither K nor E: nothing is published");
        set_flags(0);
    }
}
