//! This server as a replica: REPLICAOF / SLAVEOF, the command gate a
//! replica puts in front of ordinary clients (READONLY, MASTERDOWN,
//! LOADING), and what INFO replication and ROLE report.
//!
//! A REPLICAOF starts a *session*: one thread (`link`) that connects to
//! the master, handshakes as a Redis 7.0 replica does, loads the snapshot
//! and applies the write stream, reconnecting until the session ends
//! (REPLICAOF NO ONE, another REPLICAOF, shutdown). Its commands reach the
//! keyspace through a connection of reactor 0 like any client's (`feed`):
//! the master's MULTI/EXEC, SELECT and multi-key commands then get exactly
//! the routing and cross-shard atomicity a client's get. That connection
//! is flagged with the session (`Client::master`): it passes the gate, and
//! once its session is over, whatever it still has buffered is dropped, so
//! nothing from an old master lands after REPLICAOF NO ONE has answered.

mod feed;
mod link;

use super::State;
use crate::commands::conn::{ConnAction, ConnCtx};
use crate::commands::ctx::eq_ic;
use crate::commands::table::Command;
use crate::config::Config;
use crate::protocol::{parse_i64, Args};
use crate::reactor::client::Client;
use crate::server::{now_ms, Shared};
use crate::tx::fanout::{all_shards, Plan, Step};
use crate::tx::ShardOp;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub const READONLY: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
/// What a client blocked on keys gets when this server becomes a replica
/// (Redis's disconnectAllBlockedClients): the master's writes would
/// otherwise feed pops the master never made.
pub const UNBLOCKED: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// Replica-side state. The gate reads the atomics (only once
/// `State::is_replica` says this server is one); the rest changes under
/// the lock, a few times per session.
pub struct Replica {
    /// The session whose master connection may apply commands; 0 while
    /// this server is a master.
    pub session: AtomicU64,
    /// Connected to the master and in sync (Redis's REPL_STATE_CONNECTED).
    pub link_up: AtomicBool,
    /// The master's snapshot is being applied.
    pub loading: AtomicBool,
    /// replica-read-only, replica-serve-stale-data,
    /// replica-ignore-maxmemory (`configure`).
    pub read_only: AtomicBool,
    pub serve_stale: AtomicBool,
    pub ignore_maxmemory: AtomicBool,
    current: Mutex<Current>,
    /// The server itself, for the link thread (`start` sets it).
    shared: OnceLock<Weak<Shared>>,
}

#[derive(Default)]
struct Current {
    link: Option<Arc<link::Link>>,
    last_session: u64,
}

impl Default for Replica {
    fn default() -> Self {
        Replica {
            session: AtomicU64::new(0),
            link_up: AtomicBool::new(false),
            loading: AtomicBool::new(false),
            read_only: AtomicBool::new(true),
            serve_stale: AtomicBool::new(true),
            ignore_maxmemory: AtomicBool::new(true),
            current: Mutex::new(Current::default()),
            shared: OnceLock::new(),
        }
    }
}

impl Replica {
    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settings the gate reads without the config lock (start-up, CONFIG SET).
    pub fn configure(&self, cfg: &Config) {
        let yes = |k: &str, default: bool| {
            cfg.passive
                .get(k)
                .map_or(default, |v| v.eq_ignore_ascii_case("yes"))
        };
        self.read_only
            .store(yes("replica-read-only", true), Ordering::Relaxed);
        self.serve_stale
            .store(yes("replica-serve-stale-data", true), Ordering::Relaxed);
        self.ignore_maxmemory
            .store(yes("replica-ignore-maxmemory", true), Ordering::Relaxed);
    }

    /// Run `f` if `l` is still the current session's link: a link thread
    /// that was replaced must not touch the flags of its successor.
    fn if_current(&self, l: &link::Link, f: impl FnOnce(&Replica)) {
        let g = self.lock();
        if g.link.as_ref().is_some_and(|c| c.session == l.session) {
            f(self);
        }
    }

