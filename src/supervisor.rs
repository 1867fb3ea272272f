//! `supervised`: telling a service manager when the server is ready, as
//! redis-server does. systemd (`Type=notify`, the unit Debian ships for
//! redis-server) waits for `READY=1` on the datagram socket named by
//! `NOTIFY_SOCKET`; upstart (`expect stop`) waits for the process to stop
//! itself. The sd_notify protocol is one datagram, so no libsystemd.

use std::os::unix::net::{SocketAddr, UnixDatagram};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervisor {
    None,
    Systemd,
    Upstart,
}

impl Supervisor {
    /// From the `supervised` setting and the environment, as Redis
    /// decides: a supervisor counts only if the environment shows it
    /// (`UPSTART_JOB`, `NOTIFY_SOCKET`; `auto` tries them in that order).
    /// Asked for but not found: no supervision, and the warning to log.
    pub fn detect(setting: &str) -> (Supervisor, Option<&'static str>) {
        let upstart = std::env::var_os("UPSTART_JOB").is_some();
        let systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
        match setting {
            "upstart" if upstart => (Supervisor::Upstart, None),
            "upstart" => (
                Supervisor::None,
                Some("upstart supervision requested, but UPSTART_JOB not found!"),
            ),
            "systemd" if systemd => (Supervisor::Systemd, None),
            "systemd" => (
                Supervisor::None,
                Some("systemd supervision requested or auto-detected, but no socket found"),
            ),
            "auto" if upstart => (Supervisor::Upstart, None),
            "auto" if systemd => (Supervisor::Systemd, None),
            _ => (Supervisor::None, None),
        }
    }

    /// The server listens and serves.
    pub fn ready(self) {
        match self {
            Supervisor::Systemd => {
                if let Err(e) = sd_notify("STATUS=Ready to accept connections\nREADY=1\n") {
                    log::warn!("systemd supervision requested, but NOTIFY_SOCKET: {e}");
                }
            }
            Supervisor::Upstart => {
                // Only when UPSTART_JOB says upstart is there to resume us
                // (`detect`): otherwise nothing would ever continue us.
                // SAFETY: raising a signal at ourselves.
                unsafe { libc::raise(libc::SIGSTOP) };
            }
            Supervisor::None => {}
        }
    }

    /// The server is shutting down.
    pub fn stopping(self) {
        if self == Supervisor::Systemd {
            let _ = sd_notify("STOPPING=1\n");
        }
    }
}

fn sd_notify(msg: &str) -> std::io::Result<()> {
    let path = std::env::var("NOTIFY_SOCKET")
        .map_err(|_| std::io::Error::other("NOTIFY_SOCKET is not set"))?;
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(&path)?,
    };
    UnixDatagram::unbound()?.send_to_addr(msg.as_bytes(), &addr)?;
    Ok(())
}
