//! Per-connection client state that commands see (Redis's `client` struct,
//! minus the I/O, which belongs to the reactor).

use crate::protocol::Proto;

pub struct Client {
    pub id: u64,
    pub db: usize,
    pub proto: Proto,
    pub authed: bool,
    pub name: Vec<u8>,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    /// In MONITOR mode: every command run from now on is sent to it.
    pub monitor: bool,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: u64,
    /// The last command (CLIENT LIST's `cmd=`), as its table entry (a
    /// subcommand's, `config|get`): copying its name into a string per
    /// command was ~3% of a pipelined GET. None, as Redis's NULL, after an
    /// unknown command or subcommand.
    pub last_cmd: Option<&'static crate::commands::table::Command>,
    pub last_interaction_ms: u64,
    /// Commands queued since MULTI.
    pub multi: Option<crate::tx::multi::MultiState>,
    pub watch: Option<crate::tx::multi::WatchState>,
    /// Bytes of the input being processed (CLIENT LIST's `qbuf`): Redis
    /// reports its query buffer as read, the running command included
    /// (26 for a client's own `CLIENT LIST`), so do we while it runs.
    pub qbuf: usize,
    /// A replica attached with SYNC/PSYNC: its connection carries the
    /// write stream, and its own commands (REPLCONF ACK) get no reply.
    pub replica: bool,
    /// REPLCONF listening-port, sent before PSYNC.
    pub replica_port: u16,
    /// Pub/Sub channels and patterns (None: not subscribed).
    pub subs: Option<Box<crate::commands::pubsub::Subscriptions>>,
    /// The replication session whose master's commands this connection
    /// applies (`replication::replica`); 0 for every other client.
    pub master: u64,
    /// CLIENT REPLY: whose replies are dropped.
    pub reply: ReplyMode,
    /// CLIENT TRACKING ON: its reads are tracked (`crate::tracking`).
    pub tracking: Option<Box<crate::tracking::Settings>>,
}

/// CLIENT REPLY's state (Redis's CLIENT_REPLY_OFF/SKIP/SKIP_NEXT flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    /// No replies until CLIENT REPLY ON.
    Off,
    /// CLIENT REPLY SKIP just ran: the next command's reply is dropped.
    SkipNext,
    /// This command's reply is dropped, then replies are on again.
    Skip,
}

impl ReplyMode {
    /// Whether the command about to run answers nothing.
    #[inline]
    pub fn drops(self) -> bool {
        matches!(self, ReplyMode::Off | ReplyMode::Skip)
    }

    /// The mode for the command after this one.
    pub fn after_command(self) -> ReplyMode {
        match self {
            ReplyMode::SkipNext => ReplyMode::Skip,
            ReplyMode::Skip => ReplyMode::On,
            m => m,
        }
    }
}

impl Client {
    #[inline]
    pub fn set_last_cmd(
        &mut self,
        cmd: &'static crate::commands::table::Command,
        args: crate::protocol::Args,
    ) {
        // Redis's lookupCommand: a container named alone is itself, with a
        // subcommand that subcommand's entry, or nothing if unknown.
        self.last_cmd = if cmd.subcommands.is_empty() || args.len() < 2 {
            Some(cmd)
        } else {
            cmd.find_sub(args.get(1)).map(|s| cmd.sub_entry(s))
        };
    }

    /// `cmd=` of CLIENT LIST: `NULL` before any command, `container|sub`
    /// for subcommands.
    pub fn last_cmd_name(&self) -> &'static str {
        self.last_cmd.map_or("NULL", |c| c.full_name)
    }

    pub fn new(id: u64, fd: i32, addr: String, laddr: String, authed: bool, now: u64) -> Client {
        Client {
            id,
            db: 0,
            proto: Proto::Resp2,
            authed,
            name: Vec::new(),
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            monitor: false,
            addr,
            laddr,
            fd,
            created_ms: now,
            last_cmd: None,
            last_interaction_ms: now,
            multi: None,
            watch: None,
            qbuf: 0,
            replica: false,
            replica_port: 0,
            subs: None,
            master: 0,
            reply: ReplyMode::On,
            tracking: None,
        }
    }

    /// One CLIENT LIST / CLIENT INFO line, with Redis 7.0's fields.
    /// `blocked`: in a blocking pop (the connection knows, not the client).
    pub fn info_line(&self, now: u64, qbuf: usize, obl: usize, blocked: bool) -> String {
        // Redis's flags, those that apply: replica, in MULTI, blocked.
        let mut flags = String::new();
        if self.replica {
            flags.push('S');
        }
        if self.master != 0 {
            flags.push('M');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if blocked {
            flags.push('b');
        }
        if self.subs.is_some() {
            flags.push('P');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl={} oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&self.name),
            now.saturating_sub(self.created_ms) / 1000,
            now.saturating_sub(self.last_interaction_ms) / 1000,
            flags,
            self.db,
            self.subs.as_ref().map_or(0, |s| s.channels.len()),
            self.subs.as_ref().map_or(0, |s| s.patterns.len()),
            self.subs.as_ref().map_or(0, |s| s.shard.len()),
            qbuf.max(self.qbuf),
            obl,
            self.last_cmd_name(),
            if self.proto == Proto::Resp3 { 3 } else { 2 },
            String::from_utf8_lossy(&self.lib_name),
            String::from_utf8_lossy(&self.lib_ver),
        )
    }
}
