//! ACL with the one user halocline has, `default`, allowed everything and
//! protected by `requirepass` when it is set: the introspection commands
//! (WHOAMI, USERS, LIST, GETUSER, CAT, DRYRUN, LOG, GENPASS) answer as
//! Redis 7.0 answers for that user; the ones that would create, change or
//! persist users are refused.

use super::conn::ConnCtx;
use super::ctx::{arg_i64, eq_ic, ERR_NOT_INT};
use super::server::acl_categories;
use super::table::{self, Command, COMMANDS};
use crate::protocol::Args;

const USER: &str = "default";

/// Redis 7.0's categories, in ACL CAT's order.
const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

pub fn acl(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    // Subcommands and their arities were checked by dispatch.
    if eq_ic(sub, "whoami") {
        c.r.bulk(USER.as_bytes());
    } else if eq_ic(sub, "users") {
        c.r.array(1);
        c.r.bulk(USER.as_bytes());
    } else if eq_ic(sub, "list") {
        let line = match password_hash(c) {
            Some(h) => format!("user {USER} on #{h} ~* &* +@all"),
            None => format!("user {USER} on nopass ~* &* +@all"),
        };
        c.r.array(1);
        c.r.bulk(line.as_bytes());
    } else if eq_ic(sub, "getuser") {
        getuser(c, a.get(2));
    } else if eq_ic(sub, "cat") {
        cat(c, a);
    } else if eq_ic(sub, "dryrun") {
        dryrun(c, a);
    } else if eq_ic(sub, "log") {
        // Nothing is ever denied, and failed AUTHs are not logged here.
        if a.len() == 3 && eq_ic(a.get(2), "reset") {
            return c.r.ok();
        }
        if a.len() == 3 && arg_i64(a.get(2)).is_none() {
            return c.r.error(ERR_NOT_INT);
        }
        c.r.array(0);
    } else if eq_ic(sub, "genpass") {
        genpass(c, a);
    } else if eq_ic(sub, "deluser") {
        if a.iter().skip(2).any(|u| u == USER.as_bytes()) {
            return c.r.error("ERR The 'default' user cannot be removed");
        }
        c.r.int(0);
    } else if eq_ic(sub, "load") || eq_ic(sub, "save") {
        c.r.error(NO_ACL_FILE);
    } else if eq_ic(sub, "setuser") {
        c.r.error(
            "ERR halocline has only the 'default' user (set its password with requirepass): ACL SETUSER is not supported",
        );
    } else {
        c.r.help(&[
            "ACL <subcommand> [<arg> ...]. halocline has one user, 'default':",
            "WHOAMI | USERS | LIST | GETUSER <username>",
            "    The user, its password (requirepass) and its permissions (all).",
            "CAT [<category>]",
            "    The categories, or the commands of one.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Whether the user may run the command: always, if it exists.",
            "LOG [<count> | RESET] | GENPASS [<bits>]",
            "    The (empty) log of denials; a random password.",
            "SETUSER | DELUSER | LOAD | SAVE",
            "    Refused: no other user can exist.",
        ]);
    }
}

