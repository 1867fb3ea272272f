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
use indexmap::IndexMap;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, RwLock};

/// A tracking client: where its invalidations go, and whether its own
/// changes are left out (NOLOOP).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tracker {
    pub reactor: usize,
    pub conn: Token,
    pub id: u64,
    pub noloop: bool,
    /// Registered in BCAST mode (else by a read in default mode): a client
    /// that switched modes since is not told (as Redis skips it).
    pub bcast: bool,
}

impl Tracker {
    /// Whether `by` (the client whose command made a change) is this
    /// client in NOLOOP mode: then it is not told.
    fn skips(&self, by: Option<(usize, Token)>) -> bool {
        self.noloop && by == Some((self.reactor, self.conn))
    }
}

/// An invalidation waiting for the end of the reactor's turn.
pub struct Pending {
    pub tracker: Tracker,
    pub key: Vec<u8>,
    /// BCAST: the prefix it matched (a turn's keys for one client and
    /// prefix go in one message, as Redis sends them per prefix).
    pub prefix: Option<Vec<u8>>,
}

thread_local! {
    /// An IndexMap so that tracking-table-max-keys can evict a random key
    /// in O(1), as Redis picks one (taking a HashMap's first key rescans
    /// the emptied buckets before it on every eviction).
    static TABLE: RefCell<IndexMap<Vec<u8>, Vec<Tracker>>> = RefCell::new(IndexMap::new());
    static ANY: Cell<bool> = const { Cell::new(false) };
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    /// The client whose command runs now (reactor, connection), for NOLOOP.
    static BY: Cell<Option<(usize, Token)>> = const { Cell::new(None) };
}

/// BCAST clients and their prefixes, of every reactor: any shard's change
/// is matched against them. Process-wide, as the setting of who listens
/// to every key must be; read only while `BCAST_N` (its client-prefix
/// pairs) is not zero.
static BCAST: LazyLock<RwLock<Bcast>> = LazyLock::new(Default::default);
static BCAST_N: AtomicUsize = AtomicUsize::new(0);

/// The listeners grouped by prefix, so that a changed key costs one lookup
/// per distinct prefix length (Redis walks a radix tree), not a test of
/// every client's every prefix.
#[derive(Default)]
struct Bcast {
    by_prefix: HashMap<Vec<u8>, Vec<Tracker>>,
    /// How many of `by_prefix`'s prefixes have each length.
    lengths: BTreeMap<usize, usize>,
    pairs: usize,
}

impl Bcast {
    fn remove(&mut self, id: u64) {
        let lengths = &mut self.lengths;
        let mut removed = 0;
        self.by_prefix.retain(|p, list| {
            let before = list.len();
            list.retain(|t| t.id != id);
            removed += before - list.len();
            if !list.is_empty() {
                return true;
            }
            if let Some(n) = lengths.get_mut(&p.len()) {
                *n -= 1;
                if *n == 0 {
                    lengths.remove(&p.len());
                }
            }
            false
        });
        self.pairs -= removed;
    }

    fn add(&mut self, t: Tracker, prefix: &[u8]) {
        match self.by_prefix.get_mut(prefix) {
            Some(list) => list.push(t),
            None => {
                self.by_prefix.insert(prefix.to_vec(), vec![t]);
                *self.lengths.entry(prefix.len()).or_default() += 1;
            }
        }
        self.pairs += 1;
    }

    /// Who hears of a change of `key`, with the prefix each listens on.
    fn listeners<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a Tracker)> {
        self.lengths
            .range(..=key.len())
            .filter_map(move |(&len, _)| {
                let p = &key[..len];
                self.by_prefix.get(p).map(|list| (p, list))
            })
            .flat_map(|(p, list)| list.iter().map(move |t| (p, t)))
    }
}

/// tracking-table-max-keys (0: no limit).
static MAX_KEYS: AtomicUsize = AtomicUsize::new(1_000_000);

/// Keys in all shards' tables together: the limit is the whole server's,
/// as Redis's, so one shard may hold them all (a split per shard trimmed
/// two keys of one hash tag under a limit of 2). Kept exact: a shard
/// evicts only after claiming one key over the limit (`evict_over`), so
/// shards trimming at once never go below it.
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// tracking-table-max-keys `max` (0: none).
pub fn set_max_keys(max: usize) {
    MAX_KEYS.store(max, Ordering::Relaxed);
}

