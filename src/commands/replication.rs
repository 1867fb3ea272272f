//! Replication commands, master side: SYNC, PSYNC, REPLCONF, ROLE (the
//! snapshot and stream themselves: `reactor::replicate`).

use super::conn::{ConnAction, ConnCtx};
use super::ctx::{arg_i64, eq_ic};
use crate::protocol::Args;
use std::sync::atomic::Ordering;

pub fn sync(c: &mut ConnCtx, _a: Args) {
    start_sync(c, false);
}

/// PSYNC replid offset: no backlog is kept, so every request is a full
/// resynchronization (+FULLRESYNC), which every Redis replica accepts.
pub fn psync(c: &mut ConnCtx, _a: Args) {
    start_sync(c, true);
}

fn start_sync(c: &mut ConnCtx, psync: bool) {
    // A replica asking again on its stream connection is ignored, as
    // Redis does.
    if c.client.replica {
        return;
    }
    if c.shared.repl.is_replica.load(Ordering::Relaxed) {
        return c
            .r
            .error("NOMASTERLINK Can't SYNC while not connected with my master");
    }
    c.action = ConnAction::Sync { psync };
}

/// WAIT numreplicas timeout.
pub fn wait(c: &mut ConnCtx, a: Args) {
    if c.shared.repl.is_replica.load(Ordering::Relaxed) {
        return c.r.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let Some(replicas) = arg_i64(a.get(1)) else {
        return c.r.error("ERR value is not an integer or out of range");
    };
    let timeout = match arg_i64(a.get(2)) {
        Some(t) if t >= 0 => t as u64,
        Some(_) => return c.r.error("ERR timeout is negative"),
        None => return c.r.error("ERR timeout is not an integer or out of range"),
    };
    // From the clock now, not the command's cached one (up to a loop turn
    // old), and one millisecond on: the clock counts whole milliseconds,
    // so a deadline of now + timeout could pass up to 1 ms early.
    let deadline = if timeout == 0 {
        0
    } else {
        crate::server::now_ms() + timeout + 1
    };
    c.action = ConnAction::Wait {
        replicas: replicas.max(0) as usize,
        deadline,
    };
}

pub fn replconf(c: &mut ConnCtx, a: Args) {
    if a.len().is_multiple_of(2) {
        return c.r.error("ERR syntax error");
    }
    let mut i = 1;
    while i + 1 < a.len() {
        let (opt, val) = (a.get(i), a.get(i + 1));
        if eq_ic(opt, "listening-port") {
            match arg_i64(val).filter(|p| (0..=65535).contains(p)) {
                Some(p) => c.client.replica_port = p as u16,
                None => return c.r.error("ERR value is not an integer or out of range"),
            }
        } else if eq_ic(opt, "ack") {
            // Only from an attached replica, and never answered: the
            // replica does not read replies on its stream.
            if c.client.replica {
                if let Some(off) = arg_i64(val).filter(|v| *v >= 0) {
                    c.shared
                        .repl
                        .primary
                        .ack(c.reactor, c.client.id, off as u64, c.now);
                }
            }
            return;
        } else if eq_ic(opt, "getack") {
            // Asked of replicas by their master; this one is not a replica.
            return;
        } else if !(eq_ic(opt, "ip-address")
            || eq_ic(opt, "capa")
            || eq_ic(opt, "rdb-only")
            || eq_ic(opt, "rdb-filter-only"))
        {
            return c.r.error(&format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            ));
        }
        i += 2;
    }
    c.r.ok();
}

/// ROLE as a master: offset and each replica's address and acknowledged
/// offset.
pub fn role(c: &mut ConnCtx, _a: Args) {
    if let Some(st) = crate::replication::replica::status(c.shared) {
        c.r.array(5);
        c.r.bulk(b"slave");
        c.r.bulk(st.host.as_bytes());
        c.r.int(i64::from(st.port));
        c.r.bulk(st.state.name().as_bytes());
        c.r.int(st.role_offset());
        return;
    }
    let (_, offset, replicas) = c.shared.repl.primary.info(c.now);
    c.r.array(3);
    c.r.bulk(b"master");
    c.r.int(offset as i64);
    c.r.array(replicas.len());
    for r in replicas {
        c.r.array(3);
        c.r.bulk(r.ip.as_bytes());
        c.r.bulk(r.port.to_string().as_bytes());
        c.r.bulk(r.offset.to_string().as_bytes());
    }
}

/// INFO's replication section.
pub fn info_section(shared: &crate::server::Shared, now: u64) -> String {
    let (replid, offset, replicas) = shared.repl.primary.info(now);
    let role = crate::replication::replica::info_role_lines(shared);
    let mut s = format!(
        "# Replication\r\n{role}connected_slaves:{}\r\n",
        replicas.len()
    );
    for (i, r) in replicas.iter().enumerate() {
        s.push_str(&format!(
            "slave{i}:ip={},port={},state=online,offset={},lag={}\r\n",
            r.ip, r.port, r.offset, r.lag_s
        ));
    }
    s.push_str(&format!(
        "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n"
    ));
    s
}
