//! Entity of the `graduates` table.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "graduates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province_code: String,
    pub school_id: i64,
    pub candidate_no: String,
    pub id_number: String,
    pub name: String,
    pub gender: Option<String>,
    pub ethnicity: Option<String>,
    pub political_status: Option<String>,
    pub education_level: String,
    pub training_mode: String,
    pub origin_region: Option<String>,
    pub enrolment_date: Option<String>,
    pub graduation_date: Option<String>,
    pub cohort: i32,
    pub student_no: Option<String>,
    pub department: String,
    pub major: String,
    pub schooling_length: Option<String>,
    pub archive_in_school: bool,
    pub hukou_in_school: bool,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub removed: bool,
    pub removed_at: Option<DateTimeUtc>,
    pub basic_info_confirmed: bool,
    pub updated_at: DateTimeUtc,
    /// 定向/委培单位 from the roster (training modes 21/41).
    pub directed_employer: Option<String>,
    /// Re-uploaded while on the invalid list: the hourly worker restores it.
    pub restore_pending: bool,
    pub reuploaded_at: Option<DateTimeUtc>,
    /// The graduate said the basic info is wrong (first-login check).
    pub basic_info_disputed: bool,
    pub basic_info_note: Option<String>,
    pub basic_info_checked_at: Option<DateTimeUtc>,
    pub identity_checked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
