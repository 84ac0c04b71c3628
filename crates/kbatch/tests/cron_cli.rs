//! `kbatch cron`: fire times on stdout, errors on stderr with exit 1, and the
//! tab-separated batch protocol.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kbatch(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).unwrap()
}

#[test]
fn next_chains_in_the_zone() {
    let out = kbatch(
        &[
            "cron",
            "next",
            "--schedule",
            "30 2 * * *",
            "--time-zone",
            "Europe/Berlin",
            "--after",
            "2025-03-29T12:00:00Z",
            "--count",
            "2",
        ],
        "",
    );
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "2025-03-31T02:30:00+02:00\n2025-04-01T02:30:00+02:00\n"
    );
}

#[test]
fn never_firing_prints_go_zero_time() {
    let out = kbatch(
        &[
            "cron",
            "next",
            "--schedule",
            "0 0 30 2 *",
            "--after",
            "2025-01-01T00:00:00Z",
            "--count",
            "2",
        ],
        "",
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out), "0001-01-01T00:00:00Z\n0001-01-01T00:00:00Z\n");
}

#[test]
fn default_count_is_five() {
    let out = kbatch(&["cron", "next", "--schedule", "@hourly"], "");
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 5);
}

#[test]
fn invalid_schedule_and_zone_exit_1() {
    let out = kbatch(&["cron", "next", "--schedule", "0 0 * * * *"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected exactly 5 fields, found 6: [0 0 * * * *]")
    );
    let out = kbatch(
        &[
            "cron",
            "next",
            "--schedule",
            "@daily",
            "--time-zone",
            "Mars/Base",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown time zone Mars/Base"));
}

#[test]
fn batch_answers_each_line() {
    let input = "0 * * * *\tUTC\t2025-01-01T00:00:00Z\t2\n\
                 \tUTC\t2025-01-01T00:00:00Z\t1\n\
                 @daily\tBad/Zone\t2025-01-01T00:00:00Z\t1\n\
                 0 0 30 2 *\tAsia/Kathmandu\t2025-01-01T00:00:00Z\t1\n";
    let out = kbatch(&["cron", "next", "--batch"], input);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "2025-01-01T01:00:00Z\t2025-01-01T02:00:00Z\n\
         ERR\tempty spec string\n\
         ERR\tunknown time zone Bad/Zone\n\
         0001-01-01T00:00:00Z\n"
    );
}

#[test]
fn explain_reads_the_schedule() {
    let out = kbatch(
        &[
            "cron",
            "explain",
            "0 0 13 * 5",
            "--time-zone",
            "Europe/Berlin",
        ],
        "",
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("at minute 0 past hour 0, on day-of-month 13 or on Friday"));
    assert!(text.contains("(OR)"));
    assert_eq!(text.lines().filter(|l| l.contains("(UTC ")).count(), 5);
}
