//! The process's own figures (`process_*`, as every Prometheus client
//! exports them): CPU time, memory, file descriptors, threads, start time.
//! Read from `/proc` at scrape time, on the admin listener's thread.

/// Clock ticks per second of `/proc`'s CPU times (`USER_HZ`: 100 on every
/// Linux architecture the kernel builds, whatever the scheduler's rate).
const USER_HZ: f64 = 100.0;

/// One reading of the process's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_bytes: u64,
    /// Virtual memory, in bytes.
    pub virtual_bytes: u64,
    /// File descriptors open.
    pub open_fds: u64,
    /// The open-file limit (soft).
    pub max_fds: u64,
    /// Threads.
    pub threads: u64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self`; `None` where there is no `/proc` (not Linux)
    /// or it reads as something else.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).ok()?;
        Self::parse(&stat, &status, &boot, open_fds, max_fds)
    }

    /// The figures out of `/proc/self/stat`, `/proc/self/status` and
    /// `/proc/stat`'s texts.
    fn parse(stat: &str, status: &str, boot: &str, open_fds: u64, max_fds: u64) -> Option<Self> {
        // The command name is in parentheses and may hold spaces: the
        // fields are counted from the last ')'; field 3 (state) is [0].
        let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let (utime, stime, threads, start_ticks, virtual_bytes) =
            (field(14)?, field(15)?, field(20)?, field(22)?, field(23)?);
        let resident_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse::<u64>()
            .ok()?;
        let boot_time = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse::<u64>().ok()?;
        Some(Self {
            cpu_seconds: (utime + stime) as f64 / USER_HZ,
            resident_bytes: resident_kib * 1024,
            virtual_bytes,
            open_fds,
            max_fds,
            threads,
            start_time_seconds: boot_time as f64 + start_ticks as f64 / USER_HZ,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proc_texts_are_read_field_by_field() {
        let stat = "4242 (tick forge) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 2000 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let status = "Name:\ttickforge\nVmPeak:\t  9999 kB\nVmRSS:\t    8192 kB\nThreads:\t7\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let stats = ProcessStats::parse(stat, status, boot, 12, 1024).unwrap();
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 3.0,
                resident_bytes: 8192 * 1024,
                virtual_bytes: 123_456_789,
                open_fds: 12,
                max_fds: 1024,
                threads: 7,
                start_time_seconds: 1_700_000_010.0,
            }
        );
        assert_eq!(ProcessStats::parse("garbage", status, boot, 0, 0), None);
    }

    #[test]
    fn this_process_reads_itself() {
        let stats = ProcessStats::read().expect("/proc/self");
        assert!(stats.resident_bytes > 0 && stats.threads >= 1 && stats.open_fds >= 3, "{stats:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(
            stats.start_time_seconds <= now + 1.0 && stats.start_time_seconds > now - 86_400.0 * 365.0,
            "{stats:?}"
        );
    }
}