fn limit() -> Option<usize> {
    Some(MAX_KEYS.load(Ordering::Relaxed)).filter(|&m| m != 0)
}

/// Record that `t` read `key` (on the key's own shard thread).
pub fn remember(key: &[u8], t: Tracker) {
    let added = TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        // A key already tracked (the common re-read) costs no copy of it.
        match tab.get_mut(key) {
            Some(list) if !list.contains(&t) => list.push(t),
            Some(_) => {}
            None => {
                tab.insert(key.to_vec(), vec![t]);
                return true;
            }
        }
        false
    });
    ANY.with(|a| a.set(true));
    // Only a new key can take the tables over the limit (a lowered limit
    // is applied by `enforce_max_keys`).
    if added {
        TOTAL.fetch_add(1, Ordering::Relaxed);
        if let Some(max) = limit() {
            evict_over(max);
        }
    }
}

/// The changes made from now on are `who`'s (None: nobody's, as expiry).
/// Returns whose they were, to put back (`set_by(previous)`) when the
/// nested run ends: a command's own local operations run inside it.
#[inline]
pub fn set_by(who: Option<(usize, Token)>) -> Option<(usize, Token)> {
    BY.with(|b| b.replace(who))
}

/// A key of this thread's shard changed: its trackers are invalidated.
#[inline]
pub fn modified(key: &[u8]) {
    if ANY.with(|a| a.get()) {
        invalidate(key);
    }
    if BCAST_N.load(Ordering::Relaxed) > 0 {
        broadcast(key);
    }
}

/// Whether a change of a key of this thread's shard may have to be told.
#[inline]
pub fn any() -> bool {
    ANY.with(|a| a.get()) || BCAST_N.load(Ordering::Relaxed) > 0
}

/// tracking-table-max-keys: while all tables together are over the
/// limit, forget keys of this shard's (a random one each time, like
/// Redis's pick), telling their trackers, as Redis does when it evicts.
fn evict_over(max: usize) {
    loop {
        let n = TABLE.with(|tab| tab.borrow().len());
        if n == 0 {
            return;
        }
        // Claim one key over the limit before evicting it.
        if TOTAL
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t > max).then(|| t - 1)
            })
            .is_err()
        {
            return;
        }
        let victim = TABLE.with(|tab| {
            tab.borrow()
                .get_index(fastrand::usize(..n))
                .map(|(k, _)| k.clone())
        });
        let Some(key) = victim else { return };
        let by = set_by(None);
        drop_key(&key, false);
        set_by(by);
    }
}

/// tracking-table-max-keys lowered while nothing is read: evicted on the
/// reactor's tick, as Redis's cron does, and when it is set (reads evict
/// as they register).
pub fn enforce_max_keys() {
    if let Some(max) = limit().filter(|_| any()) {
        evict_over(max);
    }
}

/// (keys, client entries) of this thread's shard's table: INFO's
/// tracking_total_keys and tracking_total_items.
pub fn table_counts() -> (usize, usize) {
    TABLE.with(|tab| {
        let tab = tab.borrow();
        (tab.len(), tab.values().map(Vec::len).sum())
    })
}

/// Distinct BCAST prefixes (INFO's tracking_total_prefixes).
pub fn bcast_prefixes() -> usize {
    if BCAST_N.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    BCAST
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .by_prefix
        .len()
}

#[cold]
fn invalidate(key: &[u8]) {
    drop_key(key, true)
}

/// Forget `key` and tell its trackers; `counted`: it still counts in
/// `TOTAL` (an eviction uncounted it when it claimed it).
fn drop_key(key: &[u8], counted: bool) {
    let Some(list) = TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        let list = tab.swap_remove(key);
        if list.is_some() && counted {
            TOTAL.fetch_sub(1, Ordering::Relaxed);
        }
        if tab.is_empty() {
            ANY.with(|a| a.set(false));
        }
        list
    }) else {
        return;
    };
    let by = BY.with(|b| b.get());
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        for t in list.into_iter().filter(|t| !t.skips(by)) {
            p.push(Pending {
                tracker: t,
                key: key.to_vec(),
                prefix: None,
            });
        }
    });
}

