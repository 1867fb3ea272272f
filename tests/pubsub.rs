//! Pub/Sub across reactors: SUBSCRIBE/PSUBSCRIBE on connections spread over
//! every reactor, PUBLISH from any of them, Redis's replies (RESP2 arrays,
//! RESP3 pushes), the subscribed-mode rules, PUBSUB introspection, and
//! nothing left behind by a disconnect or RESET.

mod common;

use common::*;
use std::time::Duration;

fn b(s: &str) -> Resp {
    Resp::bulk(s)
}

fn msg(kind: &str, parts: &[&str]) -> Resp {
    let mut v = vec![b(kind)];
    v.extend(parts.iter().map(|p| b(p)));
    Resp::Array(v)
}

fn confirm(kind: &str, name: &str, n: i64) -> Resp {
    Resp::Array(vec![b(kind), b(name), Resp::Int(n)])
}

#[test]
fn messages_reach_subscribers_on_every_reactor() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut subs: Vec<Raw> = (0..8).map(|_| s.raw()).collect();
        for r in &mut subs {
            r.set_timeout(Duration::from_secs(5));
            assert_eq!(
                r.call(&["SUBSCRIBE", "news", "sport"]),
                confirm("subscribe", "news", 1)
            );
            assert_eq!(r.read(), confirm("subscribe", "sport", 2));
            assert_eq!(
                r.call(&["PSUBSCRIBE", "n*"]),
                confirm("psubscribe", "n*", 3)
            );
        }
        let mut p = s.raw();
        assert_eq!(p.call(&["PUBLISH", "news", "hello"]), Resp::Int(16));
        assert_eq!(p.call(&["PUBLISH", "sport", "goal"]), Resp::Int(8));
        assert_eq!(p.call(&["PUBLISH", "nothing-here", "x"]), Resp::Int(8));
        assert_eq!(p.call(&["PUBLISH", "other", "x"]), Resp::Int(0));
        for r in &mut subs {
            assert_eq!(r.read(), msg("message", &["news", "hello"]));
            assert_eq!(r.read(), msg("pmessage", &["n*", "news", "hello"]));
            assert_eq!(r.read(), msg("message", &["sport", "goal"]));
            assert_eq!(r.read(), msg("pmessage", &["n*", "nothing-here", "x"]));
        }
        assert_eq!(
            p.call(&["PUBSUB", "NUMSUB", "news", "none"]),
            Resp::Array(vec![b("news"), Resp::Int(8), b("none"), Resp::Int(0)])
        );
        assert_eq!(p.call(&["PUBSUB", "NUMPAT"]), Resp::Int(1));
        let Resp::Array(mut chans) = p.call(&["PUBSUB", "CHANNELS"]) else {
            panic!()
        };
        chans.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(chans, vec![b("news"), b("sport")]);
        assert_eq!(
            p.call(&["PUBSUB", "CHANNELS", "s*"]),
            Resp::Array(vec![b("sport")])
        );
        // A disconnect leaves no subscription behind.
        subs.truncate(3);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(p.call(&["PUBLISH", "news", "again"]), Resp::Int(6));
        // UNSUBSCRIBE with no channel: all of them, one reply each.
        let r = &mut subs[0];
        assert_eq!(r.read(), msg("message", &["news", "again"]));
        assert_eq!(r.read(), msg("pmessage", &["n*", "news", "again"]));
        assert_eq!(r.call(&["UNSUBSCRIBE"]), confirm("unsubscribe", "news", 2));
        assert_eq!(r.read(), confirm("unsubscribe", "sport", 1));
        assert_eq!(r.call(&["PUNSUBSCRIBE"]), confirm("punsubscribe", "n*", 0));
        // Out of subscribed mode: ordinary commands again.
        assert_eq!(r.call(&["SET", "k", "v"]), Resp::Simple("OK".into()));
        assert_eq!(p.call(&["PUBLISH", "news", "x"]), Resp::Int(4));
    }
}

