//! `UMCTL SETCLUSTER v2`: decode (proxy side, with the original's exact error names) and encode
//! (coordinator side), in both the plain text and the COMPRESS form.
//!
//! ```text
//! UMCTL SETCLUSTER v2 <epoch> <flags> <cluster_name>
//!       [<redis_addr> <tagged_slot_range>]...            # local section
//!       [PEER [<proxy_addr> <tagged_slot_range>]...]      # peer section
//!       [CONFIG [<field> <value>]...]                     # per-cluster config
//! UMCTL SETCLUSTER v2 <epoch> <flags-containing-COMPRESS> <base64(gzip(json))>
//! ```
//!
//! Epoch ordering and the host check need the proxy's state, so they stay with the proxy;
//! this module only turns arguments into a validated [`SetCluster`] and back.

use super::compress;
use crate::model::{ClusterConfig, ClusterName, MigrationMeta, RangeList, SlotRange, SlotRangeTag};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only SETCLUSTER API version (first argument, exact and case-sensitive).
pub const SETCLUSTER_VERSION: &str = "v2";

/// Why SETCLUSTER arguments were refused. The proxy replies
/// `-Failed to parse args: <Debug name>`, which is what the original prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SetClusterError {
    /// The version argument is not `v2`.
    #[error("InvalidVersion")]
    InvalidVersion,
    /// Anything else malformed.
    #[error("InvalidArgs")]
    InvalidArgs,
    /// The cluster name has a character outside the set or is too long.
    #[error("InvalidClusterName")]
    InvalidClusterName,
}

/// One decoded SETCLUSTER: the whole routing state of a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCluster {
    /// Metadata version; the proxy wants it strictly greater than its own unless `force`.
    pub epoch: u64,
    /// `FORCE` flag: accept even an older epoch.
    pub force: bool,
    /// Cluster served; empty means "no cluster".
    pub cluster_name: ClusterName,
    /// Local Redis nodes and their ranges, in first-seen order (an address repeats to add ranges).
    pub local: Vec<(String, Vec<SlotRange>)>,
    /// Peer proxies and their ranges, in first-seen order.
    pub peer: Vec<(String, Vec<SlotRange>)>,
    /// Per-cluster config (defaults when none or when an invalid one was ignored).
    pub config: ClusterConfig,
    /// An invalid CONFIG section was ignored: the reply is `+WARNING: ignored invalid config`.
    pub config_ignored: bool,
}

/// JSON payload of the COMPRESS form.
#[derive(Serialize, Deserialize)]
struct CompressedForm {
    cluster_name: ClusterName,
    local: BTreeMap<String, Vec<SlotRange>>,
    peer: BTreeMap<String, Vec<SlotRange>>,
    #[serde(default)]
    cluster_config: ClusterConfig,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Local,
    Peer,
    Config,
}

impl SetCluster {
    /// Decodes the arguments that follow `UMCTL SETCLUSTER`.
    ///
    /// # Errors
    /// [`SetClusterError`], named the way the original reports it.
    pub fn decode(args: &[&[u8]]) -> Result<Self, SetClusterError> {
        let mut it = args.iter().copied();
        let version = it.next().ok_or(SetClusterError::InvalidArgs)?;
        if version != SETCLUSTER_VERSION.as_bytes() {
            return Err(SetClusterError::InvalidVersion);
        }
        let epoch = it
            .next()
            .and_then(|e| std::str::from_utf8(e).ok())
            .and_then(|e| e.parse::<u64>().ok())
            .ok_or(SetClusterError::InvalidArgs)?;
        let flags = it
            .next()
            .and_then(|f| std::str::from_utf8(f).ok())
            .ok_or(SetClusterError::InvalidArgs)?;
        let has = |name: &str| flags.split(',').any(|f| f.eq_ignore_ascii_case(name));
        let force = has("FORCE");
        if has("COMPRESS") {
            let payload = it.next().ok_or(SetClusterError::InvalidArgs)?;
            return Self::decode_compressed(epoch, force, payload);
        }
        let name = it
            .next()
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or(SetClusterError::InvalidArgs)?;
        let cluster_name =
            ClusterName::new(name).map_err(|_| SetClusterError::InvalidClusterName)?;
        let rest: Vec<&str> = it
            .map(std::str::from_utf8)
            .collect::<Result<_, _>>()
            .map_err(|_| SetClusterError::InvalidArgs)?;
        Self::decode_sections(epoch, force, cluster_name, &rest)
    }

