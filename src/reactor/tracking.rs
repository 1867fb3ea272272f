//! CLIENT TRACKING on the reactor side (`crate::tracking` has the table):
//! a tracking client's reads register their keys on their shards before
//! they run, and invalidations travel back to the client's reactor, which
//! writes them to the connection as RESP3 pushes, behind any reply still
//! due (so a client sees the reply of the read before an invalidation of
//! what it read).

use super::pubsub::PUBSUB_OUTPUT_LIMIT;
use super::Reactor;
use crate::commands::table::Command;
use crate::protocol::{Args, Proto};
use crate::shard::slot::key_shard;
use crate::tracking::{self, Tracker};
use crate::tx::{Msg, Token};

impl Reactor {
    /// Whose reads a command of connection `idx` registers, if any: a
    /// tracking client not in BCAST mode whose mode tracks this command
    /// (OPTIN/OPTOUT and CLIENT CACHING).
    pub(super) fn read_tracker(&self, idx: u32) -> Option<Tracker> {
        let c = self.conn(idx)?;
        let t = c.client.tracking.as_deref()?;
        if t.bcast || !t.tracks_next() {
            return None;
        }
        Some(Tracker {
            reactor: self.id,
            conn: super::token(idx, c.gen),
            id: c.client.id,
            noloop: t.noloop,
            bcast: false,
        })
    }

    /// Before a tracking client's command runs: if it reads keys and its
    /// mode tracks this command, its keys are registered on their shards.
    /// Not EXEC's: its queued reads register theirs where they run, each
    /// after it ran (`ShardOp::Batch::track`).
    pub(super) fn track_reads(&mut self, idx: u32, cmd: &'static Command, args: Args) {
        if self.conn(idx).is_some_and(|c| c.client.multi.is_some()) || !reads_keys(cmd) {
            return;
        }
        let Some(tracker) = self.read_tracker(idx) else {
            return;
        };
        self.register_reads(tracker, cmd.keys_of(args).map(|i| args.get(i)));
    }

    /// Register `keys` for `tracker` on their shards, ahead of any write
    /// this reactor sends them afterwards.
    pub(super) fn register_reads<'k>(
        &mut self,
        tracker: Tracker,
        keys: impl Iterator<Item = &'k [u8]>,
    ) {
        let nshards = self.shared.nshards;
        for k in keys {
            let s = key_shard(k, nshards);
            if s == self.id {
                tracking::remember(k, tracker);
            } else if let Some(ob) = self.outbox.get_mut(s) {
                let at = ob.bytes.len();
                ob.bytes.extend_from_slice(k);
                let key = at..ob.bytes.len();
                ob.push(Msg::Track { key, tracker });
            }
        }
    }

    /// The invalidations this shard's changes queued (`tracking::pending`),
    /// to their clients' reactors.
    pub(super) fn send_pending_invalidations(&mut self) {
        if crate::tracking::pending() {
            for (t, keys) in crate::tracking::take_pending() {
                self.send_invalidation(t, Some(&keys));
            }
        }
    }

    /// An invalidation for `t` raised on this shard: to its reactor.
    pub(super) fn send_invalidation(&mut self, t: Tracker, key: Option<&[u8]>) {
        if t.reactor == self.id {
            return self.deliver_invalidation(t, key);
        }
        if let Some(ob) = self.outbox.get_mut(t.reactor) {
            let key = key.map(|k| {
                let at = ob.bytes.len();
                ob.bytes.extend_from_slice(k);
                at..ob.bytes.len()
            });
            ob.push(Msg::Invalidate {
                tracker: t,
                key,
                redirected: false,
            });
        }
    }

    /// To a client of this reactor, if it still is the client that
    /// tracked and still tracks: to it, or to the client it redirects to
    /// (on any reactor). Over RESP2 without REDIRECT there is nowhere to
    /// send it, as in Redis.
    pub(super) fn deliver_invalidation(&mut self, t: Tracker, key: Option<&[u8]>) {
        let Some((_, c)) = self.conn_by_token(t.conn) else {
            return;
        };
        let (redirect, resp3) = match c.client.tracking.as_deref() {
            Some(s) if !c.closing && c.client.id == t.id && s.bcast == t.bcast => {
                (s.redirect, c.client.proto == Proto::Resp3)
            }
            _ => return,
        };
        if redirect == 0 {
            return self.write_invalidation(t.conn, key, false);
        }
        let target = self
            .shared
            .client_index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&redirect)
            .copied();
        let Some((reactor, conn)) = target else {
            // The client it redirects to is gone: dropped, as Redis drops
            // it (RESP3 clients are told with a push).
            if let Some((idx, _)) = self.conn_by_token(t.conn) {
                if let Some(s) = self
                    .conn_mut(idx)
                    .and_then(|c| c.client.tracking.as_deref_mut())
                {
                    s.broken_redirect = true;
                }
            }
            if resp3 {
                let msg = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{redirect}\r\n");
                self.push_unasked(t.conn, msg.as_bytes(), PUBSUB_OUTPUT_LIMIT, "pubsub", false);
            }
            return;
        };
        if reactor == self.id {
            return self.write_invalidation(conn, key, true);
        }
        if let Some(ob) = self.outbox.get_mut(reactor) {
            let key = key.map(|k| {
                let at = ob.bytes.len();
                ob.bytes.extend_from_slice(k);
                at..ob.bytes.len()
            });
            let tracker = Tracker {
                reactor,
                conn,
                id: redirect,
                noloop: false,
                bcast: false,
            };
            ob.push(Msg::Invalidate {
                tracker,
                key,
                redirected: true,
            });
        }
    }

    /// Write an invalidation to a connection of this reactor: a push over
    /// RESP3; over RESP2 only to a redirect target in Pub/Sub mode, as a
    /// message on `__redis__:invalidate`.
    pub(super) fn write_invalidation(&mut self, conn: Token, key: Option<&[u8]>, redirected: bool) {
        let Some((_, c)) = self.conn_by_token(conn) else {
            return;
        };
        let msg = if c.client.proto == Proto::Resp3 {
            tracking::message(key, false)
        } else if redirected && c.client.subs.is_some() {
            tracking::message(key, true)
        } else {
            return;
        };
        // Unasked output, bounded like Pub/Sub's: a client that never reads
        // while its tracked keys keep changing is closed, not grown into.
        self.push_unasked(conn, &msg, PUBSUB_OUTPUT_LIMIT, "pubsub", false);
    }

    /// FLUSHDB/FLUSHALL ran on this shard: its table is gone, and this
    /// reactor's tracking clients are told to drop everything.
    pub(super) fn invalidate_on_flush(&mut self) {
        tracking::forget_all();
        let tracking: Vec<Tracker> = self
            .conns_iter()
            .filter(|(_, c)| c.client.tracking.is_some() && !c.closing)
            .map(|(idx, c)| Tracker {
                reactor: self.id,
                conn: super::token(idx, c.gen),
                id: c.client.id,
                noloop: false,
                bcast: c.client.tracking.as_ref().is_some_and(|t| t.bcast),
            })
            .collect();
        for t in tracking {
            self.deliver_invalidation(t, None);
        }
    }
}

/// Whether a command's keys are read (and so tracked): Redis tracks the
/// keys of read-only commands, and a script's declared keys if it reads
/// (registered before it runs, forgotten after if it did not read:
/// `tracking::script_done`).
pub(super) fn reads_keys(cmd: &Command) -> bool {
    cmd.script || cmd.flags.contains(&"readonly")
}
