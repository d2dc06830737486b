//! `coordinator`: parses config (optional TOML path + `UNDERMOON_*` env), sets up logging, runs.

use control::coordinator::config::CoordinatorConfig;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut args = std::env::args_os().skip(1);
    let path = args.next().map(PathBuf::from);
    if args.next().is_some() {
        eprintln!("usage: coordinator [coordinator.toml]");
        return ExitCode::from(2);
    }
    let config = match CoordinatorConfig::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coordinator: {e}");
            return ExitCode::from(2);
        }
    };
    match control::coordinator::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coordinator: {e}");
            ExitCode::FAILURE
        }
    }
}
