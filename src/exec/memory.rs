//! How much memory this process can still take, as the machine says. A fixed budget ignores
//! the container's limit (cgroup), what other processes use (`MemAvailable`) and `ulimit -v`
//! (`RLIMIT_AS`); a batch sized past any of them ends in the OOM killer or an allocation abort.
//! The least of the three is what batches are sized to (see `methods::batch_for`).

/// Bytes this process can still allocate: the least of the known limits, or `None` where none
/// is known (not Linux).
pub fn available() -> Option<u64> {
    [mem_available(), cgroup_headroom(), address_space_headroom()]
        .into_iter()
        .flatten()
        .min()
}

/// `MemAvailable` of `/proc/meminfo`: what can be allocated without swapping.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_field(&text, "MemAvailable:")
}

fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The memory cgroup's limit less its usage: cgroup v2 (`memory.max`, `memory.current`) for the
/// process's own group, else v1's `memory.limit_in_bytes`.
fn cgroup_headroom() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |p: String| std::fs::read_to_string(p).ok();
    // v2: one line `0::/path`.
    if let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) {
        let dir = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
        if let (Some(max), Some(current)) = (
            read(format!("{dir}/memory.max")),
            read(format!("{dir}/memory.current")),
        ) {
            return headroom(&max, &current);
        }
    }
    let limit = read("/sys/fs/cgroup/memory/memory.limit_in_bytes".into())?;
    let usage = read("/sys/fs/cgroup/memory/memory.usage_in_bytes".into())?;
    headroom(&limit, &usage)
}

/// `limit - used` from the files' text; `max` (v2) or a page-rounded `i64::MAX` (v1) is no limit.
fn headroom(limit: &str, used: &str) -> Option<u64> {
    let limit: u64 = limit.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    Some(limit.saturating_sub(used.trim().parse().unwrap_or(0)))
}

/// `ulimit -v` less the address space already mapped (`VmSize`).
#[cfg(unix)]
fn address_space_headroom() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used = meminfo_field(&status, "VmSize:").unwrap_or(0);
    Some(limit.rlim_cur.saturating_sub(used))
}

#[cfg(not(unix))]
fn address_space_headroom() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_formats() {
        let meminfo = "MemTotal:       24000000 kB\nMemAvailable:    1234 kB\n";
        assert_eq!(meminfo_field(meminfo, "MemAvailable:"), Some(1234 * 1024));
        assert_eq!(meminfo_field(meminfo, "VmSize:"), None);
        assert_eq!(headroom("max\n", "100\n"), None);
        assert_eq!(headroom("9223372036854771712\n", "100"), None);
        assert_eq!(headroom("1000\n", "300\n"), Some(700));
        assert_eq!(headroom("1000", "3000"), Some(0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_reports_some_memory() {
        let a = available().expect("Linux reports MemAvailable");
        assert!(a > 1 << 20, "{a}");
    }
}
