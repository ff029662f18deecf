//! Partner exports under a data-sharing agreement.
//!
//! An agreement (TOML, one per partner) says what a partner may receive: which outputs and
//! measures, the finest geography and time step, the small-cell threshold k, which countries,
//! for what purpose and between which dates. [`export`] builds the package from a finished run:
//! it checks the run's integrity and the agreement, coarsens the panel to the agreed level and
//! time step, suppresses small cells ([`crate::suppress`]), and writes the tables, a manifest and
//! a README for the partner into a new folder, atomically, then records the release in the
//! audit log. It is the only path by which data leaves at a lower classification than it was
//! derived from; the package's manifest says both.

use crate::suppress::{SuppressedTable, suppress};
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use vigil_core::Level;
use vigil_core::data::read::{read_parquet, text_values};
use vigil_core::data::region::region_id;
use vigil_core::error::EngineError;
use vigil_core::output::catalogue;
use vigil_core::output::{Manifest, sha256_bytes, sha256_file};

/// Outputs an agreement can allow (what `export` can build).
pub const OUTPUTS: [&str; 1] = ["panel"];

/// A partner's data-sharing agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    /// The partner's id (letters, digits, `-`, `_`): names the package folder.
    pub partner: String,
    /// What the data may be used for, in the agreement's words.
    pub purpose: String,
    /// First day the agreement allows exports (`2026-01-01`, quoted or not).
    #[serde(deserialize_with = "toml_date")]
    pub start: NaiveDate,
    /// Last day it allows exports.
    #[serde(deserialize_with = "toml_date")]
    pub expires: NaiveDate,
    /// Outputs the partner may receive (see [`OUTPUTS`]).
    pub outputs: Vec<String>,
    /// Count columns of the panel the partner may receive (e.g. `fatalities_best`, `events`).
    pub measures: Vec<String>,
    /// The finest geography: `country`, `admin1`, `admin2` or `grid`.
    pub level: String,
    /// The finest time step: `month`, `quarter` or `year`.
    pub time_step: String,
    /// Small-cell threshold: counts 1..k−1 are suppressed.
    pub k: i64,
    /// Country codes the partner may receive (all when absent).
    #[serde(default)]
    pub countries: Option<Vec<String>>,
    /// Differential-privacy budget (ε) for noise on counts.
    #[serde(default)]
    pub dp_epsilon: Option<f64>,
}

/// A date written as a TOML date (`2026-01-01`) or as a string (`"2026-01-01"`).
fn toml_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DateIn {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match DateIn::deserialize(d)? {
        DateIn::Toml(t) => t.to_string(),
        DateIn::Text(s) => s,
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| serde::de::Error::custom(format!("'{text}' is not a date: use YYYY-MM-DD")))
}

/// Why an export was refused or failed.
fn refuse(message: String) -> EngineError {
    EngineError::Invalid {
        context: "partner export refused".into(),
        message,
    }
}

