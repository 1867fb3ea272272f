//! Redis-style log lines (`pid:M 25 Nov 2026 19:08:28.123 * message`) to
//! stderr or the configured logfile. Small enough that a logging framework
//! would add more than it saves.

use std::io::Write;
use std::sync::Mutex;

struct Logger {
    level: log::LevelFilter,
    file: Option<Mutex<std::fs::File>>,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }
    fn log(&self, rec: &log::Record) {
        if !self.enabled(rec.metadata()) {
            return;
        }
        let mark = match rec.level() {
            log::Level::Error | log::Level::Warn => '#',
            log::Level::Info => '*',
            log::Level::Debug => '-',
            log::Level::Trace => '.',
        };
        let line = format!(
            "{}:M {} {} {}\n",
            std::process::id(),
            timestamp(),
            mark,
            rec.args()
        );
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
    fn flush(&self) {}
}

fn timestamp() -> String {
    let ms = crate::server::now_ms();
    let secs = (ms / 1000) as libc::time_t;
    // SAFETY: gmtime_r writes into our zeroed tm.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&secs, &mut tm);
        tm
    };
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MON[(tm.tm_mon as usize) % 12],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms % 1000
    )
}

pub fn init(loglevel: &str, logfile: &str) -> Result<(), String> {
    let level = match loglevel {
        "debug" => log::LevelFilter::Debug,
        "verbose" => log::LevelFilter::Info,
        "notice" => log::LevelFilter::Info,
        "warning" => log::LevelFilter::Warn,
        _ => log::LevelFilter::Off,
    };
    let file = if logfile.is_empty() {
        None
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
            .map_err(|e| format!("Can't open the log file: {e}"))?;
        Some(Mutex::new(f))
    };
    log::set_boxed_logger(Box::new(Logger { level, file })).map_err(|e| e.to_string())?;
    log::set_max_level(level);
    Ok(())
}
