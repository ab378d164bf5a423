//! Validated identifier newtypes: parse at the edge, then carry proof of validity around.
//!
//! Every type offers `parse(&str) -> Result<Self, IdentError>` (surrounding whitespace is
//! trimmed, letters are normalised to upper case where the standard uses upper case),
//! `as_str()`, `Display`, `FromStr`, and serialises as its string. Deserialising goes through
//! `parse`, so a value read back from JSON is validated again.
//!
//! No regex crate is used: the shapes are simple enough to check by hand.
//!
//! | Type | Rule | Error code |
//! |------|------|------------|
//! | [`IdNumber`] | GB 11643 resident ID: 17 digits + check character, real birth date | `id_number_format`, `id_number_birth_date`, `id_number_checksum` |
//! | [`CreditCode`] | GB 32100 unified social credit code, 18 chars; check character reported, not enforced | `credit_code_format` |
//! | [`CandidateNo`] | 14 digits | `candidate_no_format` |
//! | [`Mobile`] | `^1[3-9]\d{9}$` | `mobile_format` |
//! | [`Landline`] | `^0\d{2,3}-?\d{7,8}(-\d{1,6})?$` | `landline_format` |
//! | [`PostalCode`] | 6 digits | `postal_code_format` |
//! | [`RegionCode`] | 6 digits, valid GB/T 2260 province prefix | `region_code_format` |
//! | [`SchoolCode`] | 5 digits | `school_code_format` |
//! | [`Email`] | `local@domain.tld` | `email_format` |

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether `c` may not appear in text a person typed: control characters (C0 but tab and line
/// breaks, DEL, C1) and invisible format characters that reorder or hide text (bidi marks,
/// embeddings, overrides and isolates; the byte-order mark; interlinear annotations; the
/// noncharacters U+FFFE/U+FFFF). PostgreSQL refuses NUL outright; the others let stored names
/// read differently from what they are.
pub fn is_forbidden_char(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{FFFE}'
                | '\u{FFFF}'
        )
}

/// The first forbidden character of `s` (see [`is_forbidden_char`]): its 1-based position
/// in characters and the character.
pub fn forbidden_char(s: &str) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_char(*c))
        .map(|(i, c)| (i + 1, c))
}

/// The Chinese description of a forbidden character at a position, for error messages.
pub fn forbidden_char_message(at: usize, c: char) -> String {
    format!(
        "不能包含控制字符或不可见的格式字符（第 {at} 个字符为 U+{:04X}）",
        c as u32
    )
}

/// A rejected identifier: a stable machine `code` and a Chinese `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IdentError {
    /// Stable machine code, e.g. `id_number_checksum`.
    pub code: &'static str,
    /// Chinese message naming the identifier, e.g. "身份证号校验位错误".
    pub message: String,
}

/// `(code, subject, problem, expectation)`: the message is
/// `subject + problem [+ "：" + expectation]`.
const DESCRIPTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "id_number_format",
        "身份证号",
        "格式错误",
        "应为18位，前17位为数字，最后一位为数字或X",
    ),
    ("id_number_birth_date", "身份证号", "中的出生日期无效", ""),
    ("id_number_checksum", "身份证号", "校验位错误", ""),
    (
        "credit_code_format",
        "统一社会信用代码",
        "格式错误",
        "应为18位，由数字和大写字母（不含I、O、Z、S、V）组成",
    ),
    ("candidate_no_format", "考生号", "格式错误", "应为14位数字"),
    (
        "mobile_format",
        "手机号码",
        "格式错误",
        "应为以1开头的11位数字",
    ),
    (
        "landline_format",
        "固定电话",
        "格式错误",
        "应为以0开头的区号加7至8位号码，如 025-83591234，分机号用“-”连接",
    ),
    ("postal_code_format", "邮政编码", "格式错误", "应为6位数字"),
    (
        "region_code_format",
        "行政区划代码",
        "格式错误",
        "应为6位数字，前两位为有效的省级代码",
    ),
    ("school_code_format", "院校代码", "格式错误", "应为5位数字"),
    (
        "email_format",
        "邮箱",
        "格式错误",
        "应为 name@example.com 的形式",
    ),
];

