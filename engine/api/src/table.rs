//! Tables over HTTP: which run outputs are served, the filters and pages a request may ask for,
//! and the three formats (JSON, CSV, Parquet).

use super::ApiError;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeSet;
use vigil_core::Classification;
use vigil_core::output::catalogue;

/// The tables the API serves: (name in the URL, file in the run folder), from the outputs
/// catalogue. Event-level files (`incidents.parquet`, `quarantine.parquet`) are not served: they
/// stay in the run folder for the analysts who run the job; headquarters pulls aggregates.
pub(crate) fn tables() -> impl Iterator<Item = (&'static str, &'static str)> {
    catalogue::served().filter_map(|o| Some((o.table?, o.file)))
}

/// The file behind table `name`.
pub(crate) fn table_file(name: &str) -> Option<&'static str> {
    catalogue::by_table(name).map(|o| o.file)
}

/// Query parameters a table request may carry.
pub(crate) const PARAMS: [&str; 10] = [
    "region", "country", "level", "from", "to", "horizon", "model", "limit", "offset", "format",
];

/// Rows per page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 1000;

/// A response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/json`: `{…, "rows": [{column: value}]}`.
    Json,
    /// `text/csv` with a header line.
    Csv,
    /// `application/vnd.apache.parquet`, with the classification in its key-value metadata.
    Parquet,
}

impl Format {
    fn from_name(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    fn from_media(s: &str) -> Option<Format> {
        match s {
            "application/json" | "application/*" | "*/*" => Some(Format::Json),
            "text/csv" | "text/*" => Some(Format::Csv),
            "application/vnd.apache.parquet" | "application/x-parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// The format of a response: `?format=` wins; else the first media type of `Accept` that vigil
/// serves (no `Accept`: JSON); 406 when `Accept` names none of them.
pub(crate) fn negotiate(format: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(f) = format {
        return Format::from_name(f).ok_or_else(|| {
            ApiError::bad_request(format!("format '{f}' is not served: use json, csv or parquet"))
        });
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Format::Json);
    };
    let mut ranked: Vec<(f32, usize, Format)> = Vec::new();
    for (i, item) in accept.split(',').enumerate() {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(f) = Format::from_media(&media)
            && q > 0.0
        {
            ranked.push((q, i, f));
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|r| r.2).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_ACCEPTABLE,
            format!(
                "Accept: {accept} names no format served here: application/json, text/csv or application/vnd.apache.parquet"
            ),
        )
    })
}

/// What a table request asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TableQuery {
    /// Exact region ids (the parameter may repeat).
    pub regions: BTreeSet<String>,
    /// A country code.
    pub country: Option<String>,
    /// A level (`country`, `admin1`, `admin2`, `grid`).
    pub level: Option<String>,
    /// First and last period (inclusive).
    pub from: Option<NaiveDate>,
    /// Last period.
    pub to: Option<NaiveDate>,
    /// Horizon.
    pub horizon: Option<i64>,
    /// Model.
    pub model: Option<String>,
    /// Page size.
    pub limit: usize,
    /// Rows skipped.
    pub offset: usize,
    /// `?format=`.
    pub format: Option<String>,
}

/// A date parameter: `YYYY-MM-DD` or `YYYY-MM` (the month's first day).
fn parse_date(key: &str, v: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d"))
        .map_err(|_| format!("{key}: '{v}' is not a date (YYYY-MM-DD or YYYY-MM)"))
}

