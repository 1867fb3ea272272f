//! Malformed and unusual client input over raw TCP. Expected bytes are what
//! redis-server 7.0.15 sends.

mod common;
use common::*;
use std::time::Duration;

/// Send `input` on a fresh connection; expect exactly `reply` followed by
/// the server closing the connection.
#[track_caller]
fn expect_error_and_close(srv: &Server, input: &[u8], reply: &str) {
    let mut raw = srv.raw();
    let _ = raw.send_lossy(input);
    let (got, closed) = raw.read_until_close(Duration::from_secs(3));
    assert_eq!(
        String::from_utf8_lossy(&got),
        reply,
        "input {:?}",
        String::from_utf8_lossy(&input[..input.len().min(40)])
    );
    assert!(
        closed,
        "connection not closed after a protocol error; input {:?}",
        String::from_utf8_lossy(&input[..input.len().min(40)])
    );
    // the server is still fine for everyone else
    let mut other = srv.raw();
    assert_eq!(other.call(&["PING"]), Resp::simple("PONG"));
}

#[test]
fn protocol_errors_close_the_connection() {
    for threads in THREADS {
        let srv = Server::start(threads);
        expect_error_and_close(
            &srv,
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        );
        expect_error_and_close(
            &srv,
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        );
        expect_error_and_close(
            &srv,
            b"*1\r\n$-10\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        );
        expect_error_and_close(
            &srv,
            b"*1\r\n$blabla\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        );
        expect_error_and_close(
            &srv,
            b"*1\r\n$2000000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        );
        expect_error_and_close(
            &srv,
            b"*1\r\n$536870913\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        );
        expect_error_and_close(
            &srv,
            b"set \"\"\"test-key\"\"\" test-value\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        );
        expect_error_and_close(
            &srv,
            b"set k 'abc\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        );
        // replies to earlier commands in the same read still arrive first
        expect_error_and_close(
            &srv,
            b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\nxyz\r\n",
            "+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n",
        );
    }
}

#[test]
fn oversized_inline_and_headers_are_refused() {
    let srv = Server::start(4);
    let garbage = vec![b'x'; 70_000];
    expect_error_and_close(
        &srv,
        &garbage,
        "-ERR Protocol error: too big inline request\r\n",
    );
    let mut mbulk = b"*".to_vec();
    mbulk.extend(std::iter::repeat_n(b'1', 70_000));
    expect_error_and_close(
        &srv,
        &mbulk,
        "-ERR Protocol error: too big mbulk count string\r\n",
    );
    let mut bulkhdr = b"*2\r\n$3\r\nget\r\n$".to_vec();
    bulkhdr.extend(std::iter::repeat_n(b'1', 70_000));
    expect_error_and_close(
        &srv,
        &bulkhdr,
        "-ERR Protocol error: too big bulk count string\r\n",
    );
    // the garbage sent in pieces, as a slow client would
    let mut raw = srv.raw();
    for _ in 0..10 {
        let _ = raw.send_lossy(&[b'y'; 8000]);
        std::thread::sleep(ms(5));
    }
    let (got, closed) = raw.read_until_close(Duration::from_secs(3));
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: too big inline request\r\n"
    );
    assert!(closed);
}

#[test]
fn command_errors_keep_the_connection() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut raw = srv.raw();
        raw.send(b"foo\r\n");
        assert_eq!(
            raw.read(),
            Resp::Error("ERR unknown command 'foo', with args beginning with: ".into())
        );
        raw.send(b"foo bar baz\r\n");
        assert_eq!(
            raw.read(),
            Resp::Error("ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ".into())
        );
        assert_eq!(
            raw.call(&["FOO", "x"]),
            Resp::Error("ERR unknown command 'FOO', with args beginning with: 'x' ".into())
        );
        assert_eq!(
            raw.call(&["GET"]),
            Resp::Error("ERR wrong number of arguments for 'get' command".into())
        );
        raw.send(b"GET\r\n");
        assert_eq!(
            raw.read(),
            Resp::Error("ERR wrong number of arguments for 'get' command".into())
        );
        assert_eq!(
            raw.call(&["get", "a", "b"]),
            Resp::Error("ERR wrong number of arguments for 'get' command".into())
        );
        // an error in the middle of a pipeline does not disturb the rest
        raw.send(b"*1\r\n$3\r\nGET\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            raw.read(),
            Resp::Error("ERR wrong number of arguments for 'get' command".into())
        );
        assert_eq!(raw.read(), Resp::simple("PONG"));
        raw.assert_silent(ms(50));
        assert_eq!(raw.call(&["PING"]), Resp::simple("PONG"));
    }
}

#[test]
fn inline_commands() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut raw = srv.raw();
        raw.send(b"PING\r\n");
        assert_eq!(raw.read(), Resp::simple("PONG"));
        raw.send(b"set a b\r\n");
        assert_eq!(raw.read(), Resp::simple("OK"));
        raw.send(b"get a\r\n");
        assert_eq!(raw.read(), Resp::bulk("b"));
        // bare LF also ends an inline command
        raw.send(b"get a\n");
        assert_eq!(raw.read(), Resp::bulk("b"));
        // several inline commands in one write, extra spaces
        raw.send(b"  set   c   1  \r\nincr c\r\nPING hello\r\n");
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::Int(2));
        assert_eq!(raw.read(), Resp::bulk("hello"));
        // quoting and escapes
        raw.send(b"set q \"a\\x41\\n b\"\r\nget q\r\n");
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::bulk("aA\n b"));
        raw.send(b"set q 'a\\x41b'\r\nget q\r\n");
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::bulk("a\\x41b"));
        // empty lines are ignored, so are *0 and *-1
        raw.send(b"\r\n\r\n\nPING\r\n");
        assert_eq!(raw.read(), Resp::simple("PONG"));
        raw.send(b"*0\r\n*-1\r\nPING\r\n");
        assert_eq!(raw.read(), Resp::simple("PONG"));
        raw.send(b"\r\n");
        raw.assert_silent(ms(100));
        // a command split across writes
        raw.send(b"*2\r\n$4\r\nPI");
        std::thread::sleep(ms(20));
        raw.send(b"NG\r\n$3\r\nabc\r\n");
        assert_eq!(raw.read(), Resp::bulk("abc"));
        raw.send(b"PI");
        std::thread::sleep(ms(20));
        raw.send(b"NG\r\n");
        assert_eq!(raw.read(), Resp::simple("PONG"));
    }
}

