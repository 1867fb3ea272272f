//! Server commands: INFO, CONFIG, COMMAND, TIME, SHUTDOWN, DEBUG, and the
//! argument parsing of whole-keyspace commands (DBSIZE, KEYS, SCAN, ...).

use super::conn::{ConnAction, ConnCtx};
use super::ctx::{arg_f64, arg_i64, eq_ic, ERR_SYNTAX};
use super::table::{AllOp, Command, COMMANDS};
use crate::memory::MemoryLimit;
use crate::protocol::{Args, Reply};
use crate::server::{now_us, HALOCLINE_VERSION, REDIS_VERSION};
use crate::shard::pattern::glob_match;
use crate::shard::slot::key_shard;
use crate::tx::fanout::{self, all_shards, Plan, Step};
use crate::tx::ops::ShardStats;
use crate::tx::{OpResult, OwnedArgs, ShardOp};
use std::sync::atomic::Ordering;

pub fn all_shards_plan(
    op: AllOp,
    a: Args,
    db: usize,
    n: usize,
    dbs: usize,
) -> Result<Plan, String> {
    let flush_mode_ok = |a: Args| {
        a.len() == 1 || (a.len() == 2 && (eq_ic(a.get(1), "sync") || eq_ic(a.get(1), "async")))
    };
    Ok(match op {
        AllOp::DbSize => fanout::dbsize(db, n),
        AllOp::Keys => fanout::keys(db, a.get(1), n),
        AllOp::RandomKey => fanout::randomkey(db, n),
        AllOp::FlushDb => {
            if !flush_mode_ok(a) {
                return Err(ERR_SYNTAX.into());
            }
            fanout::ok_all(n, |_| ShardOp::Flush { db: Some(db) }, false)
        }
        AllOp::FlushAll => {
            if !flush_mode_ok(a) {
                return Err(ERR_SYNTAX.into());
            }
            fanout::ok_all(n, |_| ShardOp::Flush { db: None }, false)
        }
        AllOp::SwapDb => {
            let x = arg_i64(a.get(1)).ok_or("ERR invalid first DB index")?;
            let y = arg_i64(a.get(2)).ok_or("ERR invalid second DB index")?;
            if x < 0 || y < 0 || x as usize >= dbs || y as usize >= dbs {
                return Err("ERR DB index is out of range".into());
            }
            fanout::ok_all(
                n,
                |_| ShardOp::SwapDb {
                    a: x as usize,
                    b: y as usize,
                },
                true,
            )
        }
        AllOp::Scan => {
            let cursor = std::str::from_utf8(a.get(1))
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or("ERR invalid cursor")?;
            let (mut count, mut pattern, mut type_) = (10usize, None, None);
            let mut i = 2;
            while i < a.len() {
                let o = a.get(i);
                if i + 1 >= a.len() {
                    return Err(ERR_SYNTAX.into());
                }
                let v = a.get(i + 1);
                if eq_ic(o, "count") {
                    match arg_i64(v) {
                        Some(c) if c >= 1 => count = c as usize,
                        Some(_) => return Err(ERR_SYNTAX.into()),
                        None => return Err(super::ctx::ERR_NOT_INT.into()),
                    }
                } else if eq_ic(o, "match") {
                    pattern = if v == b"*" { None } else { Some(v.to_vec()) };
                } else if eq_ic(o, "type") {
                    type_ = Some(v.to_vec());
                } else {
                    return Err(ERR_SYNTAX.into());
                }
                i += 2;
            }
            fanout::scan(db, cursor, count, pattern, type_, n)
        }
    })
}

pub fn time(c: &mut ConnCtx, _a: Args) {
    let us = now_us();
    c.r.array(2);
    c.r.bulk_int((us / 1_000_000) as i64);
    c.r.bulk_int((us % 1_000_000) as i64);
}

