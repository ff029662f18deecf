use crate::repo;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use vigil_core::data::ingest::{IngestOptions, ingest};
use vigil_core::data::mapping::SchemaMapping;
use vigil_core::data::panel::{PanelOptions, build_panel};
use vigil_core::{Frequency, Level};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn ged() -> vigil_core::data::ingest::Ingested {
    let mapping = SchemaMapping::load(&repo().join("data/schemas/ucdp_ged.toml")).unwrap();
    let opts = IngestOptions {
        as_of: date("2021-12-31"),
        extracted: None,
        label: "ged".into(),
    };
    ingest(&repo().join("data/ucdp_ged/ged_events.parquet"), &mapping, &opts).unwrap()
}

/// The shipped GED data's monthly panel at `level`, as of the extract's end.
fn ged_monthly(got: &vigil_core::data::ingest::Ingested, level: Level) -> vigil_core::data::panel::Panel {
    let opts = PanelOptions {
        level,
        frequency: Frequency::Month,
        start: None,
        as_of: date("2021-12-31"),
    };
    build_panel(&got.incidents, &opts).unwrap()
}

fn sum_i64(df: &DataFrame, name: &str) -> i64 {
    df.column(name)
        .unwrap()
        .as_materialized_series()
        .sum::<i64>()
        .unwrap()
}

/// Independent total: `best` over the whole source file, minus the quarantined rows' `best`.
fn source_fatalities_not_quarantined(quarantine: &DataFrame) -> i64 {
    let src = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&repo().join("data/ucdp_ged/ged_events.parquet")).unwrap(),
        ScanArgsParquet::default(),
    )
    .unwrap()
    .select([col("best").cast(DataType::Int64)])
    .collect()
    .unwrap();
    let best: Vec<i64> = src
        .column("best")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let bad: BTreeSet<i64> = quarantine
        .column("source_row")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    best.iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(&(*i as i64 + 1)))
        .map(|(_, b)| b)
        .sum()
}

#[test]
fn ged_panel_counts_every_accepted_event_once_at_every_level() {
    let got = ged();
    let q = &got.quality;
    let expected_fatalities = source_fatalities_not_quarantined(&got.quarantine);
    for level in Level::ALL {
        let panel = ged_monthly(&got, level);
        let events = sum_i64(&panel.frame, "events");
        assert_eq!(
            events as u64,
            q.rows_read - q.rows_quarantined - q.rows_excluded_after_as_of,
            "{level}: events = ingested − quarantined"
        );
        assert_eq!(
            sum_i64(&panel.frame, "fatalities_best"),
            expected_fatalities,
            "{level}: fatalities"
        );
        let cats: i64 = ["state_based", "non_state", "one_sided"]
            .iter()
            .map(|c| sum_i64(&panel.frame, &format!("events_{c}")))
            .sum();
        assert_eq!(cats, events, "{level}: category columns add up");
        assert!(
            panel.frame.columns().iter().all(|c| c.null_count() == 0),
            "{level}: no missing values"
        );
    }
}

#[test]
fn every_region_has_every_period_of_its_span() {
    let got = ged();
    let panel = ged_monthly(&got, Level::Admin1);
    let periods = Frequency::Month.periods(date(&panel.report.span_start), date("2021-12-31"));
    assert_eq!(periods.first().copied(), Some(date("1989-01-01")));
    assert_eq!(periods.last().copied(), Some(date("2021-12-01")));
    let ids = panel.frame.column("region_id").unwrap().str().unwrap().clone();
    let ds = panel.frame.column("ds").unwrap().cast(&DataType::Int32).unwrap();
    let ds = ds.i32().unwrap().clone();
    let mut by_region: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (r, d) in ids.iter().zip(ds.iter()) {
        by_region
            .entry(r.unwrap().to_string())
            .or_default()
            .push(d.unwrap());
    }
    let want: Vec<i32> = periods
        .iter()
        .map(|p| vigil_core::data::period::to_epoch_days(*p))
        .collect();
    assert_eq!(by_region.len() as u64, panel.report.regions);
    assert!(by_region.len() > 100, "GED admin1 regions: {}", by_region.len());
    for (region, got) in &by_region {
        assert_eq!(got, &want, "region {region}");
    }
    // A GED event with no adm_1 counts in its country's explicit unknown region.
    assert!(by_region.keys().any(|r| r.ends_with("/unknown")));
    assert_eq!(panel.regions.height(), by_region.len());
}

