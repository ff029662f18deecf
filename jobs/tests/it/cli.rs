use crate::{files, printed_folder, repo, vigil};
use polars::prelude::*;
use std::path::Path;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn run_monthly(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "jobs/specs/monthly.toml", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    vigil(&args, &[])
}

#[test]
fn the_monthly_job_writes_a_complete_run_and_reruns_byte_identically() {
    let tmp = tempfile::tempdir().unwrap();
    // `--set` with the spec's own value: it changes no result but is recorded and keys the run.
    let set = ["--set", "alerts.drivers=3"];
    let a = run_monthly(&tmp.path().join("a"), &set);
    assert!(a.status.success(), "{}", stderr(&a));
    let run_a = printed_folder(&a);
    let summary = stderr(&a);
    let last = summary.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("run complete in")
            && last.contains("backtest and forecast")
            && last.ends_with(run_a.to_str().unwrap()),
        "summary line with timings and the folder: {last}"
    );
    let listed = files(&run_a);
    for f in [
        "manifest.json",
        "quality.json",
        "quarantine.parquet",
        "incidents.parquet",
        "panel.parquet",
        "regions.parquet",
        "forecasts.parquet",
        "change.parquet",
        "fallbacks.parquet",
        "backtest.parquet",
        "metrics.parquet",
        "skill.parquet",
        "model_choice.parquet",
        "trend.parquet",
        "seasonality.parquet",
        "hotspots.parquet",
        "changepoints.parquet",
        "decomposition.parquet",
        "reliability.parquet",
        "reconciled.parquet",
        "alerts.parquet",
        "models/hurdle/model.json",
        "models/hurdle/card.json",
        "models/global_nb/forecast.parquet",
        "report.html",
    ] {
        assert!(
            listed.iter().any(|p| p == Path::new(f)),
            "{f} missing from {listed:?}"
        );
    }
    // every file of the run is in the outputs catalogue, and every file the catalogue names
    // without a variable part is in the run (the monthly job is an admin-1 job: it reconciles)
    for p in &listed {
        let file = p.to_str().unwrap();
        assert!(
            vigil_core::output::catalogue::find(file).is_some(),
            "{file} is not in the outputs catalogue (engine/core/src/output/catalogue.rs)"
        );
    }
    for o in vigil_core::output::catalogue::OUTPUTS {
        if !o.file.contains('<') {
            assert!(
                listed.iter().any(|p| p == Path::new(o.file)),
                "{} is in the catalogue but not in the run: {listed:?}",
                o.file
            );
        }
    }
    let charts: Vec<_> = listed.iter().filter(|p| p.starts_with("charts")).collect();
    assert_eq!(
        charts.len(),
        24,
        "6 top regions, reliability, skill, heatmap, seasonal profile, trends and the hot-spot \
         map of Mexico × SVG and PNG: {charts:?}"
    );
    check_backtest_outputs(&run_a);
    check_change_hierarchy(&run_a);
    check_pooled_outputs(&run_a);

    // The manifest lists every other file with its sha256, and the classification of the input.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_a.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["overrides"], serde_json::json!(["set alerts.drivers=3"]));
    assert_eq!(manifest["classification"], "public");
    assert_eq!(manifest["inputs"][0]["rows"], 21_575);
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), listed.len() - 1);
    for o in outputs {
        let f = run_a.join(o["file"].as_str().unwrap());
        assert_eq!(
            o["sha256"].as_str().unwrap(),
            vigil_core::output::sha256_file(&f).unwrap()
        );
        assert_eq!(o["classification"], "public");
    }
    // Parquet files carry the classification as key-value metadata.
    let meta = std::fs::read(run_a.join("panel.parquet")).unwrap();
    assert!(meta.windows(20).any(|w| w == b"vigil.classification"));

    // latest points at the run.
    let latest = std::fs::read_link(tmp.path().join("a/monthly/latest")).unwrap();
    assert_eq!(Some(latest.as_os_str()), run_a.file_name());

    check_saved_models_reproduce(&run_a, tmp.path());
    check_report(&run_a, tmp.path());
    crate::browser::check_report_in_browser(&run_a, "PUBLIC");
    check_chart_files(&run_a);

    // Running it again where it already ran is a no-op that says so, and leaves the run alone.
    let manifest_bytes = std::fs::read(run_a.join("manifest.json")).unwrap();
    let again = run_monthly(&tmp.path().join("a"), &set);
    assert!(again.status.success());
    assert!(stderr(&again).contains("nothing to do"), "{}", stderr(&again));
    assert_eq!(printed_folder(&again), run_a);
    assert_eq!(
        std::fs::read(run_a.join("manifest.json")).unwrap(),
        manifest_bytes
    );

    // --force redoes it in place: the same run id and byte-identical tables, charts, saved
    // models and report (only the manifest's creation time and timings differ).
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = listed
        .iter()
        .filter(|p| p.as_path() != Path::new("manifest.json"))
        .map(|p| (p.clone(), std::fs::read(run_a.join(p)).unwrap()))
        .collect();
    let forced = run_monthly(&tmp.path().join("a"), &["--force", set[0], set[1]]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(
        printed_folder(&forced),
        run_a,
        "the run id depends only on spec, inputs and as-of"
    );
    assert_eq!(files(&run_a), listed, "the same files");
    for (f, bytes) in &before {
        assert!(
            std::fs::read(run_a.join(f)).unwrap() == *bytes,
            "{f:?} differs after --force"
        );
    }
    assert!(before.len() >= 50, "{}", before.len());

    check_partner_export(&run_a, tmp.path());
    check_tampering_is_detected(&run_a, &tmp.path().join("a"));
}