    fn decode_compressed(epoch: u64, force: bool, payload: &[u8]) -> Result<Self, SetClusterError> {
        let json = compress::unpack(payload).ok_or(SetClusterError::InvalidArgs)?;
        let form: CompressedForm =
            serde_json::from_slice(&json).map_err(|_| SetClusterError::InvalidArgs)?;
        Ok(Self {
            epoch,
            force,
            cluster_name: form.cluster_name,
            local: form.local.into_iter().collect(),
            peer: form.peer.into_iter().collect(),
            config: form.cluster_config,
            config_ignored: false,
        })
    }

    fn decode_sections(
        epoch: u64,
        force: bool,
        cluster_name: ClusterName,
        tokens: &[&str],
    ) -> Result<Self, SetClusterError> {
        let mut local = Vec::new();
        let mut peer = Vec::new();
        let mut config_pairs: Vec<(&str, Option<&str>)> = Vec::new();
        let mut section = Section::Local;
        let mut it = tokens.iter().copied().peekable();
        while let Some(tok) = it.next() {
            if tok.eq_ignore_ascii_case("PEER") {
                section = Section::Peer;
                peer.clear();
                continue;
            }
            if tok.eq_ignore_ascii_case("CONFIG") {
                section = Section::Config;
                config_pairs.clear();
                continue;
            }
            match section {
                Section::Local | Section::Peer => {
                    let range = parse_tagged_range(&mut it).ok_or(SetClusterError::InvalidArgs)?;
                    let list = if section == Section::Local {
                        &mut local
                    } else {
                        &mut peer
                    };
                    add_range(list, tok, range);
                }
                Section::Config => config_pairs.push((tok, it.next())),
            }
        }
        let mut config = ClusterConfig::default();
        let config_ok = config_pairs
            .iter()
            .all(|&(field, value)| value.is_some_and(|v| config.set_field(field, v).is_ok()));
        let mut config_ignored = false;
        if !config_ok {
            // why: the original still applies routing when both sections are present, so a
            // coordinator pushing a new config field to an old proxy does not stall routing.
            if local.is_empty() || peer.is_empty() {
                return Err(SetClusterError::InvalidArgs);
            }
            config = ClusterConfig::default();
            config_ignored = true;
        }
        Ok(Self {
            epoch,
            force,
            cluster_name,
            local,
            peer,
            config,
            config_ignored,
        })
    }

    /// Encodes as the full argument list, starting with `UMCTL SETCLUSTER`.
    ///
    /// ```text
    /// UMCTL SETCLUSTER v2 <epoch> NOFLAG|FORCE <name> <local...> PEER <peer...> CONFIG <fields...>
    /// UMCTL SETCLUSTER v2 <epoch> COMPRESS|FORCE,COMPRESS <base64(gzip(json))>
    /// ```
    pub fn encode(&self, compress: bool) -> Vec<String> {
        let flags = match (self.force, compress) {
            (false, false) => "NOFLAG",
            (true, false) => "FORCE",
            (false, true) => "COMPRESS",
            (true, true) => "FORCE,COMPRESS",
        };
        let mut out: Vec<String> = ["UMCTL", "SETCLUSTER", SETCLUSTER_VERSION]
            .iter()
            .map(|s| s.to_string())
            .collect();
        out.push(self.epoch.to_string());
        out.push(flags.to_string());
        if compress {
            let form = CompressedForm {
                cluster_name: self.cluster_name.clone(),
                local: self.local.iter().cloned().collect(),
                peer: self.peer.iter().cloned().collect(),
                cluster_config: self.config,
            };
            let json = serde_json::to_vec(&form).unwrap_or_default();
            out.push(compress::pack(&json));
            return out;
        }
        out.push(self.cluster_name.to_string());
        push_section(&mut out, &self.local);
        out.push("PEER".to_string());
        push_section(&mut out, &self.peer);
        out.push("CONFIG".to_string());
        for (field, value) in self.config.to_fields() {
            out.push(field.to_string());
            out.push(value);
        }
        out
    }
}

