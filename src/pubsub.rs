//! Pub/Sub subscriptions of every reactor's clients: which connection
//! listens to which channel, pattern or shard channel (SSUBSCRIBE's
//! namespace, apart from the others as in Redis 7.0).
//!
//! One registry behind a lock, not one per reactor: a PUBLISH must find
//! the subscribers of every reactor, and subscriptions change rarely
//! compared with messages. PUBLISH reads it under the shared lock and
//! pays one relaxed load when nobody subscribes at all.

use crate::tx::Token;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

/// A subscribed connection: (reactor, connection).
pub type Subscriber = (usize, Token);

#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
    /// Subscriptions of every kind: zero means PUBLISH has nobody to find.
    count: AtomicUsize,
}

/// The three namespaces a client subscribes in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Space {
    Channel,
    Pattern,
    Shard,
}

#[derive(Default)]
struct Inner {
    channels: HashMap<Vec<u8>, Vec<Subscriber>>,
    patterns: HashMap<Vec<u8>, Vec<Subscriber>>,
    shard: HashMap<Vec<u8>, Vec<Subscriber>>,
}

impl Inner {
    fn of(&mut self, space: Space) -> &mut HashMap<Vec<u8>, Vec<Subscriber>> {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard,
        }
    }
}

/// Who gets a message: channel subscribers, then (pattern, subscriber).
pub struct Receivers {
    pub direct: Vec<Subscriber>,
    pub by_pattern: Vec<(Vec<u8>, Subscriber)>,
}

impl Registry {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self, space: Space, name: &[u8], who: Subscriber) {
        let mut g = self.write();
        let map = g.of(space);
        let list = map.entry(name.to_vec()).or_default();
        if !list.contains(&who) {
            list.push(who);
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unsubscribe(&self, space: Space, name: &[u8], who: Subscriber) {
        let mut g = self.write();
        let map = g.of(space);
        if let Some(list) = map.get_mut(name) {
            let before = list.len();
            list.retain(|s| *s != who);
            if list.len() < before {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Who must receive a message on `channel`.
    pub fn receivers(&self, channel: &[u8]) -> Receivers {
        let mut r = Receivers {
            direct: Vec::new(),
            by_pattern: Vec::new(),
        };
        if self.count.load(Ordering::Relaxed) == 0 {
            return r;
        }
        let g = self.read();
        if let Some(list) = g.channels.get(channel) {
            r.direct.extend_from_slice(list);
        }
        for (p, list) in &g.patterns {
            if crate::shard::pattern::glob_match(p, channel, false) {
                r.by_pattern.extend(list.iter().map(|s| (p.clone(), *s)));
            }
        }
        r
    }

    /// Who must receive an SPUBLISH on shard channel `channel` (patterns
    /// do not reach shard channels).
    pub fn shard_receivers(&self, channel: &[u8]) -> Vec<Subscriber> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        self.read().shard.get(channel).cloned().unwrap_or_default()
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS [pattern]: (shard) channels with at
    /// least one subscriber.
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let g = self.read();
        let map = if shard { &g.shard } else { &g.channels };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| crate::shard::pattern::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of a (shard) channel.
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let g = self.read();
        let map = if shard { &g.shard } else { &g.channels };
        map.get(channel).map_or(0, |l| l.len())
    }

    /// PUBSUB NUMPAT: patterns subscribed to (each counted once).
    pub fn numpat(&self) -> usize {
        self.read().patterns.len()
    }

    /// INFO stats: (channels, patterns, shard channels) with subscribers.
    pub fn counts(&self) -> (usize, usize, usize) {
        let g = self.read();
        (g.channels.len(), g.patterns.len(), g.shard.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_patterns() {
        let r = Registry::default();
        assert!(r.receivers(b"news").direct.is_empty());
        r.subscribe(Space::Channel, b"news", (0, 1));
        r.subscribe(Space::Channel, b"news", (0, 1));
        r.subscribe(Space::Channel, b"news", (1, 7));
        r.subscribe(Space::Pattern, b"n*", (1, 7));
        r.subscribe(Space::Shard, b"news", (2, 3));
        let got = r.receivers(b"news");
        assert_eq!(got.direct, vec![(0, 1), (1, 7)]);
        assert_eq!(got.by_pattern, vec![(b"n*".to_vec(), (1, 7))]);
        assert_eq!(r.shard_receivers(b"news"), vec![(2, 3)]);
        assert_eq!(r.numsub(false, b"news"), 2);
        assert_eq!(r.numsub(true, b"news"), 1);
        assert_eq!(r.numpat(), 1);
        r.unsubscribe(Space::Channel, b"news", (0, 1));
        r.unsubscribe(Space::Channel, b"news", (1, 7));
        r.unsubscribe(Space::Pattern, b"n*", (1, 7));
        r.unsubscribe(Space::Shard, b"news", (2, 3));
        assert_eq!(r.counts(), (0, 0, 0));
        assert!(r.receivers(b"news").by_pattern.is_empty());
    }
}
