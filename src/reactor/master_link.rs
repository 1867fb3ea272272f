//! The reactor's side of being a replica: taking in the master connection
//! a replication link thread hands over (`Msg::AdoptMaster`), and
//! REPLICAOF's release of blocked clients.

use super::client::Client;
use super::Reactor;
use crate::protocol::Reply;
use crate::replication::replica::{Adopt, UNBLOCKED};
use std::sync::atomic::Ordering;

impl Reactor {
    /// Register the master connection like an accepted one: no maxclients
    /// refusal (Redis never refuses its master), authenticated whatever
    /// requirepass says, flagged with its session. The driver arms its
    /// I/O (`take_adopted`).
    pub(super) fn adopt_master(&mut self, a: Adopt) {
        self.shared.clients.fetch_add(1, Ordering::Relaxed);
        let id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let mut client = Client::new(id, a.fd, a.addr, String::new(), true, self.now);
        client.master = a.session;
        let idx = self.install_conn(a.fd, client);
        self.adopted.push(idx);
    }

    /// Connections adopted since the last call, for the driver to start
    /// reading (as it does for an accepted socket).
    pub fn take_adopted(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.adopted)
    }

    /// Every client of this reactor blocked on keys gets UNBLOCKED and is
    /// disconnected once it has it (Redis's disconnectAllBlockedClients
    /// when it becomes a replica). Returns how many.
    pub(super) fn unblock_all(&mut self) -> i64 {
        let blocked: Vec<(u32, crate::protocol::Proto)> = self
            .conns_iter()
            .filter(|(_, c)| c.blocked.is_some() && !c.closing)
            .map(|(i, c)| (i, c.client.proto))
            .collect();
        for &(idx, proto) in &blocked {
            let mut reply = Vec::new();
            Reply::new(&mut reply, proto).error(UNBLOCKED);
            if let Some(c) = self.conn_mut(idx) {
                c.close_after_flush = true;
            }
            self.give_up(idx, reply);
        }
        blocked.len() as i64
    }
}
