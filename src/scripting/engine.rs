//! The Lua interpreter of one reactor and what a script can call.
//!
//! Each reactor thread has its own Lua 5.1 state (Redis's version of the
//! language), created on first use and recreated after SCRIPT FLUSH. A
//! script runs in a protected environment: reading an undefined global or
//! writing any global is an error, as in Redis, and the libraries it sees
//! are read-only views. `redis.call` runs a command on the shard the
//! script runs on, through the command table, and records the writes
//! (`Shard::script_effects`) so that the reactor can replicate them and
//! wake blocked clients once the script is done.

use super::convert::{error_of, lua_to_reply, reply_to_lua};
use super::functions::{self, FunctionMeta};
use super::{Sha, BUSY};
use crate::commands::ctx::{Ctx, ERR_NOT_INT};
use crate::commands::table::{self, Command, Kind};
use crate::protocol::{Args, Proto, Reply};
use crate::shard::slot::key_shard;
use crate::shard::{ScriptEffect, SCRATCH};
use crate::tx::OwnedArgs;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const OOM_FLAG: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The Lua side of the sandbox: written here rather than built from Rust
/// calls because it is Lua's own idiom (environments, metatables).
/// `holder[1]` is the error a function of ours raises: Lua errors raised
/// from Rust travel as userdata, and a script must see Redis's table.
/// `redis.call`, `redis.pcall` and `redis.setresp` are set per run: they
/// reach the shard the script runs on.
const PRELUDE: &str = r#"
local holder, real = ...
local error, type, rawget, tostring = error, type, rawget, tostring
local setmetatable = setmetatable

local function refuse() error("Attempt to modify a readonly table", 2) end

-- A read-only view of `t`. Its metatable, as getmetatable shows it, is
-- read-only too.
local function readonly(t)
  local shown = setmetatable({}, {__index = {__index = t}, __newindex = refuse, __metatable = false})
  return setmetatable({}, {__index = t, __newindex = refuse, __metatable = shown})
end

local redis = {}
function redis.error_reply(e)
  if type(e) ~= "string" then
    error({err = "ERR wrong number or type of arguments"})
  end
  if e:sub(1, 1) == "-" then e = e:sub(2) end
  if not e:find(" ", 1, true) then e = "ERR " .. e end
  return {err = e}
end
function redis.status_reply(s)
  if type(s) ~= "string" then
    error({err = "ERR wrong number or type of arguments"})
  end
  return {ok = s}
end
function redis.set_repl(flags) end
function redis.replicate_commands() return true end
function redis.breakpoint() return false end
function redis.debug() end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = "7.0.15", 0x07000f
redis.sha1hex = real.__sha1hex
redis.log = real.__log

-- What a script sees: the base functions minus file access, output and
-- dynamic code loading, and read-only libraries.
local visible = {}
for _, name in ipairs({"assert", "error", "ipairs", "next", "pairs",
    "rawequal", "rawget", "rawset", "select", "setmetatable", "getmetatable",
    "tonumber", "tostring", "type", "unpack", "gcinfo", "_VERSION"}) do
  visible[name] = real[name]
end
for _, name in ipairs({"string", "table", "math", "cjson", "bit", "cmsgpack", "struct"}) do
  visible[name] = readonly(real[name])
end
visible.redis = readonly(redis)

-- An error raised by redis.call (or another function of ours) is the
-- table in holder[1]; mlua carries it as a userdata.
local function raised(e)
  if type(e) ~= "table" then
    local t = holder[1]
    if t then
      holder[1] = nil
      return t
    end
  end
  return e
end

-- Any other error of ours (cjson, bit, redis.log...) is a userdata too:
-- its message, as the C library would have raised it.
local function plain(e)
  if type(e) ~= "userdata" then return e end
  local s = tostring(e)
  s = s:match("^(.-)\nstack traceback:") or s
  return (s:gsub("^runtime error: ", ""))
end

-- A script being stopped (SCRIPT KILL, busy-reply-threshold) cannot
-- catch that: pcall and xpcall pass the error on.
local stopped = real.__stopped
local xpcall_raw = xpcall

-- As Redis 7.0's pcall: an error table is caught as its message.
local pcall, select, unpack = pcall, select, unpack
visible.pcall = function(f, ...)
  local r = {pcall(f, ...)}
  if not r[1] then
    if stopped() then error(r[2], 0) end
    local e = raised(r[2])
    if type(e) == "table" and type(e.err) == "string" then e = e.err end
    return false, plain(e)
  end
  return unpack(r, 1, table.maxn(r))
end
visible.xpcall = function(f, h)
  local r = {xpcall_raw(f, h)}
  if not r[1] and stopped() then error(r[2], 0) end
  return unpack(r, 1, table.maxn(r))
end