/// requirepass as ACL shows it: the SHA-256 of the password, in hex.
fn password_hash(c: &ConnCtx) -> Option<String> {
    use sha2::{Digest, Sha256};
    let cfg = c.shared.config();
    if cfg.requirepass.is_empty() {
        return None;
    }
    let digest = Sha256::digest(cfg.requirepass.as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn getuser(c: &mut ConnCtx, user: &[u8]) {
    if user != USER.as_bytes() {
        return c.r.null();
    }
    let hash = password_hash(c);
    c.r.map(6);
    c.r.bulk(b"flags");
    let flags: &[&str] = if hash.is_some() {
        &["on"]
    } else {
        &["on", "nopass"]
    };
    c.r.array(flags.len());
    for f in flags {
        c.r.bulk(f.as_bytes());
    }
    c.r.bulk(b"passwords");
    c.r.array(usize::from(hash.is_some()));
    if let Some(h) = &hash {
        c.r.bulk(h.as_bytes());
    }
    for (field, value) in [("commands", "+@all"), ("keys", "~*"), ("channels", "&*")] {
        c.r.bulk(field.as_bytes());
        c.r.bulk(value.as_bytes());
    }
    c.r.bulk(b"selectors");
    c.r.array(0);
}

/// Whether `cmd` (itself, not its subcommands) is in category `cat`
/// (case-insensitive, without '@'). A container is only `slow`, as in
/// Redis; each subcommand has its own entry (`Command::sub_entry`).
pub(super) fn in_category(cmd: &Command, cat: &[u8], as_container: bool) -> bool {
    if as_container {
        return cat.eq_ignore_ascii_case(b"slow");
    }
    acl_categories(cmd)
        .iter()
        .any(|c| c.as_bytes()[1..].eq_ignore_ascii_case(cat))
}

/// The position of `category` ("@read") in Redis's order of categories
/// (COMMAND INFO lists a command's in that order).
pub(super) fn category_rank(category: &str) -> usize {
    CATEGORIES
        .iter()
        .position(|c| *c == &category[1..])
        .unwrap_or(CATEGORIES.len())
}

fn cat(c: &mut ConnCtx, a: Args) {
    if a.len() == 2 {
        c.r.array(CATEGORIES.len());
        for cat in CATEGORIES {
            c.r.bulk(cat.as_bytes());
        }
        return;
    }
    let asked = a.get(2);
    let Some(cat) = CATEGORIES
        .iter()
        .find(|n| asked.eq_ignore_ascii_case(n.as_bytes()))
    else {
        return c.r.error(&format!(
            "ERR Unknown category '{}'",
            String::from_utf8_lossy(asked)
        ));
    };
    let mut names: Vec<String> = Vec::new();
    for cmd in COMMANDS {
        if in_category(cmd, cat.as_bytes(), cmd.is_pure_container()) {
            names.push(cmd.name.to_string());
        }
        for i in 0..cmd.subcommands.len() {
            let sub = cmd.sub_entry(i);
            if in_category(sub, cat.as_bytes(), false) {
                names.push(sub.full_name.to_string());
            }
        }
    }
    c.r.array(names.len());
    for n in names {
        c.r.bulk(n.as_bytes());
    }
}

fn dryrun(c: &mut ConnCtx, a: Args) {
    let user = a.get(2);
    if user != USER.as_bytes() {
        return c.r.error(&format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(user)
        ));
    }
    let run = a.tail(3);
    let Some(cmd) = table::lookup(run.get(0)) else {
        return c.r.error(&format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(run.get(0))
        ));
    };
    let known_sub =
        cmd.subcommands.is_empty() || (run.len() >= 2 && cmd.find_sub(run.get(1)).is_some());
    if !known_sub {
        return c.r.error(&format!("ERR Command '{}' not found", cmd.name));
    }
    if !cmd.arity_ok(run.len()) || cmd.subcommand_error(run).is_some() {
        let name = match table::stat_index(cmd, run) {
            Some(i) => table::stat_name(i),
            None => cmd.name,
        };
        return c.r.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    c.r.ok();
}

fn genpass(c: &mut ConnCtx, a: Args) {
    let bits = if a.len() == 3 {
        match arg_i64(a.get(2)) {
            Some(b) => b,
            None => return c.r.error(ERR_NOT_INT),
        }
    } else {
        256
    };
    if !(1..=4096).contains(&bits) {
        return c.r.error(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
        );
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    if !fill_random(&mut bytes) {
        return c.r.error("ERR Failed to read random bytes for ACL GENPASS");
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    c.r.bulk(&hex.as_bytes()[..chars]);
}

/// Bytes from the kernel's CSPRNG (a password must not come from a
/// predictable generator).
fn fill_random(buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
}
