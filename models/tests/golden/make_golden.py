"""Generate the golden reference numbers used by the Rust tests of the models crate.

What it writes (into the folder this script lives in):

  ets.json      Forecasts from statsforecast for four reference series (AirPassengers,
                a synthetic trending series, a synthetic intermittent count series and a
                synthetic seasonal count series), horizon 12:
                  - AutoETS(season_length=1, model="ZZN")  mean + 80/95% intervals, the
                    selected model, its parameters, AIC, AICc and log-likelihood;
                  - MSTL(season_length=12, trend_forecaster=AutoETS(model="ZZN"))
                    mean + 80/95% intervals;
                  - CrostonClassic, CrostonSBA, CrostonOptimized, TSB(0.2, 0.1),
                    TSB(0.5, 0.3) point forecasts;
                plus a handful of tiny edge-case series (all zeros, a single non-zero,
                ...) for the Croston/TSB family.
  metrics.json  Point, quantile, sample (CRPS) and event (Brier, average precision)
                metric values computed independently with numpy, scipy and scikit-learn
                on a seeded synthetic case set.

Everything is float64 and deterministic: one numpy Generator seeded with 20261125,
drawn from in a fixed order. Values are written at full precision (Python's shortest
round-trip float repr). Before writing, the script re-derives the Croston/SBA/TSB
forecasts and the metrics with small plain-numpy implementations of the algorithms
described in README.md and stops if they disagree.

How to run (from the repository root):

    pip install statsforecast==2.1.1 numpy==2.4.6 scipy==1.17.1 \
        scikit-learn==1.9.1 pandas==2.3.3 statsmodels==0.15.0
    python3 models/tests/golden/make_golden.py

Versions used to produce the committed files:
    python 3.11.7, statsforecast 2.1.1, numpy 2.4.6, scipy 1.17.1,
    scikit-learn 1.9.1, pandas 2.3.3, statsmodels 0.15.0 (pulled in by statsforecast;
    MSTL's decomposition is statsmodels' STL).
Other versions may give (slightly) different ETS/MSTL numbers; the script warns when
the installed versions differ from these.
"""

import json
import math
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import sklearn
import statsforecast
import statsmodels
from scipy.stats import norm
from sklearn.metrics import (
    average_precision_score,
    mean_absolute_error,
    mean_pinball_loss,
    mean_squared_error,
    mean_squared_log_error,
)
from statsforecast.models import (
    MSTL,
    TSB,
    AutoETS,
    CrostonClassic,
    CrostonOptimized,
    CrostonSBA,
)
from statsforecast.utils import AirPassengers

SEED = 20261125
GENERATED = "2026-11-25"
SCRIPT = "models/tests/golden/make_golden.py"
HORIZON = 12
LEVELS = [80, 95]
OUT_DIR = Path(__file__).resolve().parent

EXPECTED_VERSIONS = {
    "python": "3.11.7",
    "statsforecast": "2.1.1",
    "numpy": "2.4.6",
    "scipy": "1.17.1",
    "scikit-learn": "1.9.1",
    "pandas": "2.3.3",
    "statsmodels": "0.15.0",
}
VERSIONS = {
    "python": platform.python_version(),
    "statsforecast": statsforecast.__version__,
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "scikit-learn": sklearn.__version__,
    "pandas": pd.__version__,
    "statsmodels": statsmodels.__version__,
}


def provenance(library, extra=()):
    out = {
        "library": library,
        "version": VERSIONS[library],
        "numpy": VERSIONS["numpy"],
    }
    for name in extra:
        out[name] = VERSIONS[name]
    out.update(
        {
            "python": VERSIONS["python"],
            "script": SCRIPT,
            "seed": SEED,
            "generated": GENERATED,
        }
    )
    return out


