//! Which CPU each worker thread runs on: nowhere in particular unless `server_cpulist` (Redis's
//! option, same list syntax) names CPUs; then thread i is pinned to the list's i-th CPU, round
//! robin. Pinning is not the default: on a machine whose cores the server shares with its
//! clients, a pinned thread waits for its core while another core idles (bench-results,
//! 2026-11-30-c4854b8-ab.md: GET and SET at -P 16, two threads, took 21–26 % more CPU per
//! request pinned).

/// Parses a CPU list as Redis's `setcpuaffinity` does: comma-separated items, each `n`, `a-b`
/// or `a-b:stride`. Returns the CPUs in list order (an empty text is an empty list).
pub fn parse_cpulist(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    if text.trim().is_empty() {
        return Ok(cpus);
    }
    let limit = libc::CPU_SETSIZE as usize;
    let number = |s: &str| -> Result<usize, String> {
        match s.trim().parse::<usize>() {
            Ok(n) if n < limit => Ok(n),
            _ => Err(format!("invalid CPU number '{s}' in CPU list '{text}'")),
        }
    };
    for item in text.split(',') {
        let (range, stride) = match item.split_once(':') {
            Some((range, stride)) => (range, number(stride)?),
            None => (item, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(range)?;
                (n, n)
            }
        };
        if stride == 0 || first > last {
            return Err(format!("invalid range '{item}' in CPU list '{text}'"));
        }
        cpus.extend((first..=last).step_by(stride));
    }
    Ok(cpus)
}

/// The CPU thread `thread` is pinned to, if the list names any.
pub fn cpu_for(cpus: &[usize], thread: usize) -> Option<usize> {
    (!cpus.is_empty()).then(|| cpus[thread % cpus.len()])
}

/// Pins the calling thread to `cpu`.
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data, zero-initialised then filled by CPU_SET (`cpu` is below
    // CPU_SETSIZE, checked by the parser); the pointer and size passed to sched_setaffinity
    // describe exactly that local value.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_redis_reads_them() {
        assert_eq!(parse_cpulist(""), Ok(vec![]));
        assert_eq!(parse_cpulist("3"), Ok(vec![3]));
        assert_eq!(parse_cpulist("0-7:2"), Ok(vec![0, 2, 4, 6]));
        assert_eq!(parse_cpulist("1,3,5-6"), Ok(vec![1, 3, 5, 6]));
        assert_eq!(parse_cpulist("4-4"), Ok(vec![4]));
    }

    #[test]
    fn bad_lists_are_refused() {
        for bad in ["a", "1-0", "0-7:0", "1,", "-1", "0-99999", "2:x"] {
            assert!(parse_cpulist(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn threads_take_the_list_round_robin() {
        assert_eq!(cpu_for(&[], 0), None);
        let cpus = [2, 5];
        let picked: Vec<_> = (0..4).map(|t| cpu_for(&cpus, t)).collect();
        assert_eq!(picked, [Some(2), Some(5), Some(2), Some(5)]);
    }
}
