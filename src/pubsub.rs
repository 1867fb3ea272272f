//! Pub/Sub subscriptions of every reactor's clients: which connection
//! listens to which channel or pattern.
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

#[derive(Default)]
struct Inner {
    channels: HashMap<Vec<u8>, Vec<Subscriber>>,
    patterns: HashMap<Vec<u8>, Vec<Subscriber>>,
}

impl Inner {
    fn of(&mut self, pattern: bool) -> &mut HashMap<Vec<u8>, Vec<Subscriber>> {
        if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
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

    pub fn subscribe(&self, pattern: bool, name: &[u8], who: Subscriber) {
        let mut g = self.write();
        let map = g.of(pattern);
        let list = map.entry(name.to_vec()).or_default();
        if !list.contains(&who) {
            list.push(who);
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unsubscribe(&self, pattern: bool, name: &[u8], who: Subscriber) {
        let mut g = self.write();
        let map = g.of(pattern);
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

    /// PUBSUB CHANNELS [pattern]: channels with at least one subscriber.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.read()
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::shard::pattern::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB: subscribers of a channel.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.read().channels.get(channel).map_or(0, |l| l.len())
    }

    /// PUBSUB NUMPAT: patterns subscribed to (each counted once).
    pub fn numpat(&self) -> usize {
        self.read().patterns.len()
    }

    /// INFO stats: (channels, patterns) with subscribers.
    pub fn counts(&self) -> (usize, usize) {
        let g = self.read();
        (g.channels.len(), g.patterns.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_patterns() {
        let r = Registry::default();
        assert!(r.receivers(b"news").direct.is_empty());
        r.subscribe(false, b"news", (0, 1));
        r.subscribe(false, b"news", (0, 1));
        r.subscribe(false, b"news", (1, 7));
        r.subscribe(true, b"n*", (1, 7));
        let got = r.receivers(b"news");
        assert_eq!(got.direct, vec![(0, 1), (1, 7)]);
        assert_eq!(got.by_pattern, vec![(b"n*".to_vec(), (1, 7))]);
        assert_eq!(r.numsub(b"news"), 2);
        assert_eq!(r.numpat(), 1);
        r.unsubscribe(false, b"news", (0, 1));
        r.unsubscribe(false, b"news", (1, 7));
        r.unsubscribe(true, b"n*", (1, 7));
        assert_eq!(r.counts(), (0, 0));
        assert!(r.receivers(b"news").by_pattern.is_empty());
    }
}
