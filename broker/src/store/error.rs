//! Every refusal the store can give, with the wire code and HTTP status of spec 4.5.

/// A refused or failed broker operation. `code()` is the `"error"` string on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The proxy serves a cluster.
    #[error("IN_USE")]
    InUse,
    /// The proxy serves no cluster. Listed for completeness: like the original, no route
    /// returns it.
    #[error("NOT_IN_USE")]
    NotInUse,
    /// Not enough free proxies on enough hosts.
    #[error("NO_AVAILABLE_RESOURCE")]
    NoAvailableResource,
    /// Free proxies exist but cannot be paired across hosts.
    #[error("RESOURCE_NOT_BALANCE")]
    ResourceNotBalance,
    /// The cluster or proxy is already there.
    #[error("ALREADY_EXISTED")]
    AlreadyExisted,
    /// No such cluster.
    #[error("CLUSTER_NOT_FOUND")]
    ClusterNotFound,
    /// No slotless chunk to delete.
    #[error("FREE_NODE_NOT_FOUND")]
    FreeNodeNotFound,
    /// A slotless chunk exists (shrink first needs it gone).
    #[error("FREE_NODE_FOUND")]
    FreeNodeFound,
    /// No such proxy.
    #[error("PROXY_NOT_FOUND")]
    ProxyNotFound,
    /// Node number zero or not a multiple of 4, or not smaller when shrinking.
    #[error("INVALID_NODE_NUMBER")]
    InvalidNodeNumber,
    /// The cluster already has that many nodes.
    #[error("NODE_NUM_ALREADY_ENOUGH")]
    NodeNumAlreadyEnough,
    /// Name outside `[A-Za-z0-9@_-]{1,31}`.
    #[error("INVALID_CLUSTER_NAME")]
    InvalidClusterName,
    /// A migration task with no Migrating/Importing tag.
    #[error("INVALID_MIGRATION_TASK")]
    InvalidMigrationTask,
    /// Proxy address without exactly one `:`.
    #[error("INVALID_PROXY_ADDRESS")]
    InvalidProxyAddress,
    /// No running migration matches the task.
    #[error("MIGRATION_TASK_NOT_FOUND")]
    MigrationTaskNotFound,
    /// The cluster is migrating slots.
    #[error("MIGRATION_RUNNING")]
    MigrationRunning,
    /// A config field is unknown or its value invalid.
    #[error("INVALID_CONFIG")]
    InvalidConfig {
        /// Field name as sent.
        key: String,
        /// Value as sent.
        value: String,
        /// `FIELD_NOT_FOUND` or `INVALID_VALUE`.
        message: &'static str,
    },
    /// Expand found no slotless chunk to move slots to.
    #[error("SLOTS_ALREADY_EVEN")]
    SlotsAlreadyEven,
    /// A stored document with another `version`.
    #[error("INVALID_META_VERSION")]
    InvalidMetaVersion,
    /// The epoch given is not greater than the current one.
    #[error("EPOCH_SMALLER_THAN_CURRENT")]
    EpochSmallerThanCurrent,
    /// Ordered mode needs `index` when registering a proxy.
    #[error("MISSING_SERVER_PROXY_INDEX")]
    MissingServerProxyIndex,
    /// Ordered mode: free proxy indices are not consecutive where needed.
    #[error("PROXY_RESOURCE_OUT_OF_ORDER")]
    ProxyResourceOutOfOrder,
    /// An operation not available in ordered mode. Listed for completeness: like the
    /// original, no route returns it.
    #[error("ORDERED_PROXY_ENABLED")]
    OrderedProxyEnabled,
    /// Ordered mode allows only one cluster.
    #[error("ONE_CLUSTER_ALREADY_EXISTED")]
    OneClusterAlreadyExisted,
    /// Auto scaling: the proxies did not reach the cluster epoch in time.
    #[error("PROXY_NOT_SYNC")]
    ProxyNotSync,
    /// Another scaling operation is running.
    #[error("NODE_NUMBER_CHANGING")]
    NodeNumberChanging,
    /// External storage: a concurrent write won; try again.
    #[error("RETRY")]
    Retry,
    /// External storage failed.
    #[error("EXTERNAL")]
    External(String),
    /// External storage returned no version.
    #[error("EMPTY_EXTERNAL_VERSION")]
    EmptyExternalVersion,
    /// External storage timed out.
    #[error("EXTERNAL_TIMEOUT")]
    ExternalTimeout,
    /// etcd did not answer: the change was not made (reads still serve the cache, flagged
    /// stale).
    #[error("STORAGE_UNAVAILABLE")]
    StorageUnavailable(String),
    /// Writing the metadata file failed; the change was not applied.
    #[error("PERSISTENCE_IO_ERROR")]
    PersistenceIo(String),
    /// Encoding the metadata failed; the change was not applied.
    #[error("PERSISTENCE_JSON_ERROR")]
    PersistenceJson(String),
    /// A lock was poisoned by a crashed worker.
    #[error("PERSISTENCE_LOCK_ERROR")]
    PersistenceLock,
    /// Pushing metadata to a replica failed.
    #[error("REPLICATION_ERROR")]
    Replication(String),
    /// A broken internal invariant (e.g. an allocator bug). Never a panic: a 500.
    #[error("INTERNAL_ERROR")]
    Internal(String),
}

