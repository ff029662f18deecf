use crate::repo;
use chrono::NaiveDate;
use polars::prelude::*;
use std::collections::BTreeMap;
use vigil_core::data::ingest::{IngestOptions, ingest, prio_grid_id};
use vigil_core::data::mapping::SchemaMapping;

fn fixture(name: &str) -> std::path::PathBuf {
    repo().join("engine/core/tests/fixtures").join(name)
}

fn opts(as_of: &str) -> IngestOptions {
    IngestOptions {
        as_of: NaiveDate::parse_from_str(as_of, "%Y-%m-%d").expect("date"),
        extracted: None,
        label: "bad_incidents.csv".into(),
    }
}

#[test]
fn every_bad_row_is_quarantined_with_its_own_rule_and_row_number() {
    let mapping = SchemaMapping::load(&fixture("test_export.toml")).expect("mapping");
    let got = ingest(&fixture("bad_incidents.csv"), &mapping, &opts("2021-12-31")).expect("ingest");

    let q = &got.quarantine;
    let rows = q.column("source_row").unwrap().i64().unwrap().clone();
    let rules = q.column("rule").unwrap().str().unwrap().clone();
    let found: BTreeMap<i64, String> = rows
        .iter()
        .zip(rules.iter())
        .map(|(r, x)| (r.unwrap(), x.unwrap().to_string()))
        .collect();
    let expected: BTreeMap<i64, &str> = [
        (3, "missing_required_field"),
        (4, "unparsable_date"),
        (5, "date_after_as_of"),
        (6, "date_end_before_start"),
        (7, "negative_count"),
        (8, "non_integer_count"),
        (9, "coordinates_out_of_range"),
        (10, "coordinates_incomplete"),
        (11, "grid_id_mismatch"),
        (12, "duplicate_incident_id"),
        (13, "unknown_category"),
        (14, "unparsable_number"),
        (15, "missing_required_field"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        found.len(),
        q.height(),
        "each bad row breaks exactly one rule: {q}"
    );
    for (row, rule) in &expected {
        assert_eq!(
            found.get(row).map(String::as_str),
            Some(*rule),
            "source row {row}"
        );
    }
    assert_eq!(found.len(), expected.len());
    let distinct: std::collections::BTreeSet<_> = expected.values().collect();
    assert!(distinct.len() >= 10, "at least 10 different rules are exercised");

    // Messages say what is wrong with the value.
    let messages: Vec<String> = q
        .column("message")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|m| m.unwrap().to_string())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("'yesterday'") && m.contains("reported_at")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("already used by source row 1")),
        "{messages:?}"
    );

    // The good rows are all accepted; the rest are accounted for.
    let ids: Vec<String> = got
        .incidents
        .column("incident_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["T-001", "T-002", "T-016", "T-017"]);
    assert_eq!(got.quality.rows_read, 17);
    assert_eq!(got.quality.rows_quarantined, 13);
    assert_eq!(got.quality.rows_accepted, 4);
    assert_eq!(got.quality.rules.values().sum::<u64>(), 13);
    assert_eq!(got.quality.warnings.get("best_outside_low_high"), Some(&1));
    assert_eq!(
        got.quality.warning_examples.get("best_outside_low_high"),
        Some(&vec![16])
    );
}

#[test]
fn accepted_rows_are_canonical() {
    let mapping = SchemaMapping::load(&fixture("test_export.toml")).expect("mapping");
    let got = ingest(&fixture("bad_incidents.csv"), &mapping, &opts("2021-12-31")).expect("ingest");
    let df = &got.incidents;
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    let mut expected: Vec<&str> = vigil_core::data::ingest::canonical_schema()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    expected.push("mission");
    assert_eq!(names, expected);
    assert!(!names.contains(&"source_name"), "personal column never read");
    // date_end defaults to date_start, low/high keep their own values, the category is recoded.
    let row = df.slice(1, 1);
    assert_eq!(
        row.column("date_end").unwrap().get(0).unwrap().to_string(),
        "2020-02-17"
    );
    assert_eq!(
        row.column("category").unwrap().str().unwrap().get(0),
        Some("explosive_device")
    );
    // The location with a comma, quotes and a newline survives intact.
    let loc = df
        .column("admin2")
        .unwrap()
        .str()
        .unwrap()
        .get(3)
        .unwrap()
        .to_string();
    assert_eq!(loc, "Timbuktu, \"old town\"\nquarter");
}