local env = setmetatable({}, {
  __index = function(_, k)
    local v = visible[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = refuse,
  __metatable = setmetatable({}, {__newindex = refuse, __metatable = false}),
})
visible._G = env
-- loadstring, which Redis allows: source text only (Redis's Lua parses
-- every chunk as text, so a precompiled one fails as a syntax error and
-- calling the result is calling nil), and the chunk runs in the script's
-- environment, not the interpreter's.
local loadstring_raw, setfenv_raw = real.loadstring, real.setfenv
visible.loadstring = function(s, name)
  if type(s) == "string" and s:byte(1) == 27 then
    -- The parser's error, under Lua 5.1's chunk id: the name up to its
    -- first line end (or NUL), 43 bytes at most.
    local id = type(name) == "string" and name or s
    local line = id:match("^[^%z\n\r]*")
    if #line > 43 then
      line = line:sub(1, 43) .. "..."
    elseif #line < #id and id:byte(#line + 1) ~= 0 then
      line = line .. "..."
    end
    return nil, '[string "' .. line .. '"]:1: unexpected symbol near \'char(27)\''
  end
  local f, err = loadstring_raw(s, name)
  if f then setfenv_raw(f, env) end
  return f, err
end
-- setmetatable on a protected table is a write to a read-only table.
local setmetatable_raw = setmetatable
visible.setmetatable = function(t, mt)
  local ok, r = pcall(setmetatable_raw, t, mt)
  if not ok then
    if tostring(r):find("protected metatable", 1, true) then
      error("Attempt to modify a readonly table", 0)
    end
    error(r, 2)
  end
  return r
end

local dbg = real.debug
local function handler(err)
  -- The first frame of the user's script says where it failed.
  local where
  for level = 2, 20 do
    local i = dbg.getinfo(level, "Sl")
    if not i then break end
    if i.source == "@user_script" or i.source == "@user_function" then where = i break end
  end
  err = raised(err)
  if type(err) == "userdata" then
    local msg = plain(err)
    if where then msg = where.source:sub(2) .. ":" .. where.currentline .. ": " .. msg end
    err = {err = "ERR " .. msg}
  elseif type(err) ~= "table" then
    err = {err = "ERR " .. tostring(err)}
  end
  if where then
    err.source = where.source
    err.line = where.currentline
  end
  return err
end

local xpcall = xpcall
local function run(f, keys, argv)
  if keys then
    return xpcall(function() return f(keys, argv) end, handler)
  end
  return xpcall(f, handler)
end
return env, visible, run, redis
"#;

struct Vm {
    lua: Lua,
    generation: u64,
    funcs: HashMap<Sha, Compiled>,
    holder: Table,
    env: Table,
    visible: Table,
    run: Function,
    redis: Table,
    /// FCALL's functions loaded here, by name, and the library
    /// generation they belong to.
    /// (function, no-writes, refused over maxmemory: neither no-writes
    /// nor allow-oom).
    functions: HashMap<String, (Function, bool, bool)>,
    fn_generation: u64,
    runs: u64,
}

#[derive(Clone)]
struct Compiled {
    f: Function,
    /// `#!lua flags=no-writes`.
    no_writes: bool,
    /// A shebang line declared its flags: Redis then refuses to start it
    /// over maxmemory unless allow-oom or no-writes is among them.
    oom_refused: bool,
    /// It has a shebang line: its commands are not refused one by one
    /// over maxmemory (it was, or was allowed, at its start).
    declared: bool,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

impl Vm {
    fn new() -> mlua::Result<Vm> {
        use mlua::StdLib;
        // SAFETY: mlua calls the debug library unsafe because Lua code
        // holding it can break the interpreter's invariants. Only the
        // error handler the prelude defines keeps it (to say which line
        // failed); scripts never see it.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                mlua::LuaOptions::default(),
            )
        };
        let globals = lua.globals();
        let holder = lua.create_table()?;
        // Errors Redis raises as tables (luaPushError: no position).
        let raise = {
            let holder = holder.clone();
            move |lua: &Lua, msg: &str| -> mlua::Error {
                if let Ok((t, _)) = err_value(lua, &format!("ERR {msg}")) {
                    let _ = holder.raw_set(1, t);
                }
                mlua::Error::runtime(msg.to_string())
            }
        };
        let raise2 = raise.clone();
        globals.raw_set(
            "__sha1hex",
            lua.create_function(move |lua, args: MultiValue| {
                if args.len() != 1 {
                    return Err(raise(lua, "wrong number of arguments"));
                }
                let s = match &args[0] {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(i) => i.to_string().into_bytes(),
                    Value::Number(n) => n.to_string().into_bytes(),
                    _ => Vec::new(),
                };
                lua.create_string(super::sha1hex(&s))
            })?,
        )?;
        globals.raw_set(
            "__log",
            lua.create_function(move |lua, args: MultiValue| {
                if args.len() < 2 {
                    return Err(raise2(lua, "redis.log() requires two arguments or more."));
                }
                let mut it = args.into_iter();
                let level = match it.next() {
                    Some(Value::Integer(l)) => l,
                    Some(Value::Number(l)) => l as i64,
                    _ => return Err(raise2(lua, "First argument must be a number (log level).")),
                };
                let msg: Vec<String> = it
                    .map(|v| match v {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => String::new(),
                    })
                    .collect();
                let msg = msg.join(" ");
                match level {
                    0 => log::debug!("{msg}"),
                    1 => log::debug!("{msg}"),
                    2 => log::info!("{msg}"),
                    3 => log::warn!("{msg}"),
                    _ => return Err(raise2(lua, "Invalid debug level.")),
                }
                Ok(())
            })?,
        )?;
        globals.raw_set(
            "__stopped",
            lua.create_function(|_, ()| {
                Ok(RUN.with(|r| r.borrow().as_ref().is_some_and(|r| r.stopped.is_some())))
            })?,
        )?;
        super::libs::install(&lua, &globals)?;
        let (env, visible, run, redis): (Table, Table, Function, Table) = lua
            .load(PRELUDE)
            .set_name("=prelude")
            .call((holder.clone(), globals))?;
        // Redis checks for SCRIPT KILL every 100k instructions.
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            |_, _| {
                RUN.with(|r| {
                    let mut r = r.borrow_mut();
                    let Some(run) = r.as_mut() else {
                        return Ok(VmState::Continue);
                    };
                    match run.interrupted() {
                        Some(why) => {
                            run.stopped = Some(why.clone());
                            Err(mlua::Error::runtime(why))
                        }
                        None => Ok(VmState::Continue),
                    }
                })
            },
        )?;
        bridge_functions(&lua, &redis, &holder)?;
        Ok(Vm {
            lua,
            generation: super::generation(),
            funcs: HashMap::new(),
            holder,
            env,
            visible,
            run,
            redis,
            functions: HashMap::new(),
            fn_generation: super::functions::generation(),
            runs: 0,
        })
    }

    /// Source text compiled in the scripts' environment (binary chunks
    /// refused); `Err`: Redis's "Error compiling <what>: ..." reply.
    fn chunk(&self, code: &[u8], name: &str, what: &str) -> Result<Function, String> {
        self.lua
            .load(code)
            .set_name(name)
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                format!("ERR Error compiling {what}: {msg}")
            })
    }

    /// Compile a body (once per interpreter). `Err`: the error reply.
    fn compile(&mut self, sha: Sha, body: &[u8]) -> Result<Compiled, String> {
        if let Some(c) = self.funcs.get(&sha) {
            return Ok(c.clone());
        }
        let (flags, code) = shebang(body)?;
        let no_writes = flags.as_ref().is_some_and(|f| f.contains(&"no-writes"));
        let oom_refused = flags
            .as_ref()
            .is_some_and(|f| !f.contains(&"no-writes") && !f.contains(&"allow-oom"));
        let f = self.chunk(&code, "@user_script", "script (new function)")?;
        let c = Compiled {
            f,
            no_writes,
            oom_refused,
            declared: flags.is_some(),
        };
        self.funcs.insert(sha, c.clone());
        Ok(c)
    }
}

