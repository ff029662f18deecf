//! Golden tests of the trend statistics against pymannkendall 1.4.3 and statsmodels 0.15.0
//! (`engine/core/tests/golden/`, made by `make_trend_golden.py`; provenance in each file).

use serde_json::Value;
use vigil_core::analysis::seasonality::stl_params;
use vigil_core::analysis::trend::{
    MannKendall, mann_kendall, mann_kendall_hamed_rao, seasonal_mann_kendall, sens_slope,
};

fn load(name: &str) -> Value {
    let path = crate::repo().join("engine/core/tests/golden").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn close(what: &str, got: f64, want: &Value, tol: f64) {
    let Some(want) = want.as_f64() else {
        return; // null in the golden file: undefined there (e.g. a constant series' Hamed-Rao variance)
    };
    let err = (got - want).abs() / want.abs().max(1.0);
    assert!(err <= tol, "{what}: got {got}, reference {want}");
}

fn compare(name: &str, test: &str, got: &MannKendall, want: &Value) {
    let at = |k: &str| format!("{name} {test} {k}");
    close(&at("s"), got.s, &want["s"], 1e-12);
    close(&at("var_s"), got.var_s, &want["var_s"], 1e-9);
    close(&at("z"), got.z, &want["z"], 1e-6);
    // pymannkendall computes p as 1 − Φ(|z|), which loses digits near 0: compare absolutely.
    let p = want["p"].as_f64().unwrap();
    assert!(
        (got.p - p).abs() <= 1e-6,
        "{}: got {}, reference {p}",
        at("p"),
        got.p
    );
    close(&at("tau"), got.tau, &want["Tau"], 1e-9);
    close(&at("slope"), got.slope, &want["slope"], 1e-6);
    close(&at("intercept"), got.intercept, &want["intercept"], 1e-6);
    let dir = want["trend"].as_str().unwrap();
    assert_eq!(got.direction(0.05), dir, "{}", at("direction"));
}

#[test]
fn mann_kendall_family_matches_pymannkendall() {
    let g = load("mann_kendall.json");
    let series = g["series"].as_object().unwrap();
    assert!(series.len() >= 7);
    let mut seasonal_checked = 0;
    for (name, s) in series {
        let x = floats(&s["x"]);
        compare(name, "original", &mann_kendall(&x).unwrap(), &s["original_test"]);
        compare(
            name,
            "hamed_rao",
            &mann_kendall_hamed_rao(&x, 0.05).unwrap(),
            &s["hamed_rao"],
        );
        let (slope, intercept) = sens_slope(&x);
        close(
            &format!("{name} sens slope"),
            slope,
            &s["sens_slope"]["slope"],
            1e-6,
        );
        close(
            &format!("{name} sens intercept"),
            intercept,
            &s["sens_slope"]["intercept"],
            1e-6,
        );
        if s.get("seasonal_test").is_some() {
            let got = seasonal_mann_kendall(&x, 12).unwrap();
            compare(name, "seasonal", &got, &s["seasonal_test"]);
            close(
                &format!("{name} seasonal sen"),
                got.slope,
                &s["seasonal_sens_slope"]["slope"],
                1e-6,
            );
            seasonal_checked += 1;
        }
    }
    assert!(seasonal_checked >= 4, "{seasonal_checked} seasonal cases");
}

#[test]
fn stl_components_match_statsmodels() {
    let g = load("stl.json");
    for name in ["seasonal_counts", "air_passengers"] {
        let s = &g["series"][name];
        let y = floats(&s["y"]);
        let want = &s["plain"];
        let p = &want["params"];
        assert_eq!(
            (
                p["seasonal"].as_u64(),
                p["trend"].as_u64(),
                p["low_pass"].as_u64()
            ),
            (Some(13), Some(21), Some(13))
        );
        let fit = stl_params(12).fit(&y, 12).unwrap();
        let scale = y.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for (part, got) in [
            ("trend", fit.trend()),
            ("seasonal", fit.seasonal()),
            ("resid", fit.remainder()),
        ] {
            let w = floats(&want[part]);
            for (t, (a, b)) in got.iter().zip(&w).enumerate() {
                // 1e-6 of the series scale (the issue asks 1e-3; they agree to 1e-11)
                assert!(
                    (a - b).abs() <= 1e-6 * scale,
                    "{name} {part}[{t}]: got {a}, statsmodels {b}"
                );
            }
        }
        close(
            &format!("{name} F_s"),
            fit.seasonal_strength(),
            &want["seasonal_strength"],
            1e-3,
        );
        close(
            &format!("{name} F_t"),
            fit.trend_strength(),
            &want["trend_strength"],
            1e-3,
        );
    }
}

#[test]
fn gi_star_matches_esda_with_bh_discoveries() {
    use vigil_core::analysis::hotspots::{benjamini_hochberg, gi_star, two_sided_p};
    let g = load("getis_ord.json");
    let y = floats(&g["y"]);
    for case in ["queen", "distance_band"] {
        let c = &g["cases"][case];
        let nb: Vec<Vec<usize>> = c["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                l.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect()
            })
            .collect();
        let z = gi_star(&y, &nb);
        let want = floats(&c["Zs"]);
        for (i, (a, b)) in z.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{case} cell {i}: z {a}, esda {b}"
            );
        }
        let p: Vec<f64> = z.iter().map(|z| two_sided_p(*z)).collect();
        let sig = benjamini_hochberg(&p, 0.05);
        let want_sig: Vec<bool> = c["fdr_bh"]["significant"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        assert_eq!(sig, want_sig, "{case}: BH discoveries");
        assert!(
            sig.iter().any(|s| *s),
            "{case}: the planted hot block must be found"
        );
    }
}