impl Agreement {
    /// Reads and checks an agreement file; reports every problem at once.
    pub fn load(path: &Path) -> Result<Agreement, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
        let a: Agreement = toml::from_str(&text).map_err(|e| EngineError::Invalid {
            context: format!("agreement {}", path.display()),
            message: e.to_string(),
        })?;
        let mut problems = Vec::new();
        if a.partner.is_empty()
            || !a
                .partner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(format!(
                "partner: '{}' must use only letters, digits, '-' and '_'",
                a.partner
            ));
        }
        if a.expires < a.start {
            problems.push(format!("expires: {} is before start {}", a.expires, a.start));
        }
        for o in &a.outputs {
            if !OUTPUTS.contains(&o.as_str()) {
                problems.push(format!(
                    "outputs: '{o}' is not an exportable output ({})",
                    OUTPUTS.join(", ")
                ));
            }
        }
        if a.level.parse::<Level>().is_err() {
            problems.push(format!(
                "level: '{}' must be country, admin1, admin2 or grid",
                a.level
            ));
        }
        if !["month", "quarter", "year"].contains(&a.time_step.as_str()) {
            problems.push(format!(
                "time_step: '{}' must be month, quarter or year",
                a.time_step
            ));
        }
        if a.k < 2 {
            problems.push(format!("k: {} must be at least 2", a.k));
        }
        if a.measures.is_empty() {
            problems.push("measures: name at least one count column, e.g. [\"fatalities_best\"]".into());
        }
        // A total and its parts released together would let a partner subtract one from the
        // other, across tables, and undo the suppression.
        let parts = [
            "fatalities_non_state",
            "fatalities_one_sided",
            "fatalities_state_based",
        ];
        if a.measures.iter().any(|m| m == "fatalities_best")
            && a.measures.iter().any(|m| parts.contains(&m.as_str()))
        {
            problems.push("measures: fatalities_best is the sum of the fatalities_<type> columns; release the total or the parts, not both".into());
        }
        if let Some(eps) = a.dp_epsilon {
            if !(eps.is_finite() && eps > 0.0) {
                problems.push(format!("dp_epsilon: {eps} must be a positive number"));
            }
            // Noise protects an incident when we know how much one incident can add to a
            // count: exactly 1 for event counts; fatality counts have no such bound.
            let unbounded: Vec<&str> = a
                .measures
                .iter()
                .filter(|m| !m.starts_with("events"))
                .map(String::as_str)
                .collect();
            if !unbounded.is_empty() {
                problems.push(format!(
                    "dp_epsilon: noise needs a bound on what one incident adds to a count; event \
                     counts have one (1), {} do(es) not: release event counts only, or drop dp_epsilon",
                    unbounded.join(", ")
                ));
            }
        }
        let event_parts = ["events_non_state", "events_one_sided", "events_state_based"];
        if a.measures.iter().any(|m| m == "events")
            && a.measures.iter().any(|m| event_parts.contains(&m.as_str()))
        {
            problems.push("measures: events is the sum of the events_<type> columns; release the total or the parts, not both".into());
        }
        if problems.is_empty() {
            Ok(a)
        } else {
            Err(EngineError::Invalid {
                context: format!("agreement {}", path.display()),
                message: problems.join("; "),
            })
        }
    }

    /// Refuses an export on `today` of `output` that the agreement does not allow.
    pub fn allows(&self, output: &str, today: NaiveDate) -> Result<(), EngineError> {
        if today > self.expires {
            return Err(refuse(format!(
                "the agreement with {} expired on {} (today is {today}); a new or extended agreement is needed",
                self.partner, self.expires
            )));
        }
        if today < self.start {
            return Err(refuse(format!(
                "the agreement with {} starts on {} (today is {today})",
                self.partner, self.start
            )));
        }
        if !self.outputs.iter().any(|o| o == output) {
            return Err(refuse(format!(
                "the agreement with {} does not allow the output '{output}' (it allows: {})",
                self.partner,
                self.outputs.join(", ")
            )));
        }
        Ok(())
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// The package folder.
    pub folder: PathBuf,
    /// Per measure: cells published, cells suppressed as small (primary), cells suppressed to
    /// protect them (complementary).
    pub tables: Vec<(String, usize, usize, usize)>,
}

/// The package's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportManifest {
    /// The partner.
    pub partner: String,
    /// The agreement's purpose.
    pub purpose: String,
    /// sha256 of the agreement file.
    pub agreement_sha256: String,
    /// The run exported, and the sha256 of its manifest.
    pub run_id: String,
    /// sha256 of the run's manifest.
    pub run_manifest_sha256: String,
    /// Classification of the run the data were derived from.
    pub derived_from_classification: String,
    /// When (UTC).
    pub created_at: String,
    /// Geography, time step and threshold of the package.
    pub level: String,
    /// Time step.
    pub time_step: String,
    /// Small-cell threshold.
    pub k: i64,
    /// Files with sha256.
    pub files: Vec<(String, String)>,
    /// The audit log's head before this export was recorded (seq, hash).
    pub audit_head_before: Option<(u64, String)>,
    /// The noise added, when the agreement sets a privacy budget.
    pub privacy: Option<Privacy>,
}