    /// The master being replicated: (host, port).
    pub fn master(&self) -> Option<(String, u16)> {
        self.lock().link.as_ref().map(|l| (l.host.clone(), l.port))
    }
}

/// What the gate decides for a command.
pub enum Gate {
    Run,
    /// A leftover of an ended session's master connection: dropped
    /// silently (its replies go nowhere anyway).
    Drop,
    Refuse(&'static str),
}

/// The checks Redis's processCommand makes on a replica, in its order:
/// writes from ordinary clients are refused while replica-read-only is
/// yes; with the link down and replica-serve-stale-data no, anything
/// without the `stale` flag; while the snapshot loads, anything without
/// `loading`. EXEC answers for its queued commands. Called only when this
/// server is a replica or the client is a master connection, so the hot
/// path pays one relaxed load for it.
#[cold]
pub fn gate(repl: &State, client: &Client, cmd: &Command) -> Gate {
    let r = &repl.replica;
    if client.master != 0 {
        return if client.master == r.session.load(Ordering::Acquire) {
            Gate::Run
        } else {
            Gate::Drop
        };
    }
    if !repl.is_replica.load(Ordering::Relaxed) {
        return Gate::Run;
    }
    let queued = if cmd.name == "exec" {
        client.multi.as_ref()
    } else {
        None
    };
    if r.read_only.load(Ordering::Relaxed) && (cmd.write || queued.is_some_and(|m| m.write)) {
        return Gate::Refuse(READONLY);
    }
    if !r.link_up.load(Ordering::Relaxed)
        && !r.serve_stale.load(Ordering::Relaxed)
        && (!cmd.stale || queued.is_some_and(|m| m.denystale))
    {
        return Gate::Refuse(MASTERDOWN);
    }
    if r.loading.load(Ordering::Relaxed) && (!cmd.loading || queued.is_some_and(|m| m.denyloading))
    {
        return Gate::Refuse(LOADING);
    }
    Gate::Run
}

/// A master connection for reactor 0 to take in (`Msg::AdoptMaster`): its
/// end of the socket pair the link thread writes the master's commands
/// into.
pub struct Adopt {
    pub fd: std::os::fd::RawFd,
    pub session: u64,
    /// The master's address, as CLIENT LIST shows a master client's.
    pub addr: String,
}

/// Bind the replication state to its server, so that REPLICAOF can start
/// sessions: before the listeners serve anyone (a REPLICAOF that came
/// first was refused as "not available").
pub fn attach(shared: &Arc<Shared>) {
    let _ = shared.repl.replica.shared.set(Arc::downgrade(shared));
}

/// If the configuration names a master (`replicaof host port`), start
/// replicating it (after the reactors: the link hands its connection to
/// reactor 0).
pub fn start(shared: &Arc<Shared>) {
    attach(shared);
    let configured = shared
        .config()
        .passive
        .get("replicaof")
        .cloned()
        .unwrap_or_default();
    if let Some((host, port)) = parse_replicaof(&configured) {
        if let Err(e) = set_master(shared, &host, port) {
            log::warn!("replicaof {host} {port}: {e}");
        }
    }
}

/// The `replicaof` directive's value ("host port", "" for none), as the
/// config parser validated it.
fn parse_replicaof(v: &str) -> Option<(String, u16)> {
    let mut w = v.split_whitespace();
    let (host, port) = (w.next()?, w.next()?.parse().ok()?);
    Some((host.to_string(), port))
}

/// Stop replicating at shutdown: the link thread closes its connection
/// (the master sees this replica leave at once) and exits; waited for at
/// most a second, since the process is about to exit anyway.
pub fn shutdown(shared: &Shared) {
    let link = shared.repl.replica.lock().link.clone();
    if let Some(l) = link {
        l.stop();
        l.join_for(std::time::Duration::from_secs(1));
    }
}

/// Become a replica of `host:port`: end any current session, start a new
/// one. Data is kept until the new master's snapshot replaces it.
pub fn set_master(shared: &Shared, host: &str, port: u16) -> Result<(), String> {
    let r = &shared.repl.replica;
    let Some(owner) = r.shared.get().and_then(Weak::upgrade) else {
        return Err("replication is not available in this process".into());
    };
    {
        let mut g = r.lock();
        if let Some(old) = g.link.take() {
            old.stop();
        }
        g.last_session += 1;
        let l = Arc::new(link::Link::new(g.last_session, host, port));
        r.link_up.store(false, Ordering::Relaxed);
        r.loading.store(false, Ordering::Relaxed);
        r.session.store(l.session, Ordering::Release);
        shared.repl.is_replica.store(true, Ordering::Release);
        // Our own replicas resynchronize (they would follow a history that
        // is not the new master's), as Redis's disconnectSlaves; their
        // reactors close them at their next tick.
        shared.repl.primary.drop_all();
        let l2 = l.clone();
        let handle = std::thread::Builder::new()
            .name("replica-link".into())
            .spawn(move || link::run(owner, l2))
            .map_err(|e| format!("cannot start the replication thread: {e}"))?;
        l.set_thread(handle);
        g.link = Some(l);
    }
    shared
        .config_mut()
        .passive
        .insert("replicaof".into(), format!("{host} {port}"));
    Ok(())
}

/// Become a master again, keeping the data.
pub fn unset_master(shared: &Shared) {
    let r = &shared.repl.replica;
    {
        let mut g = r.lock();
        if let Some(old) = g.link.take() {
            old.stop();
        }
        r.session.store(0, Ordering::Release);
        r.link_up.store(false, Ordering::Relaxed);
        r.loading.store(false, Ordering::Relaxed);
        shared.repl.is_replica.store(false, Ordering::Release);
    }
    shared
        .config_mut()
        .passive
        .insert("replicaof".into(), String::new());
}

/// REPLICAOF host port | REPLICAOF NO ONE (and SLAVEOF), with Redis 7.0's
/// replies.
pub fn replicaof(c: &mut ConnCtx, a: Args) {
    let (host, port) = (a.get(1), a.get(2));
    let who = format!("id={} addr={}", c.client.id, c.client.addr);
    if eq_ic(host, "no") && eq_ic(port, "one") {
        if c.shared.repl.is_replica.load(Ordering::Acquire) {
            unset_master(c.shared);
            log::info!("MASTER MODE enabled (user request from '{who}')");
        }
        return c.r.ok();
    }
    let port = match parse_i64(port) {
        Some(p) if (0..=65535).contains(&p) => p as u16,
        _ => return c.r.error("ERR Invalid master port"),
    };
    let host = String::from_utf8_lossy(host).into_owned();
    if let Some((h, p)) = c.shared.repl.replica.master() {
        if h.eq_ignore_ascii_case(&host) && p == port {
            log::info!(
                "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed."
            );
            return c.r.simple("OK Already connected to specified master");
        }
    }
    if let Err(e) = set_master(c.shared, &host, port) {
        return c.r.error(&format!("ERR {e}"));
    }
    log::info!("REPLICAOF {host}:{port} enabled (user request from '{who}')");
    // Clients blocked on keys (on every reactor) get UNBLOCKED and are
    // disconnected, as in Redis; then the OK.
    c.action = ConnAction::Plan(Plan {
        ops: all_shards(c.shared.nshards, |_| ShardOp::UnblockAll),
        barrier: false,
        finish: Box::new(|_, r| {
            r.ok();
            Step::Done
        }),
    });
}

/// Where the link is, as ROLE names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkState {
    Connect,
    Connecting,
    Handshake,
    /// Receiving or loading the snapshot.
    Sync,
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// A replica's replication status, for INFO replication and ROLE.
#[derive(Clone, Debug)]
pub struct Status {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// master_link_status:up
    pub link_up: bool,
    /// Seconds since the master last sent anything; -1 without a
    /// connected master (master_last_io_seconds_ago).
    pub last_io_seconds: i64,
    /// Receiving or loading a snapshot (master_sync_in_progress).
    pub sync_in_progress: bool,
    /// The master's offset of the last byte read from it
    /// (slave_read_repl_offset), and of the last command applied
    /// (slave_repl_offset; what REPLCONF ACK reports). Commands of an
    /// open MULTI count once its EXEC is applied, as in Redis.
    pub read_offset: i64,
    pub offset: i64,
    /// Seconds the link has been down since it was last up; -1 if it
    /// never was (master_link_down_since_seconds, shown while down).
    pub down_since_seconds: i64,
    /// While receiving a snapshot: (total bytes, bytes read, seconds since
    /// the last byte) for master_sync_total_bytes and the rest.
    pub transfer: Option<(i64, i64, i64)>,
    /// The replication id of the master's history being followed ("" before
    /// the first sync).
    pub master_replid: String,
}

impl Status {
    /// ROLE's fourth and fifth elements: the state, and the applied offset
    /// (-1 without a connected master).
    pub fn role_offset(&self) -> i64 {
        if self.link_up {
            self.offset
        } else {
            -1
        }
    }