fn push_section(out: &mut Vec<String>, section: &[(String, Vec<SlotRange>)]) {
    for (addr, ranges) in section {
        for r in ranges {
            out.push(addr.clone());
            out.extend(r.to_text().split(' ').map(str::to_string));
        }
    }
}

fn add_range(list: &mut Vec<(String, Vec<SlotRange>)>, addr: &str, range: SlotRange) {
    match list.iter_mut().find(|(a, _)| a == addr) {
        Some((_, ranges)) => ranges.push(range),
        None => list.push((addr.to_string(), vec![range])),
    }
}

fn parse_tagged_range<'a, I>(it: &mut std::iter::Peekable<I>) -> Option<SlotRange>
where
    I: Iterator<Item = &'a str>,
{
    let head = *it.peek()?;
    let migrating = head.eq_ignore_ascii_case("migrating");
    let importing = head.eq_ignore_ascii_case("importing");
    if !(migrating || importing) {
        let range_list = RangeList::parse_tokens(it).ok()?;
        return Some(SlotRange::stable(range_list));
    }
    it.next();
    let range_list = RangeList::parse_tokens(it).ok()?;
    let meta = MigrationMeta::parse_tokens(it)?;
    let tag = if migrating {
        SlotRangeTag::Migrating(meta)
    } else {
        SlotRangeTag::Importing(meta)
    };
    Some(SlotRange { range_list, tag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CompressionStrategy;

    fn dec(s: &str) -> Result<SetCluster, SetClusterError> {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        SetCluster::decode(&args)
    }

    #[test]
    fn the_docs_example() {
        let sc = dec("v2 1 NOFLAGS mydb 127.0.0.1:6379 1 0-8000 PEER 127.0.0.1:7000 1 8001-16383")
            .unwrap();
        assert_eq!(sc.epoch, 1);
        assert!(!sc.force);
        assert_eq!(sc.cluster_name.as_str(), "mydb");
        assert_eq!(sc.local.len(), 1);
        assert_eq!(sc.local[0].0, "127.0.0.1:6379");
        assert_eq!(sc.local[0].1[0].to_text(), "1 0-8000");
        assert_eq!(sc.peer[0].1[0].to_text(), "1 8001-16383");
        assert!(!sc.config_ignored);
    }

    #[test]
    fn flags_tags_repeats_and_config() {
        let sc = dec(
            "v2 7 noflag,force db a:1 1 0-10 a:1 migrating 1 11-20 7 p:1 a:1 q:1 b:1 \
                      config COMPRESSION_STRATEGY set_get_only migration_scan_count 3 \
                      peer q:1 importing 1 30-40 7 p:1 a:1 q:1 b:1",
        )
        .unwrap();
        assert!(sc.force);
        assert_eq!(sc.local.len(), 1);
        assert_eq!(sc.local[0].1.len(), 2);
        assert_eq!(
            sc.local[0].1[1].to_text(),
            "migrating 1 11-20 7 p:1 a:1 q:1 b:1"
        );
        assert!(matches!(sc.peer[0].1[0].tag, SlotRangeTag::Importing(_)));
        assert_eq!(
            sc.config.compression_strategy,
            CompressionStrategy::SetGetOnly
        );
        assert_eq!(sc.config.migration_config.scan_count, 3);
    }

    #[test]
    fn errors_have_the_original_names() {
        assert_eq!(dec("v1 1 NOFLAG db"), Err(SetClusterError::InvalidVersion));
        assert_eq!(dec("V2 1 NOFLAG db"), Err(SetClusterError::InvalidVersion));
        assert_eq!(dec("v2 x NOFLAG db"), Err(SetClusterError::InvalidArgs));
        assert_eq!(dec("v2 1 NOFLAG"), Err(SetClusterError::InvalidArgs));
        assert_eq!(
            dec("v2 1 NOFLAG a/b"),
            Err(SetClusterError::InvalidClusterName)
        );
        assert_eq!(
            dec("v2 1 NOFLAG db a:1 2 0-1"),
            Err(SetClusterError::InvalidArgs)
        );
        assert_eq!(dec("v2 1 NOFLAG db a:1"), Err(SetClusterError::InvalidArgs));
        assert_eq!(
            dec("v2 1 NOFLAG db a:1 1 0-16384"),
            Err(SetClusterError::InvalidArgs)
        );
        assert_eq!(
            dec("v2 1 NOFLAG db a:1 migrating 1 0-1 7 p:1"),
            Err(SetClusterError::InvalidArgs)
        );
    }

    #[test]
    fn invalid_config_is_a_warning_only_with_both_sections() {
        let sc = dec("v2 1 NOFLAG db a:1 1 0-1 PEER b:1 1 2-3 CONFIG nope 1").unwrap();
        assert!(sc.config_ignored);
        assert_eq!(sc.config, ClusterConfig::default());
        assert_eq!(
            dec("v2 1 NOFLAG db a:1 1 0-1 CONFIG migration_scan_count 0"),
            Err(SetClusterError::InvalidArgs)
        );
        assert_eq!(
            dec("v2 1 NOFLAG db a:1 1 0-1 PEER b:1 1 2-3 CONFIG compression_strategy"),
            Ok(SetCluster {
                config_ignored: true,
                ..dec("v2 1 NOFLAG db a:1 1 0-1 PEER b:1 1 2-3").unwrap()
            })
        );
    }

    #[test]
    fn empty_cluster_name_is_no_cluster() {
        let args: Vec<&[u8]> = vec![b"v2", b"3", b"NOFLAG", b""];
        let sc = SetCluster::decode(&args).unwrap();
        assert!(sc.cluster_name.is_empty());
        assert!(sc.local.is_empty());
    }

    #[test]
    fn encode_decode_round_trip_plain_and_compressed() {
        let sc = dec(
            "v2 9 FORCE db a:1 2 0-10 20-30 a:1 importing 1 40-50 3 p:1 x:1 q:1 a:1 \
                      PEER q:1 1 100-16383 CONFIG migration_scan_interval 9",
        )
        .unwrap();
        for compress in [false, true] {
            let args = sc.encode(compress);
            assert_eq!(args[0], "UMCTL");
            let bytes: Vec<&[u8]> = args[2..].iter().map(|s| s.as_bytes()).collect();
            assert_eq!(
                SetCluster::decode(&bytes).unwrap(),
                sc,
                "compress={compress}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(
            args in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<Vec<u8>>(),
                    proptest::sample::select(vec![
                        b"v2".to_vec(), b"1".to_vec(), b"NOFLAG".to_vec(), b"PEER".to_vec(),
                        b"CONFIG".to_vec(), b"migrating".to_vec(), b"1-2".to_vec(), b"a:1".to_vec(),
                        b"FORCE,COMPRESS".to_vec(), b"18446744073709551615".to_vec(),
                    ]),
                ],
                0..24,
            )
        ) {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let _ = SetCluster::decode(&refs);
        }
    }

    #[test]
    fn compressed_garbage_is_invalid_args() {
        assert_eq!(dec("v2 1 COMPRESS !!!"), Err(SetClusterError::InvalidArgs));
        assert_eq!(dec("v2 1 COMPRESS"), Err(SetClusterError::InvalidArgs));
        let json = br#"{"cluster_name":"db","local":{"a:1":[{"range_list":[[0,5]],"tag":"None"}]},"peer":{}}"#;
        let payload = compress::pack(json);
        let args: Vec<&[u8]> = vec![b"v2", b"4", b"compress", payload.as_bytes()];
        let sc = SetCluster::decode(&args).unwrap();
        assert_eq!(sc.local[0].1[0].to_text(), "1 0-5");
        assert_eq!(sc.config, ClusterConfig::default());
    }
}