/// Differential privacy of a package: what protects one incident.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Privacy {
    /// The mechanism and the library that ran it.
    pub mechanism: String,
    /// What is protected: adding or removing one incident changes the output's distribution by
    /// at most a factor e^ε.
    pub unit: String,
    /// The agreement's budget.
    pub epsilon_budget: f64,
    /// Per measure: (measure, noise scale, ε the library certifies for one incident).
    pub measures: Vec<(String, f64, f64)>,
    /// The ε spent in all (sum over measures; at most the budget).
    pub epsilon_spent: f64,
}

/// Adds discrete Laplace noise to `cells` so that one incident (which adds 1 to exactly one
/// cell) is protected with `epsilon`; returns the noisy cells, clamped at zero (post-processing,
/// which costs no privacy), the scale and the ε OpenDP certifies.
fn add_noise(cells: &[Vec<i64>], epsilon: f64) -> Result<(Vec<Vec<i64>>, f64, f64), EngineError> {
    use opendp::domains::{AtomDomain, VectorDomain};
    use opendp::measurements::make_laplace;
    use opendp::measures::MaxDivergence;
    use opendp::metrics::L1Distance;
    let fail = |e: opendp::error::Error| EngineError::Invalid {
        context: "adding noise (OpenDP)".into(),
        message: e.to_string(),
    };
    // L1 sensitivity 1 → scale 1/ε; OpenDP rounds its privacy map conservatively, so widen the
    // scale by a hair until the certified ε is within the budget.
    let mut scale = 1.0 / epsilon;
    let (m, spent) = loop {
        let m = make_laplace::<_, _, MaxDivergence>(
            VectorDomain::new(AtomDomain::<i64>::default()),
            L1Distance::<i64>::default(),
            scale,
            None,
        )
        .map_err(fail)?;
        let spent = m.map(&1).map_err(fail)?;
        if spent <= epsilon {
            break (m, spent);
        }
        scale *= 1.0 + 1e-9;
    };
    let flat: Vec<i64> = cells.iter().flatten().copied().collect();
    let noisy = m.invoke(&flat).map_err(fail)?;
    let cols = cells.first().map_or(0, Vec::len);
    let out = noisy
        .chunks(cols.max(1))
        .map(|row| row.iter().map(|v| (*v).max(0)).collect())
        .collect();
    Ok((out, scale, spent))
}

/// Start of the period of `date` at `step`.
fn period_start(date: NaiveDate, step: &str) -> NaiveDate {
    let month = match step {
        "quarter" => (date.month() - 1) / 3 * 3 + 1,
        "year" => 1,
        _ => date.month(),
    };
    NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
}