fn describe(code: &str) -> (&'static str, &'static str, &'static str) {
    DESCRIPTIONS
        .iter()
        .find(|d| d.0 == code)
        .map(|d| (d.1, d.2, d.3))
        .unwrap_or(("标识", "格式错误", ""))
}

impl IdentError {
    fn new(code: &'static str) -> IdentError {
        let (subject, problem, expectation) = describe(code);
        let message = if expectation.is_empty() {
            format!("{subject}{problem}")
        } else {
            format!("{subject}{problem}：{expectation}")
        };
        IdentError { code, message }
    }

    /// The message without the identifier's name, for prefixing with a form label:
    /// e.g. "校验位错误" or "格式错误，应为14位数字".
    pub fn detail(&self) -> String {
        let (_, problem, expectation) = describe(self.code);
        let problem = problem.trim_start_matches("中的");
        if expectation.is_empty() {
            problem.to_string()
        } else {
            format!("{problem}，{expectation}")
        }
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn digits_len(s: &str, len: usize) -> bool {
    s.len() == len && all_digits(s)
}

/// Common impls: `as_str`, `Display`, `FromStr`, `AsRef<str>`, serde as string.
macro_rules! string_ident {
    ($t:ident) => {
        impl $t {
            /// The normalised identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $t {
            type Err = IdentError;
            fn from_str(s: &str) -> Result<Self, IdentError> {
                Self::parse(s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Simple all-digit identifiers of a fixed length.
macro_rules! digit_ident {
    ($(#[$doc:meta])* $t:ident, $len:expr, $code:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $t(String);

        impl $t {
            #[doc = concat!("Parses exactly ", stringify!($len), " ASCII digits (surrounding whitespace trimmed).")]
            pub fn parse(s: &str) -> Result<Self, IdentError> {
                let s = s.trim();
                if digits_len(s, $len) {
                    Ok($t(s.to_string()))
                } else {
                    Err(IdentError::new($code))
                }
            }
        }
        string_ident!($t);
    };
}

// ---------------------------------------------------------------------------------------------
// Resident identity card number (GB 11643).

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// A resident identity card number (GB 11643-1999): 17 digits and a check character
/// (digit or `X`, lower-case `x` accepted and normalised), with a real birth date in
/// positions 7..15.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber(String, NaiveDate);

impl IdNumber {
    /// Parses and validates format, birth date and check character, in that order.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let s = s.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !(b[17].is_ascii_digit() || b[17] == b'X')
        {
            return Err(IdentError::new("id_number_format"));
        }
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d")
            .map_err(|_| IdentError::new("id_number_birth_date"))?;
        if IdNumber::expected_check_char(&s[..17]) != Some(b[17] as char) {
            return Err(IdentError::new("id_number_checksum"));
        }
        Ok(IdNumber(s, birth))
    }

    /// The check character for the first 17 digits, or `None` if `first17` is not 17 digits.
    pub fn expected_check_char(first17: &str) -> Option<char> {
        if !digits_len(first17, 17) {
            return None;
        }
        let sum: u32 = first17
            .bytes()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        Some(ID_CHECK[(sum % 11) as usize] as char)
    }

    /// The birth date encoded in the number.
    pub fn birth_date(&self) -> NaiveDate {
        self.1
    }

    /// The gender the number records: its 17th digit, odd 男, even 女.
    pub fn gender(&self) -> &'static str {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            "男"
        } else {
            "女"
        }
    }

    /// The normalised number (upper-case `X`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl AsRef<str> for IdNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl FromStr for IdNumber {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Self, IdentError> {
        Self::parse(s)
    }
}
impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code (GB 32100).

/// The 31 characters of GB 32100; a character's value is its index.
pub const CREDIT_CODE_CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn credit_value(c: u8) -> Option<u32> {
    CREDIT_CODE_CHARSET
        .bytes()
        .position(|x| x == c)
        .map(|p| p as u32)
}

/// A unified social credit code (GB 32100-2015): 18 characters over
/// [`CREDIT_CODE_CHARSET`] (lower case accepted and normalised).
///
/// A wrong check character is *not* a parse error — some genuine early codes fail the
/// check — so [`CreditCode::checksum_ok`] reports it and callers decide (forms warn).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses the format only; see [`CreditCode::checksum_ok`] for the check character.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let s = s.trim().to_ascii_uppercase();
        if s.len() != 18 || !s.bytes().all(|c| credit_value(c).is_some()) {
            return Err(IdentError::new("credit_code_format"));
        }
        Ok(CreditCode(s))
    }

    /// The check character for the first 17 characters (upper case), or `None` if `first17`
    /// is not 17 characters of the charset.
    pub fn expected_check_char(first17: &str) -> Option<char> {
        if first17.len() != 17 {
            return None;
        }
        let mut sum = 0;
        for (c, w) in first17.bytes().zip(CREDIT_WEIGHTS) {
            sum += credit_value(c)? * w;
        }
        let idx = (31 - sum % 31) % 31;
        CREDIT_CODE_CHARSET.chars().nth(idx as usize)
    }

    /// Whether the 18th character matches the GB 32100 check character.
    pub fn checksum_ok(&self) -> bool {
        CreditCode::expected_check_char(&self.0[..17]) == self.0[17..].chars().next()
    }
}
string_ident!(CreditCode);

// ---------------------------------------------------------------------------------------------
// Simple shapes.

digit_ident!(
    /// A gaokao candidate number (考生号): exactly 14 digits.
    CandidateNo,
    14,
    "candidate_no_format"
);
digit_ident!(
    /// A postal code: exactly 6 digits.
    PostalCode,
    6,
    "postal_code_format"
);
digit_ident!(
    /// A school (institution) code: exactly 5 digits.
    SchoolCode,
    5,
    "school_code_format"
);

/// A mainland mobile number: `^1[3-9]\d{9}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mobile(String);

impl Mobile {
    /// Parses `1[3-9]` followed by 9 digits.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let s = s.trim();
        let b = s.as_bytes();
        if digits_len(s, 11) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
            Ok(Mobile(s.to_string()))
        } else {
            Err(IdentError::new("mobile_format"))
        }
    }
}
string_ident!(Mobile);

