//! The end-to-end test harness: the real `gradflow` binary, a real PostgreSQL server started
//! on a temporary directory, and a local webhook receiver standing in for WeChat/SMS and the
//! employment management system.
#![allow(dead_code)]

pub mod app;
pub mod pg;
pub mod webhook;
pub mod world;
