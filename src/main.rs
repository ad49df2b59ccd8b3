use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(etcd_backup::run())
}