/// Exports run `run` for `agreement` (read from `agreement_path`) into `out/<partner>-<run id>/`,
/// on date `today`, and records it in the audit log `audit_log`.
pub fn export(
    run: &Path,
    agreement: &Agreement,
    agreement_path: &Path,
    out: &Path,
    today: NaiveDate,
    audit_log: &Path,
) -> Result<ExportSummary, EngineError> {
    agreement.allows("panel", today)?;
    let check = vigil_core::output::integrity::verify_run(run)?;
    if !check.intact() {
        return Err(refuse(format!(
            "run {} does not match its manifest ({} changed, {} missing, {} unlisted files); run `vigil verify` on it",
            run.display(),
            check.changed.len(),
            check.missing.len(),
            check.unlisted.len()
        )));
    }
    let mpath = run.join(catalogue::MANIFEST.file);
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(&mpath).map_err(|e| EngineError::io(&mpath, e))?)
            .map_err(|e| EngineError::Json {
                path: mpath.clone(),
                source: e,
            })?;

    let regions = read_parquet(&run.join(catalogue::REGIONS.file))?;
    let panel = read_parquet(&run.join(catalogue::PANEL.file))?;
    let ids = text_values(&regions, "region_id")?;
    let levels = text_values(&regions, "level")?;
    let codes = text_values(&regions, "country_code")?;
    let admin1 = text_values(&regions, "admin1")?;
    let run_level: Level = levels
        .first()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| refuse("the run has no regions".into()))?;
    let agreed: Level = agreement.level.parse().map_err(refuse)?;
    let rank = |l: Level| Level::ALL.iter().position(|x| *x == l).unwrap_or(0);
    let level = if rank(run_level) > rank(agreed) {
        agreed
    } else {
        run_level
    };
    if run_level == Level::Grid && level != Level::Grid {
        return Err(refuse(
            "a grid-level run cannot be coarsened to admin units (cells straddle borders); export from an admin-level run".into(),
        ));
    }
    // Each run region → the exported region (its ancestor at the exported level), if its
    // country is allowed.
    let mut target: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..ids.len() {
        if let Some(allowed) = &agreement.countries
            && !allowed.contains(&codes[i])
        {
            continue;
        }
        let to = if level == run_level {
            ids[i].clone()
        } else {
            region_id(level, &codes[i], &admin1[i], "", None)
        };
        target.insert(ids[i].clone(), to);
    }

    let ds = panel
        .column("ds")
        .and_then(|c| c.cast(&DataType::Int32))
        .map_err(EngineError::polars("reading ds"))?;
    let ds = ds.i32().map_err(EngineError::polars("reading ds"))?.clone();
    let panel_ids = text_values(&panel, "region_id")?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let periods: Vec<Option<NaiveDate>> = ds
        .iter()
        .map(|d| d.and_then(|d| epoch.checked_add_signed(chrono::Duration::days(i64::from(d)))))
        .map(|d| d.map(|d| period_start(d, &agreement.time_step)))
        .collect();

    let tmp = out.join(format!(".tmp-{}-{}", agreement.partner, std::process::id()));
    let folder = out.join(format!("{}-{}", agreement.partner, manifest.run_id));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
    let mut files = Vec::new();
    let mut tables = Vec::new();
    let mut privacy_measures: Vec<(String, f64, f64)> = Vec::new();
    for measure in &agreement.measures {
        let col = panel
            .column(measure)
            .and_then(|c| c.cast(&DataType::Int64))
            .map_err(|_| {
                refuse(format!(
                    "the run's panel has no count column '{measure}' (agreement measures)"
                ))
            })?;
        let values = col.i64().map_err(EngineError::polars("reading counts"))?.clone();
        let mut sums: BTreeMap<(String, NaiveDate), i64> = BTreeMap::new();
        let mut row_ids: BTreeSet<String> = BTreeSet::new();
        let mut cols: BTreeSet<NaiveDate> = BTreeSet::new();
        for i in 0..panel.height() {
            let (Some(to), Some(p)) = (target.get(&panel_ids[i]), periods[i]) else {
                continue;
            };
            row_ids.insert(to.clone());
            cols.insert(p);
            *sums.entry((to.clone(), p)).or_default() += values.get(i).unwrap_or(0);
        }
        let row_ids: Vec<String> = row_ids.into_iter().collect();
        let cols: Vec<NaiveDate> = cols.into_iter().collect();
        let mut cells: Vec<Vec<i64>> = row_ids
            .iter()
            .map(|r| {
                cols.iter()
                    .map(|c| sums.get(&(r.clone(), *c)).copied().unwrap_or(0))
                    .collect()
            })
            .collect();
        if let Some(budget) = agreement.dp_epsilon {
            // The budget is split evenly over the measures: one incident counts in each.
            let eps = budget / agreement.measures.len() as f64;
            let (noisy, scale, spent) = add_noise(&cells, eps)?;
            cells = noisy;
            privacy_measures.push((measure.clone(), scale, spent));
        }
        // Totals are sums of the (noisy) cells, so they cost no further privacy.
        let t = suppress(&cells, agreement.k);
        let mut df = long_table(&t, &row_ids, &cols)?;
        let name = format!("{measure}.parquet");
        let path = tmp.join(&name);
        let mut f = std::fs::File::create(&path).map_err(|e| EngineError::io(&path, e))?;
        ParquetWriter::new(&mut f)
            .finish(&mut df)
            .map_err(EngineError::polars(format!("writing {name}")))?;
        let flags: Vec<_> = t.flags.iter().flatten().collect();
        let primary = flags
            .iter()
            .filter(|f| ***f == crate::suppress::Flag::Primary)
            .count();
        let complementary = flags
            .iter()
            .filter(|f| ***f == crate::suppress::Flag::Complementary)
            .count();
        tables.push((
            measure.clone(),
            flags.len() - primary - complementary,
            primary,
            complementary,
        ));
        files.push((name.clone(), sha256_file(&path)?));
    }

    let readme = partner_readme(agreement, &manifest, level, &tables);
    std::fs::write(tmp.join("README.md"), &readme).map_err(|e| EngineError::io(&tmp, e))?;
    files.push(("README.md".into(), sha256_bytes(readme.as_bytes())));
    let head = crate::audit::verify(audit_log)
        .ok()
        .and_then(|c| c.head)
        .map(|h| (h.seq, h.hash));
    let em = ExportManifest {
        partner: agreement.partner.clone(),
        purpose: agreement.purpose.clone(),
        agreement_sha256: sha256_file(agreement_path)?,
        run_id: manifest.run_id.clone(),
        run_manifest_sha256: sha256_file(&mpath)?,
        derived_from_classification: manifest.classification.as_str().to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        level: level.as_str().into(),
        time_step: agreement.time_step.clone(),
        k: agreement.k,
        files: files.clone(),
        audit_head_before: head,
        privacy: agreement.dp_epsilon.map(|budget| Privacy {
            mechanism: "discrete Laplace noise on every cell (OpenDP 0.16 make_laplace, OpenSSL randomness), counts clamped at 0".into(),
            unit: "one incident".into(),
            epsilon_budget: budget,
            epsilon_spent: privacy_measures.iter().map(|m| m.2).sum(),
            measures: privacy_measures.clone(),
        }),
    };
    let mpath_out = tmp.join("manifest.json");
    let text = serde_json::to_string_pretty(&em).map_err(|e| EngineError::Json {
        path: mpath_out.clone(),
        source: e,
    })?;
    std::fs::write(&mpath_out, text).map_err(|e| EngineError::io(&mpath_out, e))?;
    files.push(("manifest.json".into(), sha256_file(&mpath_out)?));
    if folder.exists() {
        std::fs::remove_dir_all(&folder).map_err(|e| EngineError::io(&folder, e))?;
    }
    std::fs::rename(&tmp, &folder).map_err(|e| EngineError::io(&folder, e))?;
    crate::audit::append(
        audit_log,
        crate::audit::AuditRecord {
            action: "export".into(),
            subject: folder.display().to_string(),
            agreement: Some(agreement.partner.clone()),
            files: files
                .into_iter()
                .map(|(file, sha256)| crate::audit::AuditFile { file, sha256 })
                .collect(),
            note: format!(
                "run {}; {} × {}; k = {}; purpose: {}",
                manifest.run_id, level, agreement.time_step, agreement.k, agreement.purpose
            ),
        },
    )?;
    Ok(ExportSummary { folder, tables })
}