impl TableQuery {
    /// Parses the query pairs; every problem is reported at once. `allowed` lists the
    /// parameters this endpoint takes.
    pub fn parse(
        pairs: &[(String, String)],
        allowed: &[&str],
        max_limit: usize,
    ) -> Result<TableQuery, ApiError> {
        let mut q = TableQuery {
            limit: DEFAULT_LIMIT.min(max_limit),
            ..TableQuery::default()
        };
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        if pairs.len() > 64 {
            return Err(ApiError::bad_request(
                "too many query parameters (at most 64)".into(),
            ));
        }
        for (k, v) in pairs {
            if !allowed.contains(&k.as_str()) {
                problems.push(format!(
                    "unknown parameter '{k}': this endpoint takes {}",
                    allowed.join(", ")
                ));
                continue;
            }
            if k != "region" && !seen.insert(k.clone()) {
                problems.push(format!("'{k}' is given more than once"));
                continue;
            }
            let number = |max: usize| -> Result<usize, String> {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("{k}: '{v}' must be a whole number from 0 to {max}"))
            };
            let r: Result<(), String> = match k.as_str() {
                "region" => {
                    q.regions.insert(v.clone());
                    Ok(())
                }
                "country" => {
                    q.country = Some(v.clone());
                    Ok(())
                }
                "level" => {
                    if vigil_core::Level::ALL.iter().any(|l| l.to_string() == *v) {
                        q.level = Some(v.clone());
                        Ok(())
                    } else {
                        Err(format!("level: '{v}' must be country, admin1, admin2 or grid"))
                    }
                }
                "from" => parse_date(k, v).map(|d| q.from = Some(d)),
                "to" => parse_date(k, v).map(|d| q.to = Some(d)),
                "horizon" => v
                    .parse::<i64>()
                    .ok()
                    .filter(|h| *h >= 1)
                    .map(|h| q.horizon = Some(h))
                    .ok_or_else(|| format!("horizon: '{v}' must be a whole number ≥ 1")),
                "model" => {
                    q.model = Some(v.clone());
                    Ok(())
                }
                "limit" => number(max_limit).and_then(|n| {
                    if n == 0 {
                        Err(format!("limit: must be from 1 to {max_limit}"))
                    } else {
                        q.limit = n;
                        Ok(())
                    }
                }),
                "offset" => number(usize::MAX).map(|n| q.offset = n),
                "format" => {
                    q.format = Some(v.clone());
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(p) = r {
                problems.push(p);
            }
        }
        if let (Some(a), Some(b)) = (q.from, q.to)
            && a > b
        {
            problems.push(format!("from {a} is after to {b}"));
        }
        if problems.is_empty() {
            Ok(q)
        } else {
            Err(ApiError::bad_request(problems.join("; ")))
        }
    }

    /// The rows of `df` that pass the filters. A filter on a column the table does not have
    /// is a 400 that names the table's columns.
    pub fn filter(&self, table: &str, df: &DataFrame) -> Result<DataFrame, ApiError> {
        let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
        let has = |c: &str| names.iter().any(|n| n == c);
        let missing = |param: &str| {
            ApiError::bad_request(format!(
                "'{param}' does not apply to table {table} (its columns: {})",
                names.join(", ")
            ))
        };
        let mut keep = vec![true; df.height()];
        let fail = |e: PolarsError| ApiError::internal(format!("filtering {table}: {e}"));
        let texts = |c: &str| -> Result<Vec<Option<String>>, ApiError> {
            let col = df.column(c).map_err(fail)?;
            let s = col.str().map_err(fail)?;
            Ok(s.iter().map(|v| v.map(str::to_string)).collect())
        };
        let and = |keep: &mut Vec<bool>, pass: &dyn Fn(usize) -> bool| {
            for (i, k) in keep.iter_mut().enumerate() {
                *k = *k && pass(i);
            }
        };
        let regions = if has("region_id") {
            Some(texts("region_id")?)
        } else {
            None
        };
        if !self.regions.is_empty() {
            let ids = regions.as_ref().ok_or_else(|| missing("region"))?;
            and(&mut keep, &|i| {
                ids[i].as_ref().is_some_and(|r| self.regions.contains(r))
            });
        }
        if let Some(code) = &self.country {
            if has("country_code") {
                let codes = texts("country_code")?;
                and(&mut keep, &|i| codes[i].as_deref() == Some(code.as_str()));
            } else {
                let ids = regions.as_ref().ok_or_else(|| missing("country"))?;
                let prefix = format!("{code}/");
                and(&mut keep, &|i| {
                    ids[i]
                        .as_deref()
                        .is_some_and(|r| r == code || r.starts_with(&prefix))
                });
            }
        }
        if let Some(level) = &self.level {
            if has("level") {
                let levels = texts("level")?;
                and(&mut keep, &|i| levels[i].as_deref() == Some(level.as_str()));
            } else {
                let ids = regions.as_ref().ok_or_else(|| missing("level"))?;
                and(&mut keep, &|i| {
                    ids[i].as_deref().map(level_of_region) == Some(level.as_str())
                });
            }
        }
        if self.from.is_some() || self.to.is_some() {
            let column = ["ds", "step_start", "window_end"]
                .into_iter()
                .find(|c| has(c))
                .ok_or_else(|| missing(if self.from.is_some() { "from" } else { "to" }))?;
            let days = df
                .column(column)
                .and_then(|c| c.cast(&DataType::Int32))
                .map_err(fail)?;
            let days: Vec<Option<i32>> = days.i32().map_err(fail)?.iter().collect();
            let lo = self.from.map(epoch_days);
            let hi = self.to.map(epoch_days);
            and(&mut keep, &|i| {
                days[i].is_some_and(|d| lo.is_none_or(|lo| d >= lo) && hi.is_none_or(|hi| d <= hi))
            });
        }
        if let Some(h) = self.horizon {
            if !has("horizon") {
                return Err(missing("horizon"));
            }
            let hs = df
                .column("horizon")
                .and_then(|c| c.cast(&DataType::Int64))
                .map_err(fail)?;
            let hs: Vec<Option<i64>> = hs.i64().map_err(fail)?.iter().collect();
            and(&mut keep, &|i| hs[i] == Some(h));
        }
        if let Some(m) = &self.model {
            if !has("model") {
                return Err(missing("model"));
            }
            let models = texts("model")?;
            and(&mut keep, &|i| models[i].as_deref() == Some(m.as_str()));
        }
        if keep.iter().all(|k| *k) {
            return Ok(df.clone());
        }
        let mask = BooleanChunked::from_slice("keep".into(), &keep);
        df.filter(&mask).map_err(fail)
    }
}

/// Days since 1970-01-01 (polars' date encoding).
fn epoch_days(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((d - epoch).num_days()).unwrap_or(i32::MAX)
}

/// The level a region id names (the grammar of `vigil_core::data::region`).
pub(crate) fn level_of_region(id: &str) -> &'static str {
    vigil_core::data::region::level_of(id).as_str()
}

