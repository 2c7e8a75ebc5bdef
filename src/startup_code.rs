//! Lets the daemon's resident memory reflect the code it runs, not the code start-up ran.
//!
//! Most of synthex's resident memory is its own executable code (about 7 of 12 MB measured with
//! the bench config): the kernel maps file pages around every page a fault touches (64 KiB), and
//! start-up runs a lot of code once (argument parsing, the YAML config, regex compilation, client
//! and TLS set-up) that a daemon sending a few requests a second never runs again. Once start-up
//! is over, [`release`] drops the page-table entries of the executable's code mapping with
//! `MADV_DONTNEED`: the code is a read-only private file mapping, so the next access simply maps
//! the same page of the file again from the page cache. What is resident afterwards is the code
//! the daemon really uses; the rest stays in the page cache, shared and reclaimable.

use std::ffi::c_void;

/// How long after start the code mapping is released: start-up, the first samples, scrapes and
/// probes of every target have run by then.
pub const AFTER_START: std::time::Duration = std::time::Duration::from_secs(30);

/// Releases the resident pages of the executable's code mapping (see the module doc). Only the
/// executable (`r-xp`) mapping of synthex's own file: never a writable one, nor the read-only
/// data the dynamic loader relocated (RELRO), whose pages differ from the file.
#[cfg(target_os = "linux")]
pub fn release() {
    let (Ok(exe), Ok(maps)) = (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_to_string("/proc/self/maps"),
    ) else {
        return;
    };
    let Some(exe) = exe.to_str() else {
        return;
    };
    for (start, end) in code_mappings(&maps, exe) {
        // SAFETY: [start, end) is a whole mapping the kernel listed for this process, private,
        // read-only and executable, backed by the executable file: MADV_DONTNEED only drops its
        // page-table entries, and a later access maps the unchanged file page again. No memory
        // the program wrote is in it.
        let result =
            unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) };
        if result != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "releasing start-up code pages");
        }
    }
}

/// Other systems keep their own policy.
#[cfg(not(target_os = "linux"))]
pub fn release() {}

/// `(start, end)` of each `r-xp` mapping of `exe` in a `/proc/PID/maps` text.
fn code_mappings(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?;
            if perms != "r-xp" || path != exe {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executable_code_mapping_is_chosen() {
        let maps = "\
5600a0000000-5600a0099000 r--p 00000000 fd:01 42 /usr/bin/synthex
5600a0099000-5600a089a000 r-xp 00099000 fd:01 42 /usr/bin/synthex
5600a089a000-5600a0b7c000 r--p 0089a000 fd:01 42 /usr/bin/synthex
5600a0b7d000-5600a0bf0000 rw-p 00b7c000 fd:01 42 /usr/bin/synthex
7f0000000000-7f0000100000 r-xp 00028000 fd:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
";
        assert_eq!(
            code_mappings(maps, "/usr/bin/synthex"),
            vec![(0x5600a0099000, 0x5600a089a000)]
        );
        assert!(code_mappings(maps, "/usr/bin/other").is_empty());
    }

    /// On this process: the kernel's count of resident file pages drops when the test binary's
    /// code mapping is released, and the process runs on (its code mapped again on demand).
    #[test]
    fn releasing_the_code_mapping_lowers_the_resident_file_pages() {
        let rss_file = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        let before = rss_file();
        release();
        let after = rss_file();
        assert!(
            after < before,
            "RssFile {before} kB before, {after} kB after"
        );
        assert!(
            code_mappings(&std::fs::read_to_string("/proc/self/maps").unwrap(), "x").is_empty()
        );
    }
}
