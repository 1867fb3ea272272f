//! Shared helpers for the integration tests: a `Server` that runs the real
//! binary on a free port (killed on drop), a raw TCP client with a small RESP
//! parser, and helpers around the `redis` crate that keep error replies as
//! values so tests can compare their exact text.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use redis::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_halocline");

/// Ask the OS for a free port: bind 127.0.0.1:0, read the port, drop the socket.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A running halocline process. Killed (and reaped) on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub threads: usize,
    stderr: Arc<Mutex<Vec<u8>>>,
    password: Option<String>,
}

/// The server binary under test. `HALOCLINE_TEST_REDIS=/path/to/redis-server`
/// runs the same tests against a reference redis-server instead (to check the
/// tests themselves): `--threads N` is dropped and persistence is disabled.
pub fn server_bin() -> (String, bool) {
    match std::env::var("HALOCLINE_TEST_REDIS") {
        Ok(p) if !p.is_empty() => (p, true),
        _ => (BIN.to_string(), false),
    }
}

/// Spawn the binary with `args`, capturing stderr into a shared buffer.
pub fn spawn_raw(args: &[String]) -> (Child, Arc<Mutex<Vec<u8>>>) {
    let (bin, reference) = server_bin();
    let mut args = args.to_vec();
    if reference {
        if let Some(i) = args.iter().position(|a| a == "--threads") {
            args.drain(i..(i + 2).min(args.len()));
        }
        args.extend(
            [
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ]
            .map(String::from),
        );
    }
    if !reference && !args.iter().any(|a| a == "--io-backend") {
        // The whole suite runs against either I/O driver (CI runs both).
        if let Ok(b) = std::env::var("HALOCLINE_IO_BACKEND") {
            args.extend(["--io-backend".to_string(), b]);
        }
    }
    let mut cmd = Command::new(bin);
    if reference {
        // keep any file redis-server writes (CONFIG SET appendonly yes) out of the repo
        cmd.current_dir(temp_dir("ref"));
    }
    let mut child = cmd
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn halocline");
    let buf = Arc::new(Mutex::new(Vec::new()));
    let mut err = child.stderr.take().unwrap();
    let b2 = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match err.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => b2.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    (child, buf)
}

/// Wait for a child to exit, up to `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run the binary to completion (it is expected to exit by itself, e.g. on a
/// configuration error). Returns (status, stderr). Kills it after `timeout`.
pub fn run_to_exit(args: &[String], timeout: Duration) -> (Option<ExitStatus>, String) {
    let (mut child, buf) = spawn_raw(args);
    let st = wait_timeout(&mut child, timeout);
    if st.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    std::thread::sleep(Duration::from_millis(50));
    let s = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    (st, s)
}