    /// INFO replication's replica lines, from `role:slave` to
    /// `replica_announced` (what Redis prints before `connected_slaves`).
    pub fn info_lines(&self, cfg: &Config) -> String {
        let mut s = format!(
            "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
            self.host,
            self.port,
            if self.link_up { "up" } else { "down" },
            self.last_io_seconds,
            u8::from(self.sync_in_progress),
            self.read_offset,
            self.offset,
        );
        if let Some((total, read, idle)) = self.transfer {
            let perc = if total > 0 {
                read as f64 / total as f64 * 100.0
            } else {
                0.0
            };
            s.push_str(&format!(
                "master_sync_total_bytes:{total}\r\nmaster_sync_read_bytes:{read}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{idle}\r\n",
                total - read
            ));
        }
        if !self.link_up {
            s.push_str(&format!(
                "master_link_down_since_seconds:{}\r\n",
                self.down_since_seconds
            ));
        }
        let yes = |k: &str, d: bool| cfg.passive.get(k).map_or(d, |v| v == "yes");
        s.push_str(&format!(
            "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
            cfg.int("replica-priority", 100),
            u8::from(yes("replica-read-only", true)),
            u8::from(yes("replica-announced", true)),
        ));
        s
    }
}

/// This server's replica status; None while it is a master.
pub fn status(shared: &Shared) -> Option<Status> {
    let r = &shared.repl.replica;
    let l = r.lock().link.clone()?;
    let now = now_ms();
    let secs = |ms: u64| (now.saturating_sub(ms) / 1000) as i64;
    let state = l.state();
    let link_up = r.link_up.load(Ordering::Relaxed);
    let down = l.down_since_ms.load(Ordering::Relaxed);
    Some(Status {
        host: l.host.clone(),
        port: l.port,
        state,
        link_up,
        last_io_seconds: if link_up {
            secs(l.last_io_ms.load(Ordering::Relaxed))
        } else {
            -1
        },
        sync_in_progress: state == LinkState::Sync,
        read_offset: l.read_offset.load(Ordering::Relaxed),
        offset: l.offset.load(Ordering::Relaxed),
        down_since_seconds: if down == 0 { -1 } else { secs(down) },
        transfer: (state == LinkState::Sync).then(|| {
            (
                l.transfer_size.load(Ordering::Relaxed),
                l.transfer_read.load(Ordering::Relaxed),
                secs(l.last_io_ms.load(Ordering::Relaxed)),
            )
        }),
        master_replid: l.replid(),
    })
}

/// INFO's `# Replication` body up to `connected_slaves` for this server
/// as it is now: the replica lines, or `role:master`.
pub fn info_role_lines(shared: &Shared) -> String {
    match status(shared) {
        Some(s) => s.info_lines(&shared.config()),
        None => "role:master\r\n".into(),
    }
}