/// Where a page of a table came from, for its response.
pub(crate) struct PageMeta<'a> {
    /// The job.
    pub job: &'a str,
    /// The run.
    pub run_id: &'a str,
    /// The table's name.
    pub table: &'a str,
    /// Its classification.
    pub classification: Classification,
    /// Rows after filtering.
    pub total: usize,
    /// The query, for the next page's link.
    pub query: &'a TableQuery,
    /// The request's path and query pairs, for the next page's link.
    pub path: &'a str,
    /// The query pairs as sent.
    pub pairs: &'a [(String, String)],
}

impl PageMeta<'_> {
    /// The link to the next page, if there is one.
    fn next(&self) -> Option<String> {
        let next = self.query.offset.checked_add(self.query.limit)?;
        if next >= self.total {
            return None;
        }
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs.iter().filter(|(k, _)| k != "offset") {
            s.append_pair(k, v);
        }
        s.append_pair("offset", &next.to_string());
        Some(format!("{}?{}", self.path, s.finish()))
    }
}

/// One JSON value of a table cell (dates as `YYYY-MM-DD`, non-finite floats as null).
fn json_value(v: AnyValue<'_>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::String(s) => Value::String(s.to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::Int8(x) => x.into(),
        AnyValue::Int16(x) => x.into(),
        AnyValue::Int32(x) => x.into(),
        AnyValue::Int64(x) => x.into(),
        AnyValue::UInt8(x) => x.into(),
        AnyValue::UInt16(x) => x.into(),
        AnyValue::UInt32(x) => x.into(),
        AnyValue::UInt64(x) => x.into(),
        AnyValue::Float32(x) => serde_json::Number::from_f64(f64::from(x)).map_or(Value::Null, Value::Number),
        AnyValue::Float64(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        AnyValue::Date(d) => NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(d))))
            .map_or(Value::Null, |d| Value::String(d.to_string())),
        other => Value::String(other.to_string()),
    }
}