/// Is a server answering on `port`, and is it our child `pid`? Sends PING
/// (the readiness check), then INFO server to read its process_id, so that a
/// server of a concurrently running test that got the same port is never
/// mistaken for ours.
fn probe(port: u16, password: Option<&str>, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_millis(500))).ok();
    s.set_write_timeout(Some(Duration::from_millis(500))).ok();
    let mut req = Vec::new();
    if let Some(p) = password {
        req.extend(encode_strs(&["AUTH", p]));
    }
    req.extend(encode_strs(&["PING"]));
    req.extend(encode_strs(&["INFO", "server"]));
    if s.write_all(&req).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let want_lines = if password.is_some() { 3 } else { 2 };
    // Read until the INFO bulk string is complete.
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        let lines: Vec<&str> = text.split("\r\n").collect();
        if lines.len() > want_lines {
            if password.is_some() && lines[0] != "+OK" {
                return false;
            }
            if lines[want_lines - 2] != "+PONG" {
                return false;
            }
            let hdr = lines[want_lines - 1];
            if let Some(len) = hdr.strip_prefix('$').and_then(|l| l.parse::<usize>().ok()) {
                let off: usize = lines[..want_lines].iter().map(|l| l.len() + 2).sum();
                if buf.len() >= off + len {
                    let info = String::from_utf8_lossy(&buf[off..off + len]).into_owned();
                    return info
                        .lines()
                        .any(|l| l.trim() == format!("process_id:{pid}"));
                }
            } else {
                return false;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

impl Server {
    /// `halocline --port P --threads T`.
    pub fn start(threads: usize) -> Server {
        Self::start_with(threads, &[])
    }

    /// `halocline --port P --threads T <extra...>`.
    pub fn start_with(threads: usize, extra: &[&str]) -> Server {
        Self::start_full(None, threads, extra)
    }

    /// `halocline [config_file] --port P --threads T <extra...>`. Retries with
    /// another port if the chosen one was taken in the meantime.
    pub fn start_full(config_file: Option<&str>, threads: usize, extra: &[&str]) -> Server {
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut args: Vec<String> = Vec::new();
            if let Some(c) = config_file {
                args.push(c.to_string());
            }
            args.extend([
                "--port".to_string(),
                port.to_string(),
                "--threads".to_string(),
                threads.to_string(),
            ]);
            args.extend(extra.iter().map(|s| s.to_string()));
            match Self::spawn_and_wait(args, port, threads) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("halocline did not start: {last_err}");
    }

    /// Spawn with exactly `args` (which must make it listen on `port`) and
    /// wait until it answers PING.
    pub fn spawn_and_wait(args: Vec<String>, port: u16, threads: usize) -> Result<Server, String> {
        let (child, stderr) = spawn_raw(&args);
        let password = args
            .iter()
            .position(|a| a == "--requirepass")
            .and_then(|i| args.get(i + 1).cloned());
        let mut s = Server {
            child,
            port,
            threads,
            stderr,
            password,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!("exited early with {st}; stderr:\n{}", s.stderr()));
            }
            if probe(port, s.password.as_deref(), s.child.id()) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not answering PING after 10 s; stderr:\n{}",
                    s.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn url(&self, resp3: bool) -> String {
        let auth = match &self.password {
            Some(p) => format!(":{p}@"),
            None => String::new(),
        };
        if resp3 {
            format!("redis://{auth}127.0.0.1:{}/?protocol=resp3", self.port)
        } else {
            format!("redis://{auth}127.0.0.1:{}/", self.port)
        }
    }

    /// A redis-crate connection, RESP2 or RESP3.
    pub fn conn_proto(&self, resp3: bool) -> redis::Connection {
        let client = redis::Client::open(self.url(resp3).as_str()).expect("client");
        let con = client
            .get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        con
    }

    /// A RESP2 redis-crate connection.
    pub fn conn(&self) -> redis::Connection {
        self.conn_proto(false)
    }

    /// A raw TCP connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// Wait for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, timeout)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Thread counts every multi-shard test runs with.
pub const THREADS: [usize; 2] = [1, 4];

/// Run `f` against a fresh server for each of --threads 1 and --threads 4,
/// and for each of them with a RESP2 and a RESP3 connection (FLUSHALL between).
pub fn for_each_setup(mut f: impl FnMut(&Server, &mut redis::Connection, bool)) {
    for threads in THREADS {
        let srv = Server::start(threads);
        for resp3 in [false, true] {
            let mut con = srv.conn_proto(resp3);
            ok(&mut con, &["FLUSHALL"]);
            eprintln!("-- threads {threads}, resp{}", if resp3 { 3 } else { 2 });
            f(&srv, &mut con, resp3);
        }
    }
}

// ---------------------------------------------------------------------------
// redis-crate helpers

/// Build a command from string-ish args.
pub fn cmd_of<A: redis::ToRedisArgs>(args: &[A]) -> redis::Cmd {
    let mut c = redis::Cmd::new();
    for a in args {
        c.arg(a);
    }
    c
}

/// Send a command and return its raw reply, error replies included.
pub fn q<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) -> Value {
    use redis::ConnectionLike;
    con.req_command(&cmd_of(args))
        .expect("I/O error talking to server")
}

/// The full text of an error reply ("ERR ...", "WRONGPASS ..."), or None.
pub fn err_text(v: &Value) -> Option<String> {
    match v {
        Value::ServerError(e) => Some(match e.details() {
            Some(d) => format!("{} {}", e.code(), d),
            None => e.code().to_string(),
        }),
        _ => None,
    }
}

/// Send a command that must fail; return the error text.
#[track_caller]
pub fn err<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) -> String {
    let v = q(con, args);
    err_text(&v).unwrap_or_else(|| panic!("expected an error reply, got {v:?}"))
}

/// Send a command that must reply +OK.
#[track_caller]
pub fn ok<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) {
    let v = q(con, args);
    assert!(
        matches!(&v, Value::Okay) || matches!(&v, Value::SimpleString(s) if s == "OK"),
        "expected OK, got {v:?}"
    );
}

/// Send a command that must reply with an integer.
#[track_caller]
pub fn int<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) -> i64 {
    match q(con, args) {
        Value::Int(n) => n,
        v => panic!("expected an integer reply, got {v:?}"),
    }
}