#[test]
fn hello_protocol_versions() {
    let srv = Server::start(2);
    let mut raw = srv.raw();
    assert_eq!(
        raw.call(&["HELLO", "4"]),
        Resp::Error("NOPROTO unsupported protocol version".into())
    );
    assert_eq!(
        raw.call(&["HELLO", "1"]),
        Resp::Error("NOPROTO unsupported protocol version".into())
    );
    assert_eq!(
        raw.call(&["HELLO", "abc"]),
        Resp::Error("ERR Protocol version is not an integer or out of range".into())
    );
    assert_eq!(
        raw.call(&["HELLO", "3", "SETNAME"]),
        Resp::Error("ERR Syntax error in HELLO option 'SETNAME'".into())
    );
    // still RESP2 after the failed HELLOs
    assert_eq!(raw.call(&["GET", "nokey"]), Resp::NilBulk);
    let Resp::Map(_) = raw.call(&["HELLO", "3"]) else {
        panic!("HELLO 3 must reply with a map")
    };
    assert_eq!(raw.call(&["GET", "nokey"]), Resp::Null);
    let Resp::Array(_) = raw.call(&["HELLO", "2"]) else {
        panic!("HELLO 2 must reply with an array")
    };
    assert_eq!(raw.call(&["GET", "nokey"]), Resp::NilBulk);
}