pub fn slowlog(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if a.len() == 2 && eq_ic(sub, "help") {
        c.r.help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ]);
    } else if a.len() == 2 && eq_ic(sub, "reset") {
        crate::slowlog::reset();
        c.r.ok();
    } else if a.len() == 2 && eq_ic(sub, "len") {
        c.r.int(crate::slowlog::len() as i64);
    } else if (a.len() == 2 || a.len() == 3) && eq_ic(sub, "get") {
        let mut count = Some(10);
        if a.len() == 3 {
            match arg_i64(a.get(2)) {
                Some(-1) => count = None,
                Some(n) if n >= 0 => count = Some(n as usize),
                _ => {
                    return c.r.error("ERR count should be greater than or equal to -1");
                }
            }
        }
        crate::slowlog::write_newest(&mut c.r, count);
    } else {
        c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// LATENCY: the latency monitor's samples (`crate::latency`). HISTOGRAM
/// answers no command: per-command latency histograms would time every
/// command, which costs the fast ones ~55 ns of clock reads each here (a
/// known difference; the slow log and commandstats time the others).
pub fn latency(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if a.len() == 3 && eq_ic(sub, "history") {
        let h = crate::latency::history(a.get(2));
        c.r.array(h.len());
        for (t, ms) in h {
            c.r.array(2);
            c.r.int(t as i64);
            c.r.int(ms as i64);
        }
    } else if a.len() == 3 && eq_ic(sub, "graph") {
        match crate::latency::graph(a.get(2)) {
            Some(g) => c.r.verbatim(g.as_bytes()),
            None => c.r.error(&format!(
                "ERR No samples available for event '{}'",
                String::from_utf8_lossy(a.get(2))
            )),
        }
    } else if a.len() == 2 && eq_ic(sub, "latest") {
        let l = crate::latency::latest();
        c.r.array(l.len());
        for (event, t, ms, max) in l {
            c.r.array(4);
            c.r.bulk(event.as_bytes());
            c.r.int(t as i64);
            c.r.int(ms as i64);
            c.r.int(max as i64);
        }
    } else if a.len() == 2 && eq_ic(sub, "doctor") {
        c.r.verbatim(crate::latency::doctor().as_bytes());
    } else if eq_ic(sub, "reset") {
        let named: Vec<&[u8]> = a.iter().skip(2).collect();
        c.r.int(crate::latency::reset(&named) as i64);
    } else if eq_ic(sub, "histogram") {
        c.r.map(0);
    } else if a.len() == 2 && eq_ic(sub, "help") {
        c.r.help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]);
    } else {
        c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try LATENCY HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

pub fn lastsave(c: &mut ConnCtx, _a: Args) {
    c.r.int((c.shared.start_unix_ms / 1000) as i64);
}

/// halocline keeps no snapshot on disk: saying OK would tell the client its
/// data is safe when it is not.
pub fn shutdown(c: &mut ConnCtx, a: Args) {
    for o in a.iter().skip(1) {
        if !(eq_ic(o, "nosave")
            || eq_ic(o, "save")
            || eq_ic(o, "now")
            || eq_ic(o, "force")
            || eq_ic(o, "abort"))
        {
            return c.r.error(ERR_SYNTAX);
        }
    }
    log::warn!("User requested shutdown...");
    c.shared.request_stop();
    // Like Redis, a successful SHUTDOWN sends no reply: the connection closes.
    c.action = ConnAction::Close;
}

pub fn debug(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "sleep") && a.len() == 3 {
        let secs = arg_f64(a.get(2)).unwrap_or(0.0).max(0.0);
        // Blocks this reactor like Redis blocks its only thread.
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        c.r.ok();
    } else if eq_ic(sub, "pause-cron") && a.len() == 3 {
        c.shared
            .pause_cron
            .store(a.get(2) != b"0", Ordering::Relaxed);
        c.r.ok();
    } else if eq_ic(sub, "set-active-expire") && a.len() == 3 {
        c.shared
            .active_expire
            .store(a.get(2) != b"0", Ordering::Relaxed);
        c.r.ok();
    } else if eq_ic(sub, "object") && a.len() == 3 {
        let key = a.get(2);
        let n = c.shared.nshards;
        let db = c.client.db;
        let proto = c.r.proto;
        c.action = ConnAction::Plan(Plan {
            ops: vec![(
                key_shard(key, n),
                ShardOp::Exec {
                    db,
                    proto,
                    args: OwnedArgs::from_args(a),
                },
            )],
            barrier: false,
            finish: Box::new(|results, r| {
                if let Some(OpResult::Reply(b)) = results.into_iter().next() {
                    r.out.extend_from_slice(&b);
                }
                Step::Done
            }),
        });
    } else if eq_ic(sub, "populate") && (3..=5).contains(&a.len()) {
        // Keys prefix:0..count-1 ("key" by default) holding "value:N" (or
        // exactly `size` bytes of it), made by the shard that owns each.
        let count = match arg_i64(a.get(2)) {
            Some(n) if n >= 0 => n as u64,
            _ => return c.r.error("ERR value is out of range, must be positive"),
        };
        // Size 0 means none, as in Redis. Bounded by proto-max-bulk-len (a
        // client-chosen allocation of any size would abort the server).
        let size = match a.len() {
            5 => match arg_i64(a.get(4)) {
                Some(0) => None,
                Some(n) if n > 0 && n as u64 <= c.shared.config().proto_max_bulk_len as u64 => {
                    Some(n as usize)
                }
                Some(n) if n > 0 => return c.r.error("ERR value size exceeds proto-max-bulk-len"),
                _ => return c.r.error("ERR value is out of range, must be positive"),
            },
            _ => None,
        };
        let prefix = if a.len() >= 4 {
            a.get(3).to_vec()
        } else {
            b"key".to_vec()
        };
        let db = c.client.db;
        let n = c.shared.nshards;
        c.action = ConnAction::Plan(Plan {
            ops: crate::tx::fanout::all_shards(n, |_| ShardOp::Populate {
                db,
                count,
                prefix: prefix.clone(),
                size,
            }),
            barrier: false,
            finish: Box::new(|_, r| {
                r.ok();
                Step::Done
            }),
        });
    } else if eq_ic(sub, "digest") && a.len() == 2 {
        // A debugging fingerprint, read without locks: a multi-shard write
        // running meanwhile may be seen on some shards only.
        let n = c.shared.nshards;
        c.action = ConnAction::Plan(Plan {
            ops: crate::tx::fanout::all_shards(n, |_| ShardOp::Digest),
            barrier: false,
            finish: Box::new(|results, r| {
                let parts = results.iter().filter_map(|x| match x {
                    OpResult::Reply(b) => Some(b.as_slice()),
                    _ => None,
                });
                r.simple(&crate::types::digest::combine_digests(parts));
                Step::Done
            }),
        });
    } else if eq_ic(sub, "digest-value") {
        let n = c.shared.nshards;
        let db = c.client.db;
        let proto = c.r.proto;
        let ops = a
            .iter()
            .skip(2)
            .map(|key| {
                let mut args = OwnedArgs::new();
                args.push(b"DEBUG");
                args.push(b"DIGEST-VALUE");
                args.push(key);
                (key_shard(key, n), ShardOp::Exec { db, proto, args })
            })
            .collect();
        c.action = ConnAction::Plan(Plan {
            ops,
            barrier: false,
            finish: Box::new(|results, r| {
                r.array(results.len());
                for x in results {
                    if let OpResult::Reply(b) = x {
                        r.out.extend_from_slice(&b);
                    }
                }
                Step::Done
            }),
        });
    } else if eq_ic(sub, "protocol") && a.len() == 3 {
        debug_protocol(&mut c.r, a.get(2));
    } else if eq_ic(sub, "set-disable-deny-scripts") && a.len() == 3 {
        let on = crate::protocol::parse_i64(a.get(2)).unwrap_or(0) != 0;
        crate::scripting::DENY_DISABLED.store(on, std::sync::atomic::Ordering::Relaxed);
        c.r.ok();
    } else if eq_ic(sub, "reload") || eq_ic(sub, "loadaof") {
        // Save and load, without the file: every value serialized and
        // loaded back on its shard.
        let n = c.shared.nshards;
        c.action = ConnAction::Plan(Plan {
            ops: crate::tx::fanout::all_shards(n, |_| ShardOp::Reload),
            barrier: true,
            finish: Box::new(|_, r| {
                r.ok();
                Step::Done
            }),
        });
    } else if eq_ic(sub, "jmap")
        || eq_ic(sub, "quicklist-packed-threshold")
        || eq_ic(sub, "change-repl-id")
        || eq_ic(sub, "replybuffer")
    {
        // No persistence or tunables behind these yet: what they observably
        // do to the dataset (nothing) is what Redis's tests check.
        c.r.ok();
    } else if eq_ic(sub, "help") {
        let lines = [
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low level info about the key and associated value.",
            "RELOAD | LOADAOF",
            "    Every value serialized and loaded back (no file: there is no persistence).",
            "PAUSE-CRON <0|1>",
            "    Stop periodic cron job processing.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ];
        c.r.help(&lines);
    } else {
        c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, for client tests.
/// DEBUG PROTOCOL: one reply of each RESP type (also from scripts).
pub fn debug_protocol(r: &mut Reply, name: &[u8]) {
    let is = |s: &str| eq_ic(name, s);
    if is("string") {
        r.bulk(b"Hello World");
    } else if is("integer") {
        r.int(12345);
    } else if is("double") {
        #[allow(clippy::approx_constant)]
        r.double(3.141);
    } else if is("bignum") {
        r.bignum("1234567999999999999999999999999999999");
    } else if is("null") {
        r.null();
    } else if is("array") || is("set") {
        if is("set") {
            r.set(3);
        } else {
            r.array(3);
        }
        for j in 0..3 {
            r.int(j);
        }
    } else if is("map") {
        r.map(3);
        for j in 0..3 {
            r.int(j);
            r.boolean(j == 1);
        }
    } else if is("attrib") {
        if r.resp3() {
            r.attribute(1);
            r.bulk(b"key-popularity");
            r.array(2);
            r.bulk(b"key:123");
            r.int(90);
        }
        r.bulk(b"Some real reply following the attribute");
    } else if is("push") {
        if !r.resp3() {
            return r.error("ERR RESP2 is not supported by this command");
        }
        r.push(2);
        r.bulk(b"server-cpu-usage");
        r.int(42);
        r.bulk(b"Some real reply following the push reply");
    } else if is("true") || is("false") {
        r.boolean(is("true"));
    } else if is("verbatim") {
        r.verbatim(b"This is a verbatim\nstring");
    } else {
        r.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false");
    }
}

pub fn config(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "get") && a.len() >= 3 {
        let all = c.shared.config().all();
        let mut hits: Vec<(String, String)> = Vec::new();
        for p in a.iter().skip(2) {
            let p = p.to_ascii_lowercase();
            for (k, v) in &all {
                // The setting under its name, and under each old name the
                // pattern matches (Redis answers both: `*of` gives
                // replicaof and slaveof).
                let aliases = crate::config::ALIASES
                    .iter()
                    .filter(|(_, name)| name == k)
                    .map(|(alias, _)| *alias);
                for name in std::iter::once(k.as_str()).chain(aliases) {
                    if glob_match(&p, name.as_bytes(), true) && !hits.iter().any(|(h, _)| h == name)
                    {
                        hits.push((name.to_string(), v.clone()));
                    }
                }
            }
        }
        c.r.map(hits.len());
        for (k, v) in hits {
            c.r.bulk(k.as_bytes());
            c.r.bulk(v.as_bytes());
        }
    } else if eq_ic(sub, "set") && a.len() >= 4 && a.len().is_multiple_of(2) {
        let mut cfg = c.shared.config_mut();
        let mut new = cfg.clone();
        let mut seen: Vec<String> = Vec::new();
        for i in (2..a.len()).step_by(2) {
            let name = String::from_utf8_lossy(a.get(i)).into_owned();
            // By the name as given: Redis 7.0 registers an alias (the
            // old ziplist names) as a config of its own, so a setting and
            // its alias in one command are not duplicates there.
            let lower = name.to_ascii_lowercase();
            if seen.contains(&lower) {
                drop(cfg);
                return c.r.error(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                ));
            }
            seen.push(lower);
            let val = String::from_utf8_lossy(a.get(i + 1)).into_owned();
            let words = if name.eq_ignore_ascii_case("save") || name.eq_ignore_ascii_case("bind") {
                val.split_whitespace().map(String::from).collect::<Vec<_>>()
            } else {
                vec![val]
            };
            let words = if words.is_empty() {
                vec![String::new()]
            } else {
                words
            };
            if let Err(e) = new.apply(&name, &words, false) {
                drop(cfg);
                if e.starts_with("Bad directive") {
                    return c.r.error(&format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ));
                }
                return c.r.error(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                ));
            }
        }
        *cfg = new;
        c.shared.apply_settings(&cfg);
        drop(cfg);
        if seen.iter().any(|n| n == "tracking-table-max-keys") {
            // Redis trims the tracking table before the next command; the
            // shards trim theirs before this answer, so whatever comes next
            // finds it done and its invalidations sent.
            c.action = ConnAction::Plan(Plan {
                ops: all_shards(c.shared.nshards, |_| ShardOp::TrimTracking),
                barrier: false,
                finish: Box::new(|_, r| {
                    r.ok();
                    Step::Done
                }),
            });
            return;
        }
        c.r.ok();
    } else if eq_ic(sub, "resetstat") && a.len() == 2 {
        // Every reactor zeroes its own counters.
        c.action = ConnAction::Plan(Plan {
            ops: all_shards(c.shared.nshards, |_| ShardOp::ResetStats),
            barrier: false,
            finish: Box::new(|_, r| {
                r.ok();
                Step::Done
            }),
        });
    } else if eq_ic(sub, "rewrite") && a.len() == 2 {
        c.r.error("ERR The server is running without a config file");
    } else if eq_ic(sub, "help") {
        let lines = [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Prints this help.",
        ];
        c.r.help(&lines);
    } else {
        c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

fn command_info(r: &mut Reply, cmd: &'static Command) {
    if !cmd.is_pure_container() {
        // COMMAND runs without a subcommand too: an entry of its own,
        // listing its subcommands.
        let subs = (!cmd.subcommands.is_empty()).then_some(cmd);
        return command_entry(r, cmd.name, cmd.arity, cmd, subs);
    }
    // A container, as Redis lists one: no flags, keys or categories of
    // its own (but @slow); each subcommand an entry of its own.
    r.array(10);
    r.bulk(cmd.name.as_bytes());
    r.int(cmd.arity as i64);
    r.set(0);
    r.int(0);
    r.int(0);
    r.int(0);
    r.set(1);
    r.simple("@slow");
    r.set(0); // tips
    r.array(0); // key specs
    subcommand_entries(r, cmd);
}

fn subcommand_entries(r: &mut Reply, cmd: &'static Command) {
    r.array(cmd.subcommands.len());
    for i in 0..cmd.subcommands.len() {
        let sub = cmd.sub_entry(i);
        command_entry(r, sub.full_name, sub.arity, sub, None);
    }
}

/// One COMMAND INFO entry: `cmd`'s flags, keys and categories under
/// `name` and `arity`, then the subcommands of `subs`.
fn command_entry(
    r: &mut Reply,
    name: &str,
    arity: i32,
    cmd: &Command,
    subs: Option<&'static Command>,
) {
    r.array(10);
    r.bulk(name.as_bytes());
    r.int(arity as i64);
    // may_replicate is hidden from COMMAND INFO, as Redis hides it.
    let flags: Vec<&str> = cmd
        .flags
        .iter()
        .copied()
        .filter(|f| *f != "may_replicate")
        .collect();
    r.set(flags.len());
    for f in flags {
        r.simple(f);
    }
    r.int(cmd.first_key as i64);
    r.int(cmd.last_key as i64);
    r.int(cmd.step as i64);
    let cats = acl_categories(cmd);
    r.set(cats.len());
    for c in cats {
        r.simple(c);
    }
    r.set(0); // tips
              // key specs
    if cmd.first_key > 0 {
        r.array(1);
        r.map(3);
        r.bulk(b"flags");
        r.set(1);
        r.simple(if cmd.is_write() { "RW" } else { "RO" });
        r.bulk(b"begin_search");
        r.map(2);
        r.bulk(b"type");
        r.bulk(b"index");
        r.bulk(b"spec");
        r.map(1);
        r.bulk(b"index");
        r.int(cmd.first_key as i64);
        r.bulk(b"find_keys");
        r.map(2);
        r.bulk(b"type");
        r.bulk(b"range");
        r.bulk(b"spec");
        r.map(3);
        r.bulk(b"lastkey");
        r.int(if cmd.last_key < 0 {
            cmd.last_key as i64
        } else {
            (cmd.last_key - cmd.first_key) as i64
        });
        r.bulk(b"keystep");
        r.int(cmd.step as i64);
        r.bulk(b"limit");
        r.int(0);
    } else {
        r.array(0);
    }
    match subs {
        Some(c) => subcommand_entries(r, c),
        None => r.array(0),
    }
}

/// A command's ACL categories: its own, and those Redis derives from its
/// flags (setImplicitACLCategories): write → @write, readonly → @read
/// (not for scripting commands), admin → @admin and @dangerous, pubsub →
/// @pubsub, fast → @fast (else @slow), blocking → @blocking.
pub(super) fn acl_categories(cmd: &Command) -> Vec<&'static str> {
    let has = |f: &str| cmd.flags.contains(&f);
    let own = |c: &str| cmd.acl.contains(&c);
    let mut cats: Vec<&'static str> = Vec::with_capacity(cmd.acl.len() + 4);
    let mut add = |c: &'static str| {
        if !cats.contains(&c) {
            cats.push(c);
        }
    };
    if cmd.is_write() {
        add("@write");
    } else if has("readonly") && !own("@scripting") {
        add("@read");
    }
    for c in cmd.acl.iter().filter(|c| **c != "@slow" && **c != "@fast") {
        add(c);
    }
    if has("admin") {
        add("@admin");
        add("@dangerous");
    }
    if has("pubsub") {
        add("@pubsub");
    }
    if has("blocking") {
        add("@blocking");
    }
    add(if has("fast") { "@fast" } else { "@slow" });
    // In Redis's order of categories, as its COMMAND INFO lists them.
    cats.sort_by_key(|c| super::acl::category_rank(c));
    cats
}

