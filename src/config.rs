//! Configuration: a redis.conf-style file plus `--name value` flags (which,
//! as in redis-server, are just more config lines appended after the file),
//! and the CONFIG GET/SET view of the same settings.
//!
//! Hand-written rather than clap: redis-server's flag grammar is "any config
//! directive, prefixed with --, taking every following word up to the next
//! --", which is exactly the file grammar; one parser serves both.

use crate::protocol::parser::split_args;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub threads: usize,
    pub databases: usize,
    pub requirepass: String,
    pub maxclients: usize,
    pub loglevel: String,
    pub logfile: String,
    pub io_backend: String,
    /// Hidden: make the io_uring probe fail (tests the epoll fallback).
    pub debug_fail_uring: bool,
    pub proto_max_bulk_len: usize,
    /// notify-keyspace-events as flags: its shown form (`passive`) drops
    /// `n` next to `A`, as Redis's does, so it cannot be parsed back.
    pub notify_flags: u32,
    /// Settings kept as validated text, as CONFIG GET reports them: some
    /// only accepted and reported (save, appendonly, ...), others read
    /// where they act (`int`, `memory_settings`, `writes_need_replicas`).
    pub passive: BTreeMap<String, String>,
    pub config_file: Option<String>,
}

/// Settings that are accepted and reported verbatim.
const PASSIVE_DEFAULTS: &[(&str, &str)] = &[
    ("save", ""),
    ("appendonly", "no"),
    ("appendfsync", "everysec"),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("maxmemory-samples", "5"),
    ("hz", "10"),
    ("timeout", "0"),
    ("tcp-keepalive", "300"),
    ("tcp-backlog", "511"),
    ("daemonize", "no"),
    ("protected-mode", "no"),
    ("dir", "."),
    ("dbfilename", "dump.rdb"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("list-max-listpack-size", "-2"),
    ("list-compress-depth", "0"),
    ("hash-max-listpack-entries", "512"),
    ("hash-max-listpack-value", "64"),
    ("set-max-intset-entries", "512"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("latency-tracking", "yes"),
    ("enable-debug-command", "yes"),
    // No modules can be loaded, and the protected settings are only
    // reported: Redis 7.0's defaults.
    ("enable-module-command", "no"),
    ("enable-protected-configs", "no"),
    ("client-query-buffer-limit", "1073741824"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("notify-keyspace-events", ""),
    ("active-expire-effort", "1"),
    ("repl-diskless-sync", "yes"),
    ("activedefrag", "no"),
    ("io-threads", "1"),
    ("min-replicas-to-write", "0"),
    ("min-replicas-max-lag", "10"),
    ("replica-serve-stale-data", "yes"),
    ("replica-read-only", "yes"),
    ("repl-ping-replica-period", "10"),
    ("repl-timeout", "60"),
    ("repl-backlog-size", "1048576"),
    ("repl-backlog-ttl", "3600"),
    ("lua-time-limit", "5000"),
    ("busy-reply-threshold", "5000"),
    ("tracking-table-max-keys", "1000000"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("maxmemory-clients", "0"),
    ("lfu-log-factor", "10"),
    ("lfu-decay-time", "1"),
    // The rest of what Redis 7.0's stock redis.conf sets, so that a user's
    // existing file loads: persistence, replication, rehashing and process
    // knobs with nothing behind them here, validated as Redis validates
    // them and reported by CONFIG GET. (`pidfile` is honoured: see main.)
    ("acllog-max-len", "128"),
    ("activerehashing", "yes"),
    ("always-show-logo", "no"),
    ("aof-load-truncated", "yes"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("aof-timestamp-enabled", "no"),
    ("aof-use-rdb-preamble", "yes"),
    ("appenddirname", "appendonlydir"),
    ("appendfilename", "appendonly.aof"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("auto-aof-rewrite-percentage", "100"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("disable-thp", "yes"),
    ("dynamic-hz", "yes"),
    ("hll-sparse-max-bytes", "3000"),
    ("jemalloc-bg-thread", "yes"),
    ("latency-monitor-threshold", "0"),
    ("no-appendfsync-on-rewrite", "no"),
    ("oom-score-adj", "no"),
    ("oom-score-adj-values", "0 200 800"),
    ("pidfile", ""),
    ("proc-title-template", "{title} {listen-addr} {server-mode}"),
    ("rdb-del-sync-files", "no"),
    ("rdb-save-incremental-fsync", "yes"),
    ("rdbchecksum", "yes"),
    ("rdbcompression", "yes"),
    ("repl-disable-tcp-nodelay", "no"),
    ("repl-diskless-load", "disabled"),
    ("repl-diskless-sync-delay", "5"),
    ("repl-diskless-sync-max-replicas", "0"),
    ("replica-lazy-flush", "no"),
    ("replica-priority", "100"),
    ("set-proc-title", "yes"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("supervised", "no"),
    // The replica side of replication (`replication::replica`): the master
    // to follow ("host port", "" for none; the REPLICAOF command updates
    // it), the credentials to give it, and what a replica refuses.
    ("replicaof", ""),
    ("masterauth", ""),
    ("masteruser", ""),
    ("replica-ignore-maxmemory", "yes"),
    ("replica-announced", "yes"),
    ("replica-announce-ip", ""),
    ("replica-announce-port", "0"),
    ("replica-ignore-disk-write-errors", "no"),
    ("maxmemory-eviction-tenacity", "10"),
];

/// Passive settings Redis 7.0 only takes at start-up (IMMUTABLE_CONFIG).
const IMMUTABLE: &[&str] = &[
    "daemonize",
    "pidfile",
    "supervised",
    "appendfilename",
    "appenddirname",
    "always-show-logo",
    "set-proc-title",
    "disable-thp",
    "io-threads",
    "tcp-backlog",
    "enable-debug-command",
    "enable-module-command",
    "enable-protected-configs",
    "rdbchecksum",
    "replicaof",
];

/// Passive settings that take yes or no.
const YES_NO: &[&str] = &[
    "appendonly",
    "replica-ignore-disk-write-errors",
    "daemonize",
    "protected-mode",
    "activedefrag",
    "latency-tracking",
    "replica-serve-stale-data",
    "replica-read-only",
    "stop-writes-on-bgsave-error",
    "repl-diskless-sync",
    "activerehashing",
    "always-show-logo",
    "aof-load-truncated",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "disable-thp",
    "dynamic-hz",
    "jemalloc-bg-thread",
    "no-appendfsync-on-rewrite",
    "rdb-save-incremental-fsync",
    "rdbchecksum",
    "rdbcompression",
    "repl-disable-tcp-nodelay",
    "replica-lazy-flush",
    "set-proc-title",
    "rdb-del-sync-files",
    "replica-ignore-maxmemory",
    "replica-announced",
];

/// Passive integer settings whose floor is 0 in Redis 7.0 (the rest of the
/// integers take any value; these refuse negatives with Redis's message).
fn non_negative_max(name: &str) -> Option<i64> {
    const INT: i64 = i32::MAX as i64;
    Some(match name {
        "replica-priority"
        | "auto-aof-rewrite-percentage"
        | "repl-diskless-sync-delay"
        | "repl-diskless-sync-max-replicas" => INT,
        "latency-monitor-threshold"
        | "stream-node-max-entries"
        | "acllog-max-len"
        | "tracking-table-max-keys" => i64::MAX,
        _ => return None,
    })
}

/// Passive settings that take one of a few words (Redis 7.0's enums).
fn enum_choices(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "oom-score-adj" => &["no", "yes", "relative", "absolute"],
        "repl-diskless-load" => &["disabled", "on-empty-db", "swapdb"],
        "appendfsync" => &["always", "everysec", "no"],
        "supervised" => &["upstart", "systemd", "auto", "no"],
        _ => return None,
    })
}

/// A list-valued setting's words: several arguments in a config line, or
/// one space-separated string from CONFIG SET.
fn words_of(args: &[String]) -> Vec<&str> {
    match args {
        [one] => one.split_whitespace().collect(),
        _ => args.iter().map(String::as_str).collect(),
    }
}

/// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>`, one or
/// more times, updating those classes of `current` (Redis's CONFIG GET
/// form, classes normal, slave and pubsub; "replica" is an alias).
fn output_buffer_limits(current: &str, args: &[String]) -> Result<String, String> {
    const BAD: &str = "Wrong number of arguments in buffer limit configuration.";
    let words = words_of(args);
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err(BAD.into());
    }
    let mut classes: Vec<(String, String)> = current
        .split_whitespace()
        .collect::<Vec<_>>()
        .chunks(4)
        .filter(|c| c.len() == 4)
        .map(|c| (c[0].to_string(), c[1..].join(" ")))
        .collect();
    for w in words.chunks(4) {
        let class = match w[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(w[1]);
        let soft = parse_memory(w[2]);
        let secs = w[3].parse::<u64>().ok();
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        let v = format!("{hard} {soft} {secs}");
        match classes.iter_mut().find(|(c, _)| c == class) {
            Some(entry) => entry.1 = v,
            None => classes.push((class.to_string(), v)),
        }
    }
    Ok(classes
        .iter()
        .map(|(c, v)| format!("{c} {v}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Old names Redis still accepts.
fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| canonical)
}

/// Redis 7.0's old names of settings (alias, name): CONFIG GET answers a
/// pattern that matches either with that name.
pub const ALIASES: &[(&str, &str)] = &[
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-read-only", "replica-read-only"),
    ("slaveof", "replicaof"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-priority", "replica-priority"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
];

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            databases: 16,
            requirepass: String::new(),
            maxclients: 10000,
            loglevel: "notice".into(),
            logfile: String::new(),
            io_backend: "auto".into(),
            debug_fail_uring: false,
            proto_max_bulk_len: 512 * 1024 * 1024,
            notify_flags: 0,
            passive: PASSIVE_DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config_file: None,
        }
    }
}

/// Redis memory units: 1k = 1000, 1kb = 1024, and so on; plain numbers are bytes.
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| l.strip_suffix(suf).map(|n| (n.to_string(), *m)))
    .unwrap_or((l.clone(), 1));
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// An integer argument in `lo..=hi`, refused with Redis 7.0's texts.
fn int_within(v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(_) => Err(format!("argument must be between {lo} and {hi} inclusive")),
        Err(_) => Err("argument couldn't be parsed into an integer".into()),
    }
}

fn parse_yes_no(v: &str) -> Result<&'static str, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok("yes"),
        "no" => Ok("no"),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

impl Config {
    /// Apply one directive. `at_startup` allows the immutable ones (port,
    /// bind, threads, databases).
    pub fn apply(&mut self, name: &str, args: &[String], at_startup: bool) -> Result<(), String> {
        let lname = name.to_ascii_lowercase();
        let name = canonical(&lname);
        let one = || -> Result<&String, String> {
            if args.len() == 1 {
                Ok(&args[0])
            } else {
                Err("wrong number of arguments".into())
            }
        };
        let immutable = || -> Result<(), String> {
            if at_startup {
                Ok(())
            } else {
                Err("can't set immutable config".into())
            }
        };
        match name {
            "port" => {
                immutable()?;
                self.port = one()?.parse().map_err(|_| "Invalid port".to_string())?;
            }
            "bind" => {
                immutable()?;
                if args.is_empty() {
                    return Err("wrong number of arguments".into());
                }
                self.bind = args.to_vec();
            }
            "threads" | "server-threads" => {
                immutable()?;
                let n: usize = one()?
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if n == 0 || n > 1024 {
                    return Err("argument must be between 1 and 1024".into());
                }
                self.threads = n;
            }
            "databases" => {
                immutable()?;
                let n: usize = one()?
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if n == 0 || n > 1_000_000 {
                    return Err("argument must be between 1 and 1000000".into());
                }
                self.databases = n;
            }
            "io-backend" => {
                immutable()?;
                let v = one()?.to_ascii_lowercase();
                if !["auto", "uring", "epoll"].contains(&v.as_str()) {
                    return Err("argument must be 'auto', 'uring' or 'epoll'".into());
                }
                self.io_backend = v;
            }
            "debug-fail-uring" => {
                immutable()?;
                self.debug_fail_uring = parse_yes_no(one()?)? == "yes";
            }
            "requirepass" => self.requirepass = one()?.clone(),
            "maxclients" => {
                let n: usize = one()?
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if n == 0 {
                    return Err("argument must be between 1 and 4294967295".into());
                }
                self.maxclients = n;
            }
            "loglevel" => {
                let v = one()?.to_ascii_lowercase();
                if !["debug", "verbose", "notice", "warning", "nothing"].contains(&v.as_str()) {
                    return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into());
                }
                self.loglevel = v;
            }
            "logfile" => {
                immutable()?;
                self.logfile = one()?.clone();
            }
            "proto-max-bulk-len" => {
                let v = parse_memory(one()?).ok_or("argument must be a memory value")?;
                if v < 1024 * 1024 {
                    return Err("argument must be between 1048576 and 9223372036854775807".into());
                }
                self.proto_max_bulk_len = v as usize;
            }
            _ => {
                if !self.passive.contains_key(name) {
                    return Err("Bad directive or wrong number of arguments".to_string());
                }
                if IMMUTABLE.contains(&name) {
                    immutable()?;
                }
                let v = match name {
                    n if YES_NO.contains(&n) => parse_yes_no(one()?)?.to_string(),
                    "enable-debug-command"
                    | "enable-module-command"
                    | "enable-protected-configs" => {
                        let l = one()?.to_ascii_lowercase();
                        if l != "local" {
                            parse_yes_no(&l)?;
                        }
                        l
                    }
                    n if let Some(choices) = enum_choices(n) => {
                        let l = one()?.to_ascii_lowercase();
                        if !choices.contains(&l.as_str()) {
                            return Err(format!(
                                "argument(s) must be one of the following: {}",
                                choices.join(", ")
                            ));
                        }
                        l
                    }
                    "client-output-buffer-limit" => {
                        let current = self.passive.get(name).cloned().unwrap_or_default();
                        output_buffer_limits(&current, args)?
                    }
                    "oom-score-adj-values" => {
                        let words = words_of(args);
                        if words.len() != 3 {
                            return Err("wrong number of arguments".into());
                        }
                        if !words
                            .iter()
                            .all(|w| w.parse::<i32>().is_ok_and(|n| (-2000..=2000).contains(&n)))
                        {
                            return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into());
                        }
                        words.join(" ")
                    }
                    "maxmemory-clients" => {
                        // Bytes, or a percentage of maxmemory ("N%"), as
                        // CONFIG GET shows it.
                        let v = one()?;
                        match v.strip_suffix('%').map(str::parse::<u64>) {
                            Some(Ok(p)) if p > 100 => {
                                return Err(
                                    "percentage argument must be less or equal to 100".into()
                                )
                            }
                            // Stored negated by Redis: 0% reads back as 0.
                            Some(Ok(0)) if v.len() > 1 => "0".to_string(),
                            Some(Ok(p)) if v.len() > 1 => format!("{p}%"),
                            _ => parse_memory(v)
                                .ok_or("argument must be a memory or percent value")?
                                .to_string(),
                        }
                    }
                    "auto-aof-rewrite-min-size"
                    | "hll-sparse-max-bytes"
                    | "stream-node-max-bytes" => parse_memory(one()?)
                        .ok_or("argument must be a memory value")?
                        .to_string(),
                    "appenddirname" | "appendfilename" => {
                        let v = one()?;
                        let what = if name == "appendfilename" {
                            "filename"
                        } else {
                            "dirname"
                        };
                        if v.is_empty() {
                            return Err(format!("{name} can't be empty"));
                        }
                        if v.contains('/') || v.contains('\\') {
                            return Err(format!("{name} can't be a path, just a {what}"));
                        }
                        v.clone()
                    }
                    "pidfile" | "proc-title-template" => one()?.clone(),
                    n if n.starts_with("lazyfree") => parse_yes_no(one()?)?.to_string(),
                    "save" => args.join(" "),
                    "maxmemory" | "client-query-buffer-limit" => parse_memory(one()?)
                        .ok_or("argument must be a memory value")?
                        .to_string(),
                    "maxmemory-policy" => crate::memory::Policy::parse(one()?)
                        .ok_or_else(crate::memory::Policy::choices)?
                        .name()
                        .to_string(),
                    "maxmemory-samples" | "lfu-log-factor" | "lfu-decay-time" => {
                        // Redis 7.0's ranges.
                        let lo = i64::from(name == "maxmemory-samples");
                        let v = one()?;
                        int_within(v, lo, i32::MAX as i64)?;
                        v.clone()
                    }
                    "notify-keyspace-events" => {
                        let f = crate::notify::parse(one()?.as_bytes())
                            .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
                        self.notify_flags = f;
                        crate::notify::format(f)
                    }
                    // Redis 7.0 takes 0..=INT_MAX and keeps it within
                    // 1..=500 (updateHZ), which CONFIG GET then shows.
                    "hz" => int_within(one()?, 0, i32::MAX as i64)?
                        .clamp(1, 500)
                        .to_string(),
                    "dir" | "dbfilename" | "masterauth" | "masteruser" | "replica-announce-ip" => {
                        one()?.clone()
                    }
                    "replicaof" => replicaof_value(args)?,
                    _ => {
                        let v = one()?;
                        let n = v.parse::<i64>().map_err(|_| {
                            "argument couldn't be parsed into an integer".to_string()
                        })?;
                        if let Some(max) = non_negative_max(name) {
                            if !(0..=max).contains(&n) {
                                return Err(format!(
                                    "argument must be between 0 and {max} inclusive"
                                ));
                            }
                        }
                        v.clone()
                    }
                };
                // One setting under two names in Redis 7.0.
                if let Some(twin) = match name {
                    "lua-time-limit" => Some("busy-reply-threshold"),
                    "busy-reply-threshold" => Some("lua-time-limit"),
                    _ => None,
                } {
                    self.passive.insert(twin.to_string(), v.clone());
                }
                self.passive.insert(name.to_string(), v);
            }
        }
        Ok(())
    }

    /// Push the encoding thresholds (listpack sizes...) to where the types
    /// read them. Only once a whole CONFIG SET has succeeded: applied per
    /// parameter, a command refused on a later one left the thresholds
    /// changed while CONFIG GET still showed the old values.
    pub fn apply_limits(&self) {
        for (k, v) in &self.passive {
            crate::types::limits::Limits::apply(k, v);
        }
    }

    /// (maxmemory, policy, maxmemory-samples, lfu-log-factor, lfu-decay-time).
    pub fn memory_settings(&self) -> (u64, crate::memory::Policy, u32, u32, u32) {
        let get = |k: &str| self.passive.get(k).map(String::as_str).unwrap_or("");
        // Range-checked to 0..=i32::MAX when set.
        let num = |k: &str, d: i64| self.int(k, d).clamp(0, u32::MAX as i64) as u32;
        (
            parse_memory(get("maxmemory")).unwrap_or(0),
            crate::memory::Policy::parse(get("maxmemory-policy"))
                .unwrap_or(crate::memory::Policy::NoEviction),
            num("maxmemory-samples", 5),
            num("lfu-log-factor", 10),
            num("lfu-decay-time", 1),
        )
    }

    /// A numeric setting kept as text (`passive`); `default` if absent.
    /// Values were validated as integers when set.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.passive
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Whether writes must be refused for lack of replicas: Redis refuses
    /// them when min-replicas-to-write and min-replicas-max-lag are both
    /// set and fewer good replicas are connected; halocline has none.
    pub fn writes_need_replicas(&self) -> bool {
        self.int("min-replicas-to-write", 0) > 0 && self.int("min-replicas-max-lag", 10) > 0
    }

    /// Every (name, value) pair CONFIG GET can report.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("port".to_string(), self.port.to_string()),
            ("bind".to_string(), self.bind.join(" ")),
            ("server-threads".to_string(), self.threads.to_string()),
            ("databases".to_string(), self.databases.to_string()),
            ("requirepass".to_string(), self.requirepass.clone()),
            ("maxclients".to_string(), self.maxclients.to_string()),
            ("loglevel".to_string(), self.loglevel.clone()),
            ("logfile".to_string(), self.logfile.clone()),
            ("io-backend".to_string(), self.io_backend.clone()),
            (
                "proto-max-bulk-len".to_string(),
                self.proto_max_bulk_len.to_string(),
            ),
        ];
        for (k, val) in &self.passive {
            v.push((k.clone(), val.clone()));
        }
        v
    }

    /// Parse a config file's text. Errors name the line, like redis-server.
    pub fn load_str(&mut self, text: &str, origin: &str) -> Result<(), String> {
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let mut scratch = Vec::new();
            let mut ranges = Vec::new();
            if split_args(t.as_bytes(), &mut scratch, &mut ranges).is_err() {
                return Err(format!(
                    "*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line {} ({origin})\n>>> '{}'\nUnbalanced quotes in configuration line",
                    i + 1,
                    t
                ));
            }
            let words: Vec<String> = ranges
                .iter()
                .map(|r| String::from_utf8_lossy(&scratch[r.clone()]).into_owned())
                .collect();
            if words.is_empty() {
                continue;
            }
            if let Err(e) = self.apply(&words[0], &words[1..], true) {
                return Err(format!(
                    "*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line {} ({origin})\n>>> '{}'\n{}",
                    i + 1,
                    t,
                    e
                ));
            }
        }
        Ok(())
    }

    /// `halocline [config-file] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config::default();
        let mut rest = args;
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
                cfg.load_str(&text, first)?;
                cfg.config_file = Some(first.clone());
                rest = &rest[1..];
            }
        }
        // Flags become config lines appended after the file.
        let mut lines = String::new();
        for a in rest {
            if let Some(name) = a.strip_prefix("--") {
                if !lines.is_empty() {
                    lines.push('\n');
                }
                lines.push_str(name);
            } else {
                if lines.is_empty() {
                    return Err(format!(
                        "Invalid argument '{a}': options must start with --"
                    ));
                }
                lines.push(' ');
                lines.push_str(&quote(a));
            }
        }
        cfg.load_str(&lines, "command line")?;
        Ok(cfg)
    }
}

