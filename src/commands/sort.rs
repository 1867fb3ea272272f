//! SORT and SORT_RO (Redis's sort.c semantics).
//!
//! BY and GET patterns name other keys, derived from each element at run
//! time, so no scheduler can know them before it has read the sorted key.
//! A pattern whose keys provably live on the sorted key's shard (a hash
//! tag mapping there, or one shard in all) is read in place. Any other
//! makes SORT a two-phase transaction over every shard (`patterns_plan`):
//! with all shards locked (shared, exclusive where it stores), it reads
//! the sorted key, derives the keys its patterns name from the elements,
//! gathers copies of them all and sorts there, so the result is that of a
//! single-threaded Redis, which Redis Cluster refuses to give. Inside
//! MULTI such a pattern is still refused: a transaction's keys are locked
//! before it runs.

use super::ctx::{arg_i64, eq_ic, Ctx, ERR_NOT_INT, ERR_SYNTAX};
use crate::protocol::Args;
use crate::shard::slot::{hash_tag, key_shard};
use crate::shard::Shard;
use crate::types::list::{End, List};
use crate::types::{Value, WRONGTYPE};
use std::cmp::Ordering;

struct Opts<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    /// BY without '*': nothing to sort by.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn parse(a: Args, readonly: bool) -> Result<Opts, String> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let w = a.get(j);
        if eq_ic(w, "asc") {
            o.desc = false;
        } else if eq_ic(w, "desc") {
            o.desc = true;
        } else if eq_ic(w, "alpha") {
            o.alpha = true;
        } else if eq_ic(w, "limit") && left >= 2 {
            match (arg_i64(a.get(j + 1)), arg_i64(a.get(j + 2))) {
                (Some(s), Some(c)) => o.limit = Some((s, c)),
                _ => return Err(ERR_NOT_INT.into()),
            }
            j += 2;
        } else if !readonly && eq_ic(w, "store") && left >= 1 {
            o.store = Some(a.get(j + 1));
            j += 1;
        } else if eq_ic(w, "by") && left >= 1 {
            let p = a.get(j + 1);
            o.by = Some(p);
            o.dontsort = !p.contains(&b'*');
            j += 1;
        } else if eq_ic(w, "get") && left >= 1 {
            o.gets.push(a.get(j + 1));
            j += 1;
        } else {
            return Err(ERR_SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Where SORT's STORE destination is, for the command table (Redis's
/// sortGetKeys: the last STORE wins).
pub fn store_key(a: Args) -> Option<usize> {
    let mut found = None;
    let mut j = 2;
    while j < a.len() {
        let w = a.get(j);
        let skip = if eq_ic(w, "limit") {
            2
        } else if eq_ic(w, "get") || eq_ic(w, "by") {
            1
        } else if eq_ic(w, "store") {
            if j + 1 < a.len() {
                found = Some(j + 1);
            }
            1
        } else {
            0
        };
        j += skip + 1;
    }
    found
}

/// A pattern's key for `elem`: the first '*' replaced, and a `->field`
/// suffix after it split off. `None` when there is no '*' (GET of a
/// constant key returns nothing, as in Redis).
fn substitute(pattern: &[u8], elem: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < after.len() => (&after[..f], Some(after[f + 2..].to_vec())),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    Some((key, field))
}

/// The value a pattern designates for `elem`: `#` is the element itself, a
/// key's string value, or a hash field with `->`; anything else is nil.
fn lookup_pattern(c: &mut Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let (key, field) = substitute(pattern, elem)?;
    let e = c.lookup(&key)?;
    match (&e.value, field) {
        (Value::Str(s), None) => Some(s.to_vec()),
        (Value::Hash(h), Some(f)) => h.get(&f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// Whether every key `pattern` can name is at hand on this shard. A
/// scratch shard (a command run on gathered copies) has them only when
/// `patterns_plan` gathered them; any other gather holds just the
/// command's declared keys.
fn pattern_is_local(shard: &Shard, nshards: usize, key: &[u8], pattern: &[u8]) -> bool {
    if pattern == b"#" || !pattern.contains(&b'*') {
        return true;
    }
    if shard.id == crate::shard::SCRATCH {
        return shard.patterns_gathered;
    }
    if nshards == 1 {
        return true;
    }
    let tag = hash_tag(pattern);
    // The tag must be a real one and must not itself contain the '*'.
    tag.len() < pattern.len()
        && !tag.contains(&b'*')
        && key_shard(tag, nshards) == key_shard(key, nshards)
}

/// Whether SORT `a` must run as `patterns_plan`: a BY or GET pattern may
/// name keys on other shards than the sorted key's, or it has any pattern
/// and stores on another shard (then it runs on gathered copies, which
/// must include what its patterns name).
pub fn patterns_span(a: Args, nshards: usize, shard: &Shard) -> bool {
    if nshards == 1 || a.len() < 2 {
        return false;
    }
    let Ok(o) = parse(a, false) else {
        return false;
    };
    let key = a.get(1);
    let mut patterns = key_patterns(&o);
    let elsewhere = o
        .store
        .is_some_and(|d| key_shard(d, nshards) != key_shard(key, nshards));
    if elsewhere {
        return patterns.next().is_some();
    }
    patterns.any(|p| !pattern_is_local(shard, nshards, key, p))
}

/// The elements SORT reads from a list, set or sorted set (none from
/// anything else).
fn elements(value: Option<&Value>) -> Vec<Vec<u8>> {
    match value {
        Some(Value::List(l)) => l.iter().map(|e| e.to_vec()).collect(),
        Some(Value::Set(s)) => s.iter().map(|m| m.to_elem().to_vec()).collect(),
        Some(Value::ZSet(z)) => z.iter_from(0, false).map(|(m, _)| m.to_vec()).collect(),
        _ => Vec::new(),
    }
}

/// The BY (unless it sorts nothing) and GET patterns that name keys.
fn key_patterns<'a, 'o>(o: &'o Opts<'a>) -> impl Iterator<Item = &'a [u8]> + 'o {
    o.by.filter(|_| !o.dontsort)
        .into_iter()
        .chain(o.gets.iter().copied())
        .filter(|p| *p != b"#" && p.contains(&b'*'))
}

/// `keys` (the command's declared keys), then every key SORT `a`'s
/// patterns name for the elements of `value` (the sorted key's), each
/// once.
fn with_pattern_keys(a: Args, value: Option<&Value>, mut keys: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let Ok(o) = parse(a, false) else {
        return keys;
    };
    let patterns: Vec<&[u8]> = key_patterns(&o).collect();
    let mut seen: std::collections::HashSet<Vec<u8>> = keys.iter().cloned().collect();
    for e in elements(value) {
        for p in &patterns {
            if let Some((k, _)) = substitute(p, &e) {
                if seen.insert(k.clone()) {
                    keys.push(k);
                }
            }
        }
    }
    keys
}

/// SORT with patterns across shards, as a plan: read the sorted key, then
/// gather it, the destination and every key its patterns name for its
/// elements, and sort on those copies (`fanout::gather`). It runs under
/// the locks of `patterns_locks`.
pub fn patterns_plan(
    f: crate::commands::table::KeyFn,
    writes: bool,
    args: crate::tx::OwnedArgs,
    declared: Vec<Vec<u8>>,
    env: crate::tx::fanout::GatherEnv,
) -> crate::tx::fanout::Plan {
    use crate::tx::fanout::{gather, Plan, Step};
    use crate::tx::{OpResult, ShardOp};
    let key = args.args().get(1).to_vec();
    let read = ShardOp::Take {
        db: env.db,
        key: key.clone(),
        delete: false,
        behind: None,
    };
    Plan {
        ops: vec![(key_shard(&key, env.nshards), read)],
        barrier: true,
        finish: Box::new(move |results, _r| {
            let value = match results.into_iter().next() {
                Some(OpResult::Taken(Some((v, _)))) => Some(v),
                _ => None,
            };
            let keys = with_pattern_keys(args.args(), value.as_ref(), declared);
            let env = crate::tx::fanout::GatherEnv {
                patterns_gathered: true,
                ..env
            };
            let plan = gather(f, writes, args, keys, env);
            Step::Next(plan.ops, plan.finish)
        }),
    }
}

/// The locks of `patterns_plan`: every shard, since the pattern keys are
/// known only once the sorted key is read: shared, or exclusive on the
/// STORE destination's shard.
pub fn patterns_locks(
    store: Option<&[u8]>,
    nshards: usize,
) -> Vec<(usize, crate::tx::locks::LockSet)> {
    use crate::tx::locks::{WHOLE_SHARD, WHOLE_SHARD_READ};
    let dest = store.map(|k| key_shard(k, nshards));
    (0..nshards)
        .map(|s| {
            let lock = if dest == Some(s) {
                WHOLE_SHARD
            } else {
                WHOLE_SHARD_READ
            };
            (s, vec![lock])
        })
        .collect()
}

/// A sort weight as Redis reads one: C's `strtod` over the bytes as a C
/// string (so up to a first NUL byte: an empty string, or binary that
/// starts with one, weighs 0), all of it consumed, not out of range, not
/// NaN. Leading spaces, hex and `inf` are numbers, as there.
fn score_of(v: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(v.len() + 1);
    buf.extend_from_slice(v);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; errno is
    // this thread's.
    let (x, errno) = unsafe {
        *libc::__errno_location() = 0;
        let x = libc::strtod(buf.as_ptr().cast(), &mut end);
        (x, *libc::__errno_location())
    };
    // SAFETY: strtod leaves `end` inside `buf`, at its last NUL at most.
    let stopped_at_nul = !end.is_null() && unsafe { *end.cast::<u8>() } == 0;
    (stopped_at_nul && errno != libc::ERANGE && !x.is_nan()).then_some(x)
}

pub fn sort(c: &mut Ctx, a: Args) {
    sort_generic(c, a, false)
}

pub fn sort_ro(c: &mut Ctx, a: Args) {
    sort_generic(c, a, true)
}

fn sort_generic(c: &mut Ctx, a: Args, readonly: bool) {
    let mut o = match parse(a, readonly) {
        Ok(o) => o,
        Err(e) => return c.r.error(&e),
    };
    let key = a.get(1);
    let nshards = c.shard.nshards;
    if let Some(by) = o.by.filter(|_| !o.dontsort) {
        if !pattern_is_local(c.shard, nshards, key, by) {
            return c.r.error(
                "ERR BY option of SORT denied: keys formed by the pattern may live on another \
                 shard (use a hash tag that maps to the sorted key's shard, or --threads 1)",
            );
        }
    }
    if o.gets
        .iter()
        .any(|g| !pattern_is_local(c.shard, nshards, key, g))
    {
        return c.r.error(
            "ERR GET option of SORT denied: keys formed by the pattern may live on another \
             shard (use a hash tag that maps to the sorted key's shard, or --threads 1)",
        );
    }

    // The elements, and which kind of value held them.
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let value = c.lookup(key).map(|e| {
        if let Value::ZSet(z) = &mut e.value {
            // Redis converts a sorted set it sorts to a skiplist, for good
            // (sortCommandGeneric): OBJECT ENCODING shows it.
            z.make_skiplist();
        }
        &e.value
    });
    let kind = match value {
        None | Some(Value::List(_)) => Kind::List,
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::ZSet(_)) => Kind::ZSet,
        Some(_) => return c.r.error(WRONGTYPE),
    };
    let mut elems = elements(value);
    // A set has no order of its own: one that is stored, or returned to a
    // script, must be sorted so that the result does not depend on the
    // set's layout (replicas and AOF replay the effects).
    let for_script = crate::scripting::engine::running();
    if o.dontsort && matches!(kind, Kind::Set) && (o.store.is_some() || for_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    let len = elems.len() as i64;
    let (lstart, lcount) = o.limit.unwrap_or((0, -1));
    let mut start = lstart.max(0).min(len);
    let count = lcount.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    if o.dontsort {
        // Lists and sorted sets keep their order, reversed by DESC; a set's
        // order is its own.
        if o.desc && !matches!(kind, Kind::Set) {
            elems.reverse();
        }
    } else {
        // Sort keys: a score, or bytes (None: the BY key is missing).
        let mut keyed: Vec<(Vec<u8>, f64, Option<Vec<u8>>)> = Vec::with_capacity(elems.len());
        let mut bad_score = false;
        for e in elems {
            let (score, cmp) = match (o.by, o.alpha) {
                (Some(p), true) => (0.0, lookup_pattern(c, p, &e)),
                (None, true) => (0.0, None),
                (by, false) => {
                    let looked = by.map(|p| lookup_pattern(c, p, &e));
                    let weight = match &looked {
                        Some(v) => v.as_deref(),
                        None => Some(e.as_slice()),
                    };
                    let s = weight.map_or(Some(0.0), score_of).unwrap_or_else(|| {
                        bad_score = true;
                        0.0
                    });
                    (s, None)
                }
            };
            keyed.push((e, score, cmp));
        }
        if bad_score {
            return c
                .r
                .error("ERR One or more scores can't be converted into double");
        }
        let alpha = o.alpha;
        let by = o.by.is_some();
        keyed.sort_by(|x, y| {
            let ord = if !alpha {
                // Equal scores fall back to the elements, so the result is
                // deterministic.
                x.1.partial_cmp(&y.1)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.0.cmp(&y.0))
            } else if by {
                // A missing BY key sorts first.
                x.2.cmp(&y.2)
            } else {
                x.0.cmp(&y.0)
            };
            if o.desc {
                ord.reverse()
            } else {
                ord
            }
        });
        elems = keyed.into_iter().map(|k| k.0).collect();
    }

    let picked: &[Vec<u8>] = if end >= start && start >= 0 {
        &elems[start as usize..=end as usize]
    } else {
        &[]
    };
    let outlen = if o.gets.is_empty() {
        picked.len()
    } else {
        picked.len() * o.gets.len()
    };
    match o.store {
        None => {
            c.r.array(outlen);
            for e in picked {
                if o.gets.is_empty() {
                    c.r.bulk(e);
                }
                for g in &o.gets {
                    match lookup_pattern(c, g, e) {
                        Some(v) => c.r.bulk(&v),
                        None => c.r.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = List::new();
            for e in picked {
                if o.gets.is_empty() {
                    list.push(e, End::Right);
                }
                for g in &o.gets {
                    let v = lookup_pattern(c, g, e).unwrap_or_default();
                    list.push(&v, End::Right);
                }
            }
            if outlen > 0 {
                c.db().set(dst, Value::List(Box::new(list)), 0);
                c.notify(crate::notify::LIST, "sortstore", dst);
            } else if c.db().remove(dst).is_some() {
                c.notify(crate::notify::GENERIC, "del", dst);
            }
            c.r.int(outlen as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_substitution() {
        assert_eq!(substitute(b"w_*", b"3"), Some((b"w_3".to_vec(), None)));
        assert_eq!(
            substitute(b"h_*->f", b"3"),
            Some((b"h_3".to_vec(), Some(b"f".to_vec())))
        );
        // An empty field name is part of the key, as in Redis.
        assert_eq!(substitute(b"h_*->", b"3"), Some((b"h_3->".to_vec(), None)));
        // Only the first '*' is replaced; '->' before it is not a field.
        assert_eq!(
            substitute(b"a->*_*", b"x"),
            Some((b"a->x_*".to_vec(), None))
        );
        assert_eq!(substitute(b"nostar", b"x"), None);
    }

    #[test]
    fn store_position() {
        let args = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let check = |v: &[&str]| {
            let mut owned = crate::tx::OwnedArgs::new();
            for a in args(v) {
                owned.push(&a);
            }
            store_key(owned.args())
        };
        assert_eq!(check(&["sort", "k"]), None);
        assert_eq!(check(&["sort", "k", "store", "d"]), Some(3));
        assert_eq!(check(&["sort", "k", "by", "store", "store", "d"]), Some(5));
        assert_eq!(
            check(&["sort", "k", "limit", "store", "x", "store", "d"]),
            Some(6)
        );
        assert_eq!(check(&["sort", "k", "store", "a", "store", "b"]), Some(5));
    }
}
