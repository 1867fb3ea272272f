//! Client-side caching (CLIENT TRACKING, default mode): which clients read
//! which keys, so that a change of the key sends them an invalidation.
//!
//! The table lives with the keys: each shard's reactor thread keeps the
//! trackers of its own keys (a thread-local, so the keyspace primitives
//! that see every change, `Db::touch`, can consult it without plumbing).
//! A tracking client's read registers its keys on their shards *before*
//! the read runs (for another shard, a `Msg::Track` ahead of the command
//! in the same mailbox), so no write can fall between the read and the
//! registration: a write after it invalidates, one before it is seen by
//! the read. As in Redis, the table is by key name across databases, an
//! entry is dropped once invalidated (the client reads it again to track
//! it again), and FLUSHDB/FLUSHALL send every tracking client a null
//! invalidation.

use crate::tx::Token;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A tracking client: where its invalidations go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tracker {
    pub reactor: usize,
    pub conn: Token,
    pub id: u64,
}

thread_local! {
    static TABLE: RefCell<HashMap<Vec<u8>, Vec<Tracker>>> = RefCell::new(HashMap::new());
    static ANY: Cell<bool> = const { Cell::new(false) };
    /// Invalidations to send at the end of the reactor's turn.
    static PENDING: RefCell<Vec<(Tracker, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// Record that `t` read `key` (on the key's own shard thread).
pub fn remember(key: &[u8], t: Tracker) {
    TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        let list = tab.entry(key.to_vec()).or_default();
        if !list.contains(&t) {
            list.push(t);
        }
    });
    ANY.with(|a| a.set(true));
}

/// A key of this thread's shard changed: its trackers are invalidated.
#[inline]
pub fn modified(key: &[u8]) {
    if ANY.with(|a| a.get()) {
        invalidate(key);
    }
}

/// Whether any key of this thread's shard is tracked.
#[inline]
pub fn any() -> bool {
    ANY.with(|a| a.get())
}

#[cold]
fn invalidate(key: &[u8]) {
    let Some(list) = TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        let list = tab.remove(key);
        if tab.is_empty() {
            ANY.with(|a| a.set(false));
        }
        list
    }) else {
        return;
    };
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        for t in list {
            p.push((t, key.to_vec()));
        }
    });
}

/// FLUSHALL/FLUSHDB: forget every tracked key (their clients get a null
/// invalidation from their own reactors).
pub fn forget_all() {
    TABLE.with(|tab| tab.borrow_mut().clear());
    ANY.with(|a| a.set(false));
}

/// Whether invalidations wait to be sent.
#[inline]
pub fn pending() -> bool {
    PENDING.with(|p| !p.borrow().is_empty())
}

pub fn take_pending() -> Vec<(Tracker, Vec<u8>)> {
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// A client's CLIENT TRACKING settings.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub optin: bool,
    pub optout: bool,
    /// CLIENT CACHING yes/no, for the next command.
    pub caching: Option<bool>,
    /// REDIRECT: the id of the client that gets the invalidations (0: none).
    pub redirect: u64,
}

impl Settings {
    /// Whether the command about to run has its keys tracked.
    pub fn tracks_next(&self) -> bool {
        if self.optin {
            self.caching == Some(true)
        } else if self.optout {
            self.caching != Some(false)
        } else {
            true
        }
    }
}

/// The invalidation for `key` (None: everything, after a flush): a RESP3
/// push, or (`pubsub`) the RESP2 Pub/Sub message on
/// `__redis__:invalidate` a redirected-to RESP2 subscriber gets.
pub fn message(key: Option<&[u8]>, pubsub: bool) -> Vec<u8> {
    let mut out = if pubsub {
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec()
    } else {
        b">2\r\n$10\r\ninvalidate\r\n".to_vec()
    };
    if pubsub && key.is_none() {
        out.extend_from_slice(b"*-1\r\n");
        return out;
    }
    match key {
        Some(k) => {
            out.extend_from_slice(format!("*1\r\n${}\r\n", k.len()).as_bytes());
            out.extend_from_slice(k);
            out.extend_from_slice(b"\r\n");
        }
        None => out.extend_from_slice(b"_\r\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_invalidates_each_tracker_once_and_forgets_the_key() {
        let t = |id| Tracker {
            reactor: 0,
            conn: id,
            id,
        };
        remember(b"k", t(1));
        remember(b"k", t(1));
        remember(b"k", t(2));
        remember(b"other", t(1));
        modified(b"nope");
        assert!(!pending());
        modified(b"k");
        let got: Vec<u64> = take_pending().iter().map(|(t, _)| t.id).collect();
        assert_eq!(got, vec![1, 2]);
        modified(b"k");
        assert!(!pending(), "read again to be tracked again");
        assert!(any());
        forget_all();
        assert!(!any());
    }

    #[test]
    fn optin_and_optout_follow_client_caching() {
        let mut s = Settings::default();
        assert!(s.tracks_next());
        s.optin = true;
        assert!(!s.tracks_next());
        s.caching = Some(true);
        assert!(s.tracks_next());
        let s = Settings {
            optout: true,
            caching: Some(false),
            ..Settings::default()
        };
        assert!(!s.tracks_next());
    }

    #[test]
    fn messages_are_resp3_pushes() {
        assert_eq!(
            message(Some(b"ab"), false),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nab\r\n".to_vec()
        );
        assert_eq!(
            message(None, false),
            b">2\r\n$10\r\ninvalidate\r\n_\r\n".to_vec()
        );
    }
}
