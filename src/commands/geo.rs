//! Geospatial commands (Redis's geo.c): a position is a sorted set member
//! whose score is its geohash (`types::geohash`), so GEOADD is ZADD with
//! computed scores and a search scans the score ranges of the cells that
//! cover its shape.

use super::ctx::{arg_i64, eq_ic, Ctx, Replied, ERR_SYNTAX};
use super::zset::{arg_double, lookup_zset, sort_items, zadd_generic, zset_from_sorted};
use crate::notify::{notify, GENERIC, ZSET};
use crate::protocol::{Args, Reply};
use crate::tx::OwnedArgs;
use crate::types::geohash::{self, Search, Shape};
use crate::types::zset::ScoreRange;
use crate::types::{Value, ZSet};

const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";

/// A longitude and latitude at `a[at]`, `a[at + 1]`, within the range a
/// geohash can encode.
fn lon_lat(a: Args, at: usize) -> Result<(f64, f64), String> {
    let (Some(lon), Some(lat)) = (arg_double(a.get(at)), arg_double(a.get(at + 1))) else {
        return Err(ERR_NOT_FLOAT.into());
    };
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        ));
    }
    Ok((lon, lat))
}

/// Meters per unit.
fn unit(u: &[u8]) -> Result<f64, String> {
    [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)]
        .iter()
        .find(|(name, _)| eq_ic(u, name))
        .map(|&(_, m)| m)
        .ok_or_else(|| "ERR unsupported unit provided. please use M, KM, FT, MI".into())
}

/// `radius unit` at `a[at]`: (radius, meters per unit).
fn radius(a: Args, at: usize) -> Result<(f64, f64), String> {
    let r = arg_double(a.get(at)).ok_or("ERR need numeric radius")?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok((r, unit(a.get(at + 1))?))
}

/// `width height unit` at `a[at]`.
fn box_of(a: Args, at: usize) -> Result<(f64, f64, f64), String> {
    let w = arg_double(a.get(at)).ok_or("ERR need numeric width")?;
    let h = arg_double(a.get(at + 1)).ok_or("ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    Ok((w, h, unit(a.get(at + 2))?))
}

/// GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]: ZADD of
/// the members at their positions' scores.
pub fn geoadd(c: &mut Ctx, a: Args) {
    let (mut nx, mut xx) = (false, false);
    let mut at = 2;
    while at < a.len() {
        let o = a.get(at);
        if eq_ic(o, "nx") {
            nx = true;
        } else if eq_ic(o, "xx") {
            xx = true;
        } else if !eq_ic(o, "ch") {
            break;
        }
        at += 1;
    }
    if !(a.len() - at).is_multiple_of(3) || (nx && xx) {
        return c.r.error(ERR_SYNTAX);
    }
    let mut zadd = OwnedArgs::with_capacity(a.len() * 16, at + (a.len() - at) / 3 * 2);
    zadd.push(b"zadd");
    for i in 1..at {
        zadd.push(a.get(i));
    }
    let mut digits = itoa::Buffer::new();
    for e in (at..a.len()).step_by(3) {
        let (lon, lat) = match lon_lat(a, e) {
            Ok(p) => p,
            Err(e) => return c.r.error(&e),
        };
        // In range, so it encodes.
        let score = geohash::score_of(lon, lat).unwrap_or(0);
        zadd.push(digits.format(score).as_bytes());
        zadd.push(a.get(e + 2));
    }
    zadd_generic(c, zadd.args(), false);
}

/// The positions of the members of the sorted set at `a[1]`.
fn with_positions(c: &mut Ctx, a: Args, mut each: impl FnMut(&mut Reply, Option<(f64, f64)>)) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => return,
        Ok(z) => z,
    };
    r.array(a.len() - 2);
    for m in a.iter().skip(2) {
        let score = z.as_deref().and_then(|z| z.score(m));
        each(r, score.map(geohash::position_of_score));
    }
}