/// Send a command that must reply with a bulk string or nil.
#[track_caller]
pub fn bulk<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) -> Option<String> {
    match q(con, args) {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8(b).expect("utf8")),
        v => panic!("expected a bulk string or nil, got {v:?}"),
    }
}

/// Send a command that must reply with a simple (status) string.
#[track_caller]
pub fn status<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) -> String {
    match q(con, args) {
        Value::Okay => "OK".into(),
        Value::SimpleString(s) => s,
        v => panic!("expected a status reply, got {v:?}"),
    }
}

/// Any string-like value as a String (bulk, simple, verbatim).
#[track_caller]
pub fn as_str(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::VerbatimString { text, .. } => text.clone(),
        v => panic!("expected a string, got {v:?}"),
    }
}

/// An array (or set) reply of strings-or-nils.
#[track_caller]
pub fn strs(v: &Value) -> Vec<Option<String>> {
    match v {
        Value::Array(a) | Value::Set(a) => a
            .iter()
            .map(|x| match x {
                Value::Nil => None,
                x => Some(as_str(x)),
            })
            .collect(),
        v => panic!("expected an array, got {v:?}"),
    }
}

/// A map reply (RESP3 map, or RESP2 flat array of pairs) as string pairs.
#[track_caller]
pub fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (as_str(k), v.clone())).collect(),
        Value::Array(a) => {
            assert!(
                a.len() % 2 == 0,
                "odd-length array where pairs expected: {v:?}"
            );
            a.chunks(2).map(|c| (as_str(&c[0]), c[1].clone())).collect()
        }
        v => panic!("expected a map, got {v:?}"),
    }
}

// ---------------------------------------------------------------------------
// Raw TCP

/// A parsed RESP2/RESP3 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    NilBulk,
    Array(Vec<Resp>),
    NilArray,
    Null,
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Double(String),
    Bool(bool),
    Verbatim(String, Vec<u8>),
    BigNum(String),
    Push(Vec<Resp>),
}

impl Resp {
    pub fn bulk(s: &str) -> Resp {
        Resp::Bulk(s.as_bytes().to_vec())
    }
    pub fn simple(s: &str) -> Resp {
        Resp::Simple(s.to_string())
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_))
    }
}

/// A raw TCP client: send bytes, read RESP replies.
pub struct Raw {
    pub s: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).ok();
        Raw {
            s,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub fn set_timeout(&mut self, d: Duration) {
        self.s.set_read_timeout(Some(d)).unwrap();
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Write, tolerating a peer that already closed (for abusive inputs).
    pub fn send_lossy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    /// Encode and send a multibulk command.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        let b = encode(args);
        self.send(&b);
    }

    /// Send a command (multibulk) and read one reply.
    pub fn call(&mut self, args: &[&str]) -> Resp {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a);
        self.read()
    }

    /// Read more bytes; Ok(0) on EOF.
    fn fill(&mut self) -> std::io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 65536];
        let n = self.s.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf[self.pos..].windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return l;
            }
            match self.fill() {
                Ok(0) => panic!(
                    "connection closed while reading a reply line; partial: {:?}",
                    String::from_utf8_lossy(&self.buf[self.pos..])
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "read error {e} while reading a reply line; partial: {:?}",
                    String::from_utf8_lossy(&self.buf[self.pos..])
                ),
            }
        }
    }

    fn exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() - self.pos < n + 2 {
            match self.fill() {
                Ok(0) => panic!("connection closed inside a bulk string"),
                Ok(_) => {}
                Err(e) => panic!("read error {e} inside a bulk string"),
            }
        }
        let v = self.buf[self.pos..self.pos + n].to_vec();
        assert_eq!(
            &self.buf[self.pos + n..self.pos + n + 2],
            b"\r\n",
            "bulk not CRLF-terminated"
        );
        self.pos += n + 2;
        v
    }

    /// Read one complete reply.
    pub fn read(&mut self) -> Resp {
        let l = self.line();
        let (t, rest) = l.split_at(1);
        let num = |s: &str| -> i64 {
            s.parse()
                .unwrap_or_else(|_| panic!("bad length/int {s:?} in {l:?}"))
        };
        match t {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Int(num(rest)),
            "$" => {
                let n = num(rest);
                if n < 0 {
                    Resp::NilBulk
                } else {
                    Resp::Bulk(self.exact(n as usize))
                }
            }
            "*" | "~" | ">" => {
                let n = num(rest);
                if n < 0 {
                    return Resp::NilArray;
                }
                let v: Vec<Resp> = (0..n).map(|_| self.read()).collect();
                match t {
                    "*" => Resp::Array(v),
                    "~" => Resp::Set(v),
                    _ => Resp::Push(v),
                }
            }
            "%" => {
                let n = num(rest);
                Resp::Map((0..n).map(|_| (self.read(), self.read())).collect())
            }
            "_" => Resp::Null,
            "," => Resp::Double(rest.into()),
            "#" => Resp::Bool(rest == "t"),
            "(" => Resp::BigNum(rest.into()),
            "=" => {
                let n = num(rest) as usize;
                let b = self.exact(n);
                Resp::Verbatim(
                    String::from_utf8_lossy(&b[..3]).into_owned(),
                    b[4..].to_vec(),
                )
            }
            "!" => {
                let n = num(rest) as usize;
                Resp::Error(String::from_utf8_lossy(&self.exact(n)).into_owned())
            }
            _ => panic!("unknown RESP type byte in line {l:?}"),
        }
    }

    /// Read whatever arrives until the peer closes or `within` passes.
    /// Returns (bytes, closed).
    pub fn read_until_close(&mut self, within: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + within;
        let mut out = self.buf[self.pos..].to_vec();
        self.buf.clear();
        self.pos = 0;
        let mut chunk = [0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (out, false);
            }
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.s.read(&mut chunk) {
                Ok(0) => return (out, true),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    return (out, false)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset also means the server closed the connection.
                Err(_) => return (out, true),
            }
        }
    }

    /// Nothing more arrives within `within` and the connection stays open.
    pub fn assert_silent(&mut self, within: Duration) {
        let (b, closed) = self.read_until_close(within);
        assert!(
            b.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&b)
        );
        assert!(!closed, "connection closed unexpectedly");
        self.s
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }

    pub fn close_write(&self) {
        let _ = self.s.shutdown(Shutdown::Write);
    }
}