impl StoreError {
    /// The wire code (`{"error": code}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InUse => "IN_USE",
            Self::NotInUse => "NOT_IN_USE",
            Self::NoAvailableResource => "NO_AVAILABLE_RESOURCE",
            Self::ResourceNotBalance => "RESOURCE_NOT_BALANCE",
            Self::AlreadyExisted => "ALREADY_EXISTED",
            Self::ClusterNotFound => "CLUSTER_NOT_FOUND",
            Self::FreeNodeNotFound => "FREE_NODE_NOT_FOUND",
            Self::FreeNodeFound => "FREE_NODE_FOUND",
            Self::ProxyNotFound => "PROXY_NOT_FOUND",
            Self::InvalidNodeNumber => "INVALID_NODE_NUMBER",
            Self::NodeNumAlreadyEnough => "NODE_NUM_ALREADY_ENOUGH",
            Self::InvalidClusterName => "INVALID_CLUSTER_NAME",
            Self::InvalidMigrationTask => "INVALID_MIGRATION_TASK",
            Self::InvalidProxyAddress => "INVALID_PROXY_ADDRESS",
            Self::MigrationTaskNotFound => "MIGRATION_TASK_NOT_FOUND",
            Self::MigrationRunning => "MIGRATION_RUNNING",
            Self::InvalidConfig { .. } => "INVALID_CONFIG",
            Self::SlotsAlreadyEven => "SLOTS_ALREADY_EVEN",
            Self::InvalidMetaVersion => "INVALID_META_VERSION",
            Self::EpochSmallerThanCurrent => "EPOCH_SMALLER_THAN_CURRENT",
            Self::MissingServerProxyIndex => "MISSING_SERVER_PROXY_INDEX",
            Self::ProxyResourceOutOfOrder => "PROXY_RESOURCE_OUT_OF_ORDER",
            Self::OrderedProxyEnabled => "ORDERED_PROXY_ENABLED",
            Self::OneClusterAlreadyExisted => "ONE_CLUSTER_ALREADY_EXISTED",
            Self::ProxyNotSync => "PROXY_NOT_SYNC",
            Self::NodeNumberChanging => "NODE_NUMBER_CHANGING",
            Self::Retry => "RETRY",
            Self::External(_) => "EXTERNAL",
            Self::EmptyExternalVersion => "EMPTY_EXTERNAL_VERSION",
            Self::ExternalTimeout => "EXTERNAL_TIMEOUT",
            Self::StorageUnavailable(_) => "STORAGE_UNAVAILABLE",
            Self::PersistenceIo(_) => "PERSISTENCE_IO_ERROR",
            Self::PersistenceJson(_) => "PERSISTENCE_JSON_ERROR",
            Self::PersistenceLock => "PERSISTENCE_LOCK_ERROR",
            Self::Replication(_) => "REPLICATION_ERROR",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// HTTP status of spec 4.5.
    pub fn status(&self) -> u16 {
        match self {
            Self::ClusterNotFound
            | Self::FreeNodeNotFound
            | Self::ProxyNotFound
            | Self::MigrationTaskNotFound => 404,
            Self::InvalidNodeNumber
            | Self::InvalidClusterName
            | Self::InvalidMigrationTask
            | Self::InvalidProxyAddress
            | Self::InvalidConfig { .. }
            | Self::SlotsAlreadyEven
            | Self::MissingServerProxyIndex => 400,
            Self::ProxyNotSync
            | Self::External(_)
            | Self::EmptyExternalVersion
            | Self::PersistenceIo(_)
            | Self::PersistenceJson(_)
            | Self::PersistenceLock
            | Self::Replication(_)
            | Self::Internal(_) => 500,
            Self::ExternalTimeout => 504,
            Self::StorageUnavailable(_) => 503,
            Self::InUse
            | Self::NotInUse
            | Self::NoAvailableResource
            | Self::ResourceNotBalance
            | Self::AlreadyExisted
            | Self::FreeNodeFound
            | Self::NodeNumAlreadyEnough
            | Self::MigrationRunning
            | Self::InvalidMetaVersion
            | Self::EpochSmallerThanCurrent
            | Self::ProxyResourceOutOfOrder
            | Self::OrderedProxyEnabled
            | Self::OneClusterAlreadyExisted
            | Self::NodeNumberChanging
            | Self::Retry => 409,
        }
    }
}

/// An operation's failure, and whether the change made before it must still be kept.
///
/// Almost every refusal leaves the store untouched (`keep_changes == false`). The two
/// exceptions are wire contracts other processes rely on: a failover that promoted the
/// replicas but found no replacement (the promotion must stand, or the slots stay down), and
/// re-registering an existing proxy (the 409 is how a recovered proxy is announced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// What to answer.
    pub error: StoreError,
    /// Commit the store as the operation left it despite the error.
    pub keep_changes: bool,
}

impl OpError {
    /// An error whose preceding changes are committed anyway.
    pub fn keeping_changes(error: StoreError) -> Self {
        Self {
            error,
            keep_changes: true,
        }
    }
}

impl From<StoreError> for OpError {
    fn from(error: StoreError) -> Self {
        Self {
            error,
            keep_changes: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_display_and_statuses_match_spec() {
        let e = StoreError::FreeNodeNotFound;
        assert_eq!(e.to_string(), e.code());
        assert_eq!(e.status(), 404);
        assert_eq!(StoreError::SlotsAlreadyEven.status(), 400);
        assert_eq!(StoreError::ExternalTimeout.status(), 504);
        assert_eq!(StoreError::ProxyNotSync.status(), 500);
        assert_eq!(StoreError::Retry.status(), 409);
        assert_eq!(StoreError::StorageUnavailable(String::new()).status(), 503);
    }
}