/// GEOPOS key member...
pub fn geopos(c: &mut Ctx, a: Args) {
    with_positions(c, a, |r, pos| match pos {
        None => r.null_array(),
        Some((lon, lat)) => {
            r.array(2);
            r.double_text(&geohash::format_coordinate(lon));
            r.double_text(&geohash::format_coordinate(lat));
        }
    });
}

/// GEOHASH key member...
pub fn geohash_cmd(c: &mut Ctx, a: Args) {
    with_positions(c, a, |r, pos| match pos {
        None => r.null(),
        Some((lon, lat)) => r.bulk(&geohash::standard_geohash(lon, lat)),
    });
}

/// GEODIST key member1 member2 [unit]
pub fn geodist(c: &mut Ctx, a: Args) {
    let to_meters = match a.len() {
        5 => match unit(a.get(4)) {
            Ok(u) => u,
            Err(e) => return c.r.error(&e),
        },
        4 => 1.0,
        _ => return c.r.error(ERR_SYNTAX),
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => return,
        Ok(None) => return r.null(),
        Ok(Some(z)) => z,
    };
    let (Some(s1), Some(s2)) = (z.score(a.get(2)), z.score(a.get(3))) else {
        return r.null();
    };
    let (lon1, lat1) = geohash::position_of_score(s1);
    let (lon2, lat2) = geohash::position_of_score(s2);
    let d = geohash::distance(lon1, lat1, lon2, lat2) / to_meters;
    r.bulk(geohash::format_distance(d).as_bytes());
}

/// Which command of the radius family runs (Redis's georadiusGeneric
/// flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Radius { ro: bool },
    RadiusByMember { ro: bool },
    Search,
    SearchStore,
}

impl Form {
    fn src_at(self) -> usize {
        if self == Form::SearchStore {
            2
        } else {
            1
        }
    }
    /// Where the options start.
    fn options_at(self) -> usize {
        match self {
            Form::Radius { .. } => 6,
            Form::RadiusByMember { .. } => 5,
            Form::Search => 2,
            Form::SearchStore => 3,
        }
    }
    fn search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }
    /// STORE and STOREDIST key options (GEORADIUS and GEORADIUSBYMEMBER).
    fn store_options(self) -> bool {
        matches!(
            self,
            Form::Radius { ro: false } | Form::RadiusByMember { ro: false }
        )
    }
}

/// Where GEORADIUS's STORE/STOREDIST destination is (a key the command
/// table cannot place by position).
pub fn georadius_store_key(a: Args) -> Option<usize> {
    store_key_from(a, Form::Radius { ro: false }.options_at())
}

pub fn georadiusbymember_store_key(a: Args) -> Option<usize> {
    store_key_from(a, Form::RadiusByMember { ro: false }.options_at())
}

/// The options as `search_generic` reads them: COUNT and STORE/STOREDIST
/// take one argument, the others none that matter for finding the key.
fn store_key_from(a: Args, mut j: usize) -> Option<usize> {
    let mut found = None;
    while j < a.len() {
        let o = a.get(j);
        if j + 1 < a.len() && (eq_ic(o, "store") || eq_ic(o, "storedist")) {
            found = Some(j + 1);
            j += 1;
        } else if j + 1 < a.len() && eq_ic(o, "count") {
            j += 1;
        }
        j += 1;
    }
    found
}

/// A match: its member, distance in meters, score, position.
struct Found<'a> {
    member: &'a [u8],
    dist: f64,
    score: f64,
    lon: f64,
    lat: f64,
}

/// The members inside the search's shape, cell by cell in Redis's order;
/// with `limit` (COUNT ANY), the first that many.
fn find<'a>(z: &'a ZSet, s: &Search, limit: usize) -> Vec<Found<'a>> {
    let mut out = Vec::new();
    let full = |out: &Vec<Found>| limit > 0 && out.len() >= limit;
    for cell in s.cells() {
        if full(&out) {
            break;
        }
        let (min, max) = cell.score_range();
        let range = ScoreRange {
            min: min as f64,
            max: max as f64,
            minex: false,
            maxex: true,
        };
        let Some(first) = z.first_in_score(&range) else {
            continue;
        };
        for (member, score) in z.iter_from(first, false) {
            if !range.lte_max(score) {
                break;
            }
            let (lon, lat) = geohash::position_of_score(score);
            if let Some(dist) = s.distance_if_within(lon, lat) {
                out.push(Found {
                    member,
                    dist,
                    score,
                    lon,
                    lat,
                });
            }
            if full(&out) {
                break;
            }
        }
    }
    out
}

