//! `mem_broker`: parses config and serves the broker HTTP API.
fn main() {}
