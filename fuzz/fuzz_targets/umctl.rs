//! Fuzz target: the proxy's decoders of `UMCTL SETCLUSTER` and `UMCTL SETREPL`
//! (`control::umctl`), whose arguments come from whoever can reach the proxy's port.
//!
//! The input is the argument list joined by spaces; the first byte picks the command. Besides
//! "never panics", whatever decodes must survive the coordinator's encoder: encoding it and
//! decoding again gives back the same routing state.
#![no_main]

use control::umctl::{SetCluster, SetRepl};
use libfuzzer_sys::fuzz_target;

fn sorted<T: Clone>(v: &[(String, T)]) -> Vec<(String, T)> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn setcluster(args: &[&[u8]]) {
    let Ok(sc) = SetCluster::decode(args) else {
        return;
    };
    for compress in [false, true] {
        let words = sc.encode(compress);
        // encode() starts with `UMCTL SETCLUSTER`; decode() reads what follows.
        let again: Vec<&[u8]> = words.iter().skip(2).map(|w| w.as_bytes()).collect();
        let back = SetCluster::decode(&again);
        let back = match back {
            Ok(b) => b,
            Err(e) => panic!("re-encoded SETCLUSTER refused ({e}): {words:?}"),
        };
        assert_eq!(back.epoch, sc.epoch);
        assert_eq!(back.force, sc.force);
        assert_eq!(back.cluster_name, sc.cluster_name);
        // The COMPRESS form is a JSON map, so it keeps the sections but not their order.
        assert_eq!(
            sorted(&back.local),
            sorted(&sc.local),
            "local section changed"
        );
        assert_eq!(sorted(&back.peer), sorted(&sc.peer), "peer section changed");
        if !compress {
            assert_eq!(back.local, sc.local, "local order changed");
            assert_eq!(back.peer, sc.peer, "peer order changed");
        }
        assert_eq!(back.config, sc.config, "config changed");
    }
}

fn setrepl(args: &[&[u8]]) {
    let Ok(sr) = SetRepl::decode(args) else {
        return;
    };
    let words = sr.encode();
    let again: Vec<&[u8]> = words.iter().skip(2).map(|w| w.as_bytes()).collect();
    match SetRepl::decode(&again) {
        Ok(back) => assert_eq!(back, sr, "SETREPL changed through encode"),
        Err(e) => panic!("re-encoded SETREPL refused ({e}): {words:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let args: Vec<&[u8]> = body.split(|&b| b == b' ').collect();
    if mode % 2 == 0 {
        setcluster(&args);
    } else {
        setrepl(&args);
    }
});