#[test]
fn subscribed_mode_rules_and_resp3_pushes() {
    let s = Server::start(2);
    let mut r = s.raw();
    assert_eq!(
        r.call(&["UNSUBSCRIBE"]),
        Resp::Array(vec![b("unsubscribe"), Resp::NilBulk, Resp::Int(0)])
    );
    r.call(&["SUBSCRIBE", "c"]);
    assert_eq!(
        r.call(&["GET", "k"]),
        Resp::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    assert_eq!(r.call(&["PING"]), Resp::Array(vec![b("pong"), b("")]));
    assert_eq!(
        r.call(&["PING", "hi"]),
        Resp::Array(vec![b("pong"), b("hi")])
    );
    // RESET leaves subscribed mode and drops the subscriptions.
    assert_eq!(r.call(&["RESET"]), Resp::Simple("RESET".into()));
    let mut p = s.raw();
    assert_eq!(p.call(&["PUBLISH", "c", "x"]), Resp::Int(0));
    assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));

    // RESP3: subscribed clients may run any command; messages are pushes.
    let mut r3 = s.raw();
    r3.call(&["HELLO", "3"]);
    assert_eq!(
        r3.call(&["SUBSCRIBE", "c"]),
        Resp::Push(vec![b("subscribe"), b("c"), Resp::Int(1)])
    );
    assert_eq!(r3.call(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    assert_eq!(p.call(&["PUBLISH", "c", "m"]), Resp::Int(1));
    assert_eq!(r3.read(), Resp::Push(vec![b("message"), b("c"), b("m")]));
    assert_eq!(r3.call(&["PING"]), Resp::Simple("PONG".into()));
    let list = r3.call(&["CLIENT", "INFO"]);
    let (Resp::Verbatim(_, text) | Resp::Bulk(text)) = list else {
        panic!("{list:?}")
    };
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("flags=P") && text.contains("sub=1 psub=0"),
        "{text}"
    );
    assert_eq!(
        p.call(&["PUBSUB", "FOO"]),
        Resp::Error("ERR unknown subcommand 'FOO'. Try PUBSUB HELP.".into())
    );
}

/// Sharded Pub/Sub (Redis 7.0, without cluster mode): SSUBSCRIBE's shard
/// channels are a namespace of their own, SPUBLISH reaches only them (as
/// `smessage`, patterns never), reply counts are the shard channels alone,
/// and subscribers on every reactor get the message (replies as
/// redis-server 7.0.15's).
#[test]
fn shard_channels_are_a_namespace_of_their_own() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut subs: Vec<Raw> = (0..6).map(|_| s.raw()).collect();
        for r in &mut subs {
            r.set_timeout(Duration::from_secs(5));
            assert_eq!(
                r.call(&["SSUBSCRIBE", "ch1", "ch2"]),
                confirm("ssubscribe", "ch1", 1)
            );
            assert_eq!(r.read(), confirm("ssubscribe", "ch2", 2));
            assert_eq!(r.call(&["SUBSCRIBE", "x"]), confirm("subscribe", "x", 1));
            assert_eq!(
                r.call(&["PSUBSCRIBE", "c*"]),
                confirm("psubscribe", "c*", 2)
            );
            assert_eq!(
                r.call(&["GET", "k"]),
                Resp::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
            );
        }
        let mut p = s.raw();
        assert_eq!(p.call(&["SPUBLISH", "ch1", "hello"]), Resp::Int(6));
        assert_eq!(p.call(&["PUBLISH", "ch1", "hi"]), Resp::Int(6));
        assert_eq!(p.call(&["SPUBLISH", "x", "no"]), Resp::Int(0));
        for r in &mut subs {
            assert_eq!(r.read(), msg("smessage", &["ch1", "hello"]));
            assert_eq!(r.read(), msg("pmessage", &["c*", "ch1", "hi"]));
        }
        assert_eq!(
            p.call(&["PUBSUB", "SHARDNUMSUB", "ch1", "nope"]),
            Resp::Array(vec![b("ch1"), Resp::Int(6), b("nope"), Resp::Int(0)])
        );
        assert_eq!(
            p.call(&["PUBSUB", "SHARDCHANNELS", "ch1*"]),
            Resp::Array(vec![b("ch1")])
        );
        assert_eq!(p.call(&["PUBSUB", "CHANNELS"]), Resp::Array(vec![b("x")]));
        let r = &mut subs[0];
        assert_eq!(
            r.call(&["SUNSUBSCRIBE", "ch2"]),
            confirm("sunsubscribe", "ch2", 1)
        );
        assert_eq!(r.call(&["SUNSUBSCRIBE"]), confirm("sunsubscribe", "ch1", 0));
        assert_eq!(
            r.call(&["SUNSUBSCRIBE"]),
            Resp::Array(vec![b("sunsubscribe"), Resp::NilBulk, Resp::Int(0)])
        );
        // RESET and disconnects leave no shard subscription behind.
        assert_eq!(subs[1].call(&["RESET"]), Resp::simple("RESET"));
        subs.truncate(4);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(p.call(&["SPUBLISH", "ch1", "again"]), Resp::Int(2));
        let info = p.call(&["INFO", "stats"]);
        let Resp::Bulk(info) = info else {
            panic!("{info:?}")
        };
        assert!(String::from_utf8_lossy(&info).contains("pubsubshard_channels:2"));
    }
}
