//! CPU time as /proc counts it, for the benches that report CPU beside their figures (api.rs,
//! runtime_floor.rs, the cron benches): the processes a bench starts, shims and containers
//! included, are not the bench's own. Not every bench uses every function.

#![allow(dead_code)]

use std::process::Command;
use std::sync::OnceLock;

/// `getconf CLK_TCK`: the unit of /proc's CPU times.
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds the whole machine has been busy (/proc/stat: all but idle and iowait).
pub fn busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy as f64 / clock_ticks()
}