#[test]
fn rows_after_a_retrospective_as_of_are_excluded_and_counted_not_quarantined() {
    let mapping = SchemaMapping::load(&fixture("test_export.toml")).expect("mapping");
    let mut o = opts("2020-03-31");
    o.extracted = NaiveDate::from_ymd_opt(2021, 12, 31);
    let got = ingest(&fixture("bad_incidents.csv"), &mapping, &o).expect("ingest");
    assert_eq!(
        got.quality.rows_excluded_after_as_of, 2,
        "T-016 (April) and T-017 (May)"
    );
    assert_eq!(got.quality.rows_accepted, 2);
    assert_eq!(got.quality.rows_quarantined, 13);
}

#[test]
fn ged_is_read_with_no_grid_mismatch_and_its_low_high_quirk_kept() {
    let mapping = SchemaMapping::load(&repo().join("data/schemas/ucdp_ged.toml")).expect("mapping");
    let got = ingest(
        &repo().join("data/ucdp_ged/ged_events.parquet"),
        &mapping,
        &opts("2021-12-31"),
    )
    .expect("ingest");
    assert_eq!(got.quality.rows_read, 21_575);
    assert!(
        !got.quality.rules.contains_key("grid_id_mismatch"),
        "PRIO-GRID formula agrees with every GED row"
    );
    // ~1% of GED rows have best outside [low, high]: warned and kept.
    let warned = got
        .quality
        .warnings
        .get("best_outside_low_high")
        .copied()
        .unwrap_or(0);
    assert!(warned > 50 && warned < 1000, "{warned}");
}

#[test]
fn prio_grid_ids_follow_the_published_formula() {
    assert_eq!(prio_grid_id(-90.0, -180.0), 1);
    assert_eq!(prio_grid_id(-89.9, -179.4), 2);
    assert_eq!(prio_grid_id(16.27, -0.04), 153_000);
    assert_eq!(
        prio_grid_id(90.0, 180.0),
        259_200,
        "the pole and the antimeridian fall in the last cell"
    );
}

#[test]
fn a_mapping_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
name = "bad"
source_dataset = "x"
categories = ["a"]
personal = ["who"]
extras = ["who"]
[fields]
incident_id = { from = "id", constant = "1" }
date_start = { from = "when", recode = { "x" = "y" } }
colour = { from = "c" }
category = { from = "who" }
"#,
    )
    .unwrap();
    let err = SchemaMapping::load(&path).unwrap_err().to_string();
    for needle in [
        "fields.incident_id: give exactly one",
        "fields.date_start: `recode` is only for text fields",
        "fields.colour: not a canonical field",
        "fields.category: column 'who' is declared personal",
        "fields.country_code: required canonical field is not mapped",
        "fields.fatalities_best: required canonical field is not mapped",
        "extras: column 'who' is declared personal",
    ] {
        assert!(err.contains(needle), "missing '{needle}' in:\n{err}");
    }
}

#[test]
fn a_missing_column_names_the_file_the_mapping_and_what_the_file_has() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "incident_id,reported_at\n1,01/01/2020\n").unwrap();
    let mapping = SchemaMapping::load(&fixture("test_export.toml")).expect("mapping");
    let err = ingest(&csv, &mapping, &opts("2021-12-31"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.csv") && err.contains("test_export.toml") && err.contains("ended_at"),
        "{err}"
    );
    assert!(err.contains("it has: incident_id, reported_at"), "{err}");
}