/// `vigil export --agreement <agreement> <run> --out <out>`.
fn export_for(agreement: &Path, run: &Path, out: &Path) -> std::process::Output {
    vigil(
        &[
            "export",
            "--agreement",
            agreement.to_str().unwrap(),
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    )
}

/// Checks one table of a partner package (k = 5): no published count in 1..4, no row or column
/// (totals included) hiding exactly one value, and no hidden value that one line pins down
/// (hidden values are at least 1). Returns the `count` column.
fn check_package_table(package: &Path, measure: &str) -> Vec<Option<i64>> {
    let t = read_parquet(&package.join(format!("{measure}.parquet")));
    let kind = strs(&t, "kind");
    let region: Vec<Option<String>> = t
        .column("region_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(String::from))
        .collect();
    let period: Vec<Option<i32>> = t
        .column("period")
        .unwrap()
        .cast(&DataType::Int32)
        .unwrap()
        .i32()
        .unwrap()
        .iter()
        .collect();
    let count: Vec<Option<i64>> = t.column("count").unwrap().i64().unwrap().iter().collect();
    let flag: Vec<bool> = t
        .column("suppressed")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    // What a partner can do with one line: its parts sum to its total. Each entry goes into two
    // lines, as a part or as the total; a hidden entry is known to be at least 1 (zeros are
    // published). Per line: the published side c (Σ published parts − published total) and
    // the hidden entries with sign +1 (part) or −1 (total).
    let mut lines: std::collections::HashMap<String, (i64, Vec<(usize, i64)>)> = Default::default();
    for i in 0..t.height() {
        assert_eq!(
            flag[i],
            count[i].is_none(),
            "row {i}: suppressed iff the count is null"
        );
        let (row, col) = (
            region[i]
                .clone()
                .map_or_else(|| "<period totals>".into(), |r| format!("region {r}")),
            period[i].map_or_else(|| "<region totals>".into(), |p| format!("period {p}")),
        );
        let (row_sign, col_sign) = match kind[i].as_str() {
            "cell" => (1, 1),
            "region_total" => (-1, 1),
            "period_total" => (1, -1),
            _ => (-1, -1),
        };
        for (line, sign) in [(row, row_sign), (col, col_sign)] {
            let e = lines.entry(line).or_default();
            match count[i] {
                Some(v) => e.0 -= sign * v,
                None => e.1.push((i, sign)),
            }
        }
    }
    let mut pinned = Vec::new();
    for (name, (c, hidden)) in &lines {
        // Σ sign·v over hidden = c, each hidden v in [1, ∞): v is pinned when the others'
        // range leaves it one value.
        for &(i, s) in hidden {
            let (lo, hi) = (1i64, None::<i64>);
            // Others' sum of sign·v: [olo, ohi] (None = infinite).
            let (mut olo, mut ohi) = (Some(0i64), Some(0i64));
            for &(_, sj) in hidden.iter().filter(|(j, _)| *j != i) {
                let (tl, th) = if sj > 0 { (Some(1), None) } else { (None, Some(-1)) };
                olo = olo.zip(tl).map(|(a, b)| a + b);
                ohi = ohi.zip(th).map(|(a, b)| a + b);
            }
            // s·v = c − others → v's interval.
            let (a, b) = (ohi.map(|h| c - h), olo.map(|l| c - l));
            let (vlo, vhi) = if s > 0 {
                (a, b)
            } else {
                (b.map(|x| -x), a.map(|x| -x))
            };
            let low = vlo.map_or(lo, |x| x.max(lo));
            let high = match (vhi, hi) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            if high == Some(low) {
                pinned.push(format!("{name}: row {i} is {low}"));
            }
        }
    }
    assert!(
        pinned.is_empty(),
        "{measure}: hidden values a partner can work out: {pinned:?}"
    );
    let mut hidden_by_line: std::collections::HashMap<String, usize> = Default::default();
    let mut small = 0;
    let mut hidden = 0;
    for i in 0..t.height() {
        match count[i] {
            Some(v) if (1..5).contains(&v) => small += 1,
            Some(_) => {}
            None => {
                hidden += 1;
                // A cell is in its region's row and its period's column; a region total
                // in its row and the column of region totals; and so on.
                let row = region[i].clone().unwrap_or_else(|| "<period totals>".into());
                let col = period[i].map_or_else(|| "<region totals>".into(), |p| p.to_string());
                *hidden_by_line.entry(format!("row {row}")).or_default() += 1;
                *hidden_by_line.entry(format!("col {col}")).or_default() += 1;
            }
        }
    }
    assert_eq!(small, 0, "{measure}: published counts in 1..4");
    assert!(hidden > 100, "{measure}: {hidden} hidden");
    let lone: Vec<_> = hidden_by_line.iter().filter(|(_, n)| **n == 1).collect();
    assert!(lone.is_empty(), "{measure}: lines hiding one value: {lone:?}");
    assert!(kind.iter().any(|k| k == "total"));
    count
}

/// Writes an agreement file and returns its path.
fn agreement(dir: &Path, name: &str, expires: &str, outputs: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "partner = \"{name}\"\npurpose = \"test\"\nstart = 2020-01-01\nexpires = {expires}\n\
             outputs = {outputs}\nmeasures = [\"fatalities_best\", \"events\"]\n\
             level = \"admin1\"\ntime_step = \"month\"\nk = 5\n"
        ),
    )
    .unwrap();
    path
}