/// RESP multibulk encoding.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        b.extend_from_slice(a);
        b.extend_from_slice(b"\r\n");
    }
    b
}

pub fn encode_strs(args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    encode(&a)
}

/// A fresh temporary directory for this test process.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!(
        "halocline-test-{}-{}-{}",
        tag,
        std::process::id(),
        n
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One field of an INFO section (`None` if absent).
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let text = as_str(&q(con, &["INFO", section]));
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

/// Is redis-server on PATH? Under CI=true its absence fails the test that
/// needs it (`what`), never skips it.
pub fn redis_server_available(what: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server is not on PATH; {what} need it under CI=true"
        );
        eprintln!("redis-server not on PATH: skipping {what}");
    }
    found
}

/// A redis-server child on a free port (or a given one) with extra
/// arguments (`--replicaof`, `--requirepass`...), killed on drop.
pub struct RedisServer {
    pub child: Child,
    pub port: u16,
    password: Option<String>,
}

impl RedisServer {
    pub fn start(extra: &[&str]) -> RedisServer {
        for _ in 0..3 {
            if let Some(m) = RedisServer::start_on(free_port(), extra) {
                return m;
            }
        }
        panic!("could not start redis-server");
    }

    pub fn start_on(port: u16, extra: &[&str]) -> Option<RedisServer> {
        let dir = temp_dir("redis");
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("redis-server")
            .args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .map(|i| extra[i + 1].to_string());
        let mut m = RedisServer {
            child,
            port,
            password,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = m.child.try_wait() {
                return None;
            }
            if let Ok(mut c) = m.try_conn() {
                if matches!(q(&mut c, &["PING"]), Value::SimpleString(ref s) if s == "PONG") {
                    return Some(m);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        let client = redis::Client::open(format!("redis://{auth}127.0.0.1:{}/", self.port))?;
        let c = client.get_connection_with_timeout(Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(c)
    }

    pub fn conn(&self) -> redis::Connection {
        self.try_conn().expect("connect to redis-server")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// After a WATCH: MULTI, PING, EXEC; whether the transaction ran (false:
/// a watched key changed and EXEC answered nil).
pub fn exec_runs(con: &mut redis::Connection) -> bool {
    ok(con, &["MULTI"]);
    q(con, &["PING"]);
    match q(con, &["EXEC"]) {
        Value::Nil => false,
        Value::Array(v) if v == [Value::SimpleString("PONG".into())] => true,
        v => panic!("EXEC answered {v:?}"),
    }
}

/// The first key `{prefix}{i}` that lives on `shard` of `nshards`, by the
/// server's own placement.
pub fn key_on_shard(prefix: &str, shard: usize, nshards: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| halocline::shard::slot::key_shard(k.as_bytes(), nshards) == shard)
        .unwrap_or_default()
}