pub fn georadius(c: &mut Ctx, a: Args) {
    search_generic(c, a, Form::Radius { ro: false })
}
pub fn georadius_ro(c: &mut Ctx, a: Args) {
    search_generic(c, a, Form::Radius { ro: true })
}
pub fn georadiusbymember(c: &mut Ctx, a: Args) {
    search_generic(c, a, Form::RadiusByMember { ro: false })
}
pub fn georadiusbymember_ro(c: &mut Ctx, a: Args) {
    search_generic(c, a, Form::RadiusByMember { ro: true })
}
pub fn geosearch(c: &mut Ctx, a: Args) {
    search_generic(c, a, Form::Search)
}
pub fn geosearchstore(c: &mut Ctx, a: Args) {
    search_generic(c, a, Form::SearchStore)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// GEORADIUS, GEORADIUSBYMEMBER (and _RO), GEOSEARCH, GEOSEARCHSTORE:
/// arguments checked in Redis's order (the key's type first, then the
/// centre and shape of the fixed forms, then the options one by one, then
/// the rules between them), so that every error is the one Redis gives.
fn search_generic(c: &mut Ctx, a: Args, form: Form) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(form.src_at()), true, r) {
        Err(Replied) => return,
        Ok(z) => z,
    };
    let mut centre: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    match form {
        Form::Radius { .. } => match lon_lat(a, 2).and_then(|p| Ok((p, radius(a, 4)?))) {
            Ok((p, (rad, to_m))) => {
                centre = Some(p);
                shape = Some((Shape::Radius(rad), to_m));
            }
            Err(e) => return r.error(&e),
        },
        Form::RadiusByMember { .. } => {
            if let Some(z) = z.as_deref() {
                let Some(score) = z.score(a.get(2)) else {
                    return r.error("ERR could not decode requested zset member");
                };
                centre = Some(geohash::position_of_score(score));
                match radius(a, 3) {
                    Ok((rad, to_m)) => shape = Some((Shape::Radius(rad), to_m)),
                    Err(e) => return r.error(&e),
                }
            }
        }
        Form::Search | Form::SearchStore => {}
    }
    let mut store: Option<&[u8]> = (form == Form::SearchStore).then(|| a.get(1));
    let mut storedist = false;
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromlonlat, mut byradius, mut bybox) = (false, false, false, false);
    let mut order = Order::None;
    let mut count: i64 = 0;
    let mut i = form.options_at();
    while i < a.len() {
        let o = a.get(i);
        let left = a.len() - i - 1;
        if eq_ic(o, "withdist") {
            withdist = true;
        } else if eq_ic(o, "withhash") {
            withhash = true;
        } else if eq_ic(o, "withcoord") {
            withcoord = true;
        } else if eq_ic(o, "any") {
            any = true;
        } else if eq_ic(o, "asc") {
            order = Order::Asc;
        } else if eq_ic(o, "desc") {
            order = Order::Desc;
        } else if eq_ic(o, "count") && left >= 1 {
            let Some(n) = arg_i64(a.get(i + 1)) else {
                return r.error(super::ctx::ERR_NOT_INT);
            };
            if n <= 0 {
                return r.error("ERR COUNT must be > 0");
            }
            count = n;
            i += 1;
        } else if (eq_ic(o, "store") || eq_ic(o, "storedist")) && left >= 1 && form.store_options()
        {
            store = Some(a.get(i + 1));
            storedist = eq_ic(o, "storedist");
            i += 1;
        } else if eq_ic(o, "storedist") && form == Form::SearchStore {
            storedist = true;
        } else if eq_ic(o, "frommember") && left >= 1 && form.search() && !fromlonlat {
            // A missing key is answered once the arguments are checked.
            if let Some(z) = z.as_deref() {
                let Some(score) = z.score(a.get(i + 1)) else {
                    return r.error("ERR could not decode requested zset member");
                };
                centre = Some(geohash::position_of_score(score));
            }
            frommember = true;
            i += 1;
        } else if eq_ic(o, "fromlonlat") && left >= 2 && form.search() && !frommember {
            match lon_lat(a, i + 1) {
                Ok(p) => centre = Some(p),
                Err(e) => return r.error(&e),
            }
            fromlonlat = true;
            i += 2;
        } else if eq_ic(o, "byradius") && left >= 2 && form.search() && !bybox {
            match radius(a, i + 1) {
                Ok((rad, to_m)) => shape = Some((Shape::Radius(rad), to_m)),
                Err(e) => return r.error(&e),
            }
            byradius = true;
            i += 2;
        } else if eq_ic(o, "bybox") && left >= 3 && form.search() && !byradius {
            match box_of(a, i + 1) {
                Ok((width, height, to_m)) => shape = Some((Shape::Box { width, height }, to_m)),
                Err(e) => return r.error(&e),
            }
            bybox = true;
            i += 3;
        } else {
            return r.error(ERR_SYNTAX);
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return r.error(&format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    let name = || String::from_utf8_lossy(a.get(0));
    if form.search() && !(frommember || fromlonlat) {
        return r.error(&format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        ));
    }
    if form.search() && !(byradius || bybox) {
        return r.error(&format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        ));
    }
    if any && count == 0 {
        return r.error("ERR the ANY argument requires COUNT argument");
    }
    let (Some(z), Some((lon, lat)), Some((shape, to_meters))) = (z.as_deref(), centre, shape)
    else {
        // No such key (the only way the centre or shape is unknown here).
        let Some(dst) = store else {
            return r.array(0);
        };
        if shard.dbs[*db].remove(dst).is_some() {
            notify(GENERIC, "del", *db, dst);
        }
        return r.int(0);
    };
    // COUNT without ANY returns the nearest: sorted.
    if count > 0 && order == Order::None && !any {
        order = Order::Asc;
    }
    let search = Search {
        lon,
        lat,
        to_meters,
        shape,
    };
    let limit = if any { count as usize } else { 0 };
    let mut found = find(z, &search, limit);
    if found.is_empty() && store.is_none() {
        return r.array(0);
    }
    // Stable, as glibc's qsort (a merge sort) is for Redis's full sort.
    match order {
        Order::Asc => found.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Order::Desc => found.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Order::None => {}
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    let Some(dst) = store else {
        let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
        r.array(found.len());
        for f in &found {
            if options > 0 {
                r.array(options + 1);
            }
            r.bulk(f.member);
            if withdist {
                r.bulk(geohash::format_distance(f.dist / to_meters).as_bytes());
            }
            if withhash {
                r.int(f.score as i64);
            }
            if withcoord {
                r.array(2);
                r.double_text(&geohash::format_coordinate(f.lon));
                r.double_text(&geohash::format_coordinate(f.lat));
            }
        }
        return;
    };
    let n = found.len();
    let stored: Option<ZSet> = (n > 0).then(|| {
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut items: Vec<(&[u8], f64)> = found
            .iter()
            .filter(|f| seen.insert(f.member))
            .map(|f| {
                let score = if storedist {
                    f.dist / to_meters
                } else {
                    f.score
                };
                (f.member, score)
            })
            .collect();
        sort_items(&mut items);
        zset_from_sorted(&items)
    });
    match stored {
        Some(out) => {
            shard.dbs[*db].set(dst, Value::ZSet(out), 0);
            let event = if form.search() {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            notify(ZSET, event, *db, dst);
        }
        None => {
            if shard.dbs[*db].remove(dst).is_some() {
                notify(GENERIC, "del", *db, dst);
            }
        }
    }
    r.int(n as i64);
}