#[test]
fn a_configured_start_leaves_earlier_events_out_and_counts_them() {
    let got = ged();
    let opts = PanelOptions {
        level: Level::Country,
        frequency: Frequency::Quarter,
        start: Some(date("2010-02-15")),
        as_of: date("2021-12-31"),
    };
    let panel = build_panel(&got.incidents, &opts).unwrap();
    assert_eq!(panel.report.span_start, "2010-01-01");
    assert_eq!(panel.report.periods, 48);
    let events = sum_i64(&panel.frame, "events") as u64;
    assert_eq!(
        events + panel.report.incidents_before_start,
        got.quality.rows_accepted
    );
    assert!(panel.report.incidents_before_start > 0);
}

#[test]
fn periods_start_on_mondays_months_and_quarters() {
    assert_eq!(
        Frequency::Week.period_start(date("2021-12-31")),
        date("2021-12-27")
    );
    assert_eq!(
        Frequency::Month.period_start(date("2021-12-31")),
        date("2021-12-01")
    );
    assert_eq!(
        Frequency::Quarter.period_start(date("2021-08-15")),
        date("2021-07-01")
    );
    assert_eq!(
        Frequency::Day
            .periods(date("2020-02-27"), date("2020-03-01"))
            .len(),
        4,
        "leap year"
    );
    assert_eq!(
        Frequency::Week.periods(date("2021-01-01"), date("2021-01-11")),
        vec![date("2020-12-28"), date("2021-01-04"), date("2021-01-11")]
    );
}

/// `(region_id, ds) → (events, fatalities_best)` of a panel, with each region id mapped by `key`.
fn sums_by(df: &DataFrame, key: impl Fn(&str) -> String) -> Sums {
    let ids = df.column("region_id").unwrap().str().unwrap().clone();
    let ds = df.column("ds").unwrap().cast(&DataType::Int32).unwrap();
    let ds = ds.i32().unwrap().clone();
    let ev = df.column("events").unwrap().i64().unwrap().clone();
    let fat = df.column("fatalities_best").unwrap().i64().unwrap().clone();
    let mut out: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for i in 0..df.height() {
        let e = out
            .entry((key(ids.get(i).unwrap()), ds.get(i).unwrap()))
            .or_default();
        e.0 += ev.get(i).unwrap();
        e.1 += fat.get(i).unwrap();
    }
    out
}

type Sums = BTreeMap<(String, i32), (i64, i64)>;

/// The first few cells where two sum tables differ (empty when they agree).
fn differences(a: &Sums, b: &Sums) -> Vec<String> {
    let keys: BTreeSet<&(String, i32)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .take(5)
        .map(|k| format!("{k:?}: {:?} vs {:?}", a.get(k), b.get(k)))
        .collect()
}

#[test]
fn the_hierarchy_is_consistent_children_sum_to_their_parents_every_period() {
    let got = ged();
    let panel = |level| ged_monthly(&got, level).frame;
    let (country, admin1, admin2, grid) = (
        panel(Level::Country),
        panel(Level::Admin1),
        panel(Level::Admin2),
        panel(Level::Grid),
    );
    let parent = |id: &str| id.rsplit_once('/').map_or(id.to_string(), |(p, _)| p.to_string());
    let itself = |id: &str| id.to_string();
    // admin2 `cc/a1/a2` → admin1 `cc/a1` → country `cc`, for every region and month
    let a2_up = sums_by(&admin2, parent);
    let a1 = sums_by(&admin1, itself);
    assert_eq!(differences(&a2_up, &a1), Vec::<String>::new(), "admin2 → admin1");
    let a1_up = sums_by(&admin1, parent);
    let c = sums_by(&country, itself);
    assert_eq!(differences(&a1_up, &c), Vec::<String>::new(), "admin1 → country");
    assert!(c.len() >= 9 * 396, "{} country-months", c.len());
    // grid cells cross borders, so they are compared with the all-country total per month
    let all = |_: &str| String::from("all");
    let (g, t) = (sums_by(&grid, all), sums_by(&country, all));
    assert_eq!(differences(&g, &t), Vec::<String>::new(), "grid → total");
}