/// The suppressed table in long form: `kind` (cell, region_total, period_total, total),
/// `region_id`, `period`, `count` (null where hidden), `suppressed` (true where hidden, without
/// saying why).
fn long_table(t: &SuppressedTable, rows: &[String], cols: &[NaiveDate]) -> Result<DataFrame, EngineError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let (mut kind, mut region, mut period, mut count, mut flag) = (vec![], vec![], vec![], vec![], vec![]);
    for r in 0..=t.rows {
        for c in 0..=t.cols {
            kind.push(match (r == t.rows, c == t.cols) {
                (false, false) => "cell",
                (false, true) => "region_total",
                (true, false) => "period_total",
                (true, true) => "total",
            });
            region.push(rows.get(r).cloned());
            period.push(cols.get(c).map(|d| (*d - epoch).num_days() as i32));
            let f = t.flags[r][c];
            count.push((!f.hidden()).then_some(t.values[r][c]));
            // Hidden, not why: a "small" mark would narrow what a partner can work out.
            flag.push(f.hidden());
        }
    }
    let n = kind.len();
    let period = Column::new("period".into(), period)
        .cast(&DataType::Date)
        .map_err(EngineError::polars("period column"))?;
    DataFrame::new(
        n,
        vec![
            Column::new("kind".into(), kind),
            Column::new("region_id".into(), region),
            period,
            Column::new("count".into(), count),
            Column::new("suppressed".into(), flag),
        ],
    )
    .map_err(EngineError::polars("export table"))
}

