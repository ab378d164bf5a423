//! gradflow-engine — the pure workflow engine of gradflow.
//!
//! Architecture invariant: this crate knows nothing about HTTP, SQL, time or randomness.
//! The server passes `now`, facts and identifiers in; the engine returns an [`apply::Outcome`]
//! describing what should happen, and performs nothing itself. (Only
//! [`registry::read_tree`] reads files, to hand their text to the pure loader.)

pub mod apply;
pub mod catalogue;
pub mod contract;
pub mod definition;
pub mod duration;
pub mod form;
pub mod fragments;
pub mod ident;
pub mod registry;
pub mod script;
pub mod suggest;
pub mod verify;