#[test]
fn global_model_features_do_not_leak_the_future_on_real_data() {
    use vigil_core::data::region::country_of;
    use vigil_core::data::series::region_series;
    use vigil_core::forecast::features::features_at;
    let got = ged();
    let panel = ged_monthly(&got, Level::Admin1);
    let series = region_series(&panel.frame, "fatalities_best").unwrap();
    let groups: Vec<String> = series.iter().map(|s| country_of(&s.region_id)).collect();
    let origin = 300;
    // Shift the future: every value after the origin becomes something else.
    let mut shifted = series.clone();
    for s in &mut shifted {
        for v in &mut s.y[origin + 1..] {
            *v = *v * 7.0 + 3.0;
        }
    }
    for t in (origin - 24)..=origin {
        for h in 1..=6 {
            assert_eq!(
                features_at(&series, &groups, t, h),
                features_at(&shifted, &groups, t, h),
                "origin {t}, horizon {h}"
            );
        }
    }
    // and the shift is visible one period later, so the test can fail
    assert_ne!(
        features_at(&series, &groups, origin + 1, 1),
        features_at(&shifted, &groups, origin + 1, 1)
    );
}

/// The aggregate of the incidents builds the same panel as the incidents, at every level: the
/// same counts, the same regions table and the same report. And aggregating chunks of the
/// incidents, then the chunks' aggregates together, gives the same aggregate.
#[test]
fn the_aggregated_incidents_build_the_same_panel_at_every_level() {
    use vigil_core::data::panel::{WEIGHT, aggregate_incidents};
    let got = ged();
    let agg = aggregate_incidents(&got.incidents, Frequency::Month).unwrap();
    assert!(agg.height() < got.incidents.height(), "{} rows", agg.height());
    assert_eq!(sum_i64(&agg, WEIGHT), got.incidents.height() as i64);
    for level in Level::ALL {
        let direct = ged_monthly(&got, level);
        let from_agg = ged_monthly(
            &vigil_core::data::ingest::Ingested {
                incidents: agg.clone(),
                quarantine: got.quarantine.clone(),
                quality: got.quality.clone(),
            },
            level,
        );
        assert!(direct.frame.equals_missing(&from_agg.frame), "{level}: panel");
        assert!(
            direct.regions.equals_missing(&from_agg.regions),
            "{level}: regions"
        );
        assert_eq!(
            format!("{:?}", direct.report),
            format!("{:?}", from_agg.report),
            "{level}: report"
        );
    }
    let half = got.incidents.height() / 2;
    let parts = vigil_core::data::ingest::combine(vec![
        aggregate_incidents(&got.incidents.slice(0, half), Frequency::Month).unwrap(),
        aggregate_incidents(&got.incidents.slice(half as i64, usize::MAX), Frequency::Month).unwrap(),
    ])
    .unwrap();
    let again = aggregate_incidents(&parts, Frequency::Month).unwrap();
    assert!(again.equals_missing(&agg), "chunks combine to the same aggregate");
}

/// Incidents with every key column's nulls and repeats, a few of them weighted rows: the
/// fixture of the running sum's tests.
fn mixed_incidents(rows: usize, seed: u64) -> DataFrame {
    let mut state = seed;
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    let pick = |v: u64, names: &[&str]| -> Option<String> {
        (v < names.len() as u64).then(|| names[v as usize].to_string())
    };
    let (mut cc, mut country, mut a1, mut a2, mut grid, mut cat) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut days, mut best, mut low, mut high) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rows {
        let c = next(3);
        cc.push(pick(c, &["AAA", "BBB", "CCC"]));
        country.push(pick(c, &["Alpha", "Beta", "Gamma"]));
        a1.push(pick(
            next(5),
            &["north", "south", "east", "a long admin-1 name of many bytes"],
        ));
        a2.push(pick(next(4), &["x", "y"]));
        grid.push((next(5) > 0).then(|| 100_000 + next(3) as i64));
        cat.push(pick(next(4), &["state-based", "non-state", "one-sided"]));
        days.push((next(20) > 0).then(|| 11_000 + next(120) as i32));
        let b = next(6) as i64;
        best.push((next(10) > 0).then_some(b));
        low.push(Some(b / 2));
        high.push((next(10) > 0).then_some(b * 2));
    }
    let date = Column::new("date_start".into(), days)
        .cast(&DataType::Date)
        .unwrap();
    DataFrame::new(
        rows,
        vec![
            Column::new(
                "incident_id".into(),
                (0..rows).map(|i| format!("id{i}")).collect::<Vec<_>>(),
            ),
            date.clone(),
            date.with_name("date_end".into()),
            Column::new("country_code".into(), cc),
            Column::new("country".into(), country),
            Column::new("admin1".into(), a1),
            Column::new("admin2".into(), a2),
            Column::new("grid_id".into(), grid),
            Column::new("category".into(), cat),
            Column::new("fatalities_best".into(), best),
            Column::new("fatalities_low".into(), low),
            Column::new("fatalities_high".into(), high),
        ],
    )
    .unwrap()
}