/// A landline number: `^0\d{2,3}-?\d{7,8}(-\d{1,6})?$` — area code of 3-4 digits starting
/// with 0, optional `-`, a 7-8 digit number and an optional `-` extension of 1-6 digits.
/// Kept as written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Landline(String);

fn is_area(s: &str) -> bool {
    (3..=4).contains(&s.len()) && all_digits(s) && s.starts_with('0')
}
fn is_local(s: &str) -> bool {
    (7..=8).contains(&s.len()) && all_digits(s)
}
/// Area code and number without separator: 10-12 digits starting with 0 (every such length
/// splits into a 3-4 digit area code and a 7-8 digit number).
fn is_area_local(s: &str) -> bool {
    (10..=12).contains(&s.len()) && all_digits(s) && s.starts_with('0')
}
fn is_ext(s: &str) -> bool {
    (1..=6).contains(&s.len()) && all_digits(s)
}

impl Landline {
    /// Parses the landline shape described on the type.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let s = s.trim();
        let parts: Vec<&str> = s.split('-').collect();
        let ok = match parts.as_slice() {
            [whole] => is_area_local(whole),
            [a, b] => (is_area(a) && is_local(b)) || (is_area_local(a) && is_ext(b)),
            [a, b, c] => is_area(a) && is_local(b) && is_ext(c),
            _ => false,
        };
        if ok {
            Ok(Landline(s.to_string()))
        } else {
            Err(IdentError::new("landline_format"))
        }
    }
}
string_ident!(Landline);

