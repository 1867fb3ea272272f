//! ACL for the one `default` user, and the answers a Redis without
//! cluster mode, modules or persistence gives (clients probe CLUSTER INFO,
//! MODULE LIST, ACL WHOAMI when they connect). Expected replies are
//! redis-server 7.0.15's; with it on PATH, the deterministic ones are also
//! compared with a live one.

mod common;
use common::*;

/// Commands whose replies do not depend on state or randomness.
const SAME_AS_REDIS: &[&[&str]] = &[
    &["ACL", "WHOAMI"],
    &["ACL", "USERS"],
    &["ACL", "LIST"],
    &["ACL", "GETUSER", "default"],
    &["ACL", "GETUSER", "nobody"],
    &["ACL", "CAT"],
    &["ACL", "CAT", "nosuch"],
    &["ACL", "CAT", "geo"],
    &["ACL", "CAT", "hyperloglog"],
    &["ACL", "LOG"],
    &["ACL", "LOG", "RESET"],
    &["ACL", "LOG", "x"],
    &["ACL", "GENPASS", "0"],
    &["ACL", "GENPASS", "x"],
    &["ACL", "DRYRUN", "default", "get", "k"],
    &["ACL", "DRYRUN", "default", "get"],
    &["ACL", "DRYRUN", "default", "nosuch"],
    &["ACL", "DRYRUN", "nobody", "get", "k"],
    &["ACL", "DRYRUN", "default", "config", "get", "x"],
    &["ACL", "DRYRUN", "default", "config", "foo"],
    &["ACL", "DELUSER", "default"],
    &["ACL", "DELUSER", "nobody"],
    &["ACL", "LOAD"],
    &["ACL", "SAVE"],
    &["ACL", "NOSUCH"],
    &["ACL", "WHOAMI", "x"],
    &["CLUSTER", "INFO"],
    &["CLUSTER", "SLOTS"],
    &["CLUSTER", "HELP"],
    &["CLUSTER", "NOSUCH"],
    &["CLUSTER", "KEYSLOT"],
    &["READONLY"],
    &["READWRITE"],
    &["ASKING"],
    &["MODULE", "LIST"],
    &["MODULE", "LOAD", "/no/such.so"],
    &["MODULE", "UNLOAD", "x"],
    &["MODULE", "NOSUCH"],
    &["CONFIG", "GET", "enable-module-command"],
];

fn sorted_if_set(v: Value, args: &[&str]) -> Value {
    // ACL CAT <category> lists commands in hash-table order in Redis.
    match v {
        Value::Array(mut items) if args.len() == 3 && args[1] == "CAT" => {
            items.sort_by_key(as_str);
            Value::Array(items)
        }
        v => v,
    }
}

#[test]
fn acl_and_absent_features_answer_as_redis() {
    let s = Server::start(2);
    let mut con = s.conn();
    let redis = redis_server_available("ACL differential test").then(|| RedisServer::start(&[]));
    if let Some(r) = &redis {
        let mut theirs = r.conn();
        for args in SAME_AS_REDIS {
            let ours = sorted_if_set(q(&mut con, args), args);
            let want = sorted_if_set(q(&mut theirs, args), args);
            assert_eq!(ours, want, "{args:?}");
        }
    }
    assert_eq!(
        bulk(&mut con, &["ACL", "WHOAMI"]).as_deref(),
        Some("default")
    );
    assert_eq!(
        strs(&q(&mut con, &["ACL", "LIST"])),
        [Some("user default on nopass ~* &* +@all".to_string())]
    );
    assert_eq!(
        err(&mut con, &["CLUSTER", "INFO"]),
        "ERR This instance has cluster support disabled"
    );
    assert_eq!(
        err(&mut con, &["READONLY"]),
        "ERR This instance has cluster support disabled"
    );
    assert_eq!(q(&mut con, &["MODULE", "LIST"]), Value::Array(vec![]));
    assert_eq!(
        err(&mut con, &["ACL", "DELUSER", "default"]),
        "ERR The 'default' user cannot be removed"
    );
    assert_eq!(
        err(&mut con, &["ACL", "CAT", "nosuch"]),
        "ERR Unknown category 'nosuch'"
    );
    let geo = strs(&q(&mut con, &["ACL", "CAT", "geo"]));
    assert!(
        geo.contains(&Some("geoadd".to_string())) && geo.len() == 10,
        "{geo:?}"
    );
    // Passwords: hex of the asked number of bits, random each time.
    for (bits, len) in [("256", 64), ("32", 8), ("5", 2), ("1", 1)] {
        let p = bulk(&mut con, &["ACL", "GENPASS", bits]).unwrap_or_default();
        assert_eq!(p.len(), len, "{bits} bits: {p}");
        assert!(p.bytes().all(|b| b.is_ascii_hexdigit()), "{p}");
    }
    assert_ne!(
        bulk(&mut con, &["ACL", "GENPASS"]),
        bulk(&mut con, &["ACL", "GENPASS"])
    );
    assert!(err(&mut con, &["BGSAVE"]).starts_with("ERR halocline does not persist data"));
    assert!(err(&mut con, &["ACL", "SETUSER", "bob", "on"])
        .starts_with("ERR halocline has only the 'default' user"));
}

/// With requirepass, the default user shows the password's SHA-256, as
/// Redis's ACL LIST and GETUSER do.
#[test]
fn acl_shows_requirepass_as_its_hash() {
    let s = Server::start_with(1, &["--requirepass", "sekret"]);
    let mut con = s.raw();
    assert_eq!(con.call(&["AUTH", "sekret"]), Resp::simple("OK"));
    let hash = "bb757689c39373a6cac9ef6ba55616c6249d7500ca4d443f1130c4766453a412";
    assert_eq!(
        con.call(&["ACL", "LIST"]),
        Resp::Array(vec![Resp::bulk(&format!(
            "user default on #{hash} ~* &* +@all"
        ))])
    );
    let Resp::Array(user) = con.call(&["ACL", "GETUSER", "default"]) else {
        panic!("GETUSER is an array")
    };
    assert_eq!(user[1], Resp::Array(vec![Resp::bulk("on")]));
    assert_eq!(user[3], Resp::Array(vec![Resp::bulk(hash)]));
}
