//! Helpers for the store's unit tests: a store with proxies registered on given hosts.

use super::model::MetaStore;
use super::{add_proxy, AddProxy};

/// Registers `n` proxies on each host: `<host>:<6000+i>` with nodes `<host>:<7000+2i>`, `+1`.
pub fn store_with(hosts: &[&str], n: usize) -> MetaStore {
    let mut s = MetaStore::new(false);
    for h in hosts {
        for i in 0..n {
            add_proxy(
                &mut s,
                AddProxy {
                    proxy_address: format!("{h}:{}", 6000 + i),
                    nodes: [
                        format!("{h}:{}", 7000 + 2 * i),
                        format!("{h}:{}", 7001 + 2 * i),
                    ],
                    host: Some((*h).to_string()),
                    index: None,
                },
            )
            .unwrap();
        }
    }
    s
}
