//! `halocline [config-file] [--name value ...]`: parse the configuration,
//! open one listener per reactor, start the reactors, wait for a signal.

use halocline::config::Config;
use halocline::reactor::Reactor;
use halocline::server::{Shared, HALOCLINE_VERSION, REDIS_VERSION};
use std::sync::Arc;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn usage() {
    eprintln!(
        "Usage: halocline [/path/to/halocline.conf] [options]\n\
         \x20      halocline -v or --version\n\
         \x20      halocline -h or --help\n\n\
         Options are any config directive prefixed with --, e.g.\n\
         \x20 --port 6380 --bind 127.0.0.1 ::1 --threads 4 --databases 16\n\
         \x20 --requirepass secret --maxclients 10000 --loglevel notice --logfile ''"
    );
}

/// `daemonize yes`, as redis-server does it: fork, the parent exits 0 at
/// once, the child leaves the terminal's session and its standard streams
/// go to /dev/null (the log goes to `logfile`, or nowhere). Done before any
/// thread exists: only the forking thread survives a fork.
fn daemonize() -> std::io::Result<()> {
    // SAFETY: no other thread exists yet; fork/setsid/open/dup2 on our own
    // process, their results checked.
    unsafe {
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd != -1 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// The errors that mean "this host has no such address or protocol", for
/// which an optional (`-`) bind address is skipped.
fn unavailable_here(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENOPROTOOPT
                | libc::EPROTONOSUPPORT
                | libc::ESOCKTNOSUPPORT
                | libc::EPFNOSUPPORT
                | libc::EAFNOSUPPORT
                | libc::EADDRNOTAVAIL
        )
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "-v" || a == "--version") {
        println!("halocline v={HALOCLINE_VERSION} redis_version={REDIS_VERSION}");
        return;
    }
    if args.first().is_some_and(|a| a == "-h" || a == "--help") {
        usage();
        return;
    }
    let cfg = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("\n{e}");
            std::process::exit(1);
        }
    };
    // A supervised server stays in the foreground whatever `daemonize`
    // says (as Redis): the supervisor watches this pid.
    let (supervisor, supervisor_warning) = halocline::supervisor::Supervisor::detect(
        cfg.passive.get("supervised").map_or("no", String::as_str),
    );
    if cfg.passive.get("daemonize").is_some_and(|v| v == "yes")
        && supervisor == halocline::supervisor::Supervisor::None
    {
        if let Err(e) = daemonize() {
            eprintln!("daemonize: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = halocline::logging::init(&cfg.loglevel, &cfg.logfile) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    if let Some(w) = supervisor_warning {
        log::warn!("{w}");
    }
    halocline::server::abort_on_panic();
    std::process::exit(match run(cfg, supervisor) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    });
}