/// The real GED run exported at admin-1 × month with k = 5: no published count in 1..4, and no
/// row or column (with its total) that hides exactly one value; expired agreements and outputs
/// an agreement does not list are refused; the release is in the audit log.
fn check_partner_export(run: &Path, tmp: &Path) {
    let out = tmp.join("exports");
    let ok = agreement(tmp, "partner-a", "2099-12-31", "[\"panel\"]");
    let o = export_for(&ok, run, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let package = printed_folder(&o);
    for measure in ["fatalities_best", "events"] {
        check_package_table(&package, measure);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(package.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["k"], 5);
    assert_eq!(manifest["level"], "admin1");
    assert!(
        std::fs::read_to_string(package.join("README.md"))
            .unwrap()
            .contains("suppressed")
    );

    let expired = agreement(tmp, "partner-b", "2024-06-30", "[\"panel\"]");
    let o = export_for(&expired, run, &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expired on 2024-06-30"), "{}", stderr(&o));
    let nothing = agreement(tmp, "partner-c", "2099-12-31", "[]");
    let o = export_for(&nothing, run, &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not allow the output 'panel'"),
        "{}",
        stderr(&o)
    );
    assert!(
        !out.join(format!(
            "partner-b-{}",
            run.file_name().unwrap().to_str().unwrap()
        ))
        .exists()
    );

    // With a privacy budget: event counts get OpenDP noise before suppression; the promises
    // of suppression still hold, many cells move, and a budget on fatalities is refused.
    let dp = tmp.join("partner-dp.toml");
    std::fs::write(
        &dp,
        "partner = \"partner-dp\"\npurpose = \"test\"\nstart = 2020-01-01\nexpires = 2099-12-31\n\
         outputs = [\"panel\"]\nmeasures = [\"events\"]\nlevel = \"admin1\"\n\
         time_step = \"month\"\nk = 5\ndp_epsilon = 1.0\n",
    )
    .unwrap();
    let o = export_for(&dp, run, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let noisy_package = printed_folder(&o);
    let exact = check_package_table(&package, "events");
    let noisy = check_package_table(&noisy_package, "events");
    assert_eq!(exact.len(), noisy.len());
    let both: Vec<(i64, i64)> = exact
        .iter()
        .zip(&noisy)
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .collect();
    // Zeros mostly stay 0 (negative noise is clamped, positive noise makes a small count that
    // is suppressed), so look at values large enough to show the noise: with scale 1 about half
    // of them move.
    let large: Vec<&(i64, i64)> = both.iter().filter(|(a, _)| *a >= 5).collect();
    let moved = large.iter().filter(|(a, b)| a != b).count() as f64 / large.len() as f64;
    assert!(large.len() > 1000, "{}", large.len());
    assert!(
        (0.3..0.8).contains(&moved),
        "noise moved {moved:.3} of the published counts ≥ 5"
    );
    assert!(noisy.iter().flatten().all(|v| *v >= 0));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(noisy_package.join("manifest.json")).unwrap()).unwrap();
    let spent = m["privacy"]["epsilon_spent"].as_f64().unwrap();
    assert!(spent > 0.9 && spent <= 1.0, "ε spent {spent}");
    std::fs::write(
        &dp,
        std::fs::read_to_string(&dp)
            .unwrap()
            .replace("[\"events\"]", "[\"fatalities_best\"]"),
    )
    .unwrap();
    let o = export_for(&dp, run, &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("noise needs a bound"), "{}", stderr(&o));
}

/// `vigil verify` notices one changed byte of a run's parquet; `vigil audit verify` notices an
/// edited audit entry (the two runs above each appended one).
fn check_tampering_is_detected(run: &Path, out: &Path) {
    let run_s = run.to_str().unwrap();
    let ok = vigil(&["verify", run_s], &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stderr(&ok).contains("intact"), "{}", stderr(&ok));
    let panel = run.join("panel.parquet");
    let mut bytes = std::fs::read(&panel).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&panel, &bytes).unwrap();
    let bad = vigil(&["verify", run_s], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("changed: panel.parquet") && stderr(&bad).contains("NOT intact"),
        "{}",
        stderr(&bad)
    );
    // A run that no longer matches its manifest is not exported.
    let ok = agreement(out, "partner-d", "2099-12-31", "[\"panel\"]");
    let o = export_for(&ok, Path::new(run_s), out);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not match its manifest"),
        "{}",
        stderr(&o)
    );

    let log = out.join("audit.jsonl");
    let log_s = log.to_str().unwrap();
    let ok = vigil(&["audit", "verify", "--log", log_s], &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stderr(&ok).contains("4 entries, chain intact"),
        "run, --force, two exports: {}",
        stderr(&ok)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"action\":\"run\"", "\"action\":\"nun\"", 1)).unwrap();
    let bad = vigil(&["audit", "verify", "--log", log_s], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("entry 1") && stderr(&bad).contains("edited"),
        "{}",
        stderr(&bad)
    );
}