#[cold]
fn broadcast(key: &[u8]) {
    let by = BY.with(|b| b.get());
    let all = BCAST.read().unwrap_or_else(|e| e.into_inner());
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        for (prefix, t) in all.listeners(key).filter(|(_, t)| !t.skips(by)) {
            p.push(Pending {
                tracker: *t,
                key: key.to_vec(),
                prefix: Some(prefix.to_vec()),
            });
        }
    });
}

/// CLIENT TRACKING ON BCAST: `t` hears of every key under `prefixes` (all
/// of its prefixes, replacing what it had: in one step, so no change falls
/// between forgetting the old registration and making the new one).
pub fn bcast_set(t: Tracker, prefixes: &[Vec<u8>]) {
    let mut all = BCAST.write().unwrap_or_else(|e| e.into_inner());
    all.remove(t.id);
    // CLIENT TRACKING keeps a client's prefixes distinct.
    for p in prefixes {
        all.add(t, p);
    }
    BCAST_N.store(all.pairs, Ordering::Relaxed);
}

/// Tracking off, or the client gone.
pub fn bcast_remove(id: u64) {
    let mut all = BCAST.write().unwrap_or_else(|e| e.into_inner());
    all.remove(id);
    BCAST_N.store(all.pairs, Ordering::Relaxed);
}

thread_local! {
    static SCRIPT_READ: Cell<bool> = const { Cell::new(false) };
}

/// A script starts: has it called a read command yet?
pub fn script_started() {
    SCRIPT_READ.with(|r| r.set(false));
}

/// It called one: as in Redis, its declared keys stay tracked.
pub fn script_read() {
    SCRIPT_READ.with(|r| r.set(true));
}

