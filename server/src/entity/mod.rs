//! sea-orm entities, one module per table (see `migrations/` for the schema).

pub mod account;
pub mod action_link;
pub mod audit_log;
pub mod catalogue;
pub mod counter;
pub mod definition;
pub mod department;
pub mod document;
pub mod employer;
pub mod employer_name_gram;
pub mod employer_warning;
pub mod graduate;
pub mod history;
pub mod instance;
pub mod outbox;
pub mod province;
pub mod province_param;
pub mod report;
pub mod roster_import;
pub mod school;
pub mod slot;
pub mod stat_count;
pub mod task;
pub mod timer;
pub mod token;
pub mod transfer_number;
pub mod upload;
pub mod verification;

/// The entities under their table-like names.
pub mod prelude {
    pub use super::account::Entity as Account;
    pub use super::action_link::Entity as ActionLink;
    pub use super::audit_log::Entity as AuditLog;
    pub use super::catalogue::Entity as Catalogue;
    pub use super::counter::Entity as Counter;
    pub use super::definition::Entity as Definition;
    pub use super::department::Entity as Department;
    pub use super::document::Entity as Document;
    pub use super::employer::Entity as Employer;
    pub use super::employer_name_gram::Entity as EmployerNameGram;
    pub use super::employer_warning::Entity as EmployerWarning;
    pub use super::graduate::Entity as Graduate;
    pub use super::history::Entity as History;
    pub use super::instance::Entity as Instance;
    pub use super::outbox::Entity as Outbox;
    pub use super::province::Entity as Province;
    pub use super::province_param::Entity as ProvinceParam;
    pub use super::report::Entity as Report;
    pub use super::roster_import::Entity as RosterImport;
    pub use super::school::Entity as School;
    pub use super::slot::Entity as Slot;
    pub use super::task::Entity as Task;
    pub use super::timer::Entity as Timer;
    pub use super::token::Entity as Token;
    pub use super::transfer_number::Entity as TransferNumber;
    pub use super::upload::Entity as Upload;
    pub use super::verification::Entity as Verification;
}

/// Column names declared `i32` in some entity. SQLite declares both these and the
/// autoincrement `i64` keys `integer`; the SQLite backend reads an `integer` column by this
/// list (`db::sqlite`), and a test keeps every `i64` declared `integer` named `id`.
pub fn i32_columns() -> std::collections::HashSet<String> {
    use sea_orm::{ColumnTrait, ColumnType, EntityTrait, IdenStatic, Iterable};
    fn add<E: EntityTrait>(out: &mut std::collections::HashSet<String>) {
        for c in E::Column::iter() {
            if matches!(c.def().get_column_type(), ColumnType::Integer) {
                out.insert(c.as_str().to_string());
            }
        }
    }
    let mut out = std::collections::HashSet::new();
    macro_rules! each {
        ($($m:ident),*) => { $(add::<$m::Entity>(&mut out);)* };
    }
    each!(
        account,
        action_link,
        audit_log,
        catalogue,
        counter,
        definition,
        department,
        document,
        employer,
        employer_name_gram,
        employer_warning,
        graduate,
        history,
        instance,
        outbox,
        province,
        province_param,
        report,
        roster_import,
        school,
        slot,
        task,
        timer,
        token,
        transfer_number,
        upload,
        verification
    );
    out
}

#[cfg(test)]
mod tests {
    //! Each entity must match the migration column for column: one row written through the
    //! entity and read back on a freshly migrated SQLite database comes back unchanged.

