//! I/O backend selection: the epoll fallback when io_uring is unavailable,
//! and both drivers serving the same traffic.

mod common;
use common::*;
use std::time::Duration;

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info = as_str(&q(con, &["INFO", "server"]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

#[test]
fn auto_falls_back_to_epoll_when_uring_fails() {
    let srv = Server::start_with(2, &["--io-backend", "auto", "--debug-fail-uring", "yes"]);
    let mut con = srv.conn();
    assert_eq!(info_field(&mut con, "io_backend"), "epoll");
    ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(bulk(&mut con, &["GET", "k"]).as_deref(), Some("v"));
    // The start-up line may be written just after the first PING is served.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut log = srv.stderr();
    while !log.contains("io backend epoll") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = srv.stderr();
    }
    assert!(
        log.contains("falling back to the epoll backend"),
        "log: {log}"
    );
    assert!(log.contains("io backend epoll"), "log: {log}");
}

#[test]
fn forced_uring_fails_clearly_where_unavailable() {
    let port = free_port().to_string();
    let args: Vec<String> = [
        "--port",
        &port,
        "--io-backend",
        "uring",
        "--debug-fail-uring",
        "yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (status, stderr) = run_to_exit(&args, Duration::from_secs(10));
    let status = status.expect("halocline must exit");
    assert!(!status.success());
    assert!(
        stderr.contains("io_uring is unavailable"),
        "stderr: {stderr}"
    );
}

#[test]
fn each_backend_reports_itself_and_serves_cross_shard_pipelines() {
    for (flag, name) in [("epoll", "epoll"), ("uring", "io_uring")] {
        let srv = Server::start_with(4, &["--io-backend", flag]);
        let mut con = srv.conn();
        assert_eq!(info_field(&mut con, "io_backend"), name);
        let mut p = redis::pipe();
        for i in 0..2000 {
            p.cmd("SET").arg(format!("key:{i}")).arg(i);
        }
        for i in 0..2000 {
            p.cmd("GET").arg(format!("key:{i}"));
        }
        let replies: Vec<redis::Value> = p.query(&mut con).expect("pipeline");
        for i in 0..2000 {
            assert_eq!(
                as_str(&replies[2000 + i]),
                i.to_string(),
                "{flag}: GET key:{i}"
            );
        }
        let mut mget = redis::cmd("MGET");
        for i in 0..100 {
            mget.arg(format!("key:{i}"));
        }
        let vals: Vec<String> = mget.query(&mut con).expect("mget");
        assert_eq!(vals, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(int(&mut con, &["DBSIZE"]), 2000);
        // A large reply that needs several writes (EPOLLOUT / partial sends).
        let big = "x".repeat(4 << 20);
        ok(&mut con, &["SET", "big", &big]);
        assert_eq!(
            bulk(&mut con, &["GET", "big"]).map(|s| s.len()),
            Some(big.len())
        );
    }
}
