//! EVAL, EVALSHA, their _RO forms, and SCRIPT (`crate::scripting` runs
//! them).

use super::conn::{ConnAction, ConnCtx};
use super::ctx::{eq_ic, Ctx};
use crate::protocol::Args;
use crate::scripting::{self, engine};

pub fn eval(ctx: &mut Ctx, a: Args) {
    engine::eval(ctx, a, false, false)
}

pub fn evalsha(ctx: &mut Ctx, a: Args) {
    engine::eval(ctx, a, true, false)
}

pub fn eval_ro(ctx: &mut Ctx, a: Args) {
    engine::eval(ctx, a, false, true)
}

pub fn evalsha_ro(ctx: &mut Ctx, a: Args) {
    engine::eval(ctx, a, true, true)
}

pub fn script(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "load") && a.len() == 3 {
        match engine::load(a.get(2)) {
            Ok(sha) => c.r.bulk(&sha),
            Err(e) => c.r.error(&e),
        }
    } else if eq_ic(sub, "exists") && a.len() >= 3 {
        c.r.array(a.len() - 2);
        for s in a.iter().skip(2) {
            let found = scripting::parse_sha(s).is_some_and(|sha| scripting::exists(&sha));
            c.r.int(found as i64);
        }
    } else if eq_ic(sub, "flush") && a.len() <= 3 {
        if a.len() == 3 && !eq_ic(a.get(2), "sync") && !eq_ic(a.get(2), "async") {
            return c.r.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        }
        scripting::flush();
        c.r.ok();
    } else if eq_ic(sub, "kill") && a.len() == 2 {
        match scripting::kill() {
            Ok(()) => c.r.ok(),
            Err(e) => c.r.error(e),
        }
    } else if eq_ic(sub, "debug") && a.len() == 3 {
        if eq_ic(a.get(2), "no") {
            c.r.ok()
        } else if eq_ic(a.get(2), "yes") || eq_ic(a.get(2), "sync") {
            c.r.error("ERR SCRIPT DEBUG is not supported by halocline")
        } else {
            c.r.error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
        }
    } else if eq_ic(sub, "help") && a.len() == 2 {
        c.r.help(&[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ]);
    } else {
        let known = ["load", "exists", "flush", "kill", "debug", "help"]
            .iter()
            .any(|k| eq_ic(sub, k));
        super::connection::subcommand_error(&mut c.r, "script", sub, known);
    }
}

pub fn fcall(ctx: &mut Ctx, a: Args) {
    engine::fcall(ctx, a, false)
}

pub fn fcall_ro(ctx: &mut Ctx, a: Args) {
    engine::fcall(ctx, a, true)
}

