//! Holder crate for the criterion benches in `benches/benches/`; it has no code of its own.
