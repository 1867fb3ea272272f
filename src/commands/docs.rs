//! COMMAND DOCS: each command's summary, version and group from the
//! table, its arguments and its subcommands' docs from `args` (Redis
//! 7.0's descriptions), in Redis's reply shape. redis-cli builds its
//! hints (`SET key value [NX|XX] ...`) and HELP from this reply.

use super::table::Command;
use crate::protocol::Reply;

/// One argument as COMMAND DOCS describes it.
pub struct Arg {
    pub name: &'static str,
    /// key, string, integer, double, pattern, unix-time, pure-token,
    /// oneof or block.
    pub kind: &'static str,
    /// The key spec a key argument belongs to; -1 for others.
    pub key_spec: i8,
    pub token: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    /// `OPTIONAL`, `MULTIPLE`, `MULTIPLE_TOKEN`.
    pub flags: u8,
    /// A oneof's choices or a block's parts.
    pub args: &'static [Arg],
}

pub const OPTIONAL: u8 = 1;
pub const MULTIPLE: u8 = 2;
pub const MULTIPLE_TOKEN: u8 = 4;

/// A subcommand's own summary and version (its container's group).
pub struct SubDoc {
    pub name: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
}

/// The arguments of a command or subcommand (`container|sub`).
pub fn args_of(name: &str) -> &'static [Arg] {
    super::args::ARGS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[], |(_, a)| a)
}

/// Redis 7.2's subcommands that clients send (not in 7.0's descriptions).
const NEWER: &[SubDoc] = &[
    SubDoc {
        name: "client|no-touch",
        summary: "Sets whether this client's commands leave keys' access times alone",
        since: "7.2.0",
    },
    SubDoc {
        name: "client|setinfo",
        summary: "Records the client library's name or version for CLIENT LIST and INFO",
        since: "7.2.0",
    },
];

fn sub_doc(name: &str) -> Option<&'static SubDoc> {
    super::args::SUBCOMMANDS
        .iter()
        .chain(NEWER)
        .find(|s| s.name == name)
}

/// `name` and its docs map, for a command (with its subcommands' docs).
pub fn command_doc(r: &mut Reply, cmd: &'static Command) {
    r.bulk(cmd.name.as_bytes());
    let args = args_of(cmd.name);
    let subs = !cmd.subcommands.is_empty();
    r.map(4 + usize::from(!args.is_empty()) + usize::from(subs));
    head(r, cmd.summary, cmd.since, cmd);
    if !args.is_empty() {
        r.bulk(b"arguments");
        arg_list(r, args);
    }
    if subs {
        r.bulk(b"subcommands");
        r.map(cmd.subcommands.len());
        for i in 0..cmd.subcommands.len() {
            let sub = cmd.sub_entry(i);
            subcommand_doc(r, sub.full_name, sub);
        }
    }
}

/// `name` (`container|sub`) and its docs map; `entry` is its table entry.
pub fn subcommand_doc(r: &mut Reply, name: &str, entry: &Command) {
    r.bulk(name.as_bytes());
    let args = args_of(name);
    let (summary, since) = sub_doc(name).map_or(("", ""), |d| (d.summary, d.since));
    r.map(4 + usize::from(!args.is_empty()));
    head(r, summary, since, entry);
    if !args.is_empty() {
        r.bulk(b"arguments");
        arg_list(r, args);
    }
}

fn head(r: &mut Reply, summary: &str, since: &str, cmd: &Command) {
    r.bulk(b"summary");
    r.bulk(summary.as_bytes());
    r.bulk(b"since");
    r.bulk(since.as_bytes());
    r.bulk(b"group");
    r.bulk(cmd.group.as_bytes());
    r.bulk(b"complexity");
    r.bulk(if cmd.flags.contains(&"fast") {
        b"O(1)" as &[u8]
    } else {
        b"O(N)"
    });
}

fn arg_list(r: &mut Reply, args: &[Arg]) {
    r.array(args.len());
    for a in args {
        let nested = matches!(a.kind, "oneof" | "block");
        let n = 2
            + usize::from(a.key_spec >= 0)
            + usize::from(a.token.is_some())
            + usize::from(a.since.is_some())
            + usize::from(a.deprecated_since.is_some())
            + usize::from(a.flags != 0)
            + usize::from(nested);
        r.map(n);
        r.bulk(b"name");
        r.bulk(a.name.as_bytes());
        r.bulk(b"type");
        r.bulk(a.kind.as_bytes());
        if a.key_spec >= 0 {
            r.bulk(b"key_spec_index");
            r.int(i64::from(a.key_spec));
        }
        if let Some(t) = a.token {
            r.bulk(b"token");
            r.bulk(t.as_bytes());
        }
        if let Some(s) = a.since {
            r.bulk(b"since");
            r.bulk(s.as_bytes());
        }
        if let Some(s) = a.deprecated_since {
            r.bulk(b"deprecated_since");
            r.bulk(s.as_bytes());
        }
        if a.flags != 0 {
            r.bulk(b"flags");
            let names = [
                (OPTIONAL, "optional"),
                (MULTIPLE, "multiple"),
                (MULTIPLE_TOKEN, "multiple_token"),
            ];
            r.set(names.iter().filter(|(f, _)| a.flags & f != 0).count());
            for (_, name) in names.iter().filter(|(f, _)| a.flags & f != 0) {
                r.simple(name);
            }
        }
        if nested {
            r.bulk(b"arguments");
            arg_list(r, a.args);
        }
    }
}
