use std::process::ExitCode;

/// `kbatch version`.
pub fn run() -> ExitCode {
    println!("kbatch {}", env!("CARGO_PKG_VERSION"));
    println!("Kubernetes API: batch/v1 as of v1.35 (k8s-openapi, feature v1_35)");
    println!("tzdata: {} (compiled in)", kbatch_schedule::TZDATA_VERSION);
    ExitCode::SUCCESS
}