/// Whether a command can name keys at all (Redis: it has key specs).
fn has_keys(cmd: &Command) -> bool {
    cmd.first_key > 0 || cmd.numkeys_at > 0 || cmd.option_key.is_some() || cmd.script
}

pub fn command(c: &mut ConnCtx, a: Args) {
    if a.len() == 1 {
        c.r.array(COMMANDS.len());
        for cmd in COMMANDS {
            command_info(&mut c.r, cmd);
        }
        return;
    }
    let sub = a.get(1);
    if eq_ic(sub, "count") && a.len() == 2 {
        c.r.int(COMMANDS.len() as i64);
    } else if eq_ic(sub, "info") {
        if a.len() == 2 {
            c.r.array(COMMANDS.len());
            for cmd in COMMANDS {
                command_info(&mut c.r, cmd);
            }
            return;
        }
        c.r.array(a.len() - 2);
        for n in a.iter().skip(2) {
            match super::table::lookup_full(n) {
                Some(cmd) if cmd.parent.is_none() => command_info(&mut c.r, cmd),
                Some(sub) => command_entry(&mut c.r, sub.full_name, sub.arity, sub, None),
                None => c.r.null_array(),
            }
        }
    } else if eq_ic(sub, "docs") {
        if a.len() == 2 {
            c.r.map(COMMANDS.len());
            for cmd in COMMANDS {
                super::docs::command_doc(&mut c.r, cmd);
            }
            return;
        }
        // Commands, or subcommands by full name (`config|get`); unknown
        // names are left out.
        let found: Vec<_> = a
            .iter()
            .skip(2)
            .filter_map(super::table::lookup_full)
            .collect();
        c.r.map(found.len());
        for cmd in found {
            if cmd.parent.is_none() {
                super::docs::command_doc(&mut c.r, cmd);
            } else {
                super::docs::subcommand_doc(&mut c.r, cmd.full_name, cmd);
            }
        }
    } else if eq_ic(sub, "list") {
        // FILTERBY MODULE, ACLCAT or PATTERN, as the last three arguments;
        // an unknown category or module matches nothing.
        enum Filter<'a> {
            All,
            Module,
            AclCat(&'a [u8]),
            Pattern(&'a [u8]),
        }
        let mut filter = Filter::All;
        let mut i = 2;
        while i < a.len() {
            if !(eq_ic(a.get(i), "filterby") && a.len() - 1 - i == 2) {
                return c.r.error(ERR_SYNTAX);
            }
            let (kind, arg) = (a.get(i + 1), a.get(i + 2));
            filter = if eq_ic(kind, "module") {
                Filter::Module
            } else if eq_ic(kind, "aclcat") {
                Filter::AclCat(arg)
            } else if eq_ic(kind, "pattern") {
                Filter::Pattern(arg)
            } else {
                return c.r.error(ERR_SYNTAX);
            };
            i += 3;
        }
        // Each command, then its subcommands as `container|sub` (Redis
        // lists both; a subcommand is filtered by its full name and its
        // own categories).
        let mut names: Vec<String> = Vec::new();
        for cmd in COMMANDS {
            let keep = |name: &str, entry: &Command, as_container: bool| match filter {
                Filter::All => true,
                Filter::Module => false,
                Filter::AclCat(cat) => super::acl::in_category(entry, cat, as_container),
                Filter::Pattern(p) => glob_match(p, name.as_bytes(), true),
            };
            if keep(cmd.name, cmd, cmd.is_pure_container()) {
                names.push(cmd.name.to_string());
            }
            for i in 0..cmd.subcommands.len() {
                let sub = cmd.sub_entry(i);
                if keep(sub.full_name, sub, false) {
                    names.push(sub.full_name.to_string());
                }
            }
        }
        c.r.array(names.len());
        for n in names {
            c.r.bulk(n.as_bytes());
        }
    } else if eq_ic(sub, "getkeys") {
        getkeys(c, a, false);
    } else if eq_ic(sub, "getkeysandflags") {
        getkeys(c, a, true);
    } else if eq_ic(sub, "help") {
        c.r.help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ]);
    } else {
        c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS, in Redis's order of checks
/// (getKeysSubcommandImpl), arity -4: the keys of the command in `a[2..]`
/// and, with `flags`, what its key specs say it does with each.
fn getkeys(c: &mut ConnCtx, a: Args, flags: bool) {
    let sub = if flags { "getkeysandflags" } else { "getkeys" };
    if a.len() < 4 {
        return c.r.error(&format!(
            "ERR wrong number of arguments for 'command|{sub}' command"
        ));
    }
    let run = a.tail(2);
    // The subcommand's entry, as Redis's lookupCommand finds it.
    let cmd = match super::table::lookup(run.get(0)) {
        Some(cmd) if !cmd.subcommands.is_empty() && run.len() > 1 => {
            match cmd.find_sub(run.get(1)) {
                Some(s) => cmd.sub_entry(s),
                None => return c.r.error("ERR Invalid command specified"),
            }
        }
        Some(cmd) => cmd,
        None => return c.r.error("ERR Invalid command specified"),
    };
    let (name, arity) = (cmd.full_name, cmd.arity);
    if !has_keys(cmd) {
        return c.r.error("ERR The command has no key arguments");
    }
    if !super::table::arity_allows(arity, run.len()) {
        return c
            .r
            .error("ERR Invalid number of arguments specified for command");
    }
    let keys: Vec<usize> = cmd.keys_of(run).collect();
    let specs = super::key_specs::of(name);
    let option = cmd.option_key.and_then(|f| f(run));
    // Every spec at a fixed position must find its keys (PFMERGE's
    // sources, ZUNIONSTORE's numkeys), or Redis finds none.
    let positional = keys.iter().filter(|&&i| Some(i) != option).count();
    if keys.is_empty() || specs.is_some_and(|s| positional < s.positional) {
        // Scripts and functions may declare no keys at all (Redis's
        // NO_MANDATORY_KEYS).
        if cmd.script {
            c.r.array(0);
        } else {
            c.r.error("ERR Invalid arguments specified for command");
        }
        return;
    }
    c.r.array(keys.len());
    if !flags {
        for i in keys {
            c.r.bulk(run.get(i));
        }
        return;
    }
    let specs = specs.map_or(&[][..], |s| s.flags);
    for (n, i) in keys.into_iter().enumerate() {
        // Keys come in their specs' order, the last spec taking the rest;
        // a key found among the options (SORT's STORE) is the last spec's.
        let spec = if Some(i) == option {
            specs.last()
        } else {
            specs.get(n).or(specs.last())
        };
        // Where Redis's flags depend on the arguments (VARIABLE_FLAGS).
        let f: &[&str] = match name {
            "bitfield" => bitfield_key_flags(run),
            "set" => set_key_flags(run),
            // Its keys come from migrateGetKeys, all with the first spec's
            // flags (the KEYS spec is INCOMPLETE).
            "migrate" => specs.first().copied().unwrap_or_default(),
            _ => spec.copied().unwrap_or_default(),
        };
        c.r.array(2);
        c.r.bulk(run.get(i));
        c.r.set(f.len());
        for flag in f {
            c.r.simple(flag);
        }
    }
}

/// SET's key is overwritten, or read too with GET (Redis's setGetKeys).
fn set_key_flags(a: Args) -> &'static [&'static str] {
    if a.iter().skip(3).any(|x| x.eq_ignore_ascii_case(b"get")) {
        &["RW", "access", "update"]
    } else {
        &["OW", "update"]
    }
}