/// `v` as JSON text (strings and values always serialise).
fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A page of a table in `format`.
pub(crate) fn render(
    page: &mut DataFrame,
    format: Format,
    meta: &PageMeta<'_>,
) -> Result<Response, ApiError> {
    let fail = |e: PolarsError| ApiError::internal(format!("writing {}: {e}", meta.table));
    let body: Vec<u8> = match format {
        Format::Json => {
            let names: Vec<String> = page.get_column_names().iter().map(|s| s.to_string()).collect();
            let doc = serde_json::json!({
                "job": meta.job,
                "run_id": meta.run_id,
                "table": meta.table,
                "classification": meta.classification,
                "total": meta.total,
                "offset": meta.query.offset,
                "limit": meta.query.limit,
                "returned": page.height(),
                "next": meta.next(),
                "columns": names,
            });
            // Rows are written by hand so that each object keeps the table's column order
            // (serde_json's maps sort their keys).
            let mut text = serde_json::to_string(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
            text.pop();
            text.push_str(",\"rows\":[");
            let keys: Vec<String> = names.iter().map(json_text).collect();
            for i in 0..page.height() {
                if i > 0 {
                    text.push(',');
                }
                text.push('{');
                for (j, col) in page.columns().iter().enumerate() {
                    if j > 0 {
                        text.push(',');
                    }
                    text.push_str(&keys[j]);
                    text.push(':');
                    text.push_str(&json_text(&json_value(col.get(i).map_err(fail)?)));
                }
                text.push('}');
            }
            text.push_str("]}");
            text.into_bytes()
        }
        Format::Csv => {
            let mut buf = Vec::new();
            CsvWriter::new(&mut buf).finish(page).map_err(fail)?;
            buf
        }
        Format::Parquet => {
            let mut buf = Vec::new();
            vigil_core::output::write_parquet_to(
                &mut buf,
                page,
                meta.classification,
                meta.run_id,
                &format!("{} (API)", meta.table),
            )?;
            buf
        }
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    super::mark(h, meta.classification);
    if let Ok(v) = HeaderValue::from_str(&meta.total.to_string()) {
        h.insert("x-total-count", v);
    }
    if let Some(next) = meta.next()
        && let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        h.insert(header::LINK, v);
    }
    if format == Format::Parquet
        && let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{}-{}.parquet\"",
            meta.run_id, meta.table
        ))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_bad_parameter_is_named_at_once() {
        let err = TableQuery::parse(
            &pairs(&[
                ("regoin", "x"),
                ("limit", "0"),
                ("from", "2021-13"),
                ("level", "city"),
            ]),
            &PARAMS,
            100,
        )
        .unwrap_err();
        for part in [
            "unknown parameter 'regoin'",
            "limit",
            "from: '2021-13'",
            "level: 'city'",
        ] {
            assert!(err.message.contains(part), "{part} not in {}", err.message);
        }
        let q = TableQuery::parse(
            &pairs(&[
                ("region", "a"),
                ("region", "b"),
                ("from", "2021-06"),
                ("limit", "5"),
            ]),
            &PARAMS,
            100,
        )
        .unwrap();
        assert_eq!(q.regions.len(), 2);
        assert_eq!(q.from, NaiveDate::from_ymd_opt(2021, 6, 1));
        assert_eq!(q.limit, 5);
        assert!(TableQuery::parse(&pairs(&[("limit", "101")]), &PARAMS, 100).is_err());
    }

    #[test]
    fn accept_picks_the_best_served_format() {
        let with = |a: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
            h
        };
        assert_eq!(negotiate(None, &HeaderMap::new()).unwrap(), Format::Json);
        assert_eq!(negotiate(None, &with("text/csv")).unwrap(), Format::Csv);
        assert_eq!(
            negotiate(None, &with("text/csv;q=0.5, application/vnd.apache.parquet")).unwrap(),
            Format::Parquet
        );
        assert_eq!(
            negotiate(Some("csv"), &with("application/json")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            negotiate(None, &with("image/png")).unwrap_err().status.as_u16(),
            406
        );
        assert_eq!(
            negotiate(Some("xml"), &HeaderMap::new())
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
    }

    #[test]
    fn filters_keep_only_matching_rows_and_refuse_missing_columns() {
        let df = df!(
            "region_id" => ["484/Guerrero", "484/Oaxaca", "432/Gao", "484"],
            "horizon" => [1i32, 2, 1, 1],
        )
        .unwrap();
        let q = |p: &[(&str, &str)]| TableQuery::parse(&pairs(p), &PARAMS, 100).unwrap();
        let got = q(&[("country", "484"), ("horizon", "1")])
            .filter("t", &df)
            .unwrap();
        let ids: Vec<_> = got
            .column("region_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .map(str::to_string)
            .collect();
        assert_eq!(ids, ["484/Guerrero", "484"]);
        let got = q(&[("level", "admin1")]).filter("t", &df).unwrap();
        assert_eq!(got.height(), 3);
        let err = q(&[("model", "naive")]).filter("t", &df).unwrap_err();
        assert!(
            err.message.contains("'model' does not apply to table t"),
            "{}",
            err.message
        );
        assert_eq!(level_of_region("pg1234"), "grid");
        // an incident with no cell has a grid-level id under its country, not an admin-1 one
        assert_eq!(level_of_region("484/pg-unknown"), "grid");
        assert_eq!(level_of_region("484/Guerrero/Acapulco"), "admin2");
    }
}
