//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, RESET, CLIENT.

use super::conn::{ConnAction, ConnCtx};
use super::ctx::{arg_i64, eq_ic, ERR_NOT_INT, ERR_SYNTAX};
use crate::protocol::{Args, Proto};
use crate::reactor::client::ReplyMode;
use crate::server::REDIS_VERSION;
use crate::tx::fanout::{all_shards, Plan, Step};
use crate::tx::{OpResult, ShardOp};

pub fn ping(c: &mut ConnCtx, a: Args) {
    if c.client.subs.is_some() && c.r.proto == Proto::Resp2 {
        // Subscribed (RESP2): the reply is a pong message, as Redis sends.
        if a.len() > 2 {
            return c
                .r
                .error("ERR wrong number of arguments for 'ping' command");
        }
        c.r.array(2);
        c.r.bulk(b"pong");
        return c.r.bulk(if a.len() == 2 { a.get(1) } else { b"" });
    }
    match a.len() {
        1 => c.r.simple("PONG"),
        2 => c.r.bulk(a.get(1)),
        _ => {
            c.r.error("ERR wrong number of arguments for 'ping' command")
        }
    }
}

pub fn echo(c: &mut ConnCtx, a: Args) {
    c.r.bulk(a.get(1));
}

pub fn quit(c: &mut ConnCtx, _a: Args) {
    c.r.ok();
    c.action = ConnAction::Close;
}

pub fn select(c: &mut ConnCtx, a: Args) {
    let Some(n) = arg_i64(a.get(1)) else {
        return c.r.error(ERR_NOT_INT);
    };
    let dbs = c.shared.config().databases;
    if n < 0 || n as usize >= dbs {
        return c.r.error("ERR DB index is out of range");
    }
    c.client.db = n as usize;
    c.r.ok();
}

fn check_password(c: &ConnCtx, user: Option<&[u8]>, pass: &[u8]) -> bool {
    let cfg = c.shared.config();
    if let Some(u) = user {
        if u != b"default" {
            return false;
        }
    }
    if cfg.requirepass.is_empty() {
        // The default user has nopass: any password is accepted with a user name.
        return user.is_some();
    }
    cfg.requirepass.as_bytes() == pass
}