/// A shebang line (`#!lua flags=no-writes,allow-oom`): Redis 7.0's flags
/// (`None`: no shebang, the compatibility mode), of which halocline acts
/// on no-writes and allow-oom; the others concern cluster and staleness
/// rules it has no counterpart for. The line is removed but its newline
/// kept, so error line numbers stay the user's.
fn shebang(body: &[u8]) -> Result<(Option<Vec<&'static str>>, Vec<u8>), String> {
    if !body.starts_with(b"#!") {
        return Ok((None, body.to_vec()));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: #!{engine}"
        ));
    }
    let mut flags = Vec::new();
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match super::functions::FLAGS.iter().find(|k| **k == f) {
                Some(k) => flags.push(*k),
                None => return Err(format!("ERR Unexpected flag in script shebang: {f}")),
            }
        }
    }
    Ok((Some(flags), body[end..].to_vec()))
}

/// Whether a script command may write (Redis's command flags as it
/// computes them for EVAL/EVALSHA/FCALL: a script or function declared
/// `no-writes` may not; the _RO forms never).
pub fn may_write(cmd: &Command, a: Args) -> bool {
    let declared_no_writes = |body: &[u8]| {
        shebang(body)
            .ok()
            .and_then(|(flags, _)| flags)
            .is_some_and(|f| f.contains(&"no-writes"))
    };
    match cmd.name {
        "eval" => !declared_no_writes(a.get(1)),
        "evalsha" => !super::parse_sha(a.get(1))
            .and_then(|sha| super::body(&sha))
            .is_some_and(|body| declared_no_writes(&body)),
        "fcall" => functions::no_writes(a.get(1)) != Some(true),
        _ => false,
    }
}

/// What the instruction hook needs to know about the running script.
struct Running {
    started: Instant,
    threshold_ms: u64,
    dirty: bool,
    /// Why the hook stopped it.
    stopped: Option<String>,
    /// FUNCTION LOAD running a library's code.
    loading: bool,
}

impl Running {
    /// Why to stop it, if it must stop. Only while it has not written
    /// (Redis's UNKILLABLE): when SCRIPT KILL asked, or when it passed
    /// busy-reply-threshold. There Redis starts answering BUSY and waits
    /// for a SCRIPT KILL; a busy script here holds every client of its
    /// reactor, any of whom may be the one who would send it, so it is
    /// stopped instead.
    fn interrupted(&self) -> Option<String> {
        if self.dirty {
            return None;
        }
        if self.loading {
            return (self.started.elapsed().as_millis() as u64 >= self.threshold_ms)
                .then(|| "ERR FUNCTION LOAD timeout".to_string());
        }
        if super::STOPPING.load(Ordering::Acquire) {
            return Some("ERR Script stopped: the server is shutting down".into());
        }
        if BUSY.kill.load(Ordering::Acquire) {
            return Some("ERR Script killed by user with SCRIPT KILL...".into());
        }
        (self.threshold_ms > 0 && self.started.elapsed().as_millis() as u64 >= self.threshold_ms)
            .then(|| {
                format!(
                    "ERR Script stopped after running for busy-reply-threshold ({} ms) without writing",
                    self.threshold_ms
                )
            })
    }
}

thread_local! {
    static RUN: RefCell<Option<Running>> = const { RefCell::new(None) };
    /// Over maxmemory when the script began (Redis's pre-command OOM
    /// state): its commands that may grow memory are refused until it
    /// has written.
    static OOM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a script or function runs on this thread now (Redis's
/// CLIENT_SCRIPT for the commands it calls).
pub fn running() -> bool {
    RUN.with(|r| r.borrow().is_some())
}

/// Set by the reactor before it runs a script.
pub fn set_oom(over: bool) {
    OOM.with(|o| o.set(over));
}

thread_local! {
    /// The running script's bridge, while `run` calls into Lua.
    static CURRENT: std::cell::Cell<*const ()> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Publishes a bridge to `redis.call` for the length of one run. The
/// functions behind `redis.call`, `redis.pcall` and `redis.setresp` are
/// made once per interpreter and find the run's state here, as Redis's
/// find theirs in the Lua registry. (Made per run as closures scoped to
/// the run's borrow of its shard, together with a collector step per run,
/// an EVAL cost 4.39 us of server CPU at -P16 instead of 2.55.)
struct CurrentBridge;

impl CurrentBridge {
    fn set(b: &RefCell<Bridge>) -> CurrentBridge {
        CURRENT.with(|c| c.set(b as *const RefCell<Bridge> as *const ()));
        CurrentBridge
    }
}

impl Drop for CurrentBridge {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(std::ptr::null()));
    }
}

/// Run `f` on the current bridge; `None` outside a run.
fn with_bridge<T>(f: impl FnOnce(&RefCell<Bridge>) -> T) -> Option<T> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: `CurrentBridge` publishes a pointer to a bridge that lives
    // on `run`'s stack for as long as the pointer is set (it is cleared
    // on drop, before `run` takes the bridge apart), and only this thread
    // reads it, from Lua callbacks that run inside that call. The
    // lifetimes erased on the way in are those of `run`'s borrows, which
    // outlive the call.
    let b = unsafe { &*(p as *const RefCell<Bridge<'static, 'static>>) };
    Some(f(b))
}

const OUTSIDE: &str = "ERR redis.call/pcall can only be called inside a script invocation";

/// `redis.call`, `redis.pcall` and `redis.setresp`, made once per
/// interpreter.
fn bridge_functions(lua: &Lua, redis: &Table, holder: &Table) -> mlua::Result<()> {
    let h = holder.clone();
    let call = lua.create_function(move |lua, args: MultiValue| {
        let (v, failed) = match with_bridge(|b| bridge_call(lua, b, args)) {
            Some(r) => r?,
            None => err_value(lua, OUTSIDE)?,
        };
        if failed {
            h.raw_set(1, v)?;
            return Err(mlua::Error::runtime("redis.call failed"));
        }
        Ok(v)
    })?;
    let pcall = lua.create_function(|lua, args: MultiValue| {
        match with_bridge(|b| bridge_call(lua, b, args)) {
            Some(r) => Ok(r?.0),
            None => Ok(err_value(lua, OUTSIDE)?.0),
        }
    })?;
    let h = holder.clone();
    let setresp = lua.create_function(move |lua, args: MultiValue| {
        let v = match args.front() {
            Some(Value::Integer(n)) if args.len() == 1 => Some(*n),
            Some(Value::Number(n)) if args.len() == 1 => Some(*n as i64),
            _ => None,
        };
        let err = match v {
            Some(v @ (2 | 3)) => match with_bridge(|b| b.borrow_mut().resp3 = v == 3) {
                Some(()) => return Ok(()),
                None => "ERR redis.setresp can only be called inside a script invocation",
            },
            Some(_) => "ERR RESP version must be 2 or 3.",
            None => "ERR redis.setresp() requires one argument.",
        };
        h.raw_set(1, err_value(lua, err)?.0)?;
        Err(mlua::Error::runtime(err))
    })?;
    redis.raw_set("call", call)?;
    redis.raw_set("pcall", pcall)?;
    redis.raw_set("setresp", setresp)
}

