use std::process::ExitCode;

fn main() -> ExitCode {
    etcd_backup::run().into()
}
