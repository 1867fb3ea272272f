//! PUBLISH's delivery: every subscriber of the channel, and of each
//! pattern it matches, gets the message, on whatever reactor holds its
//! connection (`Msg::Message`, in order behind anything else this reactor
//! sent it).

use super::Reactor;
use crate::tx::{Msg, Token};

/// A subscriber whose output grows past this is disconnected, as Redis's
/// `client-output-buffer-limit pubsub 32mb` does.
pub(super) const PUBSUB_OUTPUT_LIMIT: usize = 32 << 20;

impl Reactor {
    /// Deliver `message` on `channel` (a shard channel: SPUBLISH); how many
    /// clients it reached (the reply). Replicated, so a replica's
    /// subscribers get it too.
    pub(super) fn publish(
        &mut self,
        db: usize,
        channel: &[u8],
        message: &[u8],
        shard: bool,
    ) -> usize {
        if self.shared.repl.primary.active() {
            let name: &[u8] = if shard { b"SPUBLISH" } else { b"PUBLISH" };
            let cmd = vec![name.to_vec(), channel.to_vec(), message.to_vec()];
            self.repl_append(&[(db, cmd)], false);
        }
        self.deliver_publish(channel, message, shard)
    }

    /// PUBLISH's (or SPUBLISH's) delivery alone, for a transaction whose
    /// coordinator appends it to the stream in its place.
    pub(super) fn deliver_publish(&mut self, channel: &[u8], message: &[u8], shard: bool) -> usize {
        if shard {
            return self.deliver_shard(channel, message);
        }
        self.deliver_published(channel, message)
    }

    /// SPUBLISH's delivery: an `smessage` to each subscriber of the shard
    /// channel.
    fn deliver_shard(&mut self, channel: &[u8], message: &[u8]) -> usize {
        let to = self.shared.pubsub.shard_receivers(channel);
        if to.is_empty() {
            return 0;
        }
        let mut bytes = Vec::new();
        frame(&mut bytes, &[b"smessage", channel, message]);
        for &(r, tok) in &to {
            self.send_message(r, tok, &bytes);
        }
        to.len()
    }

    /// Publish the keyspace notifications raised on this thread
    /// (`crate::notify`). Not replicated: a replica raises its own as it
    /// applies the stream, as Redis's do.
    pub(super) fn publish_events(&mut self) {
        for e in crate::notify::take() {
            let f = crate::notify::flags();
            let mut channel = Vec::with_capacity(24 + e.key.len().max(e.event.len()));
            if f & crate::notify::KEYSPACE != 0 {
                channel.extend_from_slice(format!("__keyspace@{}__:", e.db).as_bytes());
                channel.extend_from_slice(&e.key);
                self.deliver_published(&channel, e.event.as_bytes());
            }
            if f & crate::notify::KEYEVENT != 0 {
                channel.clear();
                channel.extend_from_slice(format!("__keyevent@{}__:{}", e.db, e.event).as_bytes());
                self.deliver_published(&channel, &e.key);
            }
        }
    }

    /// Hand `message` to the subscribers of `channel`; how many there were.
    fn deliver_published(&mut self, channel: &[u8], message: &[u8]) -> usize {
        let rec = self.shared.pubsub.receivers(channel);
        let n = rec.direct.len() + rec.by_pattern.len();
        if n == 0 {
            return 0;
        }
        let mut bytes = Vec::new();
        if !rec.direct.is_empty() {
            frame(&mut bytes, &[b"message", channel, message]);
            for (r, tok) in rec.direct {
                self.send_message(r, tok, &bytes);
            }
        }
        for (pattern, (r, tok)) in rec.by_pattern {
            bytes.clear();
            frame(&mut bytes, &[b"pmessage", &pattern, channel, message]);
            self.send_message(r, tok, &bytes);
        }
        n
    }

    fn send_message(&mut self, reactor: usize, tok: Token, bytes: &[u8]) {
        if reactor == self.id {
            return self.deliver_message(tok, bytes);
        }
        if let Some(ob) = self.outbox.get_mut(reactor) {
            let s = ob.bytes.len();
            ob.bytes.extend_from_slice(bytes);
            let bytes = s..ob.bytes.len();
            ob.push(Msg::Message { conn: tok, bytes });
        }
    }

    /// A message for a subscribed connection of this reactor.
    pub(super) fn deliver_message(&mut self, conn: Token, bytes: &[u8]) {
        self.push_unasked(conn, bytes, PUBSUB_OUTPUT_LIMIT, "pubsub", true);
    }
}

/// An array of bulk strings.
fn frame(out: &mut Vec<u8>, parts: &[&[u8]]) {
    crate::replication::primary::encode(out, parts);
}
