//! sea-orm entities, one module per table (see `migrations/` for the schema).

pub mod account;
pub mod counter;
pub mod definition;
pub mod department;
pub mod document;
pub mod employer;
pub mod graduate;
pub mod history;
pub mod instance;
pub mod outbox;
pub mod province;
pub mod province_param;
pub mod school;
pub mod slot;
pub mod task;
pub mod timer;
pub mod token;
pub mod upload;

/// The entities under their table-like names.
pub mod prelude {
    pub use super::account::Entity as Account;
    pub use super::counter::Entity as Counter;
    pub use super::definition::Entity as Definition;
    pub use super::department::Entity as Department;
    pub use super::document::Entity as Document;
    pub use super::employer::Entity as Employer;
    pub use super::graduate::Entity as Graduate;
    pub use super::history::Entity as History;
    pub use super::instance::Entity as Instance;
    pub use super::outbox::Entity as Outbox;
    pub use super::province::Entity as Province;
    pub use super::province_param::Entity as ProvinceParam;
    pub use super::school::Entity as School;
    pub use super::slot::Entity as Slot;
    pub use super::task::Entity as Task;
    pub use super::timer::Entity as Timer;
    pub use super::token::Entity as Token;
    pub use super::upload::Entity as Upload;
}
