//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, the
//! sharded SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, and PUBSUB (the registry:
//! `crate::pubsub`; delivery: `reactor::pubsub`). Without cluster mode a
//! shard channel is a channel of its own namespace, as in Redis 7.0.

use super::conn::{ConnAction, ConnCtx};
use super::ctx::eq_ic;
use crate::protocol::{Args, Proto};
use crate::pubsub::Space;
use indexmap::IndexSet;

/// A client's subscriptions, in the order it made them.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
    pub shard: IndexSet<Vec<u8>>,
}

impl Subscriptions {
    fn of(&mut self, space: Space) -> &mut IndexSet<Vec<u8>> {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard,
        }
    }

    /// The count a (un)subscription reply shows: channels and patterns
    /// for those, shard channels alone for the shard ones (Redis 7.0).
    pub fn count_for(&self, space: Space) -> usize {
        match space {
            Space::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

/// Commands a client subscribed in RESP2 may still send.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// One subscription reply: [kind, name or nil, subscription count], a push
/// in RESP3.
fn confirm(c: &mut ConnCtx, kind: &str, space: Space, name: Option<&[u8]>) {
    let count = c.client.subs.as_ref().map_or(0, |s| s.count_for(space));
    if c.r.proto == Proto::Resp3 {
        c.r.push(3);
    } else {
        c.r.array(3);
    }
    c.r.bulk(kind.as_bytes());
    match name {
        Some(n) => c.r.bulk(n),
        None => c.r.null(),
    }
    c.r.int(count as i64);
}

fn subscribe_to(c: &mut ConnCtx, a: Args, space: Space, kind: &str) {
    let who = (c.reactor, c.conn);
    for name in a.iter().skip(1) {
        let subs = c.client.subs.get_or_insert_with(Default::default);
        if subs.of(space).insert(name.to_vec()) {
            c.shared.pubsub.subscribe(space, name, who);
        }
        confirm(c, kind, space, Some(name));
    }
}

fn unsubscribe_from(c: &mut ConnCtx, a: Args, space: Space, kind: &str) {
    let who = (c.reactor, c.conn);
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(|n| n.to_vec()).collect()
    } else {
        c.client
            .subs
            .as_mut()
            .map_or_else(Vec::new, |s| s.of(space).iter().cloned().collect())
    };
    if names.is_empty() {
        return confirm(c, kind, space, None);
    }
    for name in names {
        if let Some(subs) = c.client.subs.as_mut() {
            if subs.of(space).shift_remove(&name) {
                c.shared.pubsub.unsubscribe(space, &name, who);
            }
            if subs.is_empty() {
                c.client.subs = None;
            }
        }
        confirm(c, kind, space, Some(&name));
    }
}

pub fn subscribe(c: &mut ConnCtx, a: Args) {
    subscribe_to(c, a, Space::Channel, "subscribe");
}

pub fn psubscribe(c: &mut ConnCtx, a: Args) {
    subscribe_to(c, a, Space::Pattern, "psubscribe");
}

pub fn ssubscribe(c: &mut ConnCtx, a: Args) {
    subscribe_to(c, a, Space::Shard, "ssubscribe");
}

pub fn unsubscribe(c: &mut ConnCtx, a: Args) {
    unsubscribe_from(c, a, Space::Channel, "unsubscribe");
}

pub fn punsubscribe(c: &mut ConnCtx, a: Args) {
    unsubscribe_from(c, a, Space::Pattern, "punsubscribe");
}

pub fn sunsubscribe(c: &mut ConnCtx, a: Args) {
    unsubscribe_from(c, a, Space::Shard, "sunsubscribe");
}

/// Drop every subscription of a client (RESET; a connection closing).
pub fn forget_all(
    shared: &crate::server::Shared,
    subs: Subscriptions,
    who: crate::pubsub::Subscriber,
) {
    for ch in &subs.channels {
        shared.pubsub.unsubscribe(Space::Channel, ch, who);
    }
    for p in &subs.patterns {
        shared.pubsub.unsubscribe(Space::Pattern, p, who);
    }
    for ch in &subs.shard {
        shared.pubsub.unsubscribe(Space::Shard, ch, who);
    }
}

/// PUBLISH channel message: the reactor delivers it and answers how many
/// clients received it.
pub fn publish(c: &mut ConnCtx, a: Args) {
    c.action = ConnAction::Publish {
        channel: a.get(1).to_vec(),
        message: a.get(2).to_vec(),
        shard: false,
    };
}

/// SPUBLISH shardchannel message: to the shard channel's subscribers only.
pub fn spublish(c: &mut ConnCtx, a: Args) {
    c.action = ConnAction::Publish {
        channel: a.get(1).to_vec(),
        message: a.get(2).to_vec(),
        shard: true,
    };
}

pub fn pubsub(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    let shard = eq_ic(sub, "shardchannels") || eq_ic(sub, "shardnumsub");
    if (eq_ic(sub, "channels") || eq_ic(sub, "shardchannels")) && a.len() <= 3 {
        let pattern = (a.len() == 3).then(|| a.get(2));
        let list = c.shared.pubsub.channels(shard, pattern);
        c.r.array(list.len());
        for ch in list {
            c.r.bulk(&ch);
        }
    } else if eq_ic(sub, "numsub") || eq_ic(sub, "shardnumsub") {
        c.r.array((a.len() - 2) * 2);
        for ch in a.iter().skip(2) {
            c.r.bulk(ch);
            c.r.int(c.shared.pubsub.numsub(shard, ch) as i64);
        }
    } else if eq_ic(sub, "numpat") && a.len() == 2 {
        c.r.int(c.shared.pubsub.numpat() as i64);
    } else if eq_ic(sub, "help") && a.len() == 2 {
        let lines = [
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    The shard channels (SSUBSCRIBE's) with subscribers, matching <pattern>.",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    The number of subscribers of each shard channel.",
            "HELP",
            "    Prints this help.",
        ];
        c.r.help(&lines);
    } else {
        let known = [
            "channels",
            "numsub",
            "numpat",
            "shardchannels",
            "shardnumsub",
            "help",
        ]
        .iter()
        .any(|k| eq_ic(sub, k));
        super::connection::subcommand_error(&mut c.r, "pubsub", sub, known);
    }
}
