//! One `ApiResponse` enum per operation, declared with [`answers!`]: the success answers with
//! their typed bodies and every error status the operation can answer, each documented with
//! its stable codes. Errors are raised as [`crate::error::ApiError`] (through `?`) and served
//! in the one error shape ([`super::Problem`]); the error variants exist so the spec lists
//! them — a handler never builds one.

/// Declares an operation's `ApiResponse` enum.
///
/// ```ignore
/// answers! {
///     /// The answers of `GET /employers/{id}`.
///     pub enum GetEmployerAnswer {
///         /// The employer.
///         200 Ok(Json<EmployerView>),
///         errors:
///         /// No or an unknown token (`unauthorized`).
///         401 Unauthorized,
///         /// No such employer in the caller's scope (`not_found`).
///         404 NotFound,
///     }
/// }
/// ```
///
/// Success variants come before `errors:`, error variants (bodies: [`super::Problem`]) after it.
macro_rules! answers {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $okdoc:literal])* $ok:literal $okv:ident ( $okty:ty ) ,)+
            errors:
            $( $(#[doc = $errdoc:literal])* $err:literal $errv:ident ,)+
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(poem_openapi::ApiResponse)]
        #[allow(dead_code, clippy::large_enum_variant)]
        $vis enum $name {
            $(
                $(#[doc = $okdoc])*
                #[oai(status = $ok)]
                $okv($okty),
            )+
            $(
                $(#[doc = $errdoc])*
                #[oai(status = $err)]
                $errv(poem_openapi::payload::Json<$crate::api::Problem>),
            )+
        }
    };
}

pub(crate) use answers;

/// Declares the page of a list: `{total, page, page_size, items}` (see [`crate::paging`]).
macro_rules! page_of {
    ($(#[doc = $doc:literal])* $vis:vis struct $name:ident($item:ty);) => {
        $(#[doc = $doc])*
        #[derive(poem_openapi::Object)]
        $vis struct $name {
            /// How many items the whole query has.
            pub total: u64,
            /// This page (from 1).
            pub page: u64,
            /// The page size asked for (20 by default, at most 200).
            pub page_size: u64,
            /// The items of this page.
            pub items: Vec<$item>,
        }
    };
}

pub(crate) use page_of;
