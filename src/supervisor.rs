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
    /// From the `supervised` setting; `auto` asks the environment.
    pub fn from_setting(v: &str) -> Supervisor {
        match v {
            "systemd" => Supervisor::Systemd,
            "upstart" => Supervisor::Upstart,
            "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => Supervisor::Systemd,
            "auto" if std::env::var_os("UPSTART_JOB").is_some() => Supervisor::Upstart,
            _ => Supervisor::None,
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
                // SAFETY: raising a signal at ourselves; upstart resumes us.
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
