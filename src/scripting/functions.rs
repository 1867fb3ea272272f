//! Redis 7.0 functions: libraries loaded with FUNCTION LOAD, their
//! functions called with FCALL. The libraries are server-wide (like the
//! script cache); each reactor's interpreter runs a library's code the
//! first time one of its functions is called there (`engine`), and again
//! after any library changes (a generation number says when).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

#[derive(Clone, Debug, PartialEq)]
pub struct FunctionMeta {
    pub name: String,
    pub description: Option<String>,
    pub flags: Vec<&'static str>,
}

impl FunctionMeta {
    pub fn no_writes(&self) -> bool {
        self.flags.contains(&"no-writes")
    }
}

#[derive(Clone)]
pub struct Library {
    pub name: String,
    pub code: Arc<[u8]>,
    pub functions: Vec<FunctionMeta>,
}

#[derive(Default)]
struct Registry {
    /// By name (case-sensitive, as Redis 7.0's library names).
    libs: BTreeMap<String, Library>,
    /// Lowercased function name (FCALL's are case-insensitive) →
    /// library name.
    by_fn: HashMap<String, String>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(Default::default);
static GENERATION: AtomicU64 = AtomicU64::new(0);

pub const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

fn bump() {
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Names Redis accepts for libraries and functions.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `#!lua name=<library>` line: the library's name, or the error.
pub fn parse_header(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut parts = line.split(' ');
    let engine = parts.next().unwrap_or("");
    let parts = parts.filter(|p| !p.is_empty());
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for p in parts {
        match p.split_once('=') {
            Some(("name", _)) if name.is_some() => {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                )
            }
            Some(("name", v)) => {
                // Quoted, as Redis's argument splitting allows.
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                name = Some(v.to_string())
            }
            _ => return Err(format!("ERR Invalid metadata value given: {p}")),
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok((name, end))
}

/// Add (or with `replace`, swap in) a library whose code ran and
/// registered `functions`.
pub fn add(lib: Library, replace: bool) -> Result<(), String> {
    let mut r = REGISTRY.write().map_err(|_| "ERR internal lock error")?;
    let key = lib.name.clone();
    if r.libs.contains_key(&key) && !replace {
        return Err(format!("ERR Library '{}' already exists", lib.name));
    }
    for f in &lib.functions {
        if let Some(owner) = r.by_fn.get(&f.name.to_ascii_lowercase()) {
            if *owner != key {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
    }
    if let Some(old) = r.libs.remove(&key) {
        for f in old.functions {
            r.by_fn.remove(&f.name.to_ascii_lowercase());
        }
    }
    for f in &lib.functions {
        r.by_fn.insert(f.name.to_ascii_lowercase(), key.clone());
    }
    r.libs.insert(key, lib);
    drop(r);
    bump();
    Ok(())
}

/// How FUNCTION RESTORE treats libraries already there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Refuse if any library or function name is taken.
    Append,
    /// Swap in libraries of the same name; other name clashes refuse.
    Replace,
    /// Drop every library first.
    Flush,
}

/// Add `libs` all or none (FUNCTION RESTORE).
pub fn restore(libs: Vec<Library>, policy: RestorePolicy) -> Result<(), String> {
    let mut r = REGISTRY.write().map_err(|_| "ERR internal lock error")?;
    let mut next = match policy {
        RestorePolicy::Flush => Registry::default(),
        _ => Registry {
            libs: r.libs.clone(),
            by_fn: r.by_fn.clone(),
        },
    };
    for lib in libs {
        if let Some(old) = next.libs.get(&lib.name) {
            if policy != RestorePolicy::Replace {
                return Err(format!("ERR Library {} already exists", lib.name));
            }
            for f in old.functions.clone() {
                next.by_fn.remove(&f.name.to_ascii_lowercase());
            }
            next.libs.remove(&lib.name);
        }
        for f in &lib.functions {
            if next.by_fn.contains_key(&f.name.to_ascii_lowercase()) {
                return Err(format!("ERR Function {} already exists", f.name));
            }
            next.by_fn
                .insert(f.name.to_ascii_lowercase(), lib.name.clone());
        }
        next.libs.insert(lib.name.clone(), lib);
    }
    *r = next;
    drop(r);
    bump();
    Ok(())
}

pub fn delete(name: &str) -> Result<(), &'static str> {
    let mut r = REGISTRY.write().map_err(|_| "ERR internal lock error")?;
    let Some(lib) = r.libs.remove(name) else {
        return Err("ERR Library not found");
    };
    for f in lib.functions {
        r.by_fn.remove(&f.name.to_ascii_lowercase());
    }
    drop(r);
    bump();
    Ok(())
}

pub fn flush() {
    if let Ok(mut r) = REGISTRY.write() {
        r.libs.clear();
        r.by_fn.clear();
    }
    bump();
}

/// Whether the function FCALL names is declared `no-writes` (`None`: no
/// such function).
pub fn no_writes(function: &[u8]) -> Option<bool> {
    let name = String::from_utf8_lossy(function).to_lowercase();
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let lib = reg.libs.get(reg.by_fn.get(&name)?)?;
    lib.functions
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(&name))
        .map(FunctionMeta::no_writes)
}

/// The library holding function `name` (names are case-insensitive).
pub fn library_of(name: &str) -> Option<Library> {
    let r = REGISTRY.read().ok()?;
    r.libs
        .get(r.by_fn.get(&name.to_ascii_lowercase())?)
        .cloned()
}

pub fn libraries() -> Vec<Library> {
    REGISTRY
        .read()
        .map(|r| r.libs.values().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            parse_header(b"#!lua name=lib\ncode"),
            Ok(("lib".into(), 14))
        );
        assert_eq!(
            parse_header(b"return 1"),
            Err("ERR Missing library metadata".into())
        );
        assert_eq!(
            parse_header(b"#!js name=x\n"),
            Err("ERR Engine 'js' not found".into())
        );
        assert_eq!(
            parse_header(b"#!lua\n"),
            Err("ERR Library name was not given".into())
        );
        assert!(parse_header(b"#!lua name=a-b\n").is_err());
        assert!(parse_header(b"#!lua name=a foo=bar\n").is_err());
    }
}
