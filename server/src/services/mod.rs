//! Services per capability, called by the HTTP handlers of `api/`: they load and store what a
//! request needs (through the store's read pool and `Db::begin_write`/`Db::writer`), so that
//! handlers only parse, authorize and present. (The flow engine's service is `crate::service`;
//! the store of transitions is `crate::store`.)

pub mod accounts;
pub mod agreements;
pub mod bootstrap;
pub mod confirmation;
pub mod employers;
pub mod home;
pub mod lists;
pub mod reports;
pub mod residence;
pub mod reviews;
pub mod roster;
pub mod settings;
pub mod sheet;
pub mod statistics;
pub mod tasks;
pub mod testing;
pub mod transfer;
pub mod verification;