pub fn function(c: &mut ConnCtx, a: Args) {
    use crate::scripting::functions;
    let sub = a.get(1);
    if eq_ic(sub, "load") && a.len() >= 3 {
        let replace = a.len() == 4 && eq_ic(a.get(2), "replace");
        if a.len() == 4 && !replace {
            let opt = String::from_utf8_lossy(a.get(2));
            return c.r.error(&format!("ERR Unknown option given: {opt}"));
        }
        if a.len() > 4 {
            return c.r.error("ERR Unknown option given: ");
        }
        match engine::function_load(a.get(a.len() - 1), replace) {
            Ok(name) => {
                c.r.bulk(name.as_bytes());
                c.action = ConnAction::Propagate(a.to_vec());
            }
            Err(e) => c.r.error(&e),
        }
    } else if eq_ic(sub, "delete") && a.len() == 3 {
        match functions::delete(&String::from_utf8_lossy(a.get(2))) {
            Ok(()) => {
                c.r.ok();
                c.action = ConnAction::Propagate(a.to_vec());
            }
            Err(e) => c.r.error(e),
        }
    } else if eq_ic(sub, "flush") && a.len() <= 3 {
        if a.len() == 3 && !eq_ic(a.get(2), "sync") && !eq_ic(a.get(2), "async") {
            return c
                .r
                .error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        }
        functions::flush();
        c.r.ok();
        c.action = ConnAction::Propagate(a.to_vec());
    } else if eq_ic(sub, "list") {
        let mut with_code = false;
        let mut pattern: Option<&[u8]> = None;
        let mut i = 2;
        while i < a.len() {
            if eq_ic(a.get(i), "withcode") && !with_code {
                with_code = true;
            } else if eq_ic(a.get(i), "libraryname") && pattern.is_none() {
                if i + 1 >= a.len() {
                    return c.r.error("ERR library name argument was not given");
                }
                i += 1;
                pattern = Some(a.get(i));
            } else {
                let opt = String::from_utf8_lossy(a.get(i));
                return c.r.error(&format!("ERR Unknown argument {opt}"));
            }
            i += 1;
        }
        let libs: Vec<_> = functions::libraries()
            .into_iter()
            .filter(|l| {
                pattern
                    .is_none_or(|p| crate::shard::pattern::glob_match(p, l.name.as_bytes(), false))
            })
            .collect();
        c.r.array(libs.len());
        for l in &libs {
            c.r.map(if with_code { 4 } else { 3 });
            c.r.bulk(b"library_name");
            c.r.bulk(l.name.as_bytes());
            c.r.bulk(b"engine");
            c.r.bulk(b"LUA");
            c.r.bulk(b"functions");
            c.r.array(l.functions.len());
            for f in &l.functions {
                c.r.map(3);
                c.r.bulk(b"name");
                c.r.bulk(f.name.as_bytes());
                c.r.bulk(b"description");
                match &f.description {
                    Some(d) => c.r.bulk(d.as_bytes()),
                    None => c.r.null(),
                }
                // As Redis: a set of status replies, in its table's order,
                // each flag once however often it was declared.
                c.r.bulk(b"flags");
                let set: Vec<&str> = functions::FLAGS
                    .iter()
                    .copied()
                    .filter(|k| f.flags.contains(k))
                    .collect();
                c.r.set(set.len());
                for fl in set {
                    c.r.simple(fl);
                }
            }
            if with_code {
                c.r.bulk(b"library_code");
                c.r.bulk(&l.code);
            }
        }
    } else if eq_ic(sub, "stats") && a.len() == 2 {
        let libs = functions::libraries();
        let nfuncs: usize = libs.iter().map(|l| l.functions.len()).sum();
        c.r.map(2);
        c.r.bulk(b"running_script");
        c.r.null();
        c.r.bulk(b"engines");
        c.r.map(1);
        c.r.bulk(b"LUA");
        c.r.map(2);
        c.r.bulk(b"libraries_count");
        c.r.int(libs.len() as i64);
        c.r.bulk(b"functions_count");
        c.r.int(nfuncs as i64);
    } else if eq_ic(sub, "kill") && a.len() == 2 {
        match scripting::kill() {
            Ok(()) => c.r.ok(),
            Err(e) => c.r.error(e),
        }
    } else if eq_ic(sub, "dump") && a.len() == 2 {
        let libs = functions::libraries();
        c.r.bulk(&crate::rdb::dump_functions(
            libs.iter().map(|l| &l.code[..]),
        ));
    } else if eq_ic(sub, "restore") && (a.len() == 3 || a.len() == 4) {
        use functions::RestorePolicy;
        let policy = match (a.len() == 4).then(|| a.get(3)) {
            None => RestorePolicy::Append,
            Some(p) if eq_ic(p, "append") => RestorePolicy::Append,
            Some(p) if eq_ic(p, "replace") => RestorePolicy::Replace,
            Some(p) if eq_ic(p, "flush") => RestorePolicy::Flush,
            _ => return c.r.error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
        match engine::function_restore(a.get(2), policy) {
            Ok(()) => {
                c.r.ok();
                c.action = ConnAction::Propagate(a.to_vec());
            }
            Err(e) => c.r.error(&e),
        }
    } else if eq_ic(sub, "help") && a.len() == 2 {
        c.r.help(&[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this case there is no way to restore",
            "      the functions that were removed from the libraries).",
            "HELP",
            "    Prints this help.",
        ]);
    } else if eq_ic(sub, "flush") || eq_ic(sub, "restore") {
        // Known, with arguments their handlers refuse (Redis's
        // addReplySubcommandSyntaxError).
        c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(sub)
        ))
    } else {
        let known = [
            "load", "delete", "flush", "list", "stats", "kill", "dump", "restore", "help",
        ]
        .iter()
        .any(|k| eq_ic(sub, k));
        super::connection::subcommand_error(&mut c.r, "function", sub, known);
    }
}