pub fn auth(c: &mut ConnCtx, a: Args) {
    if a.len() > 3 {
        return c.r.error("ERR syntax error");
    }
    let (user, pass) = if a.len() == 3 {
        (Some(a.get(1)), a.get(2))
    } else {
        (None, a.get(1))
    };
    if user.is_none() && c.shared.config().requirepass.is_empty() {
        return c.r.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    if check_password(c, user, pass) {
        c.client.authed = true;
        c.r.ok();
    } else {
        c.r.error("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

pub fn hello(c: &mut ConnCtx, a: Args) {
    let mut proto = None;
    let mut i = 1;
    if a.len() >= 2 {
        match arg_i64(a.get(1)) {
            Some(v) if v == 2 || v == 3 => proto = Some(v),
            Some(_) => return c.r.error("NOPROTO unsupported protocol version"),
            None => {
                return c
                    .r
                    .error("ERR Protocol version is not an integer or out of range")
            }
        }
        i = 2;
    }
    let mut name = None;
    while i < a.len() {
        let o = a.get(i);
        let more = a.len() - i - 1;
        if eq_ic(o, "auth") && more >= 2 {
            let (u, p) = (a.get(i + 1), a.get(i + 2));
            if !check_password(c, Some(u), p) {
                return c
                    .r
                    .error("WRONGPASS invalid username-password pair or user is disabled.");
            }
            c.client.authed = true;
            i += 3;
        } else if eq_ic(o, "setname") && more >= 1 {
            let n = a.get(i + 1);
            if n.iter().any(|&b| b <= b' ' || b > b'~') {
                return c.r.error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            name = Some(n.to_vec());
            i += 2;
        } else {
            return c.r.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(o)
            ));
        }
    }
    if !c.client.authed {
        return c.r.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        c.client.name = n;
    }
    if let Some(p) = proto {
        c.client.proto = if p == 3 { Proto::Resp3 } else { Proto::Resp2 };
        c.r.proto = c.client.proto;
    }
    c.r.map(7);
    c.r.bulk(b"server");
    c.r.bulk(b"redis");
    c.r.bulk(b"version");
    c.r.bulk(REDIS_VERSION.as_bytes());
    c.r.bulk(b"proto");
    c.r.int(if c.client.proto == Proto::Resp3 { 3 } else { 2 });
    c.r.bulk(b"id");
    c.r.int(c.client.id as i64);
    c.r.bulk(b"mode");
    c.r.bulk(b"standalone");
    c.r.bulk(b"role");
    c.r.bulk(b"master");
    c.r.bulk(b"modules");
    c.r.array(0);
}

/// MONITOR: from now on, every command any client runs is streamed to
/// this connection (`Reactor::feed_monitors`).
pub fn monitor(c: &mut ConnCtx, _a: Args) {
    // Already monitoring: ignored without a reply, as Redis does.
    if !c.client.monitor {
        c.action = ConnAction::Monitor;
        c.r.ok();
    }
}

pub fn reset(c: &mut ConnCtx, _a: Args) {
    if c.client.monitor {
        c.action = ConnAction::StopMonitor;
    }
    c.client.multi = None;
    c.client.watch = None;
    if let Some(subs) = c.client.subs.take() {
        super::pubsub::forget_all(c.shared, *subs, (c.reactor, c.conn));
    }
    c.client.db = 0;
    c.client.proto = Proto::Resp2;
    c.r.proto = Proto::Resp2;
    c.client.name.clear();
    c.client.authed = c.shared.config().requirepass.is_empty();
    if c.client.tracking.take().is_some_and(|t| t.bcast) {
        crate::tracking::bcast_remove(c.client.id);
    }
    // Redis clears OFF and a SKIP given by the command before, but the
    // skip in effect for this very command still swallows its reply.
    if c.client.reply != ReplyMode::Skip {
        c.client.reply = ReplyMode::On;
    }
    c.r.simple("RESET");
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| b > b' ' && b <= b'~')
}

/// Redis's replies for a container command's bad subcommand: an unknown
/// name, or a known one with the wrong number of arguments.
pub fn subcommand_error(r: &mut crate::protocol::Reply, container: &str, sub: &[u8], known: bool) {
    r.error(&super::table::subcommand_message(container, sub, known));
}

/// Which connections CLIENT KILL closes (Redis 7.0's filters). Every
/// client here is of type normal and user default: there are no replicas,
/// subscribers or ACL users.
#[derive(Clone, Debug, Default)]
pub struct KillFilter {
    pub id: Option<u64>,
    pub addr: Option<String>,
    pub laddr: Option<String>,
    /// TYPE master, replica or pubsub: nothing here is one.
    pub no_type_matches: bool,
    /// The client that sent the command: spared with SKIPME yes (the
    /// default of the filter form), else closed once it has its reply.
    pub requester: u64,
    pub skip_requester: bool,
}

impl KillFilter {
    /// `CLIENT KILL <ip:port>` or `CLIENT KILL <filter> <value> ...`.
    pub fn parse(a: Args, requester: u64) -> Result<KillFilter, String> {
        let mut f = KillFilter {
            requester,
            skip_requester: true,
            ..Default::default()
        };
        match a.len() {
            // The old form, which may kill its own client.
            3 => {
                f.addr = Some(String::from_utf8_lossy(a.get(2)).into_owned());
                f.skip_requester = false;
                return Ok(f);
            }
            n if n < 3 => return Err(ERR_SYNTAX.into()),
            _ => {}
        }
        let text = |i: usize| String::from_utf8_lossy(a.get(i)).into_owned();
        let mut i = 2;
        while i < a.len() {
            if i + 1 >= a.len() {
                return Err(ERR_SYNTAX.into());
            }
            let (opt, val) = (a.get(i), a.get(i + 1));
            if eq_ic(opt, "id") {
                match arg_i64(val) {
                    Some(id) if id >= 1 => f.id = Some(id as u64),
                    _ => return Err("ERR client-id should be greater than 0".into()),
                }
            } else if eq_ic(opt, "type") {
                if eq_ic(val, "normal") {
                } else if ["master", "replica", "slave", "pubsub"]
                    .iter()
                    .any(|t| eq_ic(val, t))
                {
                    f.no_type_matches = true;
                } else {
                    return Err(format!("ERR Unknown client type '{}'", text(i + 1)));
                }
            } else if eq_ic(opt, "addr") {
                f.addr = Some(text(i + 1));
            } else if eq_ic(opt, "laddr") {
                f.laddr = Some(text(i + 1));
            } else if eq_ic(opt, "user") {
                if val != b"default" {
                    return Err(format!("ERR No such user '{}'", text(i + 1)));
                }
            } else if eq_ic(opt, "skipme") {
                if eq_ic(val, "yes") {
                    f.skip_requester = true;
                } else if eq_ic(val, "no") {
                    f.skip_requester = false;
                } else {
                    return Err(ERR_SYNTAX.into());
                }
            } else {
                return Err(ERR_SYNTAX.into());
            }
            i += 2;
        }
        Ok(f)
    }

    pub fn matches(&self, id: u64, addr: &str, laddr: &str) -> bool {
        !self.no_type_matches
            && self.id.is_none_or(|x| x == id)
            && self.addr.as_deref().is_none_or(|x| x == addr)
            && self.laddr.as_deref().is_none_or(|x| x == laddr)
            && !(self.skip_requester && id == self.requester)
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p...] [OPTIN]
/// [OPTOUT] [NOLOOP], with Redis's option checks.
fn client_tracking(c: &mut ConnCtx, a: Args) {
    let (mut optin, mut optout, mut bcast, mut noloop) = (false, false, false, false);
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut redirect = 0u64;
    let mut j = 3;
    while j < a.len() {
        let o = a.get(j);
        let more = j + 1 < a.len();
        if eq_ic(o, "optin") {
            optin = true;
        } else if eq_ic(o, "optout") {
            optout = true;
        } else if eq_ic(o, "bcast") {
            bcast = true;
        } else if eq_ic(o, "prefix") && more {
            j += 1;
            prefixes.push(a.get(j).to_vec());
        } else if eq_ic(o, "redirect") && more {
            j += 1;
            if redirect != 0 {
                return c
                    .r
                    .error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = arg_i64(a.get(j)) else {
                return c.r.error(ERR_NOT_INT);
            };
            let exists = c
                .shared
                .client_index
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&(id as u64));
            if !exists {
                return c
                    .r
                    .error("ERR The client ID you want redirect to does not exist");
            }
            redirect = id as u64;
        } else if eq_ic(o, "noloop") {
            noloop = true;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let on = a.get(2);
    if eq_ic(on, "off") {
        if c.client.tracking.take().is_some_and(|t| t.bcast) {
            crate::tracking::bcast_remove(c.client.id);
        }
        return c.r.ok();
    }
    if !eq_ic(on, "on") {
        return c.r.error(ERR_SYNTAX);
    }
    if !prefixes.is_empty() && !bcast {
        return c
            .r
            .error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    if bcast && (optin || optout) {
        return c
            .r
            .error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if c.client.tracking.as_ref().is_some_and(|t| t.bcast != bcast) {
        return c.r.error(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    if optin && optout {
        return c
            .r
            .error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if let Some(t) = &c.client.tracking {
        if (optin && t.optout) || (optout && t.optin) {
            return c.r.error(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            );
        }
    }
    if bcast {
        let old: &[Vec<u8>] = c.client.tracking.as_ref().map_or(&[], |t| &t.prefixes);
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(q) = old.iter().find(|q| crate::tracking::overlap(q, p)) {
                return c.r.error(&format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                ));
            }
            if let Some(q) = prefixes[i + 1..]
                .iter()
                .find(|q| crate::tracking::overlap(p, q))
            {
                return c.r.error(&format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                ));
            }
        }
    }
    // Turned on again, it keeps the modes it had (Redis adds flags).
    let t = c.client.tracking.get_or_insert_with(Default::default);
    t.optin |= optin;
    t.optout |= optout;
    t.noloop |= noloop;
    t.redirect = redirect;
    if bcast {
        t.bcast = true;
        if prefixes.is_empty() && t.prefixes.is_empty() {
            prefixes.push(Vec::new());
        }
        for p in prefixes {
            if !t.prefixes.contains(&p) {
                t.prefixes.push(p);
            }
        }
        let tracker = crate::tracking::Tracker {
            reactor: c.reactor,
            conn: c.conn,
            id: c.client.id,
            noloop: t.noloop,
            bcast: true,
        };
        crate::tracking::bcast_set(tracker, &t.prefixes);
    }
    c.r.ok();
}

/// CLIENT PAUSE timeout [WRITE|ALL] (ALL by default).
fn client_pause(c: &mut ConnCtx, a: Args) {
    let Some(ms) = arg_i64(a.get(2)) else {
        return c.r.error("ERR timeout is not an integer or out of range");
    };
    if ms < 0 {
        return c.r.error("ERR timeout is negative");
    }
    let all =
        match a.len() {
            3 => true,
            4 if eq_ic(a.get(3), "all") => true,
            4 if eq_ic(a.get(3), "write") => false,
            4 => return c.r.error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
            _ => return c.r.error(
                "ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.",
            ),
        };
    let Some(until) = c.now.checked_add(ms as u64) else {
        return c.r.error("ERR timeout is out of range");
    };
    crate::pause::set(until, all);
    // Clients held by an earlier pause check again (a WRITE pause lets
    // the reads an ALL pause held go on).
    wake_reactors(c);
    c.r.ok();
}

/// Ring every reactor, so that each looks at its paused clients again.
fn wake_reactors(c: &ConnCtx) {
    for mb in &c.shared.mailboxes {
        mb.ring();
    }
}

pub fn client(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    let argc = a.len();
    // The subcommand and its arity were checked by dispatch (the table's).
    if eq_ic(sub, "id") && argc == 2 {
        c.r.int(c.client.id as i64);
    } else if eq_ic(sub, "tracking") {
        client_tracking(c, a);
    } else if eq_ic(sub, "caching") {
        let Some(t) = c.client.tracking.as_mut() else {
            return c.r.error(
                "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
            );
        };
        let opt = a.get(2);
        if eq_ic(opt, "yes") {
            if !t.optin {
                return c.r.error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
            }
            t.caching = Some(true);
        } else if eq_ic(opt, "no") {
            if !t.optout {
                return c.r.error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
            }
            t.caching = Some(false);
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        c.r.ok();
    } else if eq_ic(sub, "getredir") {
        c.r.int(c.client.tracking.as_ref().map_or(-1, |t| t.redirect as i64));
    } else if eq_ic(sub, "trackinginfo") {
        let t = c.client.tracking.as_deref();
        c.r.map(3);
        c.r.bulk(b"flags");
        let mut flags: Vec<&str> = vec![if t.is_some() { "on" } else { "off" }];
        if let Some(t) = t {
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if t.caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if t.caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken_redirect {
                flags.push("broken_redirect");
            }
        }
        c.r.set(flags.len());
        for f in flags {
            c.r.bulk(f.as_bytes());
        }
        c.r.bulk(b"redirect");
        c.r.int(t.map_or(-1, |t| t.redirect as i64));
        c.r.bulk(b"prefixes");
        let prefixes: &[Vec<u8>] = t.map_or(&[], |t| &t.prefixes);
        c.r.array(prefixes.len());
        for p in prefixes {
            c.r.bulk(p);
        }
    } else if eq_ic(sub, "pause") {
        client_pause(c, a);
    } else if eq_ic(sub, "unpause") {
        crate::pause::clear();
        wake_reactors(c);
        c.r.ok();
    } else if eq_ic(sub, "reply") {
        let mode = a.get(2);
        if eq_ic(mode, "on") {
            c.client.reply = ReplyMode::On;
            c.r.ok();
        } else if eq_ic(mode, "off") {
            c.client.reply = ReplyMode::Off;
        } else if eq_ic(mode, "skip") {
            if c.client.reply != ReplyMode::Off {
                c.client.reply = ReplyMode::SkipNext;
            }
        } else {
            c.r.error(ERR_SYNTAX);
        }
    } else if eq_ic(sub, "setname") && argc == 3 {
        let n = a.get(2);
        if !valid_name(n) {
            return c
                .r
                .error("ERR Client names cannot contain spaces, newlines or special characters.");
        }
        c.client.name = n.to_vec();
        c.r.ok();
    } else if eq_ic(sub, "getname") && argc == 2 {
        if c.client.name.is_empty() {
            c.r.null();
        } else {
            let n = c.client.name.clone();
            c.r.bulk(&n);
        }
    } else if eq_ic(sub, "setinfo") && argc == 4 {
        let (attr, val) = (a.get(2), a.get(3));
        if !valid_name(val) && !val.is_empty() {
            return c.r.error(&format!(
                "ERR {} cannot contain spaces, newlines or special characters.",
                String::from_utf8_lossy(attr)
            ));
        }
        if eq_ic(attr, "lib-name") {
            c.client.lib_name = val.to_vec();
        } else if eq_ic(attr, "lib-ver") {
            c.client.lib_ver = val.to_vec();
        } else {
            return c.r.error(&format!(
                "ERR Unrecognized option '{}'",
                String::from_utf8_lossy(attr)
            ));
        }
        c.r.ok();
    } else if eq_ic(sub, "info") && argc == 2 {
        let line = c.client.info_line(c.now, 0, 0, false) + "\n";
        c.r.verbatim(line.as_bytes());
    } else if eq_ic(sub, "list") {
        let mut ids = None;
        if argc > 2 {
            if argc >= 4 && eq_ic(a.get(2), "id") {
                let mut v = Vec::new();
                for x in a.iter().skip(3) {
                    match arg_i64(x) {
                        Some(n) if n > 0 => v.push(n as u64),
                        _ => return c.r.error("ERR Invalid client ID"),
                    }
                }
                ids = Some(v);
            } else if argc == 4 && eq_ic(a.get(2), "type") {
                let t = a.get(3);
                if !(eq_ic(t, "normal")
                    || eq_ic(t, "master")
                    || eq_ic(t, "replica")
                    || eq_ic(t, "slave")
                    || eq_ic(t, "pubsub"))
                {
                    return c.r.error(&format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(t)
                    ));
                }
                if !eq_ic(t, "normal") {
                    ids = Some(Vec::new());
                }
            } else {
                return c.r.error("ERR syntax error");
            }
        }
        let n = c.shared.nshards;
        c.action = ConnAction::Plan(Plan {
            ops: all_shards(n, |_| ShardOp::ClientList {
                id_filter: ids.clone(),
            }),
            barrier: false,
            finish: Box::new(|results, r| {
                let mut s = String::new();
                for x in results {
                    if let OpResult::Text(t) = x {
                        s.push_str(&t);
                    }
                }
                r.verbatim(s.as_bytes());
                Step::Done
            }),
        });
    } else if eq_ic(sub, "kill") {
        let filter = match KillFilter::parse(a, c.client.id) {
            Ok(f) => f,
            Err(e) => return c.r.error(&e),
        };
        let old_form = argc == 3;
        let n = c.shared.nshards;
        c.action = ConnAction::Plan(Plan {
            ops: all_shards(n, |_| ShardOp::ClientKill {
                filter: Box::new(filter.clone()),
            }),
            barrier: false,
            finish: Box::new(move |results, r| {
                let killed = crate::tx::fanout::sum_ints(&results);
                match (old_form, killed) {
                    (true, 0) => r.error("ERR No such client"),
                    (true, _) => r.ok(),
                    // The filter form answers a count, 0 included.
                    (false, n) => r.int(n),
                }
                Step::Done
            }),
        });
    } else if eq_ic(sub, "unblock") && argc <= 4 {
        let Some(id) = arg_i64(a.get(2)) else {
            return c.r.error("ERR value is not an integer or out of range");
        };
        let error = match (argc == 4).then(|| a.get(3)) {
            None => false,
            Some(o) if eq_ic(o, "timeout") => false,
            Some(o) if eq_ic(o, "error") => true,
            Some(_) => {
                return c
                    .r
                    .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        };
        let n = c.shared.nshards;
        c.action = ConnAction::Plan(Plan {
            ops: all_shards(n, |_| ShardOp::ClientUnblock {
                id: id as u64,
                error,
            }),
            barrier: false,
            finish: Box::new(|results, r| {
                r.int(crate::tx::fanout::sum_ints(&results).min(1));
                Step::Done
            }),
        });
    } else if eq_ic(sub, "no-evict") || eq_ic(sub, "no-touch") {
        // Accepted and not acted on (no client eviction here, and the
        // keys' access times are not kept apart); the argument as Redis
        // checks it.
        let on_off = a.get(2);
        if eq_ic(on_off, "on") || eq_ic(on_off, "off") {
            c.r.ok();
        } else {
            c.r.error("ERR syntax error");
        }
    } else if eq_ic(sub, "help") {
        let lines = [
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL ID <client-id>",
            "    Kill the connection with the given id.",
            "LIST [TYPE normal|master|replica|pubsub] [ID <id> ...]",
            "    Return information about client connections.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client library name or version.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "HELP",
            "    Prints this help.",
        ];
        c.r.help(&lines);
    } else {
        c.r.error(ERR_SYNTAX);
    }
}
