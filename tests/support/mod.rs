//! The end-to-end test harness, shared by the test binaries under `tests/` (`mod support;`):
//! - [`app`]: the real `gradflow serve` binary as a child process, driven over HTTP, on
//!   SQLite or PostgreSQL ([`Backend`], [`spawn_on`], [`crate::both_backends!`]);
//! - [`pg`]: a real PostgreSQL server started with `initdb`/`pg_ctl` for the test process;
//! - [`webhook`]: a local HTTP receiver standing in for WeChat/SMS and the employment
//!   management system, with outage injection;
//! - [`world`]: a small province/school/graduates/employers world built through the admin API;
//! - [`flows`]: the coverage report of a flow suite, a roster removal and restore;
//! - [`files`]: real files for uploads, built in memory: zips, hostile spreadsheets, images;
//! - [`tree`]: a temporary copy of the shipped definitions and scripts, with extra files.
//!
//! Each test binary uses part of it, hence `allow(dead_code)`.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod browser;
pub mod files;
pub mod flows;
pub mod pg;
pub mod tree;
pub mod webhook;
pub mod world;

pub use app::{spawn, spawn_on, App, AppOptions, Backend, Resp};
pub use pg::{pg, pg_blocking, PgServer};
pub use webhook::{Received, WebhookReceiver};