/// Two runs of one job at once: the second is refused and told who holds the lock; a run that
/// was killed leaves a lock that the next run reports as stale instead of taking over.
#[test]
fn a_second_run_of_the_same_job_is_refused_while_the_first_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let args = [
        "run",
        "jobs/specs/monthly.toml",
        "--out",
        out.to_str().unwrap(),
        "--origins",
        "2",
    ];
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(repo())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = out.join("monthly/.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !lock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = vigil(&args, &[]);
    assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
    let msg = stderr(&second);
    let holder: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    let run_id = holder["run_id"].as_str().unwrap();
    assert_eq!(holder["pid"], first.id());
    for part in [
        format!("locked by run {run_id}"),
        format!("pid {}", first.id()),
        format!("host {}", holder["host"].as_str().unwrap()),
        format!("since {}", holder["since"].as_str().unwrap()),
    ] {
        assert!(msg.contains(&part), "{part:?} not in: {msg}");
    }

    // Kill the first run: its lock stays, and the next run reports it as stale.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(lock.exists());
    let third = vigil(&args, &[]);
    assert_eq!(third.status.code(), Some(4), "{}", stderr(&third));
    let msg = stderr(&third);
    assert!(
        msg.contains("stale lock") && msg.contains(run_id) && msg.contains("delete"),
        "{msg}"
    );
    assert!(lock.exists(), "a stale lock is reported, not taken over");
    assert!(
        !out.join("monthly").join(run_id).exists(),
        "the killed run left no complete-looking folder"
    );
}

fn read_parquet(path: &Path) -> DataFrame {
    let file = std::fs::File::open(path).unwrap();
    ParquetReader::new(file).finish().unwrap()
}