#[test]
fn gzip_csv_and_arrow_ipc_read_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = SchemaMapping::load(&fixture("test_export.toml")).expect("mapping");
    let plain = ingest(&fixture("bad_incidents.csv"), &mapping, &opts("2021-12-31")).expect("csv");
    // gzip
    let gz = dir.path().join("bad.csv.gz");
    let bytes = std::fs::read(fixture("bad_incidents.csv")).unwrap();
    let mut enc = flate2_writer(&gz);
    std::io::Write::write_all(&mut enc, &bytes).unwrap();
    enc.finish().unwrap();
    let zipped = ingest(&gz, &mapping, &opts("2021-12-31")).expect("csv.gz");
    assert!(zipped.incidents.equals_missing(&plain.incidents));
    assert!(zipped.quarantine.equals_missing(&plain.quarantine));
    // Arrow IPC, all columns as text as a CSV export would have them.
    let mut df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(fixture("bad_incidents.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let ipc = dir.path().join("bad.arrow");
    IpcWriter::new(std::fs::File::create(&ipc).unwrap())
        .finish(&mut df)
        .unwrap();
    let from_ipc = ingest(&ipc, &mapping, &opts("2021-12-31")).expect("ipc");
    assert!(from_ipc.incidents.equals_missing(&plain.incidents));
}

fn flate2_writer(path: &std::path::Path) -> flate2::write::GzEncoder<std::fs::File> {
    flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    )
}

/// Ingesting in chunks gives what ingesting whole gives, cut into pieces: the bad CSV (a
/// duplicate id whose first use sits in an earlier chunk among its 13 bad rows) in chunks of 3
/// rows, and the real GED parquet with one id planted twice, three chunks apart.
#[test]
fn chunked_ingest_accepts_quarantines_and_counts_exactly_as_whole_ingest() {
    use vigil_core::data::ingest::{combine, ingest_chunked};
    let check = |path: &std::path::Path, mapping: &SchemaMapping, chunk: usize| {
        let whole = ingest(path, mapping, &opts("2021-12-31")).expect("whole");
        let mut pieces = Vec::new();
        let (quarantine, quality) = ingest_chunked(path, mapping, &opts("2021-12-31"), chunk, &mut |df| {
            pieces.push(df);
            Ok(())
        })
        .expect("chunked");
        assert!(pieces.len() > 2, "{} chunks", pieces.len());
        let chunked = combine(pieces).expect("combine");
        assert!(chunked.equals_missing(&whole.incidents), "{path:?}: incidents");
        assert!(
            quarantine.equals_missing(&whole.quarantine),
            "{path:?}: quarantine"
        );
        assert_eq!(quality, whole.quality, "{path:?}: quality");
        whole
    };
    let mapping = SchemaMapping::load(&fixture("test_export.toml")).expect("mapping");
    let got = check(&fixture("bad_incidents.csv"), &mapping, 3);
    assert_eq!(got.quality.rules.get("duplicate_incident_id"), Some(&1));

    // GED with the first event's id given to a row 12,000 rows later.
    let ged = SchemaMapping::load(&repo().join("data/schemas/ucdp_ged.toml")).expect("mapping");
    let mut df =
        ParquetReader::new(std::fs::File::open(repo().join("data/ucdp_ged/ged_events.parquet")).unwrap())
            .finish()
            .unwrap();
    let first = df.column("id").unwrap().i64().unwrap().get(0).unwrap();
    let ids: Vec<i64> = df
        .column("id")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, v)| if i == 12_000 { first } else { v.unwrap() })
        .collect();
    df.with_column(Column::new("id".into(), ids)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ged_with_duplicate.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let got = check(&path, &ged, 4_000);
    let q = &got.quarantine;
    assert_eq!(q.height(), 1);
    assert_eq!(
        q.column("source_row").unwrap().i64().unwrap().get(0),
        Some(12_001)
    );
    let message = q
        .column("message")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert!(message.contains("already used by source row 1"), "{message}");

    // A job ingested in chunks of 4,000 rows keeps only their running sum (summed again as it
    // grows): the same aggregate as summing the whole ingest at once, cell for cell.
    use vigil_core::data::ingest::{JobInput, ingest_job};
    use vigil_core::data::panel::{WEIGHT, aggregate_incidents};
    let inputs = [JobInput {
        path: &path,
        mapping: &ged,
        options: opts("2021-12-31"),
    }];
    let job = ingest_job(&inputs, vigil_core::Frequency::Month, 4_000, None).expect("job");
    let expected = aggregate_incidents(&got.incidents, vigil_core::Frequency::Month).expect("whole sum");
    let summed = aggregate_incidents(&job.aggregated, vigil_core::Frequency::Month).expect("chunked sum");
    assert!(expected.height() > 1_000, "{} cells", expected.height());
    assert!(
        summed.equals_missing(&expected),
        "chunked aggregate differs:\n{summed}\n{expected}"
    );
    assert_eq!(
        job.aggregated.column(WEIGHT).unwrap().i64().unwrap().sum(),
        Some(got.incidents.height() as i64)
    );
    assert_eq!(job.accepted, got.incidents.height() as u64);
}