    use super::*;
    use chrono::{TimeZone, Utc};
    use gradflow_migrations::{Migrator, MigratorTrait};
    use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, EntityTrait, IntoActiveModel};

    async fn roundtrip<E>(db: &DatabaseConnection, model: E::Model)
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel> + Clone + PartialEq + std::fmt::Debug,
        E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    {
        E::insert(model.clone().into_active_model())
            .exec_without_returning(db)
            .await
            .unwrap_or_else(|e| panic!("insert into {}: {e}", E::default().table_name()));
        let rows = E::find().all(db).await.unwrap();
        assert_eq!(rows, vec![model], "{}", E::default().table_name());
    }

    #[tokio::test]
    async fn entities_match_the_schema() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap();
        let s = |v: &str| v.to_string();

        roundtrip::<province::Entity>(
            &db,
            province::Model {
                code: s("11"),
                name: s("Beijing"),
                agreement_type: Some(s("three_party")),
                employment_enabled: true,
                archive_enabled: false,
                hukou_enabled: true,
            },
        )
        .await;
        roundtrip::<school::Entity>(
            &db,
            school::Model {
                id: 1,
                code: s("10001"),
                name: s("Peking University"),
                province_code: s("11"),
                review_mode_employment: s("school"),
                review_mode_archive: s("department"),
                review_mode_hukou: s("school"),
                signing_enabled: true,
                supplement_enabled: true,
                destination_enabled: false,
                archive_enabled: false,
                hukou_enabled: false,
                termination_cap: 3,
                handler_info: s("{}"),
                settings_saved: true,
            },
        )
        .await;
        roundtrip::<department::Entity>(
            &db,
            department::Model {
                id: 1,
                school_id: 1,
                name: s("Physics"),
            },
        )
        .await;
        roundtrip::<graduate::Entity>(
            &db,
            graduate::Model {
                id: 1,
                province_code: s("11"),
                school_id: 1,
                candidate_no: s("26110101000001"),
                id_number: s("11010120040101001X"),
                name: s("Zhang San"),
                gender: Some(s("1")),
                ethnicity: None,
                political_status: Some(s("13")),
                education_level: s("31"),
                training_mode: s("1"),
                origin_region: Some(s("110101")),
                enrolment_date: Some(s("2022-09-01")),
                graduation_date: Some(s("2026-06-30")),
                cohort: 2026,
                student_no: None,
                department: s("Physics"),
                major: s("Physics"),
                schooling_length: Some(s("4")),
                archive_in_school: true,
                hukou_in_school: false,
                email: None,
                mobile: Some(s("13800000000")),
                removed: false,
                removed_at: Some(at),
                basic_info_confirmed: true,
                updated_at: at,
                directed_employer: Some(s("Directed Co")),
                restore_pending: true,
                reuploaded_at: Some(at),
                basic_info_disputed: true,
                basic_info_note: Some(s("name wrong")),
                basic_info_checked_at: Some(at),
                identity_checked_at: None,
            },
        )
        .await;
        roundtrip::<employer::Entity>(
            &db,
            employer::Model {
                id: 1,
                name: s("Acme"),
                credit_code: s("91110000000000000X"),
                nature: Some(s("10")),
                industry: None,
                region: Some(s("110101")),
                address: None,
                created_at: at,
            },
        )
        .await;
        roundtrip::<account::Entity>(
            &db,
            account::Model {
                id: 1,
                username: s("pku-admin"),
                display_name: s("PKU"),
                role: s("school"),
                password_hash: Some(s("$argon2id$...")),
                province_code: Some(s("11")),
                school_id: Some(1),
                department: None,
                graduate_id: None,
                employer_id: None,
                perm_employment: s("rw"),
                perm_archive: s("r"),
                perm_hukou: s("none"),
                active: true,
                created_at: at,
                key_kind: Some(s("roster")),
                created_by: Some(7),
                failed_logins: 3,
                locked_until: Some(at),
            },
        )
        .await;
        roundtrip::<token::Entity>(
            &db,
            token::Model {
                token_hash: "a".repeat(64),
                account_id: 1,
                kind: s("session"),
                created_at: at,
                expires_at: Some(at),
            },
        )
        .await;
        roundtrip::<definition::Entity>(
            &db,
            definition::Model {
                id: s("online_signing@1"),
                key: s("online_signing"),
                version: 1,
                province: None,
                source: s("key: online_signing\n"),
                hash: "b".repeat(64),
                origin: s("builtin"),
                created_at: at,
                retired_at: Some(at),
            },
        )
        .await;
        roundtrip::<catalogue::Entity>(
            &db,
            catalogue::Model {
                name: s("destination_type"),
                source: s("catalogue: destination_type\n"),
                updated_at: at,
                updated_by: Some(1),
            },
        )
        .await;
        roundtrip::<roster_import::Entity>(
            &db,
            roster_import::Model {
                id: 1,
                account_id: 7,
                source: s("xlsx"),
                errors: s("[]"),
                created_at: at,
            },
        )
        .await;
        roundtrip::<report::Entity>(
            &db,
            report::Model {
                id: 1,
                province_code: s("32"),
                school_id: 1,
                category: s("1"),
                content: s("强迫签约"),
                evidence: s("[]"),
                created_at: at,
                handled_at: Some(at),
                handled_by: Some(3),
                handling_note: Some(s("已核查")),
                row_version: 2,
            },
        )
        .await;
        roundtrip::<verification::Entity>(
            &db,
            verification::Model {
                id: 1,
                graduate_id: 1,
                school_id: 1,
                province_code: s("32"),
                kind: s("archive"),
                number: s("261028400000001"),
                valid_until: at,
                status: s("active"),
                instance_id: 9,
                confirmation_version: 3,
                created_at: at,
                ended_at: None,
            },
        )
        .await;
        roundtrip::<transfer_number::Entity>(
            &db,
            transfer_number::Model {
                id: 1,
                graduate_id: 1,
                kind: s("archive"),
                school_id: 1,
                department: s("Physics"),
                number: s("T1"),
                stale: true,
                generated_at: at,
                updated_at: at,
            },
        )
        .await;
        roundtrip::<province_param::Entity>(
            &db,
            province_param::Model {
                province_code: s("11"),
                def_key: s("online_signing"),
                params: s(r#"{"deadline_days":7}"#),
                updated_at: at,
            },
        )
        .await;
        roundtrip::<instance::Entity>(
            &db,
            instance::Model {
                id: 1,
                def_id: s("online_signing@1"),
                def_key: s("online_signing"),
                module: s("employment"),
                list: Some(s("signing")),
                type_code: None,
                state: s("awaiting_employer"),
                label: s("Awaiting employer"),
                status_detail: None,
                review: Some(s("{}")),
                vars: s("{}"),
                params: s("{}"),
                province_code: s("11"),
                school_id: 1,
                department: s("Physics"),
                graduate_id: 1,
                employer_id: Some(1),
                major: s("Physics"),
                education_level: s("本科"),
                cohort: 2026,
                initiator: s("graduate:1"),
                initiator_role: s("graduate"),
                is_final: false,
                row_version: 2,
                created_at: at,
                updated_at: at,
            },
        )
        .await;
        roundtrip::<history::Entity>(
            &db,
            history::Model {
                id: 1,
                instance_id: 1,
                seq: 1,
                action: s("submit"),
                actor_account_id: 1,
                actor_role: s("graduate"),
                from_state: None,
                to_state: s("awaiting_employer"),
                level: Some(s("school")),
                decision: Some(s("approve")),
                reason_category: None,
                reason: Some(s("fine")),
                input: s("{}"),
                at,
            },
        )
        .await;
        roundtrip::<task::Entity>(
            &db,
            task::Model {
                id: 1,
                instance_id: 1,
                role: s("employer"),
                province_code: s("11"),
                school_id: 1,
                department: Some(s("Physics")),
                graduate_id: 1,
                employer_id: Some(1),
                def_key: s("online_signing"),
                state: s("awaiting_employer"),
                opened_at: at,
                due_at: Some(at),
            },
        )
        .await;
        roundtrip::<timer::Entity>(
            &db,
            timer::Model {
                id: 1,
                instance_id: 1,
                action: s("expire"),
                state: s("awaiting_employer"),
                due_at: at,
                claimed_until: None,
            },
        )
        .await;
        roundtrip::<slot::Entity>(
            &db,
            slot::Model {
                id: 1,
                slot_key: s("1:employment"),
                slot: s("employment"),
                instance_id: 1,
                graduate_id: 1,
                acquired_at: at,
            },
        )
        .await;
        roundtrip::<outbox::Entity>(
            &db,
            outbox::Model {
                id: 1,
                instance_id: Some(1),
                kind: s("notify"),
                channel: s("email"),
                idempotency_key: s("1:1:notify"),
                payload: s("{}"),
                attempts: 0,
                next_attempt_at: at,
                delivered_at: None,
                last_error: Some(s("timeout")),
                created_at: at,
            },
        )
        .await;
        roundtrip::<counter::Entity>(
            &db,
            counter::Model {
                name: s("agreement_no"),
                value: 1 << 40,
            },
        )
        .await;
        roundtrip::<action_link::Entity>(
            &db,
            action_link::Model {
                token_hash: "d".repeat(64),
                instance_id: 7,
                action: s("employer_upload"),
                state: s("awaiting_upload"),
                expires_at: at,
                used_at: Some(at),
                created_at: at,
            },
        )
        .await;
        roundtrip::<document::Entity>(
            &db,
            document::Model {
                instance_id: 1,
                name: s("agreement.html"),
                content: s("<html></html>"),
                rendered_at: at,
            },
        )
        .await;
        roundtrip::<upload::Entity>(
            &db,
            upload::Model {
                id: s("00000000-0000-4000-8000-000000000000"),
                account_id: 1,
                content_type: s("application/pdf"),
                size: 5 << 30,
                sha256: "c".repeat(64),
                path: s("uploads/0000"),
                created_at: at,
                instance_id: Some(7),
            },
        )
        .await;
        roundtrip::<employer_name_gram::Entity>(
            &db,
            employer_name_gram::Model {
                gram: s("华为"),
                employer_id: 1,
            },
        )
        .await;
        roundtrip::<employer_warning::Entity>(
            &db,
            employer_warning::Model {
                id: 1,
                employer_id: 1,
                school_id: 1,
                reason: s("fake"),
                active: false,
                marked_by: 2,
                marked_at: at,
                unmark_reason: Some(s("resolved")),
                unmarked_by: Some(3),
                unmarked_at: Some(at),
            },
        )
        .await;
        roundtrip::<audit_log::Entity>(
            &db,
            audit_log::Model {
                id: 1,
                at,
                account_id: 1,
                province_code: Some(s("32")),
                school_id: Some(1),
                action: s("settings.signing"),
                target_kind: s("school"),
                target_id: s("1"),
                detail: s("{}"),
            },
        )
        .await;
    }
}
