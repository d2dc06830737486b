//! `server_proxy`: parses config and runs the data plane.
fn main() {}