fn f64s(df: &DataFrame, col: &str) -> Vec<f64> {
    df.column(col)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn strs(df: &DataFrame, col: &str) -> Vec<String> {
    df.column(col)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

/// The backtest the issue asks for: ≥ 12 origins, h = 1..6, every model, long format; the
/// README's claims about it hold; forecasts carry ordered, non-negative quantiles.
fn check_backtest_outputs(run: &Path) {
    let bt = read_parquet(&run.join("backtest.parquet"));
    let names: Vec<String> = bt.get_column_names().iter().map(|c| c.to_string()).collect();
    for c in [
        "region_id",
        "cutoff",
        "ds",
        "horizon",
        "model",
        "y",
        "mean",
        "q025",
        "q05",
        "q50",
        "q95",
        "q975",
    ] {
        assert!(
            names.iter().any(|n| n == c),
            "backtest.parquet lacks {c}: {names:?}"
        );
    }
    let cutoffs = bt.column("cutoff").unwrap().n_unique().unwrap();
    assert!(cutoffs >= 12, "{cutoffs} origins");
    let horizons = bt.column("horizon").unwrap().i32().unwrap();
    assert_eq!((horizons.min(), horizons.max()), (Some(1), Some(6)));
    // every row forecasts a period after its origin, `horizon` months on
    let cut = bt.column("cutoff").unwrap().cast(&DataType::Int32).unwrap();
    let ds = bt.column("ds").unwrap().cast(&DataType::Int32).unwrap();
    for i in (0..bt.height()).step_by(997) {
        let (c, d, h) = (
            cut.i32().unwrap().get(i).unwrap(),
            ds.i32().unwrap().get(i).unwrap(),
            horizons.get(i).unwrap(),
        );
        let months = (d - c) as f64 / 30.44;
        assert!(
            (months - h as f64).abs() < 0.6,
            "row {i}: cutoff {c}, ds {d}, horizon {h}"
        );
    }

    let m = read_parquet(&run.join("metrics.parquet"));
    let overall = m.filter(&m.column("horizon").unwrap().is_null()).unwrap();
    let models = strs(&overall, "model");
    let msle = f64s(&overall, "msle");
    let cov80 = f64s(&overall, "coverage_80");
    let get = |name: &str, v: &[f64]| v[models.iter().position(|m| m == name).unwrap()];
    for name in [
        "zero",
        "naive",
        "auto_ets",
        "mstl_ets",
        "croston_sba",
        "tsb",
        "selected",
    ] {
        assert!(
            models.iter().any(|m| m == name),
            "metrics lack {name}: {models:?}"
        );
    }
    let best = models
        .iter()
        .zip(&msle)
        .filter(|(m, _)| *m != "selected")
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    assert!(
        *best.1 < get("naive", &msle),
        "best {best:?} vs naive {}",
        get("naive", &msle)
    );
    // the per-region choice, scored without hindsight, beats naive and its 80% interval is
    // calibrated to within ten points
    assert!(get("selected", &msle) < get("naive", &msle));
    let c = get("selected", &cov80);
    assert!((0.7..=0.9).contains(&c), "selected 80% coverage {c}");

    let f = read_parquet(&run.join("forecasts.parquet"));
    let qcols = ["q025", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q975"];
    let qs: Vec<Vec<f64>> = qcols.iter().map(|c| f64s(&f, c)).collect();
    for (i, q05) in qs[0].iter().enumerate() {
        assert!(*q05 >= 0.0, "row {i}: negative quantile");
        assert!(
            qs.windows(2).all(|w| w[1][i] >= w[0][i]),
            "row {i}: quantiles out of order"
        );
    }
    let chosen = f.column("chosen").unwrap().bool().unwrap().sum().unwrap_or(0) as usize;
    let regions = f.column("region_id").unwrap().n_unique().unwrap();
    assert_eq!(chosen, regions * 6, "one chosen model per region, six horizons");
}

/// Every chart of the run is a PNG (valid signature and header) and an SVG of the same size:
/// 1000 pixels wide, at least 560 high, with the classification marking (top and bottom) in the
/// SVG text.
fn check_chart_files(run: &Path) {
    let listed = files(run);
    let pngs: Vec<_> = listed
        .iter()
        .filter(|p| p.starts_with("charts") && p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(pngs.len() >= 12, "{pngs:?}");
    for png in pngs {
        let bytes = std::fs::read(run.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png:?}: PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "{png:?}: PNG header");
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        assert_eq!(w, 1000, "{png:?}: width");
        assert!(h >= 560, "{png:?}: height {h}");
        let svg_path = run.join(png.with_extension("svg"));
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        let head = format!("<svg width=\"{w}\" height=\"{h}\"");
        assert!(svg.starts_with(&head), "{svg_path:?} does not start with {head}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg_path:?} is cut short");
        assert!(
            svg.matches("PUBLIC").count() >= 2,
            "{svg_path:?}: classification marking top and bottom"
        );
    }
}

/// report.html is one offline page with both classification banners, every chart inline and
/// no reference to anything outside it; `vigil report` rebuilds it byte for byte.
fn check_report(run: &Path, tmp: &Path) {
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("id=\"classification-top\">PUBLIC<"), "top banner");
    assert!(
        html.contains("id=\"classification-bottom\">PUBLIC<"),
        "bottom banner"
    );
    let svgs = files(run)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .count();
    assert_eq!(html.matches("<svg").count(), svgs, "every chart inline");
    let outside = html
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "");
    for fetch in ["http:", "https:", "src=", "<script", "<link", "@import", "url("] {
        assert!(
            !outside.contains(fetch),
            "report.html refers outside itself: {fetch}"
        );
    }
    assert!(html.contains("Key findings") && html.contains("year on year"));
    let out = tmp.join("rebuilt-report.html");
    let o = vigil(
        &["report", run.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        html,
        "vigil report rebuilds the same page"
    );
}

/// `vigil forecast --model <model> --out <out>`.
fn forecast_from(model: &Path, out: &Path) -> std::process::Output {
    vigil(
        &[
            "forecast",
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    )
}

/// Every saved model reproduces the run's forecast byte for byte; a changed model file is
/// refused, naming the file and the hash.
fn check_saved_models_reproduce(run: &Path, tmp: &Path) {
    for name in ["global_nb", "hurdle"] {
        let dir = run.join("models").join(name);
        let card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("card.json")).unwrap()).unwrap();
        assert_eq!(card["training"]["rows"].as_array().unwrap().len(), 6, "{name}");
        let out = tmp.join(format!("reproduced-{name}.parquet"));
        let arg = run.join(name);
        let o = forecast_from(&arg, &out);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(dir.join("forecast.parquet")).unwrap(),
            "{name}: the reproduced forecast differs"
        );
    }
    // a copy of the run with one coefficient changed is refused
    let copy = tmp.join("tampered");
    std::fs::create_dir_all(copy.join("models/hurdle")).unwrap();
    for f in ["manifest.json", "panel.parquet"] {
        std::fs::copy(run.join(f), copy.join(f)).unwrap();
    }
    for f in ["card.json", "forecast.parquet"] {
        std::fs::copy(
            run.join("models/hurdle").join(f),
            copy.join("models/hurdle").join(f),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(run.join("models/hurdle/model.json")).unwrap();
    let changed = text.replacen("\"l2\": 1.0", "\"l2\": 2.0", 1);
    assert_ne!(text, changed);
    std::fs::write(copy.join("models/hurdle/model.json"), changed).unwrap();
    let arg = copy.join("hurdle");
    let out = tmp.join("tampered.parquet");
    let o = forecast_from(&arg, &out);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("model.json has sha256"), "{}", stderr(&o));
}

/// The global models, the hurdle and the ensemble are backtested next to the others; the
/// reliability table covers every backtest row; reconciled forecasts add up from admin-1 to
/// country within 1e-9.
fn check_pooled_outputs(run: &Path) {
    use std::collections::BTreeMap;
    let m = read_parquet(&run.join("metrics.parquet"));
    let models = strs(&m, "model");
    for name in ["global_nb", "hurdle", "ensemble"] {
        assert!(models.iter().any(|m| m == name), "metrics lack {name}");
    }
    let bt = read_parquet(&run.join("backtest.parquet"));
    let ensemble_rows = strs(&bt, "model").iter().filter(|m| *m == "ensemble").count();
    assert!(ensemble_rows > 0);
    let rel = read_parquet(&run.join("reliability.parquet"));
    let (rm, th) = (strs(&rel, "model"), f64s(&rel, "threshold"));
    let n = rel.column("n").unwrap().u64().unwrap().clone();
    let in_bins: u64 = (0..rel.height())
        .filter(|i| rm[*i] == "ensemble" && th[*i] == 1.0)
        .map(|i| n.get(i).unwrap())
        .sum();
    assert_eq!(in_bins as usize, ensemble_rows, "every ensemble row in one bin");

    let r = read_parquet(&run.join("reconciled.parquet"));
    let (level, id, parent) = (strs(&r, "level"), strs(&r, "region_id"), strs(&r, "parent_id"));
    let hz = r.column("horizon").unwrap().i32().unwrap().clone();
    let value = f64s(&r, "reconciled");
    // level → (region, horizon) → reconciled value, and (parent, horizon) → children's sum
    let mut own: BTreeMap<&str, BTreeMap<(String, i32), f64>> = BTreeMap::new();
    let mut sums: BTreeMap<&str, BTreeMap<(String, i32), f64>> = BTreeMap::new();
    for i in 0..r.height() {
        let h = hz.get(i).unwrap();
        let l = level[i].as_str();
        assert!(["country", "admin1", "grid"].contains(&l), "unexpected level {l}");
        own.entry(l).or_default().insert((id[i].clone(), h), value[i]);
        if l != "country" {
            *sums
                .entry(l)
                .or_default()
                .entry((parent[i].clone(), h))
                .or_default() += value[i];
        }
    }
    assert_eq!(own["country"].len(), 9 * 6, "nine countries × six horizons");
    assert!(
        own["grid"].len() > own["admin1"].len(),
        "grid-cell pieces under admin-1 units"
    );
    for (parent_level, child_level) in [("country", "admin1"), ("admin1", "grid")] {
        for (key, p) in &own[parent_level] {
            let c = sums[child_level].get(key).copied().unwrap_or(0.0);
            assert!(
                (p - c).abs() <= 1e-9,
                "{parent_level} {key:?}: {p}, its {child_level} children sum to {c}"
            );
        }
    }
}

/// change.parquet holds every level, and each admin-2 and admin-1 region's rolling sums add up
/// to its parent's in every month.
fn check_change_hierarchy(run: &Path) {
    use std::collections::BTreeMap;
    let c = read_parquet(&run.join("change.parquet"));
    let levels = strs(&c, "level");
    let ids = strs(&c, "region_id");
    let ds = c.column("ds").unwrap().cast(&DataType::Int32).unwrap();
    let ds = ds.i32().unwrap().clone();
    let sums = f64s(&c, "rolling_sum");
    let at = |level: &str, parent: bool| {
        let mut out: BTreeMap<(String, i32), f64> = BTreeMap::new();
        for i in 0..c.height() {
            if levels[i] != level || sums[i].is_nan() {
                continue;
            }
            let id = if parent {
                ids[i]
                    .rsplit_once('/')
                    .map_or(ids[i].clone(), |(p, _)| p.to_string())
            } else {
                ids[i].clone()
            };
            *out.entry((id, ds.get(i).unwrap())).or_default() += sums[i];
        }
        out
    };
    for l in ["country", "admin1", "admin2", "grid"] {
        assert!(levels.iter().any(|x| x == l), "change.parquet lacks level {l}");
    }
    assert_eq!(
        at("admin2", true),
        at("admin1", false),
        "admin2 → admin1 rolling sums"
    );
    assert_eq!(
        at("admin1", true),
        at("country", false),
        "admin1 → country rolling sums"
    );
}

#[test]
fn a_run_that_fails_before_commit_leaves_no_complete_looking_folder_and_latest_unmoved() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let first = vigil(&["run", "jobs/specs/mission_example.toml", "--out", out], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let good = printed_folder(&first);
    let job = tmp.path().join("mission-example");
    let before = std::fs::read_dir(&job).unwrap().count();

    let failed = vigil(
        &[
            "run",
            "jobs/specs/mission_example.toml",
            "--out",
            out,
            "--as-of",
            "2021-06",
        ],
        &[("VIGIL_FAILPOINT", "before_commit")],
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        stderr(&failed).contains("failpoint before_commit"),
        "{}",
        stderr(&failed)
    );
    let entries: Vec<String> = std::fs::read_dir(&job)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(entries.len(), before, "nothing new left behind: {entries:?}");
    assert!(
        !entries.iter().any(|e| e.starts_with("2021-06-30")),
        "{entries:?}"
    );
    assert_eq!(
        std::fs::read_link(job.join("latest")).unwrap().as_os_str(),
        good.file_name().unwrap()
    );
}

#[test]
fn validate_reports_every_mistake_naming_each_field() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("bad.toml");
    let data = repo().join("data");
    std::fs::write(
        &spec,
        format!(
            r#"
[job]
name = "bad"
[[inputs]]
path = "{0}/ucdp_ged/ged_events.parquet"
mapping = "{0}/schemas/ucdp_ged.toml"
classification = "secret"
[panel]
level = "province"
[forecast]
horizon = 0
colour = "blue"
models = ["naive", "prophet"]
[backtest]
origins = 0
tsb_alphas = [0.1, 1.5]
"#,
            data.display()
        ),
    )
    .unwrap();
    let o = vigil(&["validate", spec.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for needle in [
        "inputs[0].classification: unknown classification 'secret'",
        "panel.level: unknown level 'province'",
        "forecast.horizon: 0 must be between 1 and 120",
        "forecast.colour: unknown field",
        "forecast.models[1]: unknown model 'prophet'",
        "backtest.origins: 0 must be between 1 and 240",
        "backtest.tsb_alphas: alpha_p = 1.5 must lie in (0, 1]",
    ] {
        assert!(err.contains(needle), "missing '{needle}' in:\n{err}");
    }
    assert!(err.contains("7 problem(s)"), "{err}");
}

#[test]
fn backtest_overrides_on_the_command_line_are_checked_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run_monthly(tmp.path(), &["--origins", "0", "--step", "500"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("--origins: 0 must be between 1 and 240"), "{err}");
    assert!(err.contains("--step: 500 must be between 1 and 120"), "{err}");

    // --set is checked like the file itself, every problem at once.
    let o = run_monthly(
        tmp.path(),
        &["--set", "forecast.horizon=0", "--set", "forecast.horizn=3"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for want in [
        "forecast.horizn: unknown field",
        "forecast.horizon: 0 must be between 1 and 120",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    // With --log-format json every stderr line is a JSON object, the error included.
    let o = vigil(
        &[
            "--log-format",
            "json",
            "run",
            "jobs/specs/monthly.toml",
            "--set",
            "forecast.horizn=3",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let error = lines.last().unwrap();
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["fields"]["exit_code"], 2);
    assert!(
        error["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("forecast.horizn")
    );

    let o = run_monthly(tmp.path(), &["--set", "inputs.3.path=x", "--set", "nokey"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("inputs.3 must be an index below 1"), "{err}");
    assert!(err.contains("--set nokey: expected key=value"), "{err}");
}

/// An ensemble needs two members besides `zero`: `models = ["naive", "ensemble"]` would run no
/// ensemble and publish naive while the spec said ensemble, so validation refuses it and says
/// what to add.
#[test]
fn an_ensemble_of_one_member_is_refused_with_what_to_add() {
    let tmp = tempfile::tempdir().unwrap();
    let data = repo().join("data");
    let validate = |models: &str| {
        let spec = tmp.path().join("ensemble.toml");
        std::fs::write(
            &spec,
            format!(
                "[job]\nname = \"ensemble\"\n[[inputs]]\npath = \"{0}/ucdp_ged/ged_events.parquet\"\n\
                 mapping = \"{0}/schemas/ucdp_ged.toml\"\nclassification = \"public\"\n\
                 [forecast]\nmodels = {models}\n",
                data.display()
            ),
        )
        .unwrap();
        vigil(&["validate", spec.to_str().unwrap()], &[])
    };
    let o = validate(r#"["naive", "ensemble"]"#);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "forecast.models: the ensemble combines at least two models besides zero, and this list has 1 (naive)"
        ),
        "{err}"
    );
    assert!(err.contains("or remove \"ensemble\""), "{err}");
    let o = validate(r#"["naive", "window_mean", "ensemble"]"#);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn every_shipped_spec_validates() {
    let o = vigil(
        &[
            "validate",
            "jobs/specs/monthly.toml",
            "jobs/specs/mission_example.toml",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Reads every table in a run back and every other file's bytes, and looks for personal values.
#[test]
fn the_personal_data_column_reaches_no_output_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = vigil(
        &[
            "run",
            "jobs/specs/mission_example.toml",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run = printed_folder(&o);
    let source = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(repo().join("data/mission/incidents_example.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let names: Vec<String> = source
        .column("source_name")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    assert!(names.len() > 100);
    // A partner package of the run, under an agreement: it must hold no name either.
    let agreement_file = agreement(tmp.path(), "partner-p", "2099-12-31", "[\"panel\"]");
    let exports = tmp.path().join("exports");
    let e = export_for(&agreement_file, &run, &exports);
    assert!(e.status.success(), "{}", stderr(&e));
    let package = printed_folder(&e);
    let mut tables = 0;
    let everything: Vec<std::path::PathBuf> = files(&run)
        .into_iter()
        .map(|f| run.join(f))
        .chain(files(&package).into_iter().map(|f| package.join(f)))
        .collect();
    assert!(
        everything.len() > files(&run).len() + 2,
        "the package is checked too"
    );
    for path in everything {
        let f = path.clone();
        let bytes = std::fs::read(&path).unwrap();
        if f.extension().is_some_and(|e| e == "parquet") {
            tables += 1;
            let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
                .finish()
                .unwrap();
            assert!(
                df.column("source_name").is_err(),
                "{f:?} has a source_name column"
            );
            for c in df.columns() {
                let s = c.cast(&DataType::String).unwrap();
                for v in s.str().unwrap().iter().flatten() {
                    assert!(
                        !names.iter().any(|n| v.contains(n.as_str())),
                        "{f:?} column {} holds '{v}'",
                        c.name()
                    );
                }
            }
        } else {
            let text = String::from_utf8_lossy(&bytes);
            for n in &names {
                assert!(!text.contains(n.as_str()), "{f:?} contains '{n}'");
            }
            assert!(!text.contains("source_name"), "{f:?} mentions source_name");
        }
    }
    assert!(tables >= 7);
    // And the run carries the input's classification.
    let manifest = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"classification\": \"confidential\""));
}

#[test]
fn a_failed_quality_gate_exits_3_and_keeps_the_quarantine_for_inspection() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = repo().join("engine/core/tests/fixtures");
    let spec = tmp.path().join("gate.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
[job]
name = "gate"
as_of = "2021-12-31"
[[inputs]]
path = "{0}/bad_incidents.csv"
mapping = "{0}/test_export.toml"
classification = "confidential"
[quality]
max_quarantined_fraction = 0.05
"#,
            fixtures.display()
        ),
    )
    .unwrap();
    let o = vigil(
        &[
            "run",
            spec.to_str().unwrap(),
            "--out",
            tmp.path().join("runs").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("76.47% of rows quarantined (13 of 17)"), "{err}");
    let job = tmp.path().join("runs/gate");
    let kept: Vec<_> = std::fs::read_dir(&job)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].ends_with(".failed"));
    assert!(job.join(&kept[0]).join("quarantine.parquet").is_file());
    assert!(!job.join("latest").exists(), "a failed run never becomes latest");
}

#[test]
fn stage_commands_write_their_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stage");
    let o = vigil(
        &[
            "panel",
            "jobs/specs/mission_example.toml",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "incidents.parquet",
        "quarantine.parquet",
        "quality.json",
        "panel.parquet",
        "regions.parquet",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn a_stage_command_that_fails_leaves_no_file_behind() {
    let tmp = tempfile::tempdir().unwrap();
    // an unterminated quote: the CSV reader fails after the incidents file would have been opened
    let data = tmp.path().join("broken.csv");
    std::fs::write(
        &data,
        "incident_id,date_start,date_end,country_code,country,admin1,admin2,latitude,longitude,grid_id,category,subcategory,fatalities_best,fatalities_low,fatalities_high\n\
         e1,2021-03-05,,484,Mexico,\"Guerrero,,17.5,-99.5,,state_based,,1,1,1\n",
    )
    .unwrap();
    let spec = tmp.path().join("broken.toml");
    std::fs::write(
        &spec,
        format!(
            "[job]\nname = \"broken\"\nas_of = \"2021-12-31\"\n[[inputs]]\npath = \"{}\"\nmapping = \"{}\"\nclassification = \"public\"\n",
            data.display(),
            repo().join("data/schemas/canonical.toml").display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("stage");
    for command in ["ingest", "panel"] {
        let o = vigil(
            &[command, spec.to_str().unwrap(), "--out", out.to_str().unwrap()],
            &[],
        );
        assert!(!o.status.success(), "{command} should fail on the broken input");
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{command} left {left:?} behind: {}", stderr(&o));
    }
}