/// The README a partner receives with the package.
fn partner_readme(
    a: &Agreement,
    m: &Manifest,
    level: Level,
    tables: &[(String, usize, usize, usize)],
) -> String {
    let mut s = format!(
        "# Data package for {partner}\n\n\
         Prepared by vigil from run {run} (data as of {as_of}) under the agreement with {partner}\n\
         (purpose: {purpose}; valid {start} to {expires}). Use it only for that purpose.\n\n\
         ## What is in it\n\n\
         One table per measure (`<measure>.parquet`), counts by {level} and {step}, with totals:\n\n\
         | column | meaning |\n| --- | --- |\n\
         | `kind` | `cell` (one region, one period), `region_total` (all periods), `period_total` (all regions), `total` |\n\
         | `region_id` | the region (`country code/admin-1 name` at admin-1; null for period totals and the total) |\n\
         | `period` | first day of the {step} (null for region totals and the total) |\n\
         | `count` | the count, or null where it is suppressed |\n\
         | `suppressed` | true where the count is hidden (then at least 1: zeros are always published) |\n\n\
         ## Small cells\n\n\
         Counts from 1 to {k1} are never published (k = {k}): they can point at a handful of incidents or people.\n\
         Totals are the sums of all cells, suppressed ones included, so more counts are hidden until no\n\
         hidden count can be worked out from the published ones, by subtraction along a row or column or\n\
         by solving all of them together. The table does not say which hidden counts are small. Do not\n\
         try to recover suppressed values; report any way you find to do so.\n\n",
        partner = a.partner,
        run = m.run_id,
        as_of = m.as_of,
        purpose = a.purpose,
        start = a.start,
        expires = a.expires,
        level = level.as_str(),
        step = a.time_step,
        k = a.k,
        k1 = a.k - 1,
    );
    if let Some(eps) = a.dp_epsilon {
        s.push_str(&format!(
            "## Noise\n\n\
             Every cell carries random integer noise (discrete Laplace, from OpenDP), calibrated so that\n\
             adding or removing any one incident changes the chance of any result by at most a factor\n\
             e^{eps} (ε = {eps}, split over the measures; see `privacy` in manifest.json). Negative noisy\n\
             counts are shown as 0, and totals are sums of the noisy cells. Individual cells are therefore\n\
             not exact: use them for patterns over many cells, not for single months.\n\n"
        ));
    }
    s.push_str(
        "| measure | published | hidden as small | hidden to protect them |\n| --- | --- | --- | --- |\n",
    );
    for (m, p, pr, c) in tables {
        s.push_str(&format!("| `{m}` | {p} | {pr} | {c} |\n"));
    }
    s.push_str(
        "\n`manifest.json` lists every file with its sha256, the agreement's sha256, the run and the\n\
         audit-log head before this release.\n\n## Sources\n\n",
    );
    for input in &m.inputs {
        let file = input.path.rsplit(['/', '\\']).next().unwrap_or(&input.path);
        s.push_str(&format!("- `{file}`"));
        if input.mapping.contains("ucdp_ged") {
            s.push_str(
                ": UCDP Georeferenced Event Dataset (GED), Uppsala Conflict Data Program, CC BY 4.0. \
                 Cite Sundberg and Melander (2013), Journal of Peace Research 50(4).",
            );
        }
        s.push('\n');
    }
    s
}