/// Writes `df` to `path` as parquet, with the day numbers of `dates` as date columns.
fn as_parquet(df: &mut DataFrame, dates: &[&str], path: &std::path::Path) -> std::path::PathBuf {
    for name in dates {
        df.with_column(df.column(name).unwrap().cast(&DataType::Date).unwrap())
            .unwrap();
    }
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(df)
        .unwrap();
    path.to_path_buf()
}

/// Text kept as the source has it is passed on without copying, and the first value that is
/// trimmed, emptied or taken from another field switches its column to copies: every accepted
/// row keeps its own value either way, including the rows before the switch, rows after a
/// quarantined one, and long values (stored apart from the 12 bytes arrow keeps inline).
#[test]
fn accepted_text_is_the_source_text_trimmed_whether_kept_or_copied() {
    use vigil_core::data::ingest::{combine, ingest_chunked};
    let long = "Province of the Northern Lakes";
    let days: Vec<i32> = (0..6).map(|d| 18_262 + d).collect(); // 2020-01-01 onwards
    let mut df = df!(
        "incident_id" => ["a", "b", "c", "d", " e ", "f"],
        "date_start" => days,
        "date_end" => ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05", "2020-01-06"],
        "country_code" => ["ML"; 6],
        "country" => [Some("Mali"), Some("Mali"), Some("Mali"), Some(""), Some("Mali"), None],
        "admin1" => [long, long, long, &format!("  {long} "), long, "Gao"],
        "admin2" => [Some("x"), None, Some("y"), Some("z"), Some("   "), Some("w")],
        "latitude" => [15.0; 6],
        "longitude" => [-1.0; 6],
        "grid_id" => [Option::<i64>::None; 6],
        "category" => [Some("state_based"), Some("non_state"), None, Some("one_sided"), Some("state_based"), Some("non_state")],
        "subcategory" => [Option::<&str>::None; 6],
        "fatalities_best" => [1i64, 2, 3, 4, 5, 6],
        "fatalities_low" => [1i64, 2, 3, 4, 5, 6],
        "fatalities_high" => [1i64, 2, 3, 4, 5, 6],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = as_parquet(&mut df, &["date_start"], &dir.path().join("text.parquet"));
    // empty country names are filled from the code (a value that is not the source's own)
    let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml"))
        .unwrap()
        .replace(
            r#"country = { from = "country" }"#,
            r#"country = { from = "country", fallback = "country_code" }"#,
        );
    std::fs::write(dir.path().join("mapping.toml"), text).unwrap();
    let mapping = SchemaMapping::load(&dir.path().join("mapping.toml")).expect("mapping");
    let whole = ingest(&path, &mapping, &opts("2021-12-31")).expect("ingest");
    let got = &whole.incidents;
    let text = |name: &str| -> Vec<Option<String>> {
        got.column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    let some = |v: &[&str]| -> Vec<Option<String>> { v.iter().map(|s| Some(s.to_string())).collect() };
    // Row c has no category: quarantined, the others accepted.
    assert_eq!(whole.quality.rows_quarantined, 1);
    assert_eq!(text("incident_id"), some(&["a", "b", "d", "e", "f"]));
    assert_eq!(text("country"), some(&["Mali", "Mali", "ML", "Mali", "ML"]));
    assert_eq!(text("admin1"), some(&[long, long, long, long, "Gao"]));
    assert_eq!(
        text("admin2"),
        vec![Some("x".into()), None, Some("z".into()), None, Some("w".into())]
    );
    assert_eq!(
        text("category"),
        some(&[
            "state_based",
            "non_state",
            "one_sided",
            "state_based",
            "non_state"
        ])
    );
    assert_eq!(text("subcategory"), vec![None; 5]);
    let starts: Vec<String> = got
        .column("date_start")
        .unwrap()
        .date()
        .unwrap()
        .as_date_iter()
        .map(|d| d.unwrap().to_string())
        .collect();
    assert_eq!(
        starts,
        [
            "2020-01-01",
            "2020-01-02",
            "2020-01-04",
            "2020-01-05",
            "2020-01-06"
        ]
    );
    // In chunks of two rows, each chunk switching (or not) on its own.
    let mut pieces = Vec::new();
    ingest_chunked(&path, &mapping, &opts("2021-12-31"), 2, &mut |df| {
        pieces.push(df);
        Ok(())
    })
    .expect("chunked");
    assert!(combine(pieces).unwrap().equals_missing(got));
}

/// A date column can hold days far beyond any calendar date the rest of the run can handle:
/// such a row is quarantined as an unparsable date, with the value in the message, instead of
/// being accepted and stopping the run when its period is computed.
#[test]
fn a_date_beyond_the_calendar_is_quarantined_not_accepted() {
    let mut df = df!(
        "incident_id" => ["a", "b", "c"],
        "date_start" => [18_262i32, i32::MIN, 18_263],
        "date_end" => [18_262i32, 18_263, i32::MAX],
        "country_code" => ["ML"; 3],
        "country" => ["Mali"; 3],
        "admin1" => ["Gao"; 3],
        "admin2" => [Option::<&str>::None; 3],
        "latitude" => [15.0; 3],
        "longitude" => [-1.0; 3],
        "grid_id" => [Option::<i64>::None; 3],
        "category" => ["state_based"; 3],
        "subcategory" => [Option::<&str>::None; 3],
        "fatalities_best" => [1i64; 3],
        "fatalities_low" => [1i64; 3],
        "fatalities_high" => [1i64; 3],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = as_parquet(
        &mut df,
        &["date_start", "date_end"],
        &dir.path().join("far.parquet"),
    );
    let mapping = SchemaMapping::load(&repo().join("data/schemas/canonical.toml")).expect("mapping");
    let got = ingest(&path, &mapping, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.rows_accepted, 1);
    assert_eq!(got.quality.rules.get("unparsable_date"), Some(&2));
    let q = &got.quarantine;
    let rows: Vec<Option<i64>> = q.column("source_row").unwrap().i64().unwrap().iter().collect();
    assert_eq!(rows, [Some(2), Some(3)]);
    let messages: Vec<&str> = q
        .column("message")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert!(
        messages[0].starts_with(
            "date_start: -2147483648 days from 1970-01-01 in column 'date_start' is outside the calendar"
        ),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("date_end: 2147483647 days from 1970-01-01"),
        "{messages:?}"
    );
}

/// A canonical-schema CSV of one incident per `date_start`, and the canonical mapping with
/// `extra` added to date_start's field (e.g. `, lenient = true`).
fn canonical_csv(dir: &std::path::Path, dates: &[&str], extra: &str) -> (std::path::PathBuf, SchemaMapping) {
    let mut csv = format!(
        "{CANONICAL_HEADER}
"
    );
    for (i, d) in dates.iter().enumerate() {
        csv.push_str(&format!(
            "e{i},{d},,484,Mexico,Guerrero,,17.5,-99.5,,state_based,,1,1,1\n"
        ));
    }
    let data = dir.join("dates.csv");
    std::fs::write(&data, csv).unwrap();
    let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml")).unwrap();
    let text = text.replace(
        r#"date_start = { from = "date_start", formats = ["%Y-%m-%d"] }"#,
        &format!(r#"date_start = {{ from = "date_start", formats = ["%Y-%m-%d", "%d %B %Y"]{extra} }}"#),
    );
    let path = dir.join("mapping.toml");
    std::fs::write(&path, text).unwrap();
    (data, SchemaMapping::load(&path).expect("mapping"))
}

#[test]
fn a_date_not_written_as_its_format_writes_it_is_quarantined_unless_the_mapping_is_lenient() {
    let dir = tempfile::tempdir().unwrap();
    // padded ISO; non-padded month and day; a month name in another case; a non-padded day
    let dates = ["2021-03-05", "2021-3-5", "05 march 2021", "5 March 2021"];
    let (data, strict) = canonical_csv(dir.path(), &dates, "");
    let got = ingest(&data, &strict, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.rows_accepted, 2, "{:?}", got.quality);
    assert_eq!(got.quality.rules.get("unparsable_date"), Some(&2));
    let q = &got.quarantine;
    let rows: Vec<Option<i64>> = q.column("source_row").unwrap().i64().unwrap().iter().collect();
    assert_eq!(rows, [Some(2), Some(4)]);
    let message = q
        .column("message")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert!(
        message.starts_with(
            "date_start: '2021-3-5' in column 'date_start' is not written as the format \"%Y-%m-%d\" writes dates"
        ) && message.contains("lenient = true"),
        "{message}"
    );

    let (data, lenient) = canonical_csv(dir.path(), &dates, ", lenient = true");
    let got = ingest(&data, &lenient, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.rows_accepted, 4);
    assert_eq!(got.quality.warnings.get("lenient_date"), Some(&2));
    let days: Vec<Option<i32>> = got
        .incidents
        .column("date_start")
        .unwrap()
        .cast(&DataType::Int32)
        .unwrap()
        .i32()
        .unwrap()
        .iter()
        .collect();
    let march_5 = (NaiveDate::from_ymd_opt(2021, 3, 5).unwrap()
        - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32;
    assert_eq!(days, [Some(march_5); 4]);
}

#[test]
fn lenient_is_refused_on_a_field_that_is_not_a_date() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml"))
        .unwrap()
        .replace(
            r#"country = { from = "country" }"#,
            r#"country = { from = "country", lenient = true }"#,
        );
    let path = dir.path().join("mapping.toml");
    std::fs::write(&path, text).unwrap();
    let err = SchemaMapping::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("fields.country: `lenient` is only for date fields"),
        "{err}"
    );
}

#[test]
fn dates_and_counts_outside_their_plausible_ranges_are_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = format!(
        "{CANONICAL_HEADER}
"
    );
    for (id, date, best) in [
        ("ok", "2021-03-05", "3"),
        ("year-one", "0001-03-05", "3"),
        ("huge", "2021-03-05", "1099511627776"),
        ("before-ged", "1988-12-31", "3"),
    ] {
        csv.push_str(&format!(
            "{id},{date},,484,Mexico,Guerrero,,17.5,-99.5,,state_based,,{best},,\n"
        ));
    }
    let data = dir.path().join("ranges.csv");
    std::fs::write(&data, csv).unwrap();
    let load = |date_extra: &str, count_extra: &str| {
        let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml"))
            .unwrap()
            .replace(
                r#"date_start = { from = "date_start", formats = ["%Y-%m-%d"] }"#,
                &format!(r#"date_start = {{ from = "date_start", formats = ["%Y-%m-%d"]{date_extra} }}"#),
            )
            .replace(
                r#"fatalities_best = { from = "fatalities_best" }"#,
                &format!(r#"fatalities_best = {{ from = "fatalities_best"{count_extra} }}"#),
            );
        let path = dir.path().join("mapping.toml");
        std::fs::write(&path, text).unwrap();
        SchemaMapping::load(&path).expect("mapping")
    };
    let rules = |m: &SchemaMapping| -> Vec<(i64, String)> {
        let got = ingest(&data, m, &opts("2021-12-31")).expect("ingest");
        let q = &got.quarantine;
        let rows = q.column("source_row").unwrap().i64().unwrap().clone();
        let rules = q.column("rule").unwrap().str().unwrap().clone();
        rows.iter()
            .zip(rules.iter())
            .map(|(r, x)| (r.unwrap(), x.unwrap().to_string()))
            .collect()
    };
    // the defaults: nothing before 1900, no count above ten million
    assert_eq!(
        rules(&load("", "")),
        [
            (2, "date_out_of_range".to_string()),
            (3, "count_out_of_range".to_string())
        ]
    );
    // declared: GED's start, and a maximum of 2 deaths
    assert_eq!(
        rules(&load(r#", earliest = "1989-01-01""#, ", max = 2")),
        [
            (1, "count_out_of_range".to_string()),
            (2, "date_out_of_range".to_string()),
            (2, "count_out_of_range".to_string()),
            (3, "count_out_of_range".to_string()),
            (4, "date_out_of_range".to_string()),
            (4, "count_out_of_range".to_string()),
        ]
    );
    let got = ingest(&data, &load("", ""), &opts("2021-12-31")).expect("ingest");
    let messages: Vec<String> = got
        .quarantine
        .column("message")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|m| m.unwrap().to_string())
        .collect();
    assert!(
        messages[0].starts_with(
            "date_start: 0001-03-05 in column 'date_start' is before the earliest plausible date, 1900-01-01"
        ),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("fatalities_best: 1099511627776 (column fatalities_best) is above the largest plausible count, 10000000"),
        "{messages:?}"
    );
}

#[test]
fn plausible_ranges_are_checked_when_the_mapping_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml"))
        .unwrap()
        .replace(
            r#"country = { from = "country" }"#,
            r#"country = { from = "country", max = 3 }"#,
        )
        .replace(
            r#"date_end = { from = "date_end", formats = ["%Y-%m-%d"] }"#,
            r#"date_end = { from = "date_end", formats = ["%Y-%m-%d"], earliest = "1989" }"#,
        )
        .replace(
            r#"fatalities_low = { from = "fatalities_low" }"#,
            r#"fatalities_low = { from = "fatalities_low", max = 0 }"#,
        );
    let path = dir.path().join("mapping.toml");
    std::fs::write(&path, text).unwrap();
    let err = SchemaMapping::load(&path).unwrap_err().to_string();
    for want in [
        "fields.country: `max` is only for count fields",
        "fields.date_end: earliest = '1989' is not a date: write it as YYYY-MM-DD",
        "fields.fatalities_low: max = 0 must be at least 1",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
}

#[test]
fn an_empty_country_is_quarantined_unless_the_mapping_declares_its_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = format!(
        "{CANONICAL_HEADER}
"
    );
    for (id, country) in [("named", "Mexico"), ("empty", ""), ("blank", "   ")] {
        csv.push_str(&format!(
            "{id},2021-03-05,,484,{country},Guerrero,,17.5,-99.5,,state_based,,1,,\n"
        ));
    }
    let data = dir.path().join("countries.csv");
    std::fs::write(&data, csv).unwrap();
    let load = |country: &str| {
        let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml"))
            .unwrap()
            .replace(r#"country = { from = "country" }"#, country);
        let path = dir.path().join("mapping.toml");
        std::fs::write(&path, text).unwrap();
        SchemaMapping::load(&path)
    };
    let strict = load(r#"country = { from = "country" }"#).expect("mapping");
    let got = ingest(&data, &strict, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.rows_accepted, 1);
    assert_eq!(got.quality.rules.get("missing_required_field"), Some(&2));
    let fields: Vec<Option<&str>> = got
        .quarantine
        .column("field")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(fields, [Some("country"), Some("country")]);

    let filled = load(r#"country = { from = "country", fallback = "country_code" }"#).expect("mapping");
    let got = ingest(&data, &filled, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.rows_accepted, 3);
    assert_eq!(got.quality.warnings.get("filled_from_fallback"), Some(&2));
    let names: Vec<Option<&str>> = got
        .incidents
        .column("country")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(names, [Some("Mexico"), Some("484"), Some("484")]);

    let err = load(r#"country = { from = "country", fallback = "admin1" }"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fields.country: fallback = 'admin1' is not supported"),
        "{err}"
    );
    let err = load("").unwrap_err().to_string();
    assert!(
        err.contains("fields.country: required canonical field is not mapped"),
        "{err}"
    );
}

#[test]
fn an_input_without_rows_or_with_unknown_columns_is_named_in_a_warning() {
    use vigil_core::data::ingest::ingest_chunked;
    let dir = tempfile::tempdir().unwrap();
    let header = CANONICAL_HEADER;
    let mapping = SchemaMapping::load(&repo().join("data/schemas/canonical.toml")).expect("mapping");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, format!("{header}\n")).unwrap();
    let wide = dir.path().join("wide.csv");
    std::fs::write(
        &wide,
        format!(
            "{header},colour,notes\ne1,2021-03-05,,484,Mexico,Guerrero,,17.5,-99.5,,state_based,,1,,,red,\n"
        ),
    )
    .unwrap();
    let got = ingest(&empty, &mapping, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.notices, ["the input has no rows"]);
    let want = "columns the mapping 'canonical' does not know: colour, notes (map them, keep them as `extras`, or list them under `ignored`)";
    let got = ingest(&wide, &mapping, &opts("2021-12-31")).expect("ingest");
    assert_eq!(got.quality.notices, [want]);
    assert_eq!(got.quality.rows_accepted, 1);
    // the chunked ingest a run uses says the same
    let (_, quality) =
        ingest_chunked(&wide, &mapping, &opts("2021-12-31"), 1, &mut |_| Ok(())).expect("ingest");
    assert_eq!(quality.notices, [want]);
    // a column the mapping declares ignored is not named
    let text = std::fs::read_to_string(repo().join("data/schemas/canonical.toml"))
        .unwrap()
        .replace(
            "personal = []",
            "personal = []\nignored = [\"colour\", \"notes\"]",
        );
    std::fs::write(dir.path().join("mapping.toml"), text).unwrap();
    let quiet = SchemaMapping::load(&dir.path().join("mapping.toml")).expect("mapping");
    assert!(
        ingest(&wide, &quiet, &opts("2021-12-31"))
            .expect("ingest")
            .quality
            .notices
            .is_empty()
    );
}

const CANONICAL_HEADER: &str = "incident_id,date_start,date_end,country_code,country,admin1,admin2,latitude,longitude,grid_id,category,subcategory,fatalities_best,fatalities_low,fatalities_high";

#[test]
fn a_record_with_too_few_or_too_many_fields_is_quarantined_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = "484,Mexico,Guerrero,,17.5,-99.5,,state_based,,1,,";
    let csv = format!(
        "{CANONICAL_HEADER}\n\
         a,2021-03-05,,{good}\n\
         b,2021-03-05,,484,Mexico,Guerrero,,17.5,-99.5,,state_based,,1\n\
         \"c\nwith a line break\",2021-03-05,,{good}\n\
         d,2021-03-05,,{good},7,8\n\
         e,2021-03-05,,{good}\n"
    );
    let mapping = SchemaMapping::load(&repo().join("data/schemas/canonical.toml")).expect("mapping");
    for name in ["ragged.csv", "ragged.csv.gz"] {
        let path = dir.path().join(name);
        if name.ends_with(".gz") {
            use std::io::Write;
            let mut gz = flate2_writer(&path);
            gz.write_all(csv.as_bytes()).unwrap();
            gz.finish().unwrap();
        } else {
            std::fs::write(&path, &csv).unwrap();
        }
        let got = ingest(&path, &mapping, &opts("2021-12-31")).expect("ingest");
        assert_eq!(got.quality.rows_read, 5, "{name}");
        assert_eq!(got.quality.rows_accepted, 3, "{name}");
        assert_eq!(got.quality.rules.get("wrong_field_count"), Some(&2), "{name}");
        let q = &got.quarantine;
        let rows: Vec<Option<i64>> = q.column("source_row").unwrap().i64().unwrap().iter().collect();
        assert_eq!(
            rows,
            [Some(2), Some(4)],
            "{name}: one rule per ragged record, nothing else"
        );
        let messages: Vec<Option<&str>> = q.column("message").unwrap().str().unwrap().iter().collect();
        assert_eq!(
            messages[0],
            Some(
                "the record on line 3 has 13 fields, the header 15; a record must have one field per column (check its separators and quotes)"
            )
        );
        // the quoted line break makes the record after it start on line 6
        assert!(
            messages[1]
                .unwrap()
                .starts_with("the record on line 6 has 17 fields"),
            "{messages:?}"
        );
    }
}

#[test]
fn an_unterminated_quote_is_named_with_its_line_not_the_csv_readers_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quote.csv");
    std::fs::write(
        &path,
        format!(
            "{CANONICAL_HEADER}\n\
             a,2021-03-05,,484,Mexico,Guerrero,,17.5,-99.5,,state_based,,1,,\n\
             b,2021-03-05,,484,Mexico,\"Guerrero,,17.5,-99.5,,state_based,,1,,\n\
             c,2021-03-05,,484,Mexico,Guerrero,,17.5,-99.5,,state_based,,1,,\n"
        ),
    )
    .unwrap();
    let mapping = SchemaMapping::load(&repo().join("data/schemas/canonical.toml")).expect("mapping");
    let err = match ingest(&path, &mapping, &opts("2021-12-31")) {
        Ok(got) => panic!("an unterminated quote was read: {:?}", got.quality),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("quote.csv")
            && err.contains(
                "the record on line 3 has 6 fields, the header 15: a quote opened in it is never closed"
            ),
        "{err}"
    );
}
