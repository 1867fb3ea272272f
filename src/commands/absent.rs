//! Commands of features halocline does not have, answered as a Redis
//! without them answers, so that clients probing for them get the reply
//! they expect: cluster mode off (CLUSTER, READONLY, READWRITE, ASKING),
//! no modules loaded (MODULE), no persistence (SAVE, BGSAVE,
//! BGREWRITEAOF).

use super::conn::ConnCtx;
use super::ctx::eq_ic;
use crate::protocol::Args;

const CLUSTER_DISABLED: &str = "ERR This instance has cluster support disabled";

/// CLUSTER <any subcommand>, READONLY, READWRITE, ASKING: Redis with
/// cluster-enabled no answers every one the same way (CLUSTER HELP too).
pub fn cluster_disabled(c: &mut ConnCtx, _a: Args) {
    c.r.error(CLUSTER_DISABLED);
}

/// MODULE LIST (none loaded); LOAD, LOADEX and UNLOAD refused.
pub fn module(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "list") {
        c.r.array(0);
    } else if eq_ic(sub, "load") || eq_ic(sub, "loadex") || eq_ic(sub, "unload") {
        // Redis 7.0's answer with enable-module-command no, its default
        // (and the only setting here: there is nothing to load).
        c.r.error(
            "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        );
    } else {
        c.r.help(&[
            "MODULE <subcommand> [<arg> ...]. halocline loads no modules:",
            "LIST",
            "    An empty list.",
            "LOAD <path> [<arg> ...] | LOADEX <path> ... | UNLOAD <name>",
            "    Refused, as with enable-module-command no.",
            "HELP",
            "    This text.",
        ]);
    }
}

/// SAVE, BGSAVE, BGREWRITEAOF: there is nothing to save.
pub fn no_persistence(c: &mut ConnCtx, a: Args) {
    let name = String::from_utf8_lossy(a.get(0)).to_ascii_uppercase();
    c.r.error(&format!(
        "ERR halocline does not persist data (no RDB or AOF): {name} is not supported"
    ));
}