/// Valid GB/T 2260 province-level prefixes.
const PROVINCE_PREFIXES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// An administrative region code (GB/T 2260): 6 digits whose first two are a valid
/// province-level prefix. Whether the code exists is checked against the loaded region list
/// elsewhere (see `form::CodeLookup::region_known`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses 6 digits with a valid province prefix.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let s = s.trim();
        if digits_len(s, 6)
            && s[..2]
                .parse::<u8>()
                .is_ok_and(|p| PROVINCE_PREFIXES.contains(&p))
        {
            Ok(RegionCode(s.to_string()))
        } else {
            Err(IdentError::new("region_code_format"))
        }
    }

    /// The province-level code: first two digits + `0000`.
    pub fn province_code(&self) -> String {
        format!("{}0000", &self.0[..2])
    }

    /// The prefecture-level code: first four digits + `00`.
    pub fn prefecture_code(&self) -> String {
        format!("{}00", &self.0[..4])
    }
}
string_ident!(RegionCode);

/// An e-mail address, checked loosely as `local@domain.tld`: one `@`, a non-empty local
/// part without whitespace, a domain of at least two non-empty dot-separated labels of
/// letters, digits and `-`, and a top-level label of at least two letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses the loose `local@domain.tld` shape described on the type.
    pub fn parse(s: &str) -> Result<Self, IdentError> {
        let s = s.trim();
        let err = || IdentError::new("email_format");
        let (local, domain) = s.split_once('@').ok_or_else(err)?;
        if local.is_empty()
            || local.len() > 64
            || local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return Err(err());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let tld = labels.last().copied().unwrap_or_default();
        let labels_ok = labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if labels.len() < 2
            || !labels_ok
            || tld.len() < 2
            || !tld.chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(err());
        }
        Ok(Email(s.to_string()))
    }
}
string_ident!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_forbidden() {
        for bad in [
            "a\0b",
            "\u{7}",
            "x\u{7F}",
            "\u{85}",
            "张\u{202E}三",
            "\u{2066}x",
            "\u{200F}",
            "\u{FEFF}a",
        ] {
            assert!(forbidden_char(bad).is_some(), "{bad:?}");
        }
        for good in [
            "张三",
            "a\tb",
            "第一行\n第二行\r\n",
            "O'Brien & 李",
            "😀",
            "ＡＢＣ",
        ] {
            assert_eq!(forbidden_char(good), None, "{good:?}");
        }
        assert_eq!(forbidden_char("ab\u{202E}"), Some((3, '\u{202E}')));
        assert_eq!(
            forbidden_char_message(3, '\u{202E}'),
            "不能包含控制字符或不可见的格式字符（第 3 个字符为 U+202E）"
        );
    }
    use proptest::prelude::*;

    #[test]
    fn id_number_good() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        // The 17th digit: 2 is even.
        assert_eq!(id.gender(), "女");
        assert_eq!(
            IdNumber::parse("320102200002021235").unwrap().gender(),
            "男"
        );
        let lower = IdNumber::parse(" 11010519491231002x ").unwrap();
        assert_eq!(lower.to_string(), "11010519491231002X");
        assert_eq!(
            serde_json::to_value(&lower).unwrap(),
            serde_json::json!("11010519491231002X")
        );
        let back: IdNumber =
            serde_json::from_value(serde_json::json!("11010519491231002x")).unwrap();
        assert_eq!(back, id);
        assert!(
            serde_json::from_value::<IdNumber>(serde_json::json!("11010519491231002")).is_err()
        );
    }

    #[test]
    fn id_number_bad() {
        let code = |s: &str| IdNumber::parse(s).unwrap_err().code;
        assert_eq!(code("11010519491231002"), "id_number_format");
        assert_eq!(code("11010519491231002XX"), "id_number_format");
        assert_eq!(code("1101051949123100AX"), "id_number_format");
        assert_eq!(code("11010519491231002Y"), "id_number_format");
        assert_eq!(code("１1010519491231002X"), "id_number_format");
        assert_eq!(code("１10105194912310X"), "id_number_format");
        assert_eq!(code("110105194902300021"), "id_number_birth_date");
        assert_eq!(code("110105194913310021"), "id_number_birth_date");
        assert_eq!(code("110105194912310021"), "id_number_checksum");
        let e = IdNumber::parse("110105194912310021").unwrap_err();
        assert_eq!(e.message, "身份证号校验位错误");
        assert_eq!(e.detail(), "校验位错误");
        assert_eq!(
            IdentError::new("id_number_birth_date").detail(),
            "出生日期无效"
        );
    }

    #[test]
    fn credit_code() {
        assert_eq!(
            CreditCode::expected_check_char("91350100M000100Y4"),
            Some('3')
        );
        let c = CreditCode::parse("91350100M000100Y43").unwrap();
        assert!(c.checksum_ok());
        let lower = CreditCode::parse("91350100m000100y43").unwrap();
        assert_eq!(lower, c);
        let bad_check = CreditCode::parse("91350100M000100Y44").unwrap();
        assert!(!bad_check.checksum_ok());
        for s in [
            "91350100M000100Y4",
            "91350100M000100Y433",
            "91350100I000100Y43",
            "91350100O000100Y43",
            "9135010-M000100Y43",
        ] {
            let e = CreditCode::parse(s).unwrap_err();
            assert_eq!(e.code, "credit_code_format", "{s}");
            assert_eq!(
                e.message,
                "统一社会信用代码格式错误：应为18位，由数字和大写字母（不含I、O、Z、S、V）组成"
            );
        }
        assert_eq!(CreditCode::expected_check_char("91350100I000100Y4"), None);
        assert_eq!(CreditCode::expected_check_char("short"), None);
    }

    #[test]
    fn candidate_postal_school() {
        assert_eq!(
            CandidateNo::parse("24320102150123").unwrap().as_str(),
            "24320102150123"
        );
        assert_eq!(
            CandidateNo::parse("2432010215012").unwrap_err().code,
            "candidate_no_format"
        );
        assert_eq!(
            CandidateNo::parse("2432010215012a").unwrap_err().code,
            "candidate_no_format"
        );
        assert!(PostalCode::parse("210008").is_ok());
        assert_eq!(
            PostalCode::parse("21000").unwrap_err().code,
            "postal_code_format"
        );
        assert!(SchoolCode::parse("10284").is_ok());
        assert_eq!(
            SchoolCode::parse("102845").unwrap_err().code,
            "school_code_format"
        );
    }

    #[test]
    fn mobile() {
        assert!(Mobile::parse("13912345678").is_ok());
        assert!(Mobile::parse(" 19912345678 ").is_ok());
        for s in [
            "12912345678",
            "1391234567",
            "139123456789",
            "23912345678",
            "1391234567a",
            "",
        ] {
            assert_eq!(Mobile::parse(s).unwrap_err().code, "mobile_format", "{s}");
        }
    }

    #[test]
    fn landline() {
        for s in [
            "025-83591234",
            "02583591234",
            "0512-6789012",
            "0512-67890123",
            "010-12345678-123",
            "01012345678-9",
            "0101234567",
        ] {
            assert!(Landline::parse(s).is_ok(), "{s}");
        }
        for s in [
            "25-83591234",
            "12583591234",
            "025-123456",
            "025-123456789",
            "025-83591234-",
            "025-83591234-1234567",
            "025--83591234",
            "025-8359a234",
            "",
            "-",
        ] {
            assert_eq!(
                Landline::parse(s).unwrap_err().code,
                "landline_format",
                "{s}"
            );
        }
    }

    #[test]
    fn region_code() {
        let r = RegionCode::parse("320102").unwrap();
        assert_eq!(r.province_code(), "320000");
        assert_eq!(r.prefecture_code(), "320100");
        assert!(RegionCode::parse("820000").is_ok());
        for s in ["100000", "160000", "720000", "32010", "32010a", "990000"] {
            assert_eq!(
                RegionCode::parse(s).unwrap_err().code,
                "region_code_format",
                "{s}"
            );
        }
    }

    #[test]
    fn email() {
        for s in [
            "a@b.cn",
            "zhang.san+hr@mail.example.com",
            "x_y@sub-domain.edu.cn",
        ] {
            assert!(Email::parse(s).is_ok(), "{s}");
        }
        for s in [
            "", "a", "a@b", "@b.cn", "a@.cn", "a@b.", "a@b.c", "a b@c.cn", "a@b@c.cn", "a@-b.cn",
            "a@b.c1",
        ] {
            assert_eq!(Email::parse(s).unwrap_err().code, "email_format", "{s}");
        }
    }

    fn valid_first17() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(0u8..10, 6),
            (1900i32..2100, 1u32..13, 1u32..32),
            proptest::collection::vec(0u8..10, 3),
        )
            .prop_filter_map("real date", |(area, (y, m, d), seq)| {
                NaiveDate::from_ymd_opt(y, m, d)?;
                let digits = |v: &[u8]| v.iter().map(|d| char::from(b'0' + d)).collect::<String>();
                Some(format!(
                    "{}{y:04}{m:02}{d:02}{}",
                    digits(&area),
                    digits(&seq)
                ))
            })
    }

    fn credit_first17() -> impl Strategy<Value = String> {
        proptest::collection::vec(0usize..31, 17).prop_map(|v| {
            v.into_iter()
                .map(|i| CREDIT_CODE_CHARSET.as_bytes()[i] as char)
                .collect()
        })
    }

    proptest! {
        #[test]
        fn generated_id_numbers_parse(first in valid_first17()) {
            let check = IdNumber::expected_check_char(&first).unwrap();
            let s = format!("{first}{check}");
            let id = IdNumber::parse(&s).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn mutated_check_digit_fails(first in valid_first17(), k in 1usize..11) {
            let check = IdNumber::expected_check_char(&first).unwrap();
            let pos = ID_CHECK.iter().position(|&c| c as char == check).unwrap();
            let other = ID_CHECK[(pos + k) % 11] as char;
            let e = IdNumber::parse(&format!("{first}{other}")).unwrap_err();
            prop_assert_eq!(e.code, "id_number_checksum");
        }

        #[test]
        fn generated_credit_codes(first in credit_first17(), k in 1usize..31) {
            let check = CreditCode::expected_check_char(&first).unwrap();
            let good = CreditCode::parse(&format!("{first}{check}")).unwrap();
            prop_assert!(good.checksum_ok());
            let pos = CREDIT_CODE_CHARSET.chars().position(|c| c == check).unwrap();
            let other = CREDIT_CODE_CHARSET.as_bytes()[(pos + k) % 31] as char;
            let bad = CreditCode::parse(&format!("{first}{other}")).unwrap();
            prop_assert!(!bad.checksum_ok());
        }

        #[test]
        fn wrong_length_never_parses(s in "[0-9A-Za-z]{0,30}") {
            if s.len() != 18 {
                prop_assert!(IdNumber::parse(&s).is_err());
                prop_assert!(CreditCode::parse(&s).is_err());
            }
            if s.len() != 14 {
                prop_assert!(CandidateNo::parse(&s).is_err());
            }
            if s.len() != 11 {
                prop_assert!(Mobile::parse(&s).is_err());
            }
            if s.len() != 6 {
                prop_assert!(PostalCode::parse(&s).is_err());
                prop_assert!(RegionCode::parse(&s).is_err());
            }
            if s.len() != 5 {
                prop_assert!(SchoolCode::parse(&s).is_err());
            }
        }
    }
}