thread_local! {
    /// The server this reactor thread serves (PUBLISH's subscriber count).
    static SERVER: RefCell<Option<std::sync::Arc<crate::server::Shared>>> = const { RefCell::new(None) };
}

/// Called by each reactor on its own thread.
pub fn attach_server(shared: std::sync::Arc<crate::server::Shared>) {
    SERVER.with(|s| *s.borrow_mut() = Some(shared));
}

/// The keys a script's writes changed, as they were, so that a script
/// stopped to start over (an undeclared key of another shard met after
/// writing) leaves nothing behind. Only small values are kept: a write to
/// a big one makes the run one that cannot start over (`complete` false),
/// rather than copying it on every run.
struct Undo {
    saved: Vec<Saved>,
    complete: bool,
}

/// A key as it was: (database, key, its value and expiry; `None`: absent).
type Saved = (usize, Vec<u8>, Option<(crate::types::Value, u64)>);

impl Default for Undo {
    fn default() -> Self {
        Undo {
            saved: Vec::new(),
            complete: true,
        }
    }
}

/// Values up to this many elements (or string bytes) are copied.
const UNDO_MAX_ELEMENTS: usize = 128;
const UNDO_MAX_BYTES: usize = 64 * 1024;

impl Undo {
    fn save(&mut self, ctx: &mut Ctx, cmd: &Command, db: usize, a: Args) {
        // They change keys of another database than the one named.
        if matches!(cmd.name, "move" | "copy") {
            self.complete = false;
            return;
        }
        for i in cmd.keys_of(a) {
            let k = a.get(i);
            if self.saved.iter().any(|(d, key, _)| *d == db && key == k) {
                continue;
            }
            let Some(d) = ctx.shard.dbs.get(db) else {
                continue;
            };
            let was = match d.peek(k) {
                Some(e) if e.expire_at == 0 || e.expire_at > ctx.now => {
                    let small = match &e.value {
                        crate::types::Value::Str(s) => s.len() <= UNDO_MAX_BYTES,
                        crate::types::Value::Hash(h) => h.len() <= UNDO_MAX_ELEMENTS,
                        crate::types::Value::Set(x) => x.len() <= UNDO_MAX_ELEMENTS,
                        crate::types::Value::List(l) => l.len() <= UNDO_MAX_ELEMENTS,
                        crate::types::Value::ZSet(z) => z.len() <= UNDO_MAX_ELEMENTS,
                    };
                    if !small {
                        self.complete = false;
                        return;
                    }
                    Some((e.value.deep_clone(), e.expire_at))
                }
                _ => None,
            };
            self.saved.push((db, k.to_vec(), was));
        }
    }

    /// Put every saved key back as it was, latest change first.
    fn apply(self, ctx: &mut Ctx) {
        for (db, key, was) in self.saved.into_iter().rev() {
            let Some(d) = ctx.shard.dbs.get_mut(db) else {
                continue;
            };
            match was {
                Some((v, expire_at)) => d.set(&key, v, expire_at),
                None => {
                    d.remove(&key);
                }
            }
        }
    }
}

/// The state `redis.call` works on during one run.
struct Bridge<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    db: usize,
    resp3: bool,
    read_only: bool,
    /// The declared keys.
    keys: Vec<Vec<u8>>,
    /// An undeclared key of another shard it met (and stopped at).
    retry: Option<Vec<u8>>,
    /// What its writes replaced, to put back if it has to start over
    /// (`Undo`).
    undo: Undo,
    /// `scripting::script_id`.
    id: u64,
}

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO.
pub fn eval(ctx: &mut Ctx, a: Args, by_sha: bool, read_only: bool) {
    crate::tracking::script_started();
    eval_inner(ctx, a, by_sha, read_only);
    crate::tracking::script_done(ctx.shard.id != SCRATCH, a);
    // The OOM state was this run's (`set_oom`): none for the next one,
    // whose path may not set it (a run on copies).
    set_oom(false);
}

fn eval_inner(ctx: &mut Ctx, a: Args, by_sha: bool, read_only: bool) {
    let argc = a.len();
    // Redis's order: a digest that is not 40 characters long matches no
    // script, whatever the rest says.
    if by_sha && a.get(1).len() != 40 {
        return ctx.r.error(NOSCRIPT);
    }
    let Some(numkeys) = crate::protocol::parse_i64(a.get(2)) else {
        return ctx.r.error(ERR_NOT_INT);
    };
    if numkeys > (argc - 3) as i64 {
        return ctx
            .r
            .error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return ctx.r.error("ERR Number of keys can't be negative");
    }
    let numkeys = numkeys as usize;
    let (sha, body) = if by_sha {
        let Some(sha) = super::parse_sha(a.get(1)) else {
            return ctx.r.error(NOSCRIPT);
        };
        (sha, None)
    } else {
        (super::sha1hex(a.get(1)), Some(a.get(1)))
    };
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|vm| vm.generation != super::generation())
        {
            match Vm::new() {
                Ok(vm) => *slot = Some(vm),
                Err(e) => return ctx.r.error(&format!("ERR Lua initialization failed: {e}")),
            }
        }
        let Some(vm) = slot.as_mut() else { return };
        let compiled = match vm.funcs.get(&sha) {
            Some(c) => Ok(c.clone()),
            None => {
                let stored;
                let body = match body {
                    Some(b) => b,
                    None => match super::body(&sha) {
                        Some(b) => {
                            stored = b;
                            &stored[..]
                        }
                        None => return ctx.r.error(NOSCRIPT),
                    },
                };
                let c = vm.compile(sha, body);
                if c.is_ok() {
                    super::register(sha, body);
                }
                c
            }
        };
        match compiled {
            Ok(c) if c.oom_refused && OOM.with(|o| o.get()) => ctx.r.error(OOM_FLAG),
            Ok(c) => {
                if c.declared {
                    set_oom(false);
                }
                run(
                    vm,
                    Callee::Script(&c.f),
                    ctx,
                    a,
                    numkeys,
                    read_only || c.no_writes,
                    &String::from_utf8_lossy(&sha),
                );
            }
            Err(e) => ctx.r.error(&e),
        }
    })
}

