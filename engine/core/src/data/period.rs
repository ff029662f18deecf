//! Time steps of a panel and the periods they cut the calendar into.

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// The length of one panel period. A period is named by its first day (`ds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Calendar days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters (January, April, July, October).
    Quarter,
}

impl Default for Frequency {
    /// A job's period when its spec names none.
    fn default() -> Self {
        Frequency::Month
    }
}

impl Frequency {
    /// All frequencies, shortest first.
    pub const ALL: [Frequency; 4] = [
        Frequency::Day,
        Frequency::Week,
        Frequency::Month,
        Frequency::Quarter,
    ];

    /// The first day of the period that contains `date`.
    pub fn period_start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Frequency::Day => date,
            Frequency::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Frequency::Month => date.with_day(1).unwrap_or(date),
            Frequency::Quarter => {
                let month0 = (date.month0() / 3) * 3;
                NaiveDate::from_ymd_opt(date.year(), month0 + 1, 1).unwrap_or(date)
            }
        }
    }

    /// The first day of the period after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Frequency::Day => start + Days::new(1),
            Frequency::Week => start + Days::new(7),
            Frequency::Month => start + Months::new(1),
            Frequency::Quarter => start + Months::new(3),
        }
    }

    /// Every period start from the period containing `first` to the one containing `last`.
    pub fn periods(self, first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let end = self.period_start(last);
        let mut p = self.period_start(first);
        while p <= end {
            out.push(p);
            p = self.next(p);
        }
        out
    }

    /// Periods in a year (the seasonal period): 365, 52, 12 or 4.
    pub fn periods_per_year(self) -> usize {
        match self {
            Frequency::Day => 365,
            Frequency::Week => 52,
            Frequency::Month => 12,
            Frequency::Quarter => 4,
        }
    }

    /// The name used in specs and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Day => "day",
            Frequency::Week => "week",
            Frequency::Month => "month",
            Frequency::Quarter => "quarter",
        }
    }
}

named_enum!(Frequency, "frequency");

/// A polars `Date` column from days since 1970-01-01 (null where `None`).
pub fn date_column(
    name: &str,
    days: Vec<Option<i32>>,
) -> Result<polars::prelude::Column, crate::EngineError> {
    use polars::prelude::{Column, DataType};
    Column::new(name.into(), days)
        .cast(&DataType::Date)
        .map_err(crate::EngineError::polars(format!("building column {name}")))
}

/// Days since 1970-01-01, as polars stores dates.
pub fn to_epoch_days(date: NaiveDate) -> i32 {
    let days = date.signed_duration_since(epoch()).num_days();
    i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
}

/// The date `days` days after 1970-01-01, if the calendar holds it (a polars date can be
/// about 5.8 million years away; chrono's calendar ends about 262,000 years away).
pub fn checked_from_epoch_days(days: i32) -> Option<NaiveDate> {
    let e = epoch();
    if days >= 0 {
        e.checked_add_days(Days::new(days as u64))
    } else {
        e.checked_sub_days(Days::new(u64::from(days.unsigned_abs())))
    }
}

/// The date `days` days after 1970-01-01, saturating at the calendar's first and last day
/// (ingest quarantines dates beyond them, so no accepted incident reaches either end).
pub fn from_epoch_days(days: i32) -> NaiveDate {
    checked_from_epoch_days(days).unwrap_or(if days < 0 { NaiveDate::MIN } else { NaiveDate::MAX })
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}
