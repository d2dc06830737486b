//! Persistence through the real binary: a change acknowledged before `kill -9` is there after a
//! restart; a corrupt file stops start-up with a message naming it; a failed write refuses the
//! change and leaves the store as it was.
// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;
use serde_json::json;
use std::process::Command;
use support::*;

const PERSIST: [(&str, &str); 2] = [
    ("recover_from_meta_file", "true"),
    ("auto_update_meta_file", "true"),
];

#[test]
fn a_change_survives_sigkill_right_after_the_reply() {
    let mut b = BrokerProc::start(&PERSIST);
    add_proxy(&b, "v3", 6001, "h1");
    add_proxy(&b, "v3", 6002, "h2");
    assert_eq!(
        b.call(
            "POST",
            "/api/v3/clusters/meta/mycluster",
            Some(r#"{"node_number":4}"#)
        )
        .0,
        200
    );
    let (_, before) = b.call("GET", "/api/v3/metadata", None);
    b.kill_and_restart();
    assert_eq!(
        b.call("GET", "/api/v3/clusters/names", None).1,
        json!({"names": ["mycluster"]})
    );
    let (_, after) = b.call("GET", "/api/v3/metadata", None);
    assert_eq!(before, after);
    // The file is valid JSON of the stored model.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.meta_file()).unwrap()).unwrap();
    assert_eq!(file["version"], "mem-broker-0.2");
    // One more change, killed again at once.
    assert_eq!(
        b.call("DELETE", "/api/v3/clusters/meta/mycluster", None).0,
        200
    );
    b.kill_and_restart();
    assert_eq!(
        b.call("GET", "/api/v3/clusters/names", None).1,
        json!({"names": []})
    );
    assert_eq!(b.call("GET", "/api/v3/epoch", None).1, json!(4));
}

#[test]
fn a_corrupt_file_is_a_start_up_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metadata");
    std::fs::write(&file, b"{\"version\": \"mem-broker-0.2\", \"global_epo").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mem_broker"))
        .env("UNDERMOON_ADDRESS", format!("127.0.0.1:{}", free_port()))
        .env("UNDERMOON_META_FILENAME", &file)
        .env("UNDERMOON_RECOVER_FROM_META_FILE", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn unknown_config_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mem-broker.toml");
    std::fs::write(&conf, "address = \"127.0.0.1:1\"\nno_such_key = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mem_broker"))
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
}

#[test]
fn a_failed_write_refuses_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let meta = blocker.join("metadata");
    let meta = meta.to_str().unwrap();
    let b = BrokerProc::start(&[("auto_update_meta_file", "true"), ("meta_filename", meta)]);
    assert_err(add_proxy(&b, "v3", 6001, "h1"), 500, "PERSISTENCE_IO_ERROR");
    assert_eq!(
        b.call("GET", "/api/v3/proxies/addresses", None).1,
        json!({"addresses": []})
    );
    assert_eq!(b.call("GET", "/api/v3/epoch", None).1, json!(0));
}

#[test]
fn the_periodic_write_also_persists() {
    let mut b = BrokerProc::start(&[
        ("recover_from_meta_file", "true"),
        ("auto_update_meta_file", "false"),
        ("update_meta_file_interval", "1"),
    ]);
    add_proxy(&b, "v3", 6001, "h1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(b.meta_file()).is_ok_and(|t| t.contains("127.0.0.1:6001")) {
        assert!(std::time::Instant::now() < deadline, "no periodic write");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    b.kill_and_restart();
    assert_eq!(
        b.call("GET", "/api/v3/proxies/addresses", None).1,
        json!({"addresses": ["127.0.0.1:6001"]})
    );
}
