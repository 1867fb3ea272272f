//! EVAL, EVALSHA, their _RO forms, and SCRIPT (`crate::scripting` runs
//! them).

use super::conn::ConnCtx;
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
