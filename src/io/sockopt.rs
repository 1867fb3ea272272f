//! Options set on every accepted connection, as redis-server sets them.

fn set_int(fd: i32, level: libc::c_int, name: libc::c_int, v: libc::c_int) {
    // SAFETY: setsockopt with a valid pointer to a c_int; a failure leaves
    // the socket usable with the kernel's default, which is all Redis does
    // about it too (it logs and goes on).
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// TCP_NODELAY, and with `keepalive_secs > 0` Redis's anetKeepAlive:
/// probes after that much idle time, every third of it, three of them, so
/// a peer that vanished (a killed container, a dropped NAT entry) is
/// noticed and its connection freed (`tcp-keepalive`, default 300).
pub fn tune_accepted(fd: i32, keepalive_secs: i64) {
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    if keepalive_secs > 0 {
        let idle = keepalive_secs.min(i32::MAX as i64) as libc::c_int;
        set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle);
        set_int(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            (idle / 3).max(1),
        );
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    }
}