#[test]
fn auth_with_requirepass() {
    let srv = Server::start_with(4, &["--requirepass", "s3cret"]);
    let mut raw = srv.raw();
    assert_eq!(
        raw.call(&["GET", "a"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        raw.call(&["PING"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        raw.call(&["SET", "a", "1"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        raw.call(&["AUTH", "wrong"]),
        Resp::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        raw.call(&["AUTH", "default", "wrong"]),
        Resp::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        raw.call(&["AUTH", "a", "b", "c"]),
        Resp::Error("ERR syntax error".into())
    );
    assert!(
        matches!(raw.call(&["HELLO", "3"]), Resp::Error(e) if e.starts_with("NOAUTH HELLO must be called with the client already authenticated")),
    );
    assert_eq!(
        raw.call(&["GET", "a"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(raw.call(&["AUTH", "s3cret"]), Resp::simple("OK"));
    assert_eq!(raw.call(&["GET", "a"]), Resp::NilBulk);
    assert_eq!(raw.call(&["SET", "a", "1"]), Resp::simple("OK"));
    assert_eq!(raw.call(&["PING"]), Resp::simple("PONG"));

    let mut raw2 = srv.raw();
    assert_eq!(
        raw2.call(&["AUTH", "default", "s3cret"]),
        Resp::simple("OK")
    );
    assert_eq!(raw2.call(&["GET", "a"]), Resp::bulk("1"));

    // HELLO with AUTH authenticates and switches protocol at once
    let mut raw3 = srv.raw();
    match raw3.call(&["HELLO", "3", "AUTH", "default", "s3cret"]) {
        Resp::Map(m) => assert!(m.contains(&(Resp::bulk("proto"), Resp::Int(3))), "{m:?}"),
        r => panic!("HELLO 3 AUTH: {r:?}"),
    }
    assert_eq!(raw3.call(&["GET", "a"]), Resp::bulk("1"));
    let mut raw4 = srv.raw();
    assert_eq!(
        raw4.call(&["HELLO", "3", "AUTH", "default", "nope"]),
        Resp::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        raw4.call(&["GET", "a"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );

    // the redis crate authenticates through the URL
    let mut con = srv.conn();
    assert_eq!(bulk(&mut con, &["GET", "a"]).as_deref(), Some("1"));
}

#[test]
fn hello_noauth_message() {
    let srv = Server::start_with(1, &["--requirepass", "pw"]);
    let mut raw = srv.raw();
    assert_eq!(
        raw.call(&["HELLO", "3"]),
        Resp::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into())
    );
}

#[test]
fn unauthenticated_clients_cannot_send_big_requests() {
    let srv = Server::start_with(2, &["--requirepass", "pw"]);
    expect_unauth_error(
        &srv,
        b"*11\r\n",
        "-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    expect_unauth_error(
        &srv,
        b"*2\r\n$3\r\nGET\r\n$20000\r\n",
        "-ERR Protocol error: unauthenticated bulk length\r\n",
    );
}

#[track_caller]
fn expect_unauth_error(srv: &Server, input: &[u8], reply: &str) {
    let mut raw = srv.raw();
    raw.send(input);
    let (got, closed) = raw.read_until_close(Duration::from_secs(2));
    assert_eq!(String::from_utf8_lossy(&got), reply);
    assert!(closed);
}

#[test]
fn quit_replies_ok_then_closes() {
    let srv = Server::start(4);
    let mut raw = srv.raw();
    // commands after QUIT in the same write are not executed
    raw.send(b"SET afterquit 1\r\nQUIT\r\nSET afterquit 2\r\n");
    let (got, closed) = raw.read_until_close(Duration::from_secs(3));
    assert_eq!(String::from_utf8_lossy(&got), "+OK\r\n+OK\r\n");
    assert!(closed, "QUIT must close the connection");
    let mut con = srv.conn();
    assert_eq!(bulk(&mut con, &["GET", "afterquit"]).as_deref(), Some("1"));
    let mut raw = srv.raw();
    assert_eq!(raw.call(&["QUIT"]), Resp::simple("OK"));
    let (got, closed) = raw.read_until_close(Duration::from_secs(3));
    assert!(got.is_empty() && closed);
}

#[test]
fn many_bad_connections_do_not_hurt_the_server() {
    let srv = Server::start(4);
    let inputs: [&[u8]; 4] = [
        b"*3000000000\r\n",
        b"*1\r\nfoo\r\n",
        b"*1\r\n$blabla\r\n",
        b"set \"a\r\n",
    ];
    for i in 0..100 {
        let mut raw = srv.raw();
        let _ = raw.send_lossy(inputs[i % inputs.len()]);
        let (got, closed) = raw.read_until_close(Duration::from_secs(3));
        assert!(
            got.starts_with(b"-ERR Protocol error"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(closed);
    }
    // abrupt disconnects in the middle of a command
    for _ in 0..50 {
        let mut raw = srv.raw();
        raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc");
        drop(raw);
    }
    std::thread::sleep(ms(200));
    let mut con = srv.conn();
    assert_eq!(status(&mut con, &["PING"]), "PONG");
    assert_eq!(bulk(&mut con, &["GET", "k"]), None);
    let clients = as_str(&q(&mut con, &["INFO", "clients"]));
    let n: i64 = clients
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .expect("connected_clients")
        .trim()
        .parse()
        .unwrap();
    assert!(
        n <= 3,
        "connected_clients {n} after all bad connections were closed"
    );
}