def floats(a):
    """A 1-d array as a list of Python floats (full precision, no NaN allowed)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"non-finite value in {a}")
    return [float(v) for v in a]


def opt_float(v):
    v = float(v)
    return None if math.isnan(v) else v


# --------------------------------------------------------------------------- series


def make_series(rng):
    """The four reference series. rng draws happen in exactly this order."""
    air = np.asarray(AirPassengers, dtype=np.float64)
    assert air.size == 144

    # trending: 120 months, 50 + 0.8 t + N(0, 4^2), 2 decimals, kept positive
    t = np.arange(120, dtype=np.float64)
    trending = np.round(50.0 + 0.8 * t + rng.normal(0.0, 4.0, size=120), 2)
    trending = np.maximum(trending, 0.01)

    # intermittent: 120 months, ~70% zeros, non-zero sizes 1 + Poisson(5) (mean 6)
    nonzero = rng.random(120) < 0.3
    sizes = 1 + rng.poisson(5.0, size=120)
    intermittent = np.where(nonzero, sizes, 0).astype(np.float64)
    assert intermittent.sum() > 0

    # seasonal_counts: 240 months, Poisson(8 + 5 sin(2 pi t / 12) + 0.02 t)
    t240 = np.arange(240, dtype=np.float64)
    lam = 8.0 + 5.0 * np.sin(2.0 * np.pi * t240 / 12.0) + 0.02 * t240
    seasonal_counts = rng.poisson(lam).astype(np.float64)

    return {
        "air_passengers": air,
        "trending": trending,
        "intermittent": intermittent,
        "seasonal_counts": seasonal_counts,
    }


SERIES_NOTES = {
    "air_passengers": "AirPassengers, monthly totals (thousands), Jan 1949 - Dec 1960",
    "trending": "120 months: round(50 + 0.8*t + N(0, 4^2), 2), t = 0..119, floored at 0.01",
    "intermittent": "120 months: with prob 0.3 a count 1 + Poisson(5), else 0",
    "seasonal_counts": "240 months: Poisson(8 + 5*sin(2*pi*t/12) + 0.02*t), t = 0..239",
}


# ------------------------------------------------------- plain reimplementations


def ses_level(x, alpha):
    """Final smoothed level: starts at x[0], then l = alpha*x_t + (1-alpha)*l."""
    level = x[0]
    for v in x[1:]:
        level = alpha * v + (1.0 - alpha) * level
    return level


def ses_sse(x, alpha):
    level = x[0]
    sse = 0.0
    for v in x[1:]:
        err = v - level
        sse += err * err
        level = alpha * v + (1.0 - alpha) * level
    return sse


def golden_alpha(x, lo=0.1, hi=0.3):
    gr = (math.sqrt(5.0) + 1.0) / 2.0
    a, b = lo, hi
    c = b - (b - a) / gr
    d = a + (b - a) / gr
    fc, fd = ses_sse(x, c), ses_sse(x, d)
    while abs(b - a) >= 1e-12:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - (b - a) / gr
            fc = ses_sse(x, c)
        elif fd < fc:
            a, c, fc = c, d, fd
            d = a + (b - a) / gr
            fd = ses_sse(x, d)
        else:
            break
    return (a + b) / 2.0


def sizes_and_intervals(y):
    idx = np.flatnonzero(y != 0)
    sizes = y[y > 0]
    intervals = np.diff(idx + 1, prepend=0).astype(np.float64)
    return sizes, intervals


def ref_croston(y, variant):
    sizes, intervals = sizes_and_intervals(y)
    if sizes.size == 0:
        return float(y[-1])
    if variant == "optimized":
        z = ses_level(sizes, golden_alpha(sizes))
        p = ses_level(intervals, golden_alpha(intervals))
    else:
        z = ses_level(sizes, 0.1)
        p = ses_level(intervals, 0.1)
    f = z / p if p != 0.0 else z
    return f * 0.95 if variant == "sba" else f


def ref_tsb(y, alpha_d, alpha_p):
    if np.all(y == 0):
        return 0.0
    prob = ses_level((y != 0).astype(np.float64), alpha_p)
    size = ses_level(y[y > 0], alpha_d)
    return prob * size


def check_close(name, got, want, rtol=1e-12, atol=1e-12):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        raise AssertionError(f"{name}: {got} != {want}")


# ----------------------------------------------------------------- ets.json


def ets_model_name(components):
    """'MAND' -> 'MAN', 'AADN'... statsforecast stores error, trend, season, damped flag."""
    e, t, s, d = components[:4]
    return f"{e}{t}{'d' if d == 'D' else ''}{s}"


def interval_block(res):
    out = {"mean": floats(res["mean"])}
    for lv in LEVELS:
        out[f"lo_{lv}"] = floats(res[f"lo-{lv}"])
        out[f"hi_{lv}"] = floats(res[f"hi-{lv}"])
    return out


def run_auto_ets(y):
    m = AutoETS(season_length=1, model="ZZN").fit(y)
    res = m.predict(h=HORIZON, level=LEVELS)
    md = m.model_
    par = np.asarray(md["par"], dtype=np.float64)
    out = interval_block(res)
    out.update(
        {
            "model": ets_model_name(md["components"]),
            "method": md["method"],
            "components": md["components"],
            "aic": float(md["aic"]),
            "aicc": float(md["aicc"]),
            "bic": float(md["bic"]),
            "loglik": float(md["loglik"]),
            "sigma2": float(md["sigma2"]),
            "n_params": int(md["n_params"]),
            "alpha": opt_float(par[0]),
            "beta": opt_float(par[1]),
            "phi": opt_float(par[3]),
            "initial_states": floats(par[4:]),
        }
    )
    # fit/predict and the one-shot forecast path must agree
    one_shot = AutoETS(season_length=1, model="ZZN").forecast(y, h=HORIZON)
    check_close("AutoETS forecast vs predict", one_shot["mean"], res["mean"])
    return out


def run_mstl(y):
    m = MSTL(season_length=12, trend_forecaster=AutoETS(model="ZZN")).fit(y)
    res = m.predict(h=HORIZON, level=LEVELS)
    out = interval_block(res)
    seasonal = m.model_["seasonal"].to_numpy(dtype=np.float64)
    last_cycle = seasonal[-12:]
    trend_res = m.trend_forecaster.predict(h=HORIZON, level=LEVELS)
    trend_fc = trend_res["mean"]
    seas_h = np.tile(last_cycle, math.ceil(HORIZON / 12))[:HORIZON]
    # forecast = trend forecaster on the seasonally adjusted series + last seasonal cycle
    for key in trend_res:
        check_close(f"MSTL {key} = trend + seasonal naive", trend_res[key] + seas_h, res[key])
    out.update(
        {
            "trend_model": ets_model_name(m.trend_forecaster.model_["components"]),
            "trend_method": m.trend_forecaster.model_["method"],
            "seasonal_last_cycle": floats(last_cycle),
            "trend_forecast_mean": floats(trend_fc),
        }
    )
    return out


def point(model, y):
    fc = model.fit(y).predict(h=HORIZON)["mean"]
    return np.asarray(fc, dtype=np.float64)


def run_intermittent_family(y, name):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc = point(CrostonClassic(), y)
        sba = point(CrostonSBA(), y)
        opt = point(CrostonOptimized(), y)
        tsb = point(TSB(alpha_d=0.2, alpha_p=0.1), y)
        tsb2 = point(TSB(alpha_d=0.5, alpha_p=0.3), y)
    check_close(f"{name} croston_classic", cc, ref_croston(y, "classic"))
    check_close(f"{name} croston_sba", sba, ref_croston(y, "sba"))
    check_close(f"{name} croston_optimized", opt, ref_croston(y, "optimized"))
    check_close(f"{name} tsb", tsb, ref_tsb(y, 0.2, 0.1))
    check_close(f"{name} tsb_05_03", tsb2, ref_tsb(y, 0.5, 0.3))
    out["croston_classic"] = {"mean": floats(cc)}
    out["croston_sba"] = {"mean": floats(sba)}
    out["croston_optimized"] = {"mean": floats(opt)}
    out["tsb"] = {"alpha_d": 0.2, "alpha_p": 0.1, "mean": floats(tsb)}
    out["tsb_05_03"] = {"alpha_d": 0.5, "alpha_p": 0.3, "mean": floats(tsb2)}
    return out


EDGE_CASES = {
    "all_zero": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "single_nonzero_middle": [0, 0, 0, 5, 0, 0],
    "single_nonzero_first": [3, 0, 0, 0],
    "single_nonzero_last": [0, 0, 0, 0, 7],
    "single_observation": [4],
    "two_demands": [0, 0, 2, 0, 0, 3, 0],
    "no_zeros": [2, 4, 3, 5, 1, 6],
    "starts_with_demand": [6, 0, 0, 2, 0, 9, 0, 0, 0, 1],
}


def run_edge_cases():
    out = {}
    for name, vals in EDGE_CASES.items():
        y = np.asarray(vals, dtype=np.float64)
        block = {"y": floats(y)}
        block.update(run_intermittent_family(y, f"edge {name}"))
        # the forecast is flat, keep one value per model to keep the file small
        for key in list(block):
            if key != "y":
                block[key]["mean"] = block[key]["mean"][:1]
        out[name] = block
    return out


def build_ets(series):
    doc = {
        "provenance": provenance("statsforecast", extra=("scipy", "statsmodels", "pandas")),
        "horizon": HORIZON,
        "levels": LEVELS,
        "series": {},
    }
    for name, y in series.items():
        block = {"description": SERIES_NOTES[name], "y": floats(y)}
        block["auto_ets_zzn"] = run_auto_ets(y)
        block["mstl_ets"] = run_mstl(y)
        block.update(run_intermittent_family(y, name))
        doc["series"][name] = block
    doc["edge_cases"] = {
        "note": "Croston/TSB family on tiny series; forecasts are flat, so 'mean' "
        "holds the single repeated value",
        "cases": run_edge_cases(),
    }
    return doc


# ------------------------------------------------------------- metrics.json

QUANTILE_LEVELS = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]


def pinball(y, f, q):
    d = y - f
    return np.maximum(q * d, (q - 1.0) * d)


def crps_empirical(samples, y):
    """E|X - y| - 0.5 E|X - X'| over all n*n ordered pairs (self-pairs included)."""
    term1 = np.mean(np.abs(samples - y))
    term2 = np.mean(np.abs(samples[:, None] - samples[None, :]))
    return term1 - 0.5 * term2