fn run(cfg: Config, supervisor: halocline::supervisor::Supervisor) -> Result<(), String> {
    let backend = match cfg.io_backend.as_str() {
        "epoll" => "epoll",
        "uring" => match halocline::io::uring_available(cfg.debug_fail_uring) {
            Ok(()) => "io_uring",
            Err(e) => {
                return Err(format!(
                    "--io-backend uring: io_uring is unavailable here ({e})"
                ))
            }
        },
        _ => match halocline::io::uring_available(cfg.debug_fail_uring) {
            Ok(()) => "io_uring",
            Err(e) => {
                log::warn!("io_uring is unavailable ({e}): falling back to the epoll backend");
                "epoll"
            }
        },
    };
    // Signals are taken by the main thread with sigwait; reactors inherit the mask.
    // SAFETY: sigset manipulation on a local set; SIG_IGN for SIGPIPE.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        set
    };
    let threads = cfg.threads;
    let cannot_listen = |addr: &str, e: std::io::Error| {
        format!(
            "Could not create server TCP listening socket {addr}:{}: {e}",
            cfg.port
        )
    };
    // A `-` before an address makes it optional (Redis 7's stock config
    // binds `127.0.0.1 -::1`): skipped with a warning where the host lacks
    // it (no IPv6), as redis-server does.
    let mut addrs: Vec<String> = Vec::new();
    for addr in &cfg.bind {
        match halocline::io::listener::check_free(addr, cfg.port) {
            Ok(()) => addrs.push(addr.clone()),
            Err(e) if addr.starts_with('-') && unavailable_here(&e) => {
                log::warn!("{}", cannot_listen(addr, e));
            }
            Err(e) => return Err(cannot_listen(addr, e)),
        }
    }
    if addrs.is_empty() {
        return Err(format!(
            "Failed listening on port {} (tcp), aborting.",
            cfg.port
        ));
    }
    let mut listeners = Vec::with_capacity(threads);
    for _ in 0..threads {
        let mut fds = Vec::new();
        for addr in &addrs {
            let fd = halocline::io::listener::listen(addr, cfg.port)
                .map_err(|e| cannot_listen(addr, e))?;
            fds.push(fd);
        }
        listeners.push(fds);
    }
    let port = cfg.port;
    // Like redis-server: written once listening, removed on a clean exit,
    // a warning (not an error) if it cannot be written.
    let pidfile = cfg
        .passive
        .get("pidfile")
        .filter(|p| !p.is_empty())
        .cloned();
    let shared = Arc::new(Shared::new(cfg, backend).map_err(|e| e.to_string())?);
    if let Some(p) = &pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            log::warn!("Failed to write PID file: {e}");
        }
    }
    // Before any client can send REPLICAOF (the link itself starts after
    // the reactors, below).
    halocline::replication::replica::attach(&shared);
    let mut handles = Vec::new();
    let batch = halocline::io::sched::oversubscribed(threads);
    if batch {
        // Debug level: the start-up line stays the only notice.
        log::debug!(
            "{threads} reactors share {} CPU(s): reactor threads use SCHED_BATCH",
            halocline::io::sched::allowed_cpus().unwrap_or(0)
        );
    }
    for (id, fds) in listeners.into_iter().enumerate() {
        let sh = shared.clone();
        let h = std::thread::Builder::new()
            .name(format!("reactor-{id}"))
            .spawn(move || {
                if batch {
                    if let Err(e) = halocline::io::sched::use_batch_policy() {
                        log::warn!("SCHED_BATCH for reactor {id}: {e}");
                    }
                }
                let reactor = Reactor::new(id, sh.clone());
                let res = if backend == "epoll" {
                    halocline::io::epoll::run(reactor, fds)
                } else {
                    halocline::io::uring::run(reactor, fds)
                };
                if let Err(e) = res {
                    log::error!("reactor {id} failed: {e}");
                    sh.request_stop();
                }
            })
            .map_err(|e| e.to_string())?;
        handles.push(h);
    }
    log::info!(
        "halocline {HALOCLINE_VERSION} (redis {REDIS_VERSION} compatible) ready to accept connections: port {port}, {threads} threads, io backend {backend}, pid {}",
        std::process::id()
    );
    supervisor.ready();
    // After the reactors: the link hands its master connection to reactor 0.
    halocline::replication::replica::start(&shared);
    let mut sig: libc::c_int = 0;
    // SAFETY: sigwait on the set blocked above.
    unsafe { libc::sigwait(&set, &mut sig) };
    log::info!(
        "Received {}, shutting down.",
        if sig == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    );
    supervisor.stopping();
    halocline::replication::replica::shutdown(&shared);
    shared.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    halocline::scripting::stop_scripts();
    for m in &shared.mailboxes {
        m.ring();
    }
    // A reactor inside a script that has written cannot be interrupted
    // (its atomicity would break); Redis stops such a script only with
    // SHUTDOWN NOSAVE, which exits at once. Do not wait on it for ever.
    {
        let pidfile = pidfile.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(5));
            log::warn!("A reactor is still busy (a script that wrote?): exiting without it.");
            if let Some(p) = &pidfile {
                let _ = std::fs::remove_file(p);
            }
            std::process::exit(0);
        });
    }
    for h in handles {
        let _ = h.join();
    }
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    log::info!("halocline is now ready to exit, bye bye...");
    Ok(())
}
