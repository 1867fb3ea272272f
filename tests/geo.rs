//! GEO commands against --threads 1 and --threads 4, RESP2 and RESP3.
//! Expected replies are redis-server 7.0.15's for its documentation's
//! Sicily example; tests/differential.rs compares random GEO commands
//! with a live redis-server.

mod common;
use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn sicily(con: &mut redis::Connection, key: &str) {
    let n = int(
        con,
        &[
            "GEOADD",
            key,
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
    );
    assert_eq!(n, 2);
}

/// A coordinate or distance, whichever way the protocol sends it.
fn text(v: &Value) -> String {
    match v {
        Value::Double(d) => format!("{d}"),
        Value::Int(i) => i.to_string(),
        v => as_str(v),
    }
}

#[test]
fn positions_hashes_and_distances() {
    for_each_setup(|_, con, resp3| {
        sicily(con, "Sicily");
        assert_eq!(
            bulk(con, &["GEODIST", "Sicily", "Palermo", "Catania"]).as_deref(),
            Some("166274.1516")
        );
        assert_eq!(
            bulk(con, &["GEODIST", "Sicily", "Palermo", "Catania", "km"]).as_deref(),
            Some("166.2742")
        );
        assert_eq!(
            bulk(con, &["GEODIST", "Sicily", "Palermo", "Catania", "mi"]).as_deref(),
            Some("103.3182")
        );
        assert_eq!(
            bulk(con, &["GEODIST", "Sicily", "Palermo", "Nowhere"]),
            None
        );
        assert_eq!(bulk(con, &["GEODIST", "NoKey", "Palermo", "Catania"]), None);
        assert_eq!(
            err(con, &["GEODIST", "Sicily", "Palermo", "Catania", "yd"]),
            "ERR unsupported unit provided. please use M, KM, FT, MI"
        );
        assert_eq!(
            strs(&q(
                con,
                &["GEOHASH", "Sicily", "Palermo", "Catania", "Nowhere"]
            )),
            vec![Some("sqc8b49rny0".into()), Some("sqdtr74hyu0".into()), None]
        );
        let Value::Array(pos) = q(con, &["GEOPOS", "Sicily", "Palermo", "Nowhere"]) else {
            panic!("GEOPOS is an array")
        };
        let Value::Array(p) = &pos[0] else {
            panic!("{pos:?}")
        };
        if resp3 {
            assert_eq!(p[0], Value::Double(13.361389338970184));
        } else {
            assert_eq!(as_str(&p[0]), "13.36138933897018433");
            assert_eq!(as_str(&p[1]), "38.11555639549629859");
        }
        assert_eq!(pos[1], Value::Nil);
        // The score is the geohash, and a position is a sorted set member.
        assert_eq!(
            text(&q(con, &["ZSCORE", "Sicily", "Palermo"])),
            "3479099956230698"
        );
        assert_eq!(int(con, &["ZCARD", "Sicily"]), 2);
        assert_eq!(
            err(con, &["GEOADD", "Sicily", "200", "100", "x"]),
            "ERR invalid longitude,latitude pair 200.000000,100.000000"
        );
        assert_eq!(
            err(con, &["GEOADD", "Sicily", "NX", "XX", "1", "2", "x"]),
            "ERR syntax error"
        );
        assert_eq!(
            err(con, &["GEOADD", "Sicily", "1", "2", "x", "3"]),
            "ERR syntax error"
        );
        assert_eq!(
            err(con, &["GEOADD", "Sicily", "a", "2", "x"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            int(con, &["GEOADD", "Sicily", "NX", "1", "2", "Palermo"]),
            0
        );
        assert_eq!(
            int(
                con,
                &["GEOADD", "Sicily", "XX", "CH", "13.5", "38.1", "Palermo", "1", "1", "New"]
            ),
            1
        );
        ok(con, &["SET", "str", "x"]);
        assert_eq!(err(con, &["GEOPOS", "str", "a"]), WRONGTYPE);
        assert_eq!(
            err(
                con,
                &[
                    "GEOSEARCH",
                    "str",
                    "FROMLONLAT",
                    "1",
                    "1",
                    "BYRADIUS",
                    "1",
                    "km"
                ]
            ),
            WRONGTYPE
        );
    });
}

#[test]
fn searches_as_redis() {
    for_each_setup(|_, con, _| {
        sicily(con, "Sicily");
        let near = |con: &mut redis::Connection, args: &[&str]| -> Vec<Vec<String>> {
            let Value::Array(items) = q(con, args) else {
                panic!("{args:?}")
            };
            items
                .iter()
                .map(|i| match i {
                    Value::Array(parts) => parts
                        .iter()
                        .flat_map(|p| match p {
                            Value::Array(xy) => xy.iter().map(text).collect(),
                            p => vec![text(p)],
                        })
                        .collect(),
                    m => vec![text(m)],
                })
                .collect()
        };
        assert_eq!(
            near(con, &["GEORADIUS", "Sicily", "15", "37", "100", "km"]),
            vec![vec!["Catania"]]
        );
        assert_eq!(
            near(
                con,
                &[
                    "GEORADIUS",
                    "Sicily",
                    "15",
                    "37",
                    "200",
                    "km",
                    "WITHDIST",
                    "WITHHASH",
                    "ASC"
                ]
            ),
            vec![
                vec!["Catania", "56.4413", "3479447370796909"],
                vec!["Palermo", "190.4424", "3479099956230698"]
            ]
        );
        assert_eq!(
            near(
                con,
                &[
                    "GEORADIUS_RO",
                    "Sicily",
                    "15",
                    "37",
                    "200",
                    "km",
                    "COUNT",
                    "1",
                    "DESC"
                ]
            ),
            vec![vec!["Palermo"]]
        );
        assert_eq!(
            near(
                con,
                &[
                    "GEORADIUSBYMEMBER",
                    "Sicily",
                    "Palermo",
                    "200",
                    "km",
                    "WITHDIST"
                ]
            ),
            vec![vec!["Palermo", "0.0000"], vec!["Catania", "166.2742"]]
        );
        assert_eq!(
            near(
                con,
                &[
                    "GEOSEARCH",
                    "Sicily",
                    "FROMLONLAT",
                    "15",
                    "37",
                    "BYBOX",
                    "400",
                    "400",
                    "km",
                    "ASC"
                ]
            ),
            vec![vec!["Catania"], vec!["Palermo"]]
        );
        assert_eq!(
            near(
                con,
                &[
                    "GEOSEARCH",
                    "Sicily",
                    "FROMMEMBER",
                    "Palermo",
                    "BYRADIUS",
                    "100",
                    "km"
                ]
            ),
            vec![vec!["Palermo"]]
        );
        assert_eq!(
            near(
                con,
                &[
                    "GEOSEARCH",
                    "NoKey",
                    "FROMMEMBER",
                    "x",
                    "BYRADIUS",
                    "1",
                    "km"
                ]
            ),
            Vec::<Vec<String>>::new()
        );
        for (args, e) in [
            (&["GEORADIUS", "Sicily", "15", "37", "-1", "km"][..], "ERR radius cannot be negative"),
            (&["GEORADIUS", "Sicily", "15", "37", "x", "km"], "ERR need numeric radius"),
            (&["GEORADIUS", "Sicily", "15", "37", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
            (&["GEORADIUS", "Sicily", "15", "37", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
            (
                &["GEORADIUS", "Sicily", "15", "37", "1", "km", "STORE", "d", "WITHDIST"],
                "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            (&["GEORADIUS_RO", "Sicily", "15", "37", "1", "km", "STORE", "d"], "ERR syntax error"),
            (&["GEORADIUSBYMEMBER", "Sicily", "Nowhere", "1", "km"], "ERR could not decode requested zset member"),
            (
                &["GEOSEARCH", "Sicily", "BYRADIUS", "1", "km", "ASC", "ASC"],
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH",
            ),
            (
                &["geosearch", "Sicily", "FROMLONLAT", "1", "1", "ASC", "ASC"],
                "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch",
            ),
            (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"], "ERR syntax error"),
            (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "-1", "1", "km"], "ERR height or width cannot be negative"),
        ] {
            assert_eq!(err(con, args), e, "{args:?}");
        }
    });
}

/// Stores write their destination wherever it lives (with --threads 4,
/// several of these destinations are on another shard than the source).
#[test]
fn stores_across_shards() {
    for_each_setup(|_, con, _| {
        sicily(con, "Sicily");
        for i in 0..8 {
            let dst = format!("dst{i}");
            assert_eq!(
                int(
                    con,
                    &[
                        "GEOSEARCHSTORE",
                        &dst,
                        "Sicily",
                        "FROMLONLAT",
                        "15",
                        "37",
                        "BYRADIUS",
                        "200",
                        "km",
                        "STOREDIST"
                    ]
                ),
                2
            );
            assert_eq!(
                strs(&q(con, &["ZRANGE", &dst, "0", "-1"])),
                vec![Some("Catania".into()), Some("Palermo".into())]
            );
            assert_eq!(
                text(&q(con, &["ZSCORE", &dst, "Catania"]))
                    .parse::<f64>()
                    .ok(),
                Some(56.441_257_870_158_2)
            );
            assert_eq!(
                int(
                    con,
                    &[
                        "GEORADIUS",
                        "Sicily",
                        "15",
                        "37",
                        "200",
                        "km",
                        "STORE",
                        &dst
                    ]
                ),
                2
            );
            assert_eq!(
                text(&q(con, &["ZSCORE", &dst, "Palermo"])),
                "3479099956230698"
            );
            // Nothing found: the destination goes away.
            assert_eq!(
                int(
                    con,
                    &[
                        "GEORADIUSBYMEMBER",
                        "Sicily",
                        "Palermo",
                        "1",
                        "m",
                        "STOREDIST",
                        &dst
                    ]
                ),
                1
            );
            assert_eq!(
                int(
                    con,
                    &["GEORADIUS", "Sicily", "0", "0", "1", "km", "STORE", &dst]
                ),
                0
            );
            assert_eq!(int(con, &["EXISTS", &dst]), 0);
        }
        // Inside MULTI, a search sees the GEOADD queued before it.
        let r = q(con, &["MULTI"]);
        assert!(!matches!(r, Value::ServerError(_)));
        q(con, &["GEOADD", "Sicily", "14", "37.5", "Middle"]);
        q(
            con,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Middle",
                "BYRADIUS",
                "1",
                "km",
            ],
        );
        let Value::Array(res) = q(con, &["EXEC"]) else {
            panic!("EXEC")
        };
        assert_eq!(text(&res[0]), "1");
        assert_eq!(strs(&res[1]), vec![Some("Middle".into())]);
    });
}

#[test]
fn watch_sees_geoadd() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut a = s.conn();
        let mut b = s.conn();
        sicily(&mut a, "w");
        ok(&mut a, &["WATCH", "w"]);
        // A GEOADD that changes nothing leaves the watch alone.
        assert_eq!(int(&mut b, &["GEOADD", "w", "NX", "1", "1", "Palermo"]), 0);
        assert!(exec_runs(&mut a));
        ok(&mut a, &["WATCH", "w"]);
        assert_eq!(int(&mut b, &["GEOADD", "w", "1", "1", "Other"]), 1);
        assert!(!exec_runs(&mut a));
    }
}
