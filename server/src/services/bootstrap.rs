//! (filled in by the storage-layer move; see services/mod.rs)
