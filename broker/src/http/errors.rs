//! HTTP errors: every refusal becomes a status and a JSON body `{"error": CODE, ...}`.

use crate::store::StoreError;
use serde_json::json;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The store refused or failed (spec 4.5 codes).
    Store(StoreError),
    /// Malformed JSON, wrong types, unknown fields, bad path or query parameters.
    BadRequest(String),
    /// No such route.
    NotFound,
    /// The route exists with other methods.
    MethodNotAllowed,
    /// The body exceeds the cap.
    PayloadTooLarge,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Store(e) => e.status(),
            Self::BadRequest(_) => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
        }
    }

    /// JSON body.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Self::Store(StoreError::InvalidConfig {
                key,
                value,
                message,
            }) => {
                json!({"error": "INVALID_CONFIG", "key": key, "value": value, "message": message})
            }
            Self::Store(e) => match e {
                StoreError::External(m)
                | StoreError::StorageUnavailable(m)
                | StoreError::PersistenceIo(m)
                | StoreError::PersistenceJson(m)
                | StoreError::Replication(m)
                | StoreError::Internal(m) => json!({"error": e.code(), "message": m}),
                _ => json!({"error": e.code()}),
            },
            Self::BadRequest(m) => json!({"error": "BAD_REQUEST", "message": m}),
            Self::NotFound => json!({"error": "NOT_FOUND"}),
            Self::MethodNotAllowed => json!({"error": "METHOD_NOT_ALLOWED"}),
            Self::PayloadTooLarge => json!({"error": "PAYLOAD_TOO_LARGE"}),
        }
    }
}
