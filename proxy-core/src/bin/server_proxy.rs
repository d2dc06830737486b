//! `server_proxy`: reads config (optional TOML path + `UNDERMOON_*` env), sets up logging and
//! runs the data plane.

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let path = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let config = match proxy_core::config::ProxyConfig::load(path.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("server_proxy: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = proxy_core::server::run(config) {
        eprintln!("server_proxy: {e}");
        std::process::exit(1);
    }
}