/// BITFIELD's key is read-only unless a SET or INCRBY (or anything it
/// cannot parse) follows, as Redis's bitfieldGetKeys decides.
fn bitfield_key_flags(a: Args) -> &'static [&'static str] {
    let mut i = 2;
    while i < a.len() {
        let left = a.len() - i - 1;
        let arg = a.get(i);
        if eq_ic(arg, "get") && left >= 2 {
            i += 3;
        } else if eq_ic(arg, "overflow") && left >= 1 {
            i += 2;
        } else {
            return &["RW", "access", "update"];
        }
    }
    &["RO", "access"]
}

pub(super) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills a zeroed struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (t(ru.ru_utime), t(ru.ru_stime))
    }
}

/// Redis's bytesToHuman: 0B, 1023B, 1.00K, 100.00M...
fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in UNITS {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

fn allocated_bytes() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read()
        .map(|v| v as u64)
        .unwrap_or(0)
}

pub fn info(c: &mut ConnCtx, a: Args) {
    let mut sections: Vec<String> = a
        .iter()
        .skip(1)
        .map(|s| String::from_utf8_lossy(s).to_lowercase())
        .collect();
    if sections.is_empty() {
        sections.push("default".into());
    }
    let has = |s: &str| {
        sections.iter().any(|x| {
            x == s
                || x == "all"
                || x == "everything"
                || (x == "default" && s != "commandstats" && s != "latencystats")
        })
    };
    let want: Vec<&'static str> = [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "cluster",
        "keyspace",
    ]
    .into_iter()
    .filter(|s| has(s))
    .collect();
    let (port, threads, config_file, maxclients) = {
        let cfg = c.shared.config();
        (
            cfg.port,
            cfg.threads,
            cfg.config_file.clone().unwrap_or_default(),
            cfg.maxclients,
        )
    };
    let backend = c.shared.backend;
    let uptime = c.shared.start.elapsed().as_secs();
    let run_id = c.shared.run_id.clone();
    let exe = c.shared.executable.clone();
    let n = c.shared.nshards;
    let max = c.shared.memory.maxmemory();
    let policy = c.shared.memory.policy().name();
    let memory_base = c.shared.memory.base();
    // CONFIG SET keeps it within Redis's 1..=500.
    let hz = c.shared.config().int("hz", 10);
    let prefixes = crate::tracking::bcast_prefixes();
    // Computed now: the finisher has no access to the shared state.
    let replication = super::replication::info_section(c.shared, c.now);
    let (pubsub_channels, pubsub_patterns, pubsubshard_channels) = c.shared.pubsub.counts();
    c.action = ConnAction::Plan(Plan {
        ops: all_shards(n, |_| ShardOp::Stats),
        barrier: false,
        finish: Box::new(move |results, r| {
            let st = ShardStats::sum(&results);
            let mut out = String::new();
            for sec in want {
                if !out.is_empty() {
                    out.push_str("\r\n");
                }
                match sec {
                    "server" => {
                        out.push_str("# Server\r\n");
                        out.push_str(&format!(
                            "redis_version:{REDIS_VERSION}\r\nhalocline_version:{HALOCLINE_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:{backend}\r\nio_backend:{backend}\r\nserver_threads:{threads}\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{run_id}\r\ntcp_port:{port}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{hz}\r\nconfigured_hz:{hz}\r\nlru_clock:0\r\nexecutable:{exe}\r\nconfig_file:{config_file}\r\nio_threads_active:0\r\n",
                            std::process::id(),
                            now_us(),
                            uptime / 86400
                        ));
                    }
                    "clients" => out.push_str(&format!(
                        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{maxclients}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
                        st.connected_clients, st.blocked_clients, st.tracking_clients, st.blocked_clients
                    )),
                    "memory" => {
                        // The figure maxmemory enforces, as in Redis (whose
                        // used_memory is zmalloc's count): bytes the program
                        // holds. jemalloc's own figure also counts what its
                        // thread caches hold (a reactor that frees buffers
                        // another one allocated keeps them cached): that is
                        // allocator_allocated.
                        let used = MemoryLimit::used_from(memory_base, st.memory_net);
                        let (scripts, scripts_bytes) = crate::scripting::cache_stats();
                        let libs = crate::scripting::functions::libraries();
                        let libraries = libs.len();
                        let functions: usize = libs.iter().map(|l| l.functions.len()).sum();
                        let allocator = allocated_bytes();
                        let rss = rss_bytes();
                        out.push_str(&format!(
                            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{:.2}M\r\nused_memory_peak:{}\r\nused_memory_dataset:{used}\r\nallocator_allocated:{allocator}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_not_counted_for_evict:0\r\nmem_allocator:jemalloc\r\nlazyfree_pending_objects:0\r\nnumber_of_cached_scripts:{scripts}\r\nused_memory_scripts_eval:{scripts_bytes}\r\nnumber_of_functions:{functions}\r\nnumber_of_libraries:{libraries}\r\n",
                            used as f64 / 1048576.0,
                            rss as f64 / 1048576.0,
                            crate::memory::note_peak(used),
                            human_bytes(max),
                            policy,
                            if used > 0 { rss as f64 / used as f64 } else { 0.0 }
                        ));
                    }
                    "persistence" => out.push_str("# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_last_bgrewrite_status:ok\r\n"),
                    "stats" => out.push_str(&format!(
                        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{pubsub_channels}\r\npubsub_patterns:{pubsub_patterns}\r\npubsubshard_channels:{pubsubshard_channels}\r\ntotal_error_replies:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nmailbox_wakes:{}\r\ntx_restarts:{}\r\ntx_folded:{}\r\n",
                        st.total_connections, st.total_commands, st.instant_ops, st.net_input_bytes, st.net_output_bytes, st.instant_input as f64 / 1024.0, st.instant_output as f64 / 1024.0, st.rejected_connections, st.expired_keys, st.evicted_keys, st.keyspace_hits, st.keyspace_misses, st.errors.total, st.tracking_keys, st.tracking_items, prefixes, st.wakes, st.tx_restarts, st.tx_folded
                    )),
                    "replication" => out.push_str(&replication),
                    "cpu" => {
                        let (u, s) = cpu_times();
                        out.push_str(&format!("# CPU\r\nused_cpu_sys:{s:.6}\r\nused_cpu_user:{u:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"));
                    }
                    "modules" => out.push_str("# Modules\r\n"),
                    "commandstats" => {
                        out.push_str("# Commandstats\r\n");
                        for i in 0..super::table::stat_slots() {
                            let (calls, rejected) = st.cmd_calls.get(i).copied().unwrap_or((0, 0));
                            let failed = st.cmd_failed.get(i).copied().unwrap_or(0);
                            let usec = st.cmd_usec.get(i).copied().unwrap_or(0);
                            // Redis divides in C float.
                            let per_call = if calls == 0 {
                                0.0
                            } else {
                                f64::from(usec as f32 / calls as f32)
                            };
                            if calls + rejected > 0 {
                                out.push_str(&format!(
                                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                                    super::table::stat_name(i)
                                ));
                            }
                        }
                    }
                    "errorstats" => {
                        out.push_str("# Errorstats\r\n");
                        out.push_str(&st.errors.info_lines());
                    }
                    "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
                    "keyspace" => {
                        out.push_str("# Keyspace\r\n");
                        for (i, (k, e)) in st.keyspace.iter().enumerate() {
                            if *k > 0 {
                                out.push_str(&format!("db{i}:keys={k},expires={e},avg_ttl=0\r\n"));
                            }
                        }
                    }
                    _ => {}
                }
            }
            r.verbatim(out.as_bytes());
            Step::Done
        }),
    });
}
