//! The destination's verdict on `UMCTL PRECHECK|PRESWITCH|FINALSWITCH` (spec 3.3): which
//! reply a switch command gets, decided from the proxy's epoch and tasks alone.

use super::{MigrationState, TaskStates};
use control::model::SlotRangeTag;
use control::umctl::{SwitchArgs, MIGRATION_PROTOCOL_VERSION};

/// The three switch commands, in the order the source sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchCommand {
    /// `PRECHECK`: is the destination ready? Leaves it in PRE_CHECK.
    PreCheck,
    /// `PRESWITCH`: the destination starts serving the range.
    PreSwitch,
    /// `FINALSWITCH`: the copy is complete.
    FinalSwitch,
}

impl SwitchCommand {
    /// The UMCTL subcommand name, case-insensitively; `None` for any other name.
    pub fn parse(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"PRECHECK") {
            Some(Self::PreCheck)
        } else if name.eq_ignore_ascii_case(b"PRESWITCH") {
            Some(Self::PreSwitch)
        } else if name.eq_ignore_ascii_case(b"FINALSWITCH") {
            Some(Self::FinalSwitch)
        } else {
            None
        }
    }

    /// State the importing task reaches when the command is accepted.
    pub fn target(self) -> MigrationState {
        match self {
            Self::PreCheck => MigrationState::PreCheck,
            Self::PreSwitch => MigrationState::PreSwitch,
            Self::FinalSwitch => MigrationState::SwitchCommitted,
        }
    }
}

/// Why a switch command is refused; [`SwitchRefusal::message`] is the wire error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchRefusal {
    /// Arguments do not parse.
    Unparsable,
    /// Another protocol version.
    IncompatibleVersion,
    /// This proxy's metadata is older than the migration.
    NotReady,
    /// No importing task with exactly these fields (the destination has not got its metadata).
    TaskNotFound,
    /// The task exists here, but as migrating.
    PeerNotMigrating,
}

impl SwitchRefusal {
    /// Error text without the leading `-`.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unparsable => "failed to parse migration switch arguments",
            Self::IncompatibleVersion => "switch failed: IncompatibleVersion",
            Self::NotReady => "NOT_READY_FOR_SWITCHING",
            Self::TaskNotFound => "TASK_NOT_FOUND",
            Self::PeerNotMigrating => "Peer Not Migrating",
        }
    }
}

/// Index in `tasks` of the importing task `args` names, or why the command is refused.
/// Checks in the original's order: version, epoch, task.
///
/// # Errors
/// See [`SwitchRefusal`].
pub fn check(
    epoch: u64,
    tasks: &TaskStates,
    args: Option<&SwitchArgs>,
) -> Result<usize, SwitchRefusal> {
    let args = args.ok_or(SwitchRefusal::Unparsable)?;
    if args.version != MIGRATION_PROTOCOL_VERSION {
        return Err(SwitchRefusal::IncompatibleVersion);
    }
    let meta = args
        .task
        .slot_range
        .tag
        .meta()
        .ok_or(SwitchRefusal::Unparsable)?;
    if epoch < meta.epoch {
        return Err(SwitchRefusal::NotReady);
    }
    let same = |t: &control::model::MigrationTask| {
        t.cluster_name == args.task.cluster_name
            && t.slot_range.range_list == args.task.slot_range.range_list
            && t.slot_range.tag.meta() == Some(meta)
    };
    let found = tasks.0.iter().position(|(t, _)| same(t));
    match found.and_then(|i| tasks.0.get(i).map(|(t, _)| (i, &t.slot_range.tag))) {
        Some((i, SlotRangeTag::Importing(_))) => Ok(i),
        Some(_) => Err(SwitchRefusal::PeerNotMigrating),
        None => Err(SwitchRefusal::TaskNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ClusterSnapshot;
    use control::umctl::SetCluster;

    const META: &str = "2 127.0.0.1:6001 127.0.0.1:7001 127.0.0.1:6002 127.0.0.1:7002";

    fn tasks(s: &str) -> TaskStates {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        TaskStates::starting(
            &ClusterSnapshot::build(SetCluster::decode(&args).unwrap(), 1).unwrap(),
        )
    }

    fn args(s: &str) -> Option<SwitchArgs> {
        SwitchArgs::decode(&s.split(' ').collect::<Vec<_>>())
    }

    #[test]
    fn verdicts() {
        let dst = tasks(&format!(
            "v2 2 NOFLAGS mydb 127.0.0.1:7002 importing 1 8001-16383 {META} \
             PEER 127.0.0.1:6001 migrating 1 8001-16383 {META}"
        ));
        let ok = format!("mgr-0.2 mydb MIGRATING 1 8001-16383 {META}");
        assert_eq!(check(2, &dst, args(&ok).as_ref()), Ok(0));
        assert_eq!(check(3, &dst, args(&ok).as_ref()), Ok(0));
        assert_eq!(
            check(1, &dst, args(&ok).as_ref()),
            Err(SwitchRefusal::NotReady)
        );
        let v1 = format!("mgr-0.1 mydb MIGRATING 1 8001-16383 {META}");
        assert_eq!(
            check(2, &dst, args(&v1).as_ref()),
            Err(SwitchRefusal::IncompatibleVersion)
        );
        let other_range = format!("mgr-0.2 mydb MIGRATING 1 8002-16383 {META}");
        assert_eq!(
            check(2, &dst, args(&other_range).as_ref()),
            Err(SwitchRefusal::TaskNotFound)
        );
        assert_eq!(
            check(2, &dst, args("mgr-0.2 mydb MIGRATING 1 8001").as_ref()),
            Err(SwitchRefusal::Unparsable)
        );
        let src = tasks(&format!(
            "v2 2 NOFLAGS mydb 127.0.0.1:7001 migrating 1 8001-16383 {META}"
        ));
        assert_eq!(
            check(2, &src, args(&ok).as_ref()),
            Err(SwitchRefusal::PeerNotMigrating)
        );
        assert_eq!(SwitchRefusal::TaskNotFound.message(), "TASK_NOT_FOUND");
    }

    #[test]
    fn command_names() {
        assert_eq!(
            SwitchCommand::parse(b"preswitch"),
            Some(SwitchCommand::PreSwitch)
        );
        assert_eq!(
            SwitchCommand::parse(b"FINALSWITCH").map(SwitchCommand::target),
            Some(MigrationState::SwitchCommitted)
        );
        assert_eq!(
            SwitchCommand::parse(b"PRECHECK").map(SwitchCommand::target),
            Some(MigrationState::PreCheck)
        );
        assert_eq!(SwitchCommand::parse(b"INFOMGR"), None);
    }
}