/// This thread's interpreter, (re)created when SCRIPT FLUSH asked.
fn with_vm<T>(f: impl FnOnce(&mut Vm) -> Result<T, String>) -> Result<T, String> {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|vm| vm.generation != super::generation())
        {
            *slot = Some(Vm::new().map_err(|e| format!("ERR Lua initialization failed: {e}"))?);
        }
        match slot.as_mut() {
            Some(vm) => f(vm),
            None => Err("ERR Lua initialization failed".into()),
        }
    })
}

impl Vm {
    /// Run a library's code, collecting what it registers.
    fn load_library(
        &mut self,
        code: &[u8],
    ) -> Result<(String, Vec<(FunctionMeta, Function)>), String> {
        let (name, header_end) = functions::parse_header(code)?;
        let chunk = self.chunk(&code[header_end..], "@user_function", "function")?;
        let registered: RefCell<Vec<(FunctionMeta, Function)>> = RefCell::new(Vec::new());
        // Redis gives a library's code 500 ms to register its functions.
        RUN.with(|r| {
            *r.borrow_mut() = Some(Running {
                started: Instant::now(),
                threshold_ms: 500,
                dirty: false,
                stopped: None,
                loading: true,
            })
        });
        let holder = &self.holder;
        let outcome = self.lua.scope(|scope| {
            let register =
                scope.create_function(|lua, args: MultiValue| match read_registration(&args) {
                    Ok((meta, f)) => {
                        let mut r = registered.borrow_mut();
                        if r.iter().any(|(m, _)| m.name == meta.name) {
                            holder.raw_set(
                                1,
                                err_value(lua, "ERR Function already exists in the library")?.0,
                            )?;
                            return Err(mlua::Error::runtime(
                                "Function already exists in the library",
                            ));
                        }
                        r.push((meta, f));
                        Ok(())
                    }
                    Err(e) => {
                        holder.raw_set(1, err_value(lua, &format!("ERR {e}"))?.0)?;
                        Err(mlua::Error::runtime(e))
                    }
                })?;
            self.redis.raw_set("register_function", register)?;
            let r: (bool, Value) = self.run.call(chunk)?;
            Ok(r)
        });
        let _ = self.redis.raw_set("register_function", Value::Nil);
        let _ = self.holder.raw_set(1, Value::Nil);
        if let Some(why) = RUN.with(|r| r.borrow_mut().take().and_then(|r| r.stopped)) {
            return Err(format!("ERR Error registering functions: {why}"));
        }
        match outcome {
            Ok((true, _)) => {}
            Ok((false, Value::Table(t))) => {
                let msg = error_of(&t).unwrap_or_else(|| "ERR unknown error".into());
                return Err(format!("ERR Error registering functions: {msg}"));
            }
            Ok((false, _)) => return Err("ERR Error registering functions".into()),
            Err(e) => return Err(format!("ERR Error registering functions: {e}")),
        }
        let registered = registered.into_inner();
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok((name, registered))
    }

    /// FCALL's function `name`, loading its library here if need be.
    fn function(&mut self, name: &str) -> Option<(Function, bool, bool)> {
        if self.fn_generation != functions::generation() {
            self.functions.clear();
            self.fn_generation = functions::generation();
        }
        let key = name.to_ascii_lowercase();
        if let Some(f) = self.functions.get(&key) {
            return Some(f.clone());
        }
        let lib = functions::library_of(&key)?;
        let (_, fns) = self.load_library(&lib.code).ok()?;
        for (meta, f) in fns {
            let oom_refused = !meta.no_writes() && !meta.flags.contains(&"allow-oom");
            self.functions.insert(
                meta.name.to_ascii_lowercase(),
                (f, meta.no_writes(), oom_refused),
            );
        }
        self.functions.get(&key).cloned()
    }
}

/// redis.register_function's arguments: (name, callback) or a table of
/// function_name, callback, flags, description.
fn read_registration(args: &MultiValue) -> Result<(FunctionMeta, Function), String> {
    let (name, callback, flags, description) = match args.len() {
        2 => {
            let Value::String(n) = &args[0] else {
                return Err("first argument to redis.register_function must be a string".into());
            };
            let Value::Function(f) = &args[1] else {
                return Err("second argument to redis.register_function must be a function".into());
            };
            (n.to_string_lossy(), f.clone(), Vec::new(), None)
        }
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            };
            let (mut name, mut callback, mut flags, mut description) =
                (None, None, Vec::new(), None);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                let Value::String(k) = k else {
                    return Err(
                        "named argument key given to redis.register_function is not a string"
                            .into(),
                    );
                };
                match k.to_string_lossy().to_ascii_lowercase().as_str() {
                    "function_name" => match v {
                        Value::String(s) => name = Some(s.to_string_lossy()),
                        _ => return Err("function_name argument given to redis.register_function must be a string".into()),
                    },
                    "description" => match v {
                        Value::String(s) => description = Some(s.to_string_lossy()),
                        _ => return Err("description argument given to redis.register_function must be a string".into()),
                    },
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err("callback argument given to redis.register_function must be a function".into()),
                    },
                    "flags" => {
                        let Value::Table(ft) = v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags".into());
                        };
                        for f in ft.sequence_values::<Value>() {
                            let known = match f {
                                Ok(Value::String(s)) => {
                                    let s = s.to_string_lossy();
                                    functions::FLAGS.iter().find(|k| **k == s).copied()
                                }
                                _ => None,
                            };
                            match known {
                                Some(k) => flags.push(k),
                                None => return Err("unknown flag given".into()),
                            }
                        }
                    }
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
            }
            let Some(name) = name else {
                return Err("redis.register_function must get a function name argument".into());
            };
            let Some(callback) = callback else {
                return Err("redis.register_function must get a callback argument".into());
            };
            (name, callback, flags, description)
        }
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    if !functions::valid_name(&name) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok((
        FunctionMeta {
            name,
            description,
            flags,
        },
        callback,
    ))
}

