//! Listening sockets: one SO_REUSEPORT listener per reactor, so the kernel
//! spreads connections across reactors (a shared listener with multishot
//! accept sends nearly all of them to one ring).

use std::net::{IpAddr, SocketAddr};

/// Bind once without SO_REUSEPORT to make sure no other process (which
/// could otherwise join our SO_REUSEPORT group and steal connections) holds
/// the address: a second server must fail like redis-server does.
pub fn check_free(addr: &str, port: u16) -> std::io::Result<()> {
    let fd = open(addr, port, false)?;
    // SAFETY: closing the probe socket we just opened.
    unsafe { libc::close(fd) };
    Ok(())
}

pub fn listen(addr: &str, port: u16) -> std::io::Result<i32> {
    open(addr, port, true)
}

fn open(addr: &str, port: u16, reuseport: bool) -> std::io::Result<i32> {
    let ip: IpAddr = if addr == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        addr.trim_start_matches('-').parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid bind address '{addr}'"),
            )
        })?
    };
    let sa = SocketAddr::new(ip, port);
    let domain = if sa.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket setup with checked return codes; the sockaddr structs
    // are fully initialised before use.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        let sz = std::mem::size_of::<libc::c_int>() as u32;
        let p = &one as *const _ as *const libc::c_void;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, p, sz);
        if reuseport {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, p, sz);
        }
        if domain == libc::AF_INET6 {
            libc::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, p, sz);
        }
        let rc = match sa {
            SocketAddr::V4(v4) => {
                let mut s: libc::sockaddr_in = std::mem::zeroed();
                s.sin_family = libc::AF_INET as u16;
                s.sin_port = v4.port().to_be();
                s.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                libc::bind(
                    fd,
                    &s as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&s) as u32,
                )
            }
            SocketAddr::V6(v6) => {
                let mut s: libc::sockaddr_in6 = std::mem::zeroed();
                s.sin6_family = libc::AF_INET6 as u16;
                s.sin6_port = v6.port().to_be();
                s.sin6_addr.s6_addr = v6.ip().octets();
                libc::bind(
                    fd,
                    &s as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&s) as u32,
                )
            }
        };
        if rc != 0 || (reuseport && libc::listen(fd, 511) != 0) {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(fd)
    }
}