/// `replicaof <host> <port>` (or one quoted "host port" argument, as
/// `--replicaof "host port"` gives), `replicaof no one` for none: stored
/// as "host port" or "", as CONFIG GET shows it.
fn replicaof_value(args: &[String]) -> Result<String, String> {
    let words = words_of(args);
    let [host, port] = words[..] else {
        return Err("wrong number of arguments".into());
    };
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return Ok(String::new());
    }
    // strtol's grammar, as Redis reads it: a sign is allowed.
    match port.parse::<i64>() {
        Ok(p) if (0..=65535).contains(&p) => Ok(format!("{host} {p}")),
        _ => Err("Invalid master port".into()),
    }
}

fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_override_defaults() {
        let c = Config::from_args(&s(&[
            "--port",
            "7000",
            "--bind",
            "127.0.0.1",
            "::1",
            "--threads",
            "3",
        ]))
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.threads, 3);
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("halocline-cfg-{}", std::process::id()));
        std::fs::write(
            &dir,
            "# comment\nport 6380\nrequirepass \"a b\"\n\ndatabases 4\n",
        )
        .unwrap();
        let c = Config::from_args(&s(&[dir.to_str().unwrap(), "--port", "6390"])).unwrap();
        std::fs::remove_file(&dir).ok();
        assert_eq!(c.port, 6390);
        assert_eq!(c.requirepass, "a b");
        assert_eq!(c.databases, 4);
    }

    #[test]
    fn errors_name_the_line() {
        let mut c = Config::default();
        let e = c.load_str("port 1\nnosuchthing 3\n", "x.conf").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = c.load_str("port abc\n", "x.conf").unwrap_err();
        assert!(e.contains("line 1") && e.contains("Invalid port"), "{e}");
        assert!(Config::from_args(&s(&["--threads", "0"])).is_err());
        assert!(Config::from_args(&s(&["--port"])).is_err());
    }

    /// Every directive Redis 7.0's stock redis.conf sets (as Debian ships
    /// it), with its values: a user's existing file must load. Before,
    /// 35 of its 71 lines were refused, from `pidfile` on.
    #[test]
    fn a_stock_redis_7_config_loads() {
        let text = [
            "bind 127.0.0.1 -::1",
            "protected-mode yes",
            "port 6379",
            "tcp-backlog 511",
            "timeout 0",
            "tcp-keepalive 300",
            "daemonize yes",
            "pidfile /run/redis/redis-server.pid",
            "loglevel notice",
            "databases 16",
            "always-show-logo no",
            "set-proc-title yes",
            "proc-title-template \"{title} {listen-addr} {server-mode}\"",
            "stop-writes-on-bgsave-error yes",
            "rdbcompression yes",
            "rdbchecksum yes",
            "dbfilename dump.rdb",
            "rdb-del-sync-files no",
            "dir /var/lib/redis",
            "replica-serve-stale-data yes",
            "replica-read-only yes",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 5",
            "repl-diskless-sync-max-replicas 0",
            "repl-diskless-load disabled",
            "repl-disable-tcp-nodelay no",
            "replica-priority 100",
            "acllog-max-len 128",
            "lazyfree-lazy-eviction no",
            "lazyfree-lazy-expire no",
            "lazyfree-lazy-server-del no",
            "replica-lazy-flush no",
            "lazyfree-lazy-user-del no",
            "lazyfree-lazy-user-flush no",
            "oom-score-adj no",
            "oom-score-adj-values 0 200 800",
            "disable-thp yes",
            "appendonly no",
            "appendfilename \"appendonly.aof\"",
            "appenddirname \"appendonlydir\"",
            "appendfsync everysec",
            "no-appendfsync-on-rewrite no",
            "auto-aof-rewrite-percentage 100",
            "auto-aof-rewrite-min-size 64mb",
            "aof-load-truncated yes",
            "aof-use-rdb-preamble yes",
            "aof-timestamp-enabled no",
            "slowlog-log-slower-than 10000",
            "slowlog-max-len 128",
            "latency-monitor-threshold 0",
            "notify-keyspace-events \"\"",
            "hash-max-listpack-entries 512",
            "hash-max-listpack-value 64",
            "list-max-listpack-size -2",
            "list-compress-depth 0",
            "set-max-intset-entries 512",
            "zset-max-listpack-entries 128",
            "zset-max-listpack-value 64",
            "hll-sparse-max-bytes 3000",
            "stream-node-max-bytes 4096",
            "stream-node-max-entries 100",
            "activerehashing yes",
            "client-output-buffer-limit normal 0 0 0",
            "client-output-buffer-limit replica 256mb 64mb 60",
            "client-output-buffer-limit pubsub 32mb 8mb 60",
            "hz 10",
            "dynamic-hz yes",
            "aof-rewrite-incremental-fsync yes",
            "rdb-save-incremental-fsync yes",
            "jemalloc-bg-thread yes",
        ]
        .join("\n");
        let mut c = Config::default();
        c.load_str(&text, "redis.conf").unwrap();
        assert_eq!(c.passive["pidfile"], "/run/redis/redis-server.pid");
        assert_eq!(c.passive["auto-aof-rewrite-min-size"], "67108864");
        assert_eq!(
            c.passive["client-output-buffer-limit"],
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        // Values are still checked as Redis checks them.
        for bad in [
            "rdbcompression maybe",
            "repl-diskless-load sometimes",
            "appendfsync often",
            "oom-score-adj-values 0 200",
            "client-output-buffer-limit normal 0 0",
            "client-output-buffer-limit other 0 0 0",
            "auto-aof-rewrite-min-size lots",
        ] {
            assert!(c.load_str(bad, "x.conf").is_err(), "{bad}");
        }
        // Redis 7.0's messages for the new kinds of values.
        for (name, value, want) in [
            (
                "replica-priority",
                "-1",
                "argument must be between 0 and 2147483647 inclusive",
            ),
            (
                "latency-monitor-threshold",
                "-5",
                "argument must be between 0 and 9223372036854775807 inclusive",
            ),
            (
                "appendfilename",
                "a/b",
                "appendfilename can't be a path, just a filename",
            ),
            ("appendfilename", "", "appendfilename can't be empty"),
            (
                "appenddirname",
                "x/y",
                "appenddirname can't be a path, just a dirname",
            ),
            (
                "rdb-del-sync-files",
                "maybe",
                "argument must be 'yes' or 'no'",
            ),
            (
                "supervised",
                "sometimes",
                "argument(s) must be one of the following: upstart, systemd, auto, no",
            ),
            (
                "oom-score-adj-values",
                "0 200 9000",
                "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
            ),
            ("oom-score-adj-values", "0 200", "wrong number of arguments"),
            (
                "maxmemory-clients",
                "101%",
                "percentage argument must be less or equal to 100",
            ),
        ] {
            let got = c.apply(name, &[value.to_string()], true).unwrap_err();
            assert_eq!(got, want, "{name} {value}");
        }
        c.apply("maxmemory-clients", &["0%".into()], true).unwrap();
        assert_eq!(c.passive["maxmemory-clients"], "0", "0% reads back as 0");
    }

    /// `replicaof` as a file line, a quoted flag, its alias; Redis's
    /// errors; immutable at run time.
    #[test]
    fn replicaof_directive() {
        let c = Config::from_args(&s(&["--replicaof", "10.0.0.1 6380"])).unwrap();
        assert_eq!(c.passive["replicaof"], "10.0.0.1 6380");
        let c = Config::from_args(&s(&["--slaveof", "h", "7000"])).unwrap();
        assert_eq!(c.passive["replicaof"], "h 7000");
        let c = Config::from_args(&s(&["--replicaof", "h", "+1"])).unwrap();
        assert_eq!(c.passive["replicaof"], "h 1");
        let c = Config::from_args(&s(&["--replicaof", "no", "one"])).unwrap();
        assert_eq!(c.passive["replicaof"], "");
        let mut c = Config::default();
        for (args, want) in [
            (&["h", "70000"][..], "Invalid master port"),
            (&["h", "-1"], "Invalid master port"),
            (&["h", "1x"], "Invalid master port"),
            (&["h"], "wrong number of arguments"),
        ] {
            assert_eq!(c.apply("replicaof", &s(args), true), Err(want.into()));
        }
        assert_eq!(
            c.apply("replicaof", &s(&["h 1"]), false),
            Err("can't set immutable config".into())
        );
        c.apply("masterauth", &s(&["secret word"]), false).unwrap();
        assert_eq!(c.passive["masterauth"], "secret word");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("x"), None);
    }
}
