//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH,
//! PUBSUB (the registry: `crate::pubsub`; delivery: `reactor::pubsub`).

use super::conn::{ConnAction, ConnCtx};
use super::ctx::eq_ic;
use crate::protocol::{Args, Proto};
use indexmap::IndexSet;

/// A client's subscriptions, in the order it made them.
#[derive(Default)]
pub struct Subscriptions {
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
}

impl Subscriptions {
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
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
fn confirm(c: &mut ConnCtx, kind: &str, name: Option<&[u8]>) {
    let count = c.client.subs.as_ref().map_or(0, |s| s.count());
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

fn subscribe_to(c: &mut ConnCtx, a: Args, pattern: bool) {
    let who = (c.reactor, c.conn);
    for name in a.iter().skip(1) {
        let subs = c.client.subs.get_or_insert_with(Default::default);
        let set = if pattern {
            &mut subs.patterns
        } else {
            &mut subs.channels
        };
        if set.insert(name.to_vec()) {
            c.shared.pubsub.subscribe(pattern, name, who);
        }
        confirm(
            c,
            if pattern { "psubscribe" } else { "subscribe" },
            Some(name),
        );
    }
}

fn unsubscribe_from(c: &mut ConnCtx, a: Args, pattern: bool) {
    let who = (c.reactor, c.conn);
    let kind = if pattern {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(|n| n.to_vec()).collect()
    } else {
        c.client.subs.as_ref().map_or_else(Vec::new, |s| {
            let set = if pattern { &s.patterns } else { &s.channels };
            set.iter().cloned().collect()
        })
    };
    if names.is_empty() {
        return confirm(c, kind, None);
    }
    for name in names {
        if let Some(subs) = c.client.subs.as_mut() {
            let set = if pattern {
                &mut subs.patterns
            } else {
                &mut subs.channels
            };
            if set.shift_remove(&name) {
                c.shared.pubsub.unsubscribe(pattern, &name, who);
            }
            if subs.count() == 0 {
                c.client.subs = None;
            }
        }
        confirm(c, kind, Some(&name));
    }
}

pub fn subscribe(c: &mut ConnCtx, a: Args) {
    subscribe_to(c, a, false);
}

pub fn psubscribe(c: &mut ConnCtx, a: Args) {
    subscribe_to(c, a, true);
}

pub fn unsubscribe(c: &mut ConnCtx, a: Args) {
    unsubscribe_from(c, a, false);
}

pub fn punsubscribe(c: &mut ConnCtx, a: Args) {
    unsubscribe_from(c, a, true);
}

/// Drop every subscription of a client (RESET; a connection closing).
pub fn forget_all(
    shared: &crate::server::Shared,
    subs: Subscriptions,
    who: crate::pubsub::Subscriber,
) {
    for ch in &subs.channels {
        shared.pubsub.unsubscribe(false, ch, who);
    }
    for p in &subs.patterns {
        shared.pubsub.unsubscribe(true, p, who);
    }
}

/// PUBLISH channel message: the reactor delivers it and answers how many
/// clients received it.
pub fn publish(c: &mut ConnCtx, a: Args) {
    c.action = ConnAction::Publish {
        channel: a.get(1).to_vec(),
        message: a.get(2).to_vec(),
    };
}

pub fn pubsub(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "channels") && a.len() <= 3 {
        let pattern = (a.len() == 3).then(|| a.get(2));
        let list = c.shared.pubsub.channels(pattern);
        c.r.array(list.len());
        for ch in list {
            c.r.bulk(&ch);
        }
    } else if eq_ic(sub, "numsub") {
        c.r.array((a.len() - 2) * 2);
        for ch in a.iter().skip(2) {
            c.r.bulk(ch);
            c.r.int(c.shared.pubsub.numsub(ch) as i64);
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
            "HELP",
            "    Prints this help.",
        ];
        c.r.help(&lines);
    } else {
        let known = ["channels", "numsub", "numpat", "help"]
            .iter()
            .any(|k| eq_ic(sub, k));
        super::connection::subcommand_error(&mut c.r, "pubsub", sub, known);
    }
}
