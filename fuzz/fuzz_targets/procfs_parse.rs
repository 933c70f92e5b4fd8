//! The `/proc/<pid>/*` parsers (contents partly chosen by the watched
//! processes: comm, argv) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procconn::procfs;

fuzz_target!(|data: &[u8]| {
    if let Some(st) = procfs::parse_stat(data) {
        assert!(st.comm.len() < data.len());
    }
    let _ = procfs::parse_status_ids(data);
    let argv = procfs::parse_cmdline(data);
    assert!(argv.iter().map(|a| a.len()).sum::<usize>() <= data.len());
    let _ = procfs::parse_cgroup(data);
    let _ = procfs::parse_u32_file(data);
});