/// FUNCTION RESTORE: every library of the payload checked here, then
/// added all or none.
pub fn function_restore(payload: &[u8], policy: functions::RestorePolicy) -> Result<(), String> {
    let codes = crate::rdb::restore_functions(payload).map_err(|e| format!("ERR {e}"))?;
    with_vm(|vm| {
        let mut libs = Vec::new();
        for code in codes {
            let (name, fns) = vm.load_library(&code)?;
            libs.push(functions::Library {
                name,
                code: code.into(),
                functions: fns.into_iter().map(|(m, _)| m).collect(),
            });
        }
        functions::restore(libs, policy)
    })
}

/// FUNCTION LOAD [REPLACE]: run the library's code here to check it and
/// learn its functions, then make it the server's.
pub fn function_load(code: &[u8], replace: bool) -> Result<String, String> {
    with_vm(|vm| {
        let (name, fns) = vm.load_library(code)?;
        let lib = functions::Library {
            name: name.clone(),
            code: code.into(),
            functions: fns.into_iter().map(|(m, _)| m).collect(),
        };
        functions::add(lib, replace)?;
        Ok(name)
    })
}

/// FCALL / FCALL_RO.
pub fn fcall(ctx: &mut Ctx, a: Args, read_only: bool) {
    crate::tracking::script_started();
    fcall_inner(ctx, a, read_only);
    crate::tracking::script_done(ctx.shard.id != SCRATCH, a);
    set_oom(false);
}

fn fcall_inner(ctx: &mut Ctx, a: Args, read_only: bool) {
    let argc = a.len();
    // Redis's order: the function first, then its number of keys.
    if functions::no_writes(a.get(1)).is_none() {
        return ctx.r.error("ERR Function not found");
    }
    let Some(numkeys) = crate::protocol::parse_i64(a.get(2)) else {
        return ctx.r.error("ERR Bad number of keys provided");
    };
    if numkeys > (argc - 3) as i64 {
        return ctx
            .r
            .error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return ctx.r.error("ERR Number of keys can't be negative");
    }
    let name = String::from_utf8_lossy(a.get(1)).into_owned();
    let outcome = with_vm(|vm| {
        let Some((f, no_writes, oom_refused)) = vm.function(&name) else {
            return Err("ERR Function not found".to_string());
        };
        if oom_refused && OOM.with(|o| o.get()) {
            return Err(OOM_FLAG.to_string());
        }
        // Functions always declare their flags: checked once, at the start.
        set_oom(false);
        if read_only && !no_writes {
            if super::replica_read_only() {
                return Err(
                    "READONLY Can not run script with write flag on readonly replica".into(),
                );
            }
            return Err("ERR Can not execute a script with write flag using *_ro command.".into());
        }
        run(
            vm,
            Callee::Function(&f),
            ctx,
            a,
            numkeys as usize,
            no_writes,
            &name,
        );
        Ok(())
    });
    if let Err(e) = outcome {
        ctx.r.error(&e);
    }
}

/// SCRIPT LOAD: compile to check it, then cache it. `Err`: the error reply.
pub fn load(body: &[u8]) -> Result<Sha, String> {
    let sha = super::sha1hex(body);
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|vm| vm.generation != super::generation())
        {
            *slot = Some(Vm::new().map_err(|e| format!("ERR Lua initialization failed: {e}"))?);
        }
        let Some(vm) = slot.as_mut() else {
            return Err("ERR Lua initialization failed".into());
        };
        vm.compile(sha, body)?;
        super::register(sha, body);
        Ok(sha)
    })
}

/// What runs: an EVAL body (KEYS and ARGV as globals) or an FCALL
/// function (KEYS and ARGV as its arguments).
enum Callee<'f> {
    Script(&'f Function),
    Function(&'f Function),
}

#[allow(clippy::too_many_arguments)]
fn run(
    vm: &mut Vm,
    callee: Callee,
    ctx: &mut Ctx,
    a: Args,
    numkeys: usize,
    read_only: bool,
    name: &str,
) {
    let lua = &vm.lua;
    let setup = || -> mlua::Result<(Table, Table)> {
        let keys = lua.create_table_with_capacity(numkeys, 0)?;
        for i in 0..numkeys {
            keys.raw_set(i + 1, lua.create_string(a.get(3 + i))?)?;
        }
        let argv = lua.create_table_with_capacity(a.len() - 3 - numkeys, 0)?;
        for (i, x) in a.iter().skip(3 + numkeys).enumerate() {
            argv.raw_set(i + 1, lua.create_string(x)?)?;
        }
        if let Callee::Script(_) = callee {
            vm.visible.raw_set("KEYS", keys.clone())?;
            vm.visible.raw_set("ARGV", argv.clone())?;
        }
        Ok((keys, argv))
    };
    let (keys, argv) = match setup() {
        Ok(t) => t,
        Err(e) => return ctx.r.error(&format!("ERR {e}")),
    };
    // Keyspace notifications its writes raise; dropped if it starts over.
    let raised = crate::notify::raised();
    let bridge = RefCell::new(Bridge {
        db: ctx.db,
        ctx,
        resp3: false,
        read_only,
        keys: (3..3 + numkeys).map(|i| a.get(i).to_vec()).collect(),
        retry: None,
        undo: Undo::default(),
        id: super::script_id(a),
    });
    RUN.with(|r| {
        *r.borrow_mut() = Some(Running {
            started: Instant::now(),
            threshold_ms: BUSY.threshold_ms.load(Ordering::Relaxed),
            dirty: false,
            stopped: None,
            loading: false,
        })
    });
    BUSY.running.fetch_add(1, Ordering::AcqRel);
    let outcome = {
        let _current = CurrentBridge::set(&bridge);
        match callee {
            Callee::Script(f) => vm.run.call::<(bool, Value)>(f.clone()),
            Callee::Function(f) => vm.run.call::<(bool, Value)>((f.clone(), keys, argv)),
        }
    };
    let _ = vm.holder.raw_set(1, Value::Nil);
    if BUSY.running.fetch_sub(1, Ordering::AcqRel) == 1 {
        BUSY.kill.store(false, Ordering::Release);
    }
    let killed = RUN.with(|r| r.borrow_mut().take().and_then(|r| r.stopped));
    let Bridge {
        ctx,
        resp3,
        keys,
        retry,
        undo,
        ..
    } = bridge.into_inner();
    if let Some(k) = retry {
        // Everything taken so far that was not declared, and this key.
        let mut extra: Vec<Vec<u8>> = ctx
            .shard
            .gathered_keys
            .iter()
            .flatten()
            .filter(|g| !keys.contains(g))
            .cloned()
            .collect();
        extra.push(k);
        undo.apply(ctx);
        ctx.shard.script_effects.clear();
        ctx.shard.script_monitor.clear();
        crate::notify::forget(raised);
        let out = super::retry_reply(ctx.db, a, &extra);
        ctx.r.out.extend_from_slice(&out);
        return;
    }
    let sha = name;
    match outcome {
        Ok((true, v)) => lua_to_reply(&mut ctx.r, &v, resp3, 0),
        Ok((false, Value::Table(t))) => {
            let msg = killed
                .or_else(|| error_of(&t))
                .unwrap_or_else(|| "ERR unknown error".into());
            let source = t.raw_get::<Value>("source").ok();
            let line = t.raw_get::<Value>("line").ok();
            let line = match line {
                Some(Value::Integer(l)) => Some(l),
                Some(Value::Number(l)) => Some(l as i64),
                _ => None,
            };
            let msg = match (source, line) {
                (Some(Value::String(s)), Some(l)) => {
                    format!("{msg} script: {sha}, on {}:{l}.", s.to_string_lossy())
                }
                _ => msg,
            };
            super::convert::error_reply(&mut ctx.r, &t, &msg);
        }
        Ok((false, other)) => ctx.r.error(&format!(
            "ERR Error running script {sha}, {}",
            other.to_string().unwrap_or_default()
        )),
        Err(e) => ctx.r.error(&format!("ERR Error running script {sha}, {e}")),
    }
    // A collector step every 50 runs, as Redis does: Lua's own pacing
    // does the rest.
    vm.runs += 1;
    if vm.runs.is_multiple_of(50) {
        let _ = lua.gc_step();
    }
}

/// A reply table for `redis.call` to raise or `redis.pcall` to return.
fn err_value(lua: &Lua, msg: &str) -> mlua::Result<(Value, bool)> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    Ok((Value::Table(t), true))
}

