//! Text codec of a migration task as it crosses the wire (spec 2.11, 3): the `UMCTL INFOMGR`
//! line a proxy reports and the coordinator parses, and the arguments of the switch commands
//! (`UMCTL PRECHECK|PRESWITCH|FINALSWITCH mgr-0.2 <task>`) the source proxy sends the
//! destination. One codec so the three parties cannot drift apart.

use crate::model::{ClusterName, MigrationMeta, MigrationTask, RangeList, SlotRange, SlotRangeTag};

/// Version token the switch commands carry.
pub const MIGRATION_PROTOCOL_VERSION: &str = "mgr-0.2";

impl MigrationTask {
    /// `<cluster> MIGRATING|IMPORTING <rangelist> <epoch> <src_proxy> <src_node> <dst_proxy>
    /// <dst_node>`; `None` for an untagged range, which is not a migration.
    pub fn to_text(&self) -> Option<String> {
        let (tag, meta) = match &self.slot_range.tag {
            SlotRangeTag::None => return None,
            SlotRangeTag::Migrating(m) => ("MIGRATING", m),
            SlotRangeTag::Importing(m) => ("IMPORTING", m),
        };
        Some(format!(
            "{} {tag} {} {}",
            self.cluster_name.as_str(),
            self.slot_range.range_list,
            meta.to_text()
        ))
    }

    /// Reads the form written by [`MigrationTask::to_text`]; the tag is case-insensitive.
    /// Trailing tokens are an error.
    pub fn parse_tokens<'a, I>(tokens: &mut I) -> Option<Self>
    where
        I: Iterator<Item = &'a str>,
    {
        let cluster_name = ClusterName::new(tokens.next()?).ok()?;
        let tag = tokens.next()?;
        let range_list = RangeList::parse_tokens(tokens).ok()?;
        let meta = MigrationMeta::parse_tokens(tokens)?;
        if tokens.next().is_some() {
            return None;
        }
        let tag = if tag.eq_ignore_ascii_case("migrating") {
            SlotRangeTag::Migrating(meta)
        } else if tag.eq_ignore_ascii_case("importing") {
            SlotRangeTag::Importing(meta)
        } else {
            return None;
        };
        Some(Self {
            cluster_name,
            slot_range: SlotRange { range_list, tag },
        })
    }
}

/// Arguments of a switch command after its subcommand name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchArgs {
    /// Protocol version the sender speaks (`mgr-0.2`).
    pub version: String,
    /// The sender's task, as it sees it (normally tagged `MIGRATING`).
    pub task: MigrationTask,
}

impl SwitchArgs {
    /// Arguments for `task`, version first, ready to follow `UMCTL <SWITCHCMD>`.
    pub fn encode(task: &MigrationTask) -> Option<Vec<String>> {
        let text = task.to_text()?;
        let mut args = vec![MIGRATION_PROTOCOL_VERSION.to_string()];
        args.extend(text.split(' ').map(str::to_string));
        Some(args)
    }

    /// Reads `<version> <task>`; `None` on any malformed token (the proxy answers
    /// `-failed to parse migration switch arguments`).
    pub fn decode(args: &[&str]) -> Option<Self> {
        let (version, rest) = args.split_first()?;
        let task = MigrationTask::parse_tokens(&mut rest.iter().copied())?;
        Some(Self {
            version: (*version).to_string(),
            task,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "db MIGRATING 2 0-10 20-30 7 h:6001 h:7001 h:6003 h:7005";

    fn task(line: &str) -> Option<MigrationTask> {
        MigrationTask::parse_tokens(&mut line.split_whitespace())
    }

    #[test]
    fn infomgr_line_round_trips() {
        let t = task(LINE).unwrap();
        assert_eq!(t.cluster_name.as_str(), "db");
        let m = t.slot_range.tag.meta().unwrap();
        assert_eq!((m.epoch, m.dst_node_address.as_str()), (7, "h:7005"));
        assert_eq!(t.to_text().unwrap(), LINE);
        let imp = task("db importing 1 5-5 1 a b c d").unwrap();
        assert!(matches!(imp.slot_range.tag, SlotRangeTag::Importing(_)));
        assert_eq!(imp.to_text().unwrap(), "db IMPORTING 1 5-5 1 a b c d");
    }

    #[test]
    fn malformed_lines_are_rejected() {
        assert!(task("db MIGRATING 1 0-4095 7 h:6001").is_none());
        assert!(task("db MOVING 1 0-4095 7 a b c d").is_none());
        assert!(task("db MIGRATING 1 0-4095 x a b c d").is_none());
        assert!(task("db MIGRATING 1 0-4095 7 a b c d extra").is_none());
        assert!(task("db MIGRATING 2 0-4095 7 a b c d").is_none());
        assert!(task("").is_none());
        let stable = MigrationTask {
            cluster_name: ClusterName::new("db").unwrap(),
            slot_range: SlotRange::stable(RangeList::empty()),
        };
        assert!(stable.to_text().is_none());
        assert!(SwitchArgs::encode(&stable).is_none());
    }

    #[test]
    fn switch_args_round_trip() {
        let t = task(LINE).unwrap();
        let args = SwitchArgs::encode(&t).unwrap();
        assert_eq!(args.first().map(String::as_str), Some("mgr-0.2"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let back = SwitchArgs::decode(&refs).unwrap();
        assert_eq!(back.version, MIGRATION_PROTOCOL_VERSION);
        assert_eq!(back.task, t);
        assert!(SwitchArgs::decode(&[]).is_none());
        assert!(SwitchArgs::decode(&["mgr-0.2", "db"]).is_none());
    }
}
