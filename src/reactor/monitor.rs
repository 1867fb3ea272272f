//! MONITOR, and output no request asked for (monitor lines, Pub/Sub
//! messages) under its output-buffer limit.

use super::{token, Reactor};
use crate::commands::table::Command;
use crate::protocol::Args;
use crate::tx::{Msg, Token};

/// Pending output at which a MONITOR client is disconnected (Redis's
/// default hard limit for its class).
const MONITOR_OUTPUT_LIMIT: usize = 256 << 20;

impl Reactor {
    /// Send `args` of a command about to run to every MONITOR client, in
    /// Redis's line format. Admin commands are not shown (as in Redis);
    /// credentials are redacted (`crate::redact`).
    pub(super) fn feed_monitors(&mut self, idx: u32, cmd: &Command, args: Args) {
        let Some(c) = self.conn(idx) else { return };
        let line = monitor_line(c.client.db, &c.client.addr, args);
        // Redis feeds monitors after the command ran: a monitor's RESET has
        // already taken it out of the list.
        let skip = (cmd.name == "reset" && c.client.monitor).then(|| (self.id, token(idx, c.gen)));
        self.send_monitor_line(&line, skip);
    }

    /// The commands a script ran, as Redis shows them (`[db lua]`).
    pub(crate) fn feed_script_monitors(&mut self) {
        let mut lines = std::mem::take(&mut self.shard.script_monitor);
        lines.extend(crate::scripting::take_copied_monitor());
        for (db, args) in lines {
            let line = monitor_line(db, "lua", args.args());
            self.send_monitor_line(&line, None);
        }
    }

    fn send_monitor_line(&mut self, line: &[u8], skip: Option<(usize, Token)>) {
        // Copied out (into a reused list): delivering needs `&mut self`.
        let mut monitors = std::mem::take(&mut self.monitor_scratch);
        monitors.clear();
        monitors.extend_from_slice(
            &self
                .shared
                .monitors
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for &(r, tok) in &monitors {
            if skip == Some((r, tok)) {
                continue;
            }
            if r == self.id {
                self.deliver_monitor_line(tok, line);
            } else if let Some(ob) = self.outbox.get_mut(r) {
                let s = ob.bytes.len();
                ob.bytes.extend_from_slice(line);
                let line = s..ob.bytes.len();
                ob.push(Msg::Monitor { conn: tok, line });
            }
        }
        self.monitor_scratch = monitors;
    }

    pub(super) fn deliver_monitor_line(&mut self, conn: Token, line: &[u8]) {
        // A monitor that does not read while the server is busy would grow
        // its output for ever: like Redis (monitors are in the replica
        // class, hard limit 256 MB by default), it is disconnected.
        self.push_unasked(conn, line, MONITOR_OUTPUT_LIMIT, "monitor", false);
    }

    /// Output nobody asked for (a MONITOR line, a Pub/Sub message) for a
    /// connection here; past `limit` bytes of unsent output the client is
    /// disconnected instead, as Redis's client-output-buffer-limit does for
    /// its `class`. `push`: a RESP2 array that a RESP3 client gets as a push
    /// (only the first byte differs), and only for a subscribed client.
    pub(crate) fn push_unasked(
        &mut self,
        conn: Token,
        bytes: &[u8],
        limit: usize,
        class: &str,
        push: bool,
    ) {
        let Some((idx, c)) = self.conn_by_token(conn) else {
            return;
        };
        if c.closing || (push && c.client.subs.is_none()) {
            return;
        }
        if c.out.len() + c.sending.len() > limit {
            log::warn!(
                "Client id={} addr={} closed for overcoming of output buffer limits ({class}).",
                c.client.id,
                c.client.addr
            );
            return self.close(idx);
        }
        let resp3 = push && c.client.proto == crate::protocol::Proto::Resp3;
        let out = c.reply_buf();
        let at = out.len();
        out.extend_from_slice(bytes);
        if resp3 {
            out[at] = b'>';
        }
        self.mark_dirty(idx);
    }
}

/// One MONITOR line, as Redis writes it: a status reply with the time,
/// the database and client address, then each argument quoted and escaped
/// (`"set" "k" "a\x00b"`).
fn monitor_line(db: usize, addr: &str, args: Args) -> Vec<u8> {
    use std::io::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(64);
    let _ = write!(
        out,
        "+{}.{:06} [{db} {addr}]",
        now.as_secs(),
        now.subsec_micros()
    );
    // Credentials never reach a monitor (Redis redacts them).
    let redacted = crate::redact::secret_args(args);
    for (i, a) in args.iter().enumerate() {
        out.push(b' ');
        if redacted.binary_search(&i).is_ok() {
            out.extend_from_slice(b"\"(redacted)\"");
            continue;
        }
        out.push(b'"');
        for &b in a {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                7 => out.extend_from_slice(b"\\a"),
                8 => out.extend_from_slice(b"\\b"),
                b if b.is_ascii_graphic() || b == b' ' => out.push(b),
                b => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    out
}