/// Commands Redis refuses in scripts (its `noscript` flag).
fn refused(cmd: &Command) -> bool {
    if cmd.name == "debug" {
        return !super::DENY_DISABLED.load(std::sync::atomic::Ordering::Relaxed);
    }
    match cmd.kind {
        Kind::Tx(_) => true,
        Kind::Conn(_) => !matches!(
            cmd.name,
            "ping"
                | "echo"
                | "time"
                | "select"
                | "publish"
                | "spublish"
                | "info"
                | "lastsave"
                | "dbsize"
                | "memory"
        ),
        // The blocking commands too, but for BLMPOP and BZMPOP, which
        // then answer as if they timed out (as inside MULTI).
        _ => {
            // MIGRATE too: a script may run again from the start (on
            // copies, or retried), and would migrate twice.
            matches!(
                cmd.name,
                "migrate"
                    | "eval"
                    | "evalsha"
                    | "eval_ro"
                    | "evalsha_ro"
                    | "script"
                    | "fcall"
                    | "fcall_ro"
                    | "function"
            ) || (cmd.is_blocking() && !matches!(cmd.name, "blmpop" | "bzmpop"))
        }
    }
}

fn bridge_call(
    lua: &Lua,
    bridge: &RefCell<Bridge>,
    args: MultiValue,
) -> mlua::Result<(Value, bool)> {
    if let Some(why) = RUN.with(|r| r.borrow().as_ref().and_then(|r| r.stopped.clone())) {
        // Being stopped: not even redis.pcall goes on.
        return Err(mlua::Error::runtime(why));
    }
    if args.is_empty() {
        return err_value(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        );
    }
    let mut owned = OwnedArgs::with_capacity(64, args.len());
    for v in args.iter() {
        match v {
            Value::String(s) => owned.push(&s.as_bytes()),
            Value::Integer(i) => owned.push(itoa::Buffer::new().format(*i).as_bytes()),
            // Lua's own number format loses precision: Redis uses %.17g.
            Value::Number(n) => owned.push(crate::protocol::reply::format_g17(*n).as_bytes()),
            _ => {
                return err_value(
                    lua,
                    "ERR Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    let a = owned.args();
    let Some(cmd) = table::lookup(a.get(0)) else {
        return err_value(lua, "ERR Unknown Redis command called from script");
    };
    // Refusals count as rejected calls of the command, as in Redis.
    let reject = |msg: &str| {
        crate::callstats::rejected(cmd, a);
        err_value(lua, msg)
    };
    if !cmd.arity_ok(a.len()) {
        return reject("ERR Wrong number of args calling Redis command from script");
    }
    // A container's subcommand is a command of its own to Redis's lookup:
    // unknown, or called with its wrong number of arguments.
    let cmd = if !cmd.subcommands.is_empty() && a.len() >= 2 {
        match cmd.find_sub(a.get(1)) {
            None => return err_value(lua, "ERR Unknown Redis command called from script"),
            Some(s) if !table::arity_allows(cmd.subcommands[s].arity, a.len()) => {
                return reject("ERR Wrong number of args calling Redis command from script");
            }
            Some(s) => cmd.sub_entry(s),
        }
    } else {
        cmd
    };
    if refused(cmd) {
        return reject("ERR This Redis command is not allowed from script");
    }
    let mut b = bridge.borrow_mut();
    if b.read_only && (cmd.is_write() || cmd.flags.contains(&"may_replicate")) {
        if super::replica_read_only() && cmd.is_write() {
            return reject("READONLY You can't write against a read only replica.");
        }
        return reject("ERR Write commands are not allowed from read-only scripts.");
    }
    if cmd.denyoom
        && OOM.with(|o| o.get())
        && !RUN.with(|r| r.borrow().as_ref().is_some_and(|r| r.dirty))
    {
        return reject("OOM command not allowed when used memory > 'maxmemory'.");
    }
    let shard_id = b.ctx.shard.id;
    let nshards = b.ctx.shard.nshards;
    for i in cmd.keys_of(a) {
        let k = a.get(i);
        let foreign = if shard_id == SCRATCH {
            if b.db != b.ctx.db {
                // Copies are taken from the command's database only.
                return err_value(
                    lua,
                    "ERR Script attempted to access another database while its keys span shards",
                );
            }
            // Only what was gathered is here.
            let gathered = b.ctx.shard.gathered_keys.as_ref().unwrap_or(&b.keys);
            !gathered.iter().any(|d| d == k)
        } else {
            nshards > 1 && key_shard(k, nshards) != shard_id
        };
        if !foreign {
            continue;
        }
        super::mark_roaming(b.id);
        let dirty = RUN.with(|r| r.borrow().as_ref().is_some_and(|r| r.dirty));
        if super::retry_allowed() && (shard_id == SCRATCH || !dirty || b.undo.complete) {
            // Start over with this key too: stop here (the script's pcall
            // cannot catch it), answer RETRY (see `run`).
            b.retry = Some(k.to_vec());
            let why = "ERR script restarts to take an undeclared key".to_string();
            RUN.with(|r| {
                if let Some(r) = r.borrow_mut().as_mut() {
                    r.stopped = Some(why.clone());
                }
            });
            return Err(mlua::Error::runtime(why));
        }
        return err_value(
            lua,
            if shard_id == SCRATCH {
                "ERR Script attempted to access a key not declared in KEYS while its keys span shards"
            } else {
                "ERR Script attempted to access a key of another shard after writing: declare it in KEYS"
            },
        );
    }
    let proto = if b.resp3 { Proto::Resp3 } else { Proto::Resp2 };
    let mut out = Vec::new();
    let db = b.db;
    let monitored = SERVER.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|s| s.monitor_count.load(Ordering::Relaxed) > 0)
    });
    if monitored {
        if shard_id != SCRATCH {
            b.ctx.shard.script_monitor.push((db, owned.clone()));
        } else {
            super::note_copied_monitor(db, owned.clone());
        }
    }
    if cmd.flags.contains(&"readonly") {
        crate::tracking::script_read();
    }
    if cmd.is_write() && shard_id != SCRATCH && super::retry_allowed() && b.undo.complete {
        let Bridge { ctx, undo, .. } = &mut *b;
        undo.save(ctx, cmd, db, a);
    }
    match cmd.kind {
        Kind::Keyed(f) | Kind::Multi(f, _) => {
            let ctx = &mut *b.ctx;
            let mut inner = Ctx {
                shard: &mut *ctx.shard,
                db,
                now: ctx.now,
                r: Reply::new(&mut out, proto),
                max_bulk: ctx.max_bulk,
            };
            f(&mut inner, a);
            // A blocking command that would block answers nil, as inside
            // MULTI.
            if out.is_empty() {
                Reply::new(&mut out, proto).null();
            }
        }
        Kind::Conn(_) => conn_command(&mut b, cmd, a, &mut Reply::new(&mut out, proto)),
        _ => Reply::new(&mut out, proto)
            .error("ERR This Redis command is not allowed from script: it runs on every shard"),
    }
    let failed = out.first() == Some(&b'-');
    crate::callstats::record(cmd, a, failed);
    if cmd.is_write() && !failed {
        RUN.with(|r| {
            if let Some(r) = r.borrow_mut().as_mut() {
                r.dirty = true;
            }
        });
        let ctx = &mut *b.ctx;
        crate::reactor::touch_written_by(ctx.shard, cmd, db, a, &out);
        ctx.shard.script_effects.push(ScriptEffect {
            cmd,
            db,
            args: owned.clone(),
            reply: out.clone(),
        });
    }
    drop(b);
    Ok((reply_to_lua(lua, &out)?, failed))
}

fn conn_command(b: &mut Bridge, cmd: &'static Command, a: Args, r: &mut Reply) {
    match cmd.name {
        "ping" if a.len() == 1 => r.simple("PONG"),
        // Reached only with deny-scripts disabled (`refused`).
        "debug" if a.len() == 3 && a.get(1).eq_ignore_ascii_case(b"protocol") => {
            crate::commands::server::debug_protocol(r, a.get(2))
        }
        "debug" if a.len() == 3 && a.get(1).eq_ignore_ascii_case(b"sleep") => {
            // The script's clock stays where it started, as in Redis.
            let secs = crate::commands::ctx::arg_f64(a.get(2)).unwrap_or(0.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
            r.ok();
        }
        "ping" => r.bulk(a.get(1)),
        "echo" => r.bulk(a.get(1)),
        "time" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            r.array(2);
            r.bulk(now.as_secs().to_string().as_bytes());
            r.bulk(now.subsec_micros().to_string().as_bytes());
        }
        "select" => match crate::protocol::parse_i64(a.get(1)) {
            None => r.error(ERR_NOT_INT),
            Some(n) if n < 0 || n as usize >= b.ctx.shard.dbs.len() => {
                r.error("ERR DB index is out of range")
            }
            Some(n) => {
                b.db = n as usize;
                r.ok();
            }
        },
        // Counted now, delivered by the reactor when the script is done
        // (`Reactor::script_done`).
        "publish" | "spublish" if b.ctx.shard.id != SCRATCH => {
            let n = SERVER.with(|s| {
                s.borrow().as_ref().map_or(0, |s| {
                    if cmd.name == "spublish" {
                        return s.pubsub.shard_receivers(a.get(1)).len();
                    }
                    let rec = s.pubsub.receivers(a.get(1));
                    rec.direct.len() + rec.by_pattern.len()
                })
            });
            b.ctx.shard.script_effects.push(ScriptEffect {
                cmd,
                db: b.db,
                args: OwnedArgs::from_args(a),
                reply: Vec::new(),
            });
            r.int(n as i64);
        }
        // A declared key: on the shard (or the copy) the script runs on.
        "memory" if a.get(1).eq_ignore_ascii_case(b"usage") => {
            if let Err(e) = crate::commands::memory::usage_options(a) {
                return r.error(e);
            }
            let ctx = &mut *b.ctx;
            let mut inner = Ctx {
                shard: &mut *ctx.shard,
                db: b.db,
                now: ctx.now,
                r: Reply::new(&mut *r.out, r.proto),
                max_bulk: ctx.max_bulk,
            };
            crate::commands::memory::usage(&mut inner, a.get(2));
        }
        "memory" if a.len() == 2 && a.get(1).eq_ignore_ascii_case(b"purge") => {
            if crate::alloc::release_freed_pages() {
                r.ok();
            } else {
                r.error("ERR Error purging dirty pages");
            }
        }
        // INFO, LASTSAVE, DBSIZE, MEMORY STATS and DOCTOR need every shard's
        // figures, not one shard; PUBLISH
        // from a script whose keys span shards runs on a scratch copy:
        // not available to scripts yet.
        _ => r.error(&format!(
            "ERR '{}' is not supported in scripts by halocline yet",
            cmd.name
        )),
    }
}