def crps_integral(samples, y):
    """Independent check: integral of (F_n(x) - 1{x >= y})^2 over the real line."""
    pts = np.sort(np.append(samples, y))
    total = 0.0
    n = samples.size
    for lo, hi in zip(pts[:-1], pts[1:]):
        if hi <= lo:
            continue
        fx = np.sum(samples <= lo) / n
        hx = 1.0 if lo >= y else 0.0
        total += (fx - hx) ** 2 * (hi - lo)
    return total


def average_precision_ref(event, score):
    """Step-wise AP with one threshold per distinct score (sklearn's convention)."""
    thresholds = np.unique(score)[::-1]
    n_pos = event.sum()
    ap, prev_recall = 0.0, 0.0
    for th in thresholds:
        sel = score >= th
        tp = np.sum(event[sel])
        precision = tp / np.sum(sel)
        recall = tp / n_pos
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def build_metrics(rng):
    n = 30
    # outcomes: Poisson(8) base, 6 forced zeros, 4 forced large values (>= 25)
    y = rng.poisson(8.0, size=n).astype(np.float64)
    special = rng.choice(n, size=10, replace=False)
    y[special[:6]] = 0.0
    y[special[6:]] = rng.integers(25, 60, size=4).astype(np.float64)

    mean = np.maximum(0.0, y + rng.normal(0.0, 4.0, size=n))
    mean[special[0]] = 0.0  # one exact-zero point forecast

    season = 12
    tt = np.arange(60, dtype=np.float64)
    insample = rng.poisson(8.0 + 4.0 * np.sin(2.0 * np.pi * tt / season)).astype(np.float64)

    # quantile forecasts: normal around the mean, sd = 1 + 0.3*mean, clipped at 0
    q = np.asarray(QUANTILE_LEVELS)
    sd = 1.0 + 0.3 * mean
    quantiles = np.maximum(0.0, mean[:, None] + sd[:, None] * norm.ppf(q)[None, :])
    quantiles = np.sort(quantiles, axis=1)

    # sample cases for CRPS: 3 continuous (clipped normal), 2 integer (Poisson) with ties
    crps_cases = []
    for i in range(5):
        yi = float(y[i])
        if i < 3:
            s = np.maximum(0.0, rng.normal(mean[i], sd[i], size=200))
        else:
            s = rng.poisson(max(mean[i], 0.5), size=200).astype(np.float64)
        crps_cases.append((yi, s))

    # event probabilities with ties (one decimal)
    event_any = (y > 0).astype(np.float64)
    event_25 = (y >= 25).astype(np.float64)
    p_any = np.round(np.clip(0.3 * event_any + rng.uniform(0.0, 0.7, size=n), 0.0, 1.0), 1)
    p_25 = np.round(np.clip(0.3 * event_25 + rng.uniform(0.0, 0.6, size=n), 0.0, 1.0), 1)

    # ---- expected values
    err = mean - y
    mae = np.mean(np.abs(err))
    mse = np.mean(err**2)
    rmse = math.sqrt(mse)
    msle = np.mean((np.log1p(mean) - np.log1p(y)) ** 2)
    scale = np.mean(np.abs(insample[season:] - insample[:-season]))
    mase = mae / scale
    pin = np.array([np.mean(pinball(y, quantiles[:, j], qq)) for j, qq in enumerate(q)])
    crps_q = 2.0 * np.mean(pin)
    cov80 = np.mean((y >= quantiles[:, 1]) & (y <= quantiles[:, 5]))
    cov90 = np.mean((y >= quantiles[:, 0]) & (y <= quantiles[:, 6]))
    brier_any = np.mean((p_any - event_any) ** 2)
    brier_25 = np.mean((p_25 - event_25) ** 2)
    ap_any = average_precision_score(event_any, p_any)
    ap_25 = average_precision_score(event_25, p_25)

    # ---- independent cross-checks
    check_close("mae", mae, mean_absolute_error(y, mean))
    check_close("mse", mse, mean_squared_error(y, mean))
    check_close("msle", msle, mean_squared_log_error(y, mean))
    for j, qq in enumerate(q):
        check_close(f"pinball {qq}", pin[j], mean_pinball_loss(y, quantiles[:, j], alpha=qq))
    check_close("ap_any", ap_any, average_precision_ref(event_any, p_any))
    check_close("ap_25", ap_25, average_precision_ref(event_25, p_25))
    crps_vals = []
    for i, (yi, s) in enumerate(crps_cases):
        c = crps_empirical(s, yi)
        check_close(f"crps case {i}", c, crps_integral(s, yi), rtol=1e-10, atol=1e-10)
        crps_vals.append(c)
    assert np.all(np.diff(quantiles, axis=1) >= 0) and np.all(quantiles >= 0)
    assert (y == 0).sum() >= 6 and (y >= 25).sum() >= 4
    # ties must exist, and at least one tied score must hold both an event and a non-event
    for p, ev in ((p_any, event_any), (p_25, event_25)):
        assert len(np.unique(p)) < n
        assert any(0 < ev[p == v].mean() < 1 for v in np.unique(p))

    return {
        "provenance": provenance("scikit-learn", extra=("scipy",)),
        "n_cases": n,
        "season_length": season,
        "quantile_levels": [float(v) for v in q],
        "inputs": {
            "y": floats(y),
            "mean": floats(mean),
            "insample": floats(insample),
            "quantiles": [floats(row) for row in quantiles],
            "p_any": floats(p_any),
            "p_25": floats(p_25),
            "event_any": floats(event_any),
            "event_25": floats(event_25),
        },
        "expected": {
            "mae": float(mae),
            "mse": float(mse),
            "rmse": float(rmse),
            "msle": float(msle),
            "mase": float(mase),
            "mase_scale": float(scale),
            "pinball": floats(pin),
            "crps_quantile": float(crps_q),
            "coverage_80": float(cov80),
            "coverage_90": float(cov90),
            "brier_any": float(brier_any),
            "brier_25": float(brier_25),
            "ap_any": float(ap_any),
            "ap_25": float(ap_25),
        },
        "crps_samples": [
            {"y": yi, "samples": floats(s), "crps": float(c)}
            for (yi, s), c in zip(crps_cases, crps_vals)
        ],
    }


# ------------------------------------------------------------------ output


def dump(obj, indent=0):
    """JSON with nested objects indented and lists of scalars kept on one line."""
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f'{pad}  {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [f"{pad}  {dump(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


def write(name, doc):
    text = dump(doc) + "\n"
    json.loads(text)  # sanity: valid JSON
    (OUT_DIR / name).write_text(text)
    print(f"wrote {name}")


def main():
    for lib, want in EXPECTED_VERSIONS.items():
        if VERSIONS[lib] != want:
            print(
                f"warning: {lib} {VERSIONS[lib]} installed, goldens were made with {want}",
                file=sys.stderr,
            )
    rng = np.random.default_rng(SEED)
    series = make_series(rng)  # draws first
    metrics = build_metrics(rng)  # draws second
    write("ets.json", build_ets(series))
    write("metrics.json", metrics)


if __name__ == "__main__":
    main()