/// The running sum that ingest keeps gives the aggregate of all the incidents, whether it is
/// fed the incidents themselves or aggregates of them, in pieces of any size and order, with
/// the same columns and types as a chunk's aggregate; a sum that leaves 64 bits is an error.
#[test]
fn the_running_sum_equals_the_aggregate_of_every_incident() {
    use vigil_core::data::panel::{AggregateSum, WEIGHT, aggregate_chunk, aggregate_incidents};
    for frequency in [Frequency::Month, Frequency::Week, Frequency::Quarter] {
        let incidents = mixed_incidents(5_000, 7);
        let whole = aggregate_incidents(&incidents, frequency).unwrap();
        assert!(whole.height() > 500, "{} cells", whole.height());
        let most = whole.column(WEIGHT).unwrap().i64().unwrap().max().unwrap();
        assert!(
            most >= 3,
            "cells of at most {most} incidents: too few repeats to test summing"
        );

        let mut raw = AggregateSum::new();
        let mut of_aggregates = AggregateSum::new();
        let mut offset = 0;
        for len in [1, 0, 999, 1_700, 2_300] {
            let piece = incidents.slice(offset as i64, len);
            raw.add(&piece, frequency).unwrap();
            of_aggregates
                .add(&aggregate_chunk(&piece, frequency).unwrap(), frequency)
                .unwrap();
            offset += len;
        }
        assert_eq!(offset, incidents.height());
        assert_eq!(raw.len(), whole.height());
        for sum in [raw, of_aggregates] {
            let got = sum.finish().unwrap();
            assert_eq!(
                got.schema(),
                aggregate_chunk(&incidents, frequency).unwrap().schema()
            );
            assert_eq!(got.column(WEIGHT).unwrap().i64().unwrap().sum(), Some(5_000));
            // aggregate_incidents sorts, and summing a frame of distinct cells changes no value.
            let sorted = aggregate_incidents(&got, frequency).unwrap();
            assert!(sorted.equals_missing(&whole), "{frequency:?}:\n{sorted}\n{whole}");
        }
    }

    let mut sum = AggregateSum::new();
    let empty = mixed_incidents(0, 1);
    sum.add(&empty, Frequency::Month).unwrap();
    assert!(sum.is_empty());
    assert_eq!(
        sum.finish().unwrap().schema(),
        aggregate_chunk(&empty, Frequency::Month).unwrap().schema()
    );

    let mut huge = mixed_incidents(2, 3);
    for name in ["country_code", "country", "admin1", "admin2", "category"] {
        huge.replace(name, Column::new(name.into(), ["AAA", "AAA"]))
            .unwrap();
    }
    huge.replace("grid_id", Column::new("grid_id".into(), [1_i64, 1]))
        .unwrap();
    huge.replace(
        "date_start",
        Column::new("date_start".into(), [11_000_i32, 11_001])
            .cast(&DataType::Date)
            .unwrap(),
    )
    .unwrap();
    huge.replace(
        "fatalities_best",
        Column::new("fatalities_best".into(), [i64::MAX, 1]),
    )
    .unwrap();
    let err = AggregateSum::new()
        .add(&huge, Frequency::Month)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exceeds the 64-bit integer range"), "{err}");
}
