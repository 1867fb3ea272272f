//! Key expiry: passive (on access) and active (in the background), with
//! DEBUG SET-ACTIVE-EXPIRE switching the background cycle on and off.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn keyspace_line(con: &mut redis::Connection, db: usize) -> Option<String> {
    info_field(con, "keyspace", &format!("db{db}"))
}

/// Insert `n` keys `prefix{i}` with `PX px`, pipelined in batches.
fn insert_px(con: &mut redis::Connection, prefix: &str, n: usize, px: u64) {
    for start in (0..n).step_by(5000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 5000).min(n) {
            pipe.cmd("SET")
                .arg(format!("{prefix}{i}"))
                .arg("v")
                .arg("PX")
                .arg(px)
                .ignore();
        }
        pipe.exec(con).expect("pipeline");
    }
}

#[test]
fn passive_expiry() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        ok(&mut con, &["SET", "k", "v", "PX", "50"]);
        assert_eq!(bulk(&mut con, &["GET", "k"]).as_deref(), Some("v"));
        std::thread::sleep(ms(100));
        assert_eq!(bulk(&mut con, &["GET", "k"]), None);
        assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
        assert_eq!(int(&mut con, &["TTL", "k"]), -2);

        // with the background cycle off, only access removes the key
        ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        ok(&mut con, &["SET", "p", "v", "PX", "200"]);
        std::thread::sleep(ms(50));
        assert_eq!(
            bulk(&mut con, &["GET", "p"]).as_deref(),
            Some("v"),
            "expired too early"
        );
        std::thread::sleep(ms(250));
        assert_eq!(int(&mut con, &["DBSIZE"]), 1);
        assert_eq!(bulk(&mut con, &["GET", "p"]), None);
        assert_eq!(
            int(&mut con, &["DBSIZE"]),
            0,
            "GET of an expired key must delete it"
        );
        // expired keys can be written again as new keys
        ok(&mut con, &["SET", "q", "1", "PX", "30"]);
        std::thread::sleep(ms(60));
        assert_eq!(
            int(&mut con, &["INCR", "q"]),
            1,
            "INCR on an expired key starts from 0"
        );
        assert_eq!(int(&mut con, &["TTL", "q"]), -1);
        ok(&mut con, &["SET", "r", "abc", "PX", "30"]);
        std::thread::sleep(ms(60));
        assert_eq!(int(&mut con, &["APPEND", "r", "x"]), 1);
        assert_eq!(q(&mut con, &["SET", "r2", "v", "PX", "30"]), Value::Okay);
        std::thread::sleep(ms(60));
        assert_eq!(
            q(&mut con, &["SET", "r2", "new", "NX"]),
            Value::Okay,
            "NX on an expired key must succeed"
        );
    }
}

#[test]
fn active_expiry_removes_100k_unaccessed_keys() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
        ok(&mut con, &["SET", "persistent", "v"]);
        let t0 = Instant::now();
        insert_px(&mut con, "ae:", 100_000, 100);
        let insert_time = t0.elapsed();
        // Never touch the keys: only DBSIZE / INFO, which do not access them.
        let deadline = Instant::now() + Duration::from_millis(2000);
        let mut n = int(&mut con, &["DBSIZE"]);
        while n > 1 && Instant::now() < deadline {
            std::thread::sleep(ms(100));
            n = int(&mut con, &["DBSIZE"]);
        }
        assert_eq!(
            n,
            1,
            "threads {threads}: {} keys still counted 2 s after they expired (insert took {insert_time:?})",
            n - 1
        );
        assert_eq!(
            keyspace_line(&mut con, 0).as_deref(),
            Some("keys=1,expires=0,avg_ttl=0")
        );
        let expired: i64 = info_field(&mut con, "stats", "expired_keys")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(expired, 100_000, "INFO stats expired_keys");
        assert_eq!(bulk(&mut con, &["GET", "persistent"]).as_deref(), Some("v"));
    }
}

#[test]
fn without_active_expiry_keys_stay_counted_until_accessed() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        insert_px(&mut con, "na:", 1000, 50);
        ok(&mut con, &["SET", "persistent", "v"]);
        std::thread::sleep(ms(400));
        assert_eq!(
            int(&mut con, &["DBSIZE"]),
            1001,
            "threads {threads}: expired keys removed with active expire off"
        );
        assert_eq!(
            keyspace_line(&mut con, 0).as_deref(),
            Some("keys=1001,expires=1000,avg_ttl=0")
        );
        // access half of them
        for i in 0..500 {
            assert_eq!(bulk(&mut con, &["GET", &format!("na:{i}")]), None);
        }
        assert_eq!(int(&mut con, &["DBSIZE"]), 501);
        // EXISTS over many keys across shards also reclaims them
        let mut args = vec!["EXISTS".to_string()];
        args.extend((500..1000).map(|i| format!("na:{i}")));
        assert_eq!(int(&mut con, &args), 0);
        assert_eq!(int(&mut con, &["DBSIZE"]), 1);
        // an expired key is invisible to KEYS even before it is reclaimed
        insert_px(&mut con, "nb:", 100, 30);
        std::thread::sleep(ms(100));
        assert_eq!(
            strs(&q(&mut con, &["KEYS", "nb:*"])),
            Vec::<Option<String>>::new()
        );
        assert_eq!(
            bulk(&mut con, &["RANDOMKEY"]).as_deref(),
            Some("persistent")
        );

        // switching the background cycle back on reclaims the rest
        insert_px(&mut con, "nc:", 1000, 30);
        std::thread::sleep(ms(100));
        assert!(int(&mut con, &["DBSIZE"]) > 1000);
        ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut n = int(&mut con, &["DBSIZE"]);
        while n > 1 && Instant::now() < deadline {
            std::thread::sleep(ms(50));
            n = int(&mut con, &["DBSIZE"]);
        }
        assert_eq!(
            n, 1,
            "threads {threads}: active expiry re-enabled but keys remain"
        );
    }
}

#[test]
fn ttl_counts_down() {
    let srv = Server::start(4);
    let mut con = srv.conn();
    ok(&mut con, &["SET", "k", "v", "PX", "1500"]);
    let a = int(&mut con, &["PTTL", "k"]);
    std::thread::sleep(ms(300));
    let b = int(&mut con, &["PTTL", "k"]);
    assert!(a <= 1500 && a > 1300, "pttl {a}");
    assert!(
        b <= a - 250 && b >= a - 400,
        "pttl went from {a} to {b} in 300 ms"
    );
}

/// DEBUG PAUSE-CRON 1 stops the periodic cycle (active expiry among it)
/// on every reactor, as it stops Redis's serverCron; 0 resumes it. Redis's
/// unit/tracking pauses the cron this way. It was an unknown subcommand.
#[test]
fn debug_pause_cron_stops_and_resumes_the_periodic_cycle() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    ok(&mut con, &["DEBUG", "PAUSE-CRON", "1"]);
    insert_px(&mut con, "pc:", 200, 30);
    std::thread::sleep(ms(400));
    assert_eq!(
        int(&mut con, &["DBSIZE"]),
        200,
        "expired keys reclaimed by a paused cron"
    );
    ok(&mut con, &["DEBUG", "PAUSE-CRON", "0"]);
    let deadline = Instant::now() + Duration::from_millis(2000);
    let mut n = int(&mut con, &["DBSIZE"]);
    while n > 0 && Instant::now() < deadline {
        std::thread::sleep(ms(50));
        n = int(&mut con, &["DBSIZE"]);
    }
    assert_eq!(n, 0, "the cron resumed but keys remain");
}