/// A script (EVAL/FCALL `a`) ended on its keys' shard (`here`; a run on
/// copies cannot reach them). A tracking client's declared keys were
/// registered before it ran (`Reactor::track_reads`); if it read
/// nothing, Redis would not have tracked them: forgotten again.
pub fn script_done(here: bool, a: crate::protocol::Args) {
    if !here || !ANY.with(|x| x.get()) || SCRIPT_READ.with(|r| r.get()) {
        return;
    }
    let Some(by) = BY.with(|b| b.get()) else {
        return;
    };
    let n = crate::protocol::parse_i64(a.get(2)).unwrap_or(0).max(0) as usize;
    TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        for i in 3..(3 + n).min(a.len()) {
            if let Some(list) = tab.get_mut(a.get(i)) {
                list.retain(|t| (t.reactor, t.conn) != by);
                if list.is_empty() {
                    tab.swap_remove(a.get(i));
                    TOTAL.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        if tab.is_empty() {
            ANY.with(|x| x.set(false));
        }
    });
}

/// FLUSHALL/FLUSHDB: forget every tracked key (their clients get a null
/// invalidation from their own reactors).
pub fn forget_all() {
    TABLE.with(|tab| {
        let mut tab = tab.borrow_mut();
        TOTAL.fetch_sub(tab.len(), Ordering::Relaxed);
        tab.clear();
    });
    ANY.with(|a| a.set(false));
}

/// Whether invalidations wait to be sent.
#[inline]
pub fn pending() -> bool {
    PENDING.with(|p| !p.borrow().is_empty())
}

/// The invalidations raised this turn, one entry per client: its keys as
/// a RESP array (a BCAST client's keys of the turn together, as Redis
/// sends them once per event loop; a key read in default mode alone).
pub fn take_pending() -> Vec<(Tracker, Vec<u8>)> {
    let all = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let mut out: Vec<(Tracker, Vec<Vec<u8>>)> = Vec::new();
    // BCAST groups by (client id, prefix) -> index in `out`, and the keys
    // each already holds: a busy turn can change thousands of keys under
    // one prefix, so neither lookup may be a scan.
    type Group = (usize, HashSet<Vec<u8>>);
    let mut groups: HashMap<(u64, Vec<u8>), Group> = HashMap::new();
    for p in all {
        let Some(prefix) = p.prefix else {
            out.push((p.tracker, vec![p.key]));
            continue;
        };
        let (at, seen) = groups.entry((p.tracker.id, prefix)).or_insert_with(|| {
            out.push((p.tracker, Vec::new()));
            (out.len() - 1, HashSet::new())
        });
        // A key changed twice in a turn is told once.
        if seen.insert(p.key.clone()) {
            if let Some((_, keys)) = out.get_mut(*at) {
                keys.push(p.key);
            }
        }
    }
    out.into_iter()
        .map(|(t, keys)| (t, key_array(&keys)))
        .collect()
}

/// Keys as a RESP array.
pub fn key_array(keys: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", keys.len()).into_bytes();
    for k in keys {
        out.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Whether one of two prefixes starts the other (Redis's
/// stringCheckPrefix: such prefixes of one client overlap).
pub fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
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
    pub noloop: bool,
    /// BCAST with its prefixes (an empty one: every key).
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    /// The REDIRECT target was gone when an invalidation was due
    /// (CLIENT TRACKINGINFO's `broken_redirect`, until tracking is set
    /// again).
    pub broken_redirect: bool,
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

/// The invalidation of `keys` (a RESP array; None: everything, after a
/// flush): a RESP3 push, or (`pubsub`) the RESP2 Pub/Sub message on
/// `__redis__:invalidate` a redirected-to RESP2 subscriber gets.
pub fn message(keys: Option<&[u8]>, pubsub: bool) -> Vec<u8> {
    let mut out = if pubsub {
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec()
    } else {
        b">2\r\n$10\r\ninvalidate\r\n".to_vec()
    };
    match keys {
        Some(k) => out.extend_from_slice(k),
        None if pubsub => out.extend_from_slice(b"*-1\r\n"),
        None => out.extend_from_slice(b"_\r\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcast_finds_listeners_by_each_prefix_length_and_forgets_them() {
        let t = |id| Tracker {
            reactor: 0,
            conn: id,
            id,
            noloop: false,
            bcast: true,
        };
        let mut b = Bcast::default();
        b.add(t(1), b"");
        b.add(t(2), b"user:");
        b.add(t(3), b"user:");
        b.add(t(3), b"item");
        b.add(t(4), b"user:1");
        let heard = |b: &Bcast, key: &[u8]| {
            let mut v: Vec<(u64, String)> = b
                .listeners(key)
                .map(|(p, t)| (t.id, String::from_utf8_lossy(p).into_owned()))
                .collect();
            v.sort();
            v
        };
        let s = |x: &str| x.to_string();
        assert_eq!(
            heard(&b, b"user:17"),
            vec![
                (1, s("")),
                (2, s("user:")),
                (3, s("user:")),
                (4, s("user:1"))
            ]
        );
        assert_eq!(heard(&b, b"user"), vec![(1, s(""))]);
        assert_eq!(heard(&b, b"items"), vec![(1, s("")), (3, s("item"))]);
        assert_eq!(b.pairs, 5);
        b.remove(3);
        assert_eq!(b.pairs, 3);
        assert_eq!(heard(&b, b"items"), vec![(1, s(""))]);
        assert!(!b.lengths.contains_key(&4), "no prefix of length 4 is left");
        b.remove(1);
        b.remove(2);
        b.remove(4);
        assert_eq!((b.pairs, b.by_prefix.len(), b.lengths.len()), (0, 0, 0));
    }

    #[test]
    fn a_change_invalidates_each_tracker_once_and_forgets_the_key() {
        let t = |id| Tracker {
            reactor: 0,
            conn: id,
            id,
            noloop: false,
            bcast: false,
        };
        remember(b"k", t(1));
        remember(b"k", t(1));
        remember(b"k", t(2));
        remember(b"other", t(1));
        modified(b"nope");
        assert!(!pending());
        modified(b"k");
        let got: Vec<(u64, Vec<u8>)> = take_pending().into_iter().map(|(t, k)| (t.id, k)).collect();
        assert_eq!(
            got,
            vec![
                (1, b"*1\r\n$1\r\nk\r\n".to_vec()),
                (2, b"*1\r\n$1\r\nk\r\n".to_vec())
            ]
        );
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
            message(Some(&key_array(&[b"ab".to_vec()])), false),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nab\r\n".to_vec()
        );
        assert!(overlap(b"ab", b"abc") && overlap(b"", b"x") && !overlap(b"ab", b"ac"));
        assert_eq!(
            message(None, false),
            b">2\r\n$10\r\ninvalidate\r\n_\r\n".to_vec()
        );
    }
}
