#!/usr/bin/env python3
"""Generate golden reference numbers for vigil's trend / seasonality / hot-spot code.

Writes, next to this script:
  mann_kendall.json  -- pymannkendall (original MK, Hamed-Rao, seasonal MK, Sen slopes)
  stl.json           -- statsmodels STL (plain and robust) + Hyndman strengths
  getis_ord.json     -- esda G_Local (Gi*) on a 12 x 10 lattice + BH FDR

Usage (from the repository root):
  pip install pymannkendall statsmodels esda libpysal numpy scipy pandas
  python engine/core/tests/golden/make_trend_golden.py

The output is deterministic: every file draws its inputs from its own fresh
np.random.default_rng(20261125), and nothing depends on the wall clock.
Running the script twice yields byte-identical JSON.

Besides recording library output, the script re-derives the key quantities
with plain numpy (MK S and tie-corrected variance, Hamed-Rao correction,
seasonal MK sums, Sen intercepts, Gi* moments, BH) and asserts that they agree
with the libraries, so the formulas in README.md are checked, not guessed.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pymannkendall as mk
import scipy
import statsmodels
from scipy.stats import norm, rankdata
from statsmodels.stats.multitest import multipletests
from statsmodels.tsa.seasonal import STL

import esda
import libpysal

SEED = 20261125
GENERATED = "2026-11-25"
SCRIPT = "engine/core/tests/golden/make_trend_golden.py"
OUT_DIR = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def provenance(library, version, **extra):
    p = {
        "library": library,
        "version": version,
        "numpy": np.__version__,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "script": SCRIPT,
        "seed": SEED,
        "generated": GENERATED,
    }
    p.update(extra)
    return p


def jfloat(v):
    """Python float at full precision; NaN / +-inf become None (JSON null)."""
    v = float(v)
    return v if math.isfinite(v) else None


def jlist(a):
    return [jfloat(v) for v in np.asarray(a, dtype=float).ravel()]


def write_json(name, obj):
    text = json.dumps(obj, indent=1, allow_nan=False) + "\n"
    (OUT_DIR / name).write_text(text, encoding="utf-8")
    print("wrote", name, len(text), "bytes")


def close(a, b, rtol=1e-12, atol=1e-12):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    same_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(same_nan | np.isclose(a, b, rtol=rtol, atol=atol)))


# --------------------------------------------------------------------------
# 1. Mann-Kendall family (pymannkendall)
# --------------------------------------------------------------------------

MK_FIELDS = ["trend", "h", "p", "z", "Tau", "s", "var_s", "slope", "intercept"]


def mk_result(res):
    d = {}
    for f in MK_FIELDS:
        v = getattr(res, f)
        if f == "trend":
            d[f] = str(v)
        elif f == "h":
            d[f] = bool(v)
        else:
            d[f] = jfloat(v)
    return d


def ref_s(x):
    n = len(x)
    s = 0.0
    for k in range(n - 1):
        s += np.sign(x[k + 1:] - x[k]).sum()
    return float(s)


def ref_var_s(x):
    n = len(x)
    _, t = np.unique(x, return_counts=True)
    return (n * (n - 1) * (2 * n + 5) - np.sum(t * (t - 1) * (2 * t + 5))) / 18.0


def ref_z(s, var_s):
    if s > 0:
        return (s - 1) / math.sqrt(var_s)
    if s < 0:
        return (s + 1) / math.sqrt(var_s)
    return 0.0


def ref_sen(x):
    n = len(x)
    i, j = np.triu_indices(n, k=1)
    slope = float(np.median((x[j] - x[i]) / (j - i)))
    intercept = float(np.median(x) - np.median(np.arange(n)) * slope)
    return slope, intercept


def ref_hamed_rao(x, alpha=0.05):
    """Re-derivation of pymannkendall's default (lag=None) Hamed-Rao path."""
    n = len(x)
    slope, _ = ref_sen(x)
    ranks = rankdata(x - np.arange(1, n + 1) * slope)  # average ranks
    y = ranks - ranks.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        acov = np.correlate(y, y, "full")[n - 1:] / n  # biased, divide by n
        acf = acov / acov[0]
    bound = norm.ppf(1 - alpha / 2) / math.sqrt(n)
    sig = []
    sni = 0.0
    for k in range(1, n):  # lags 1 .. n-1
        if not (-bound <= acf[k] <= bound):  # NaN counts as "significant"
            sig.append(k)
            sni += (n - k) * (n - k - 1) * (n - k - 2) * acf[k]
    ratio = 1 + 2.0 / (n * (n - 1) * (n - 2)) * sni
    return {
        "acf_bound": bound,
        "significant_lags": sig,
        "significant_acf": [acf[k] for k in sig],
        "variance_ratio": ratio,
        "var_s": ref_var_s(x) * ratio,
    }


def ref_seasonal(x, period):
    n = len(x)
    if n % period:
        x = np.concatenate([x, np.full(period - n % period, np.nan)])
    m = x.reshape(-1, period)  # rows = cycles, columns = seasons
    s = var = denom = 0.0
    per_season = []
    for c in range(period):
        col = m[:, c][~np.isnan(m[:, c])]
        k = len(col)
        sc, vc = ref_s(col), ref_var_s(col)
        per_season.append({"season": c, "n": k, "s": sc, "var_s": vc})
        s += sc
        var += vc
        denom += 0.5 * k * (k - 1)
    # seasonal Sen: pooled within-season pairwise slopes (time unit = 1 cycle)
    d = []
    for c in range(period):
        col = m[:, c]
        i, j = np.triu_indices(len(col), k=1)
        d.extend(((col[j] - col[i]) / (j - i)).tolist())
    slope = float(np.nanmedian(d))
    flat = m.ravel()
    ok = ~np.isnan(flat)
    intercept = float(np.nanmedian(flat) - np.median(np.arange(flat.size)[ok]) / period * slope)
    return s, var, s / denom, slope, intercept, per_season


def make_mk_series(rng):
    """Draw order is part of the fixture definition; do not reorder."""
    series = {}

    t = np.arange(60)
    x = 10.0 + 0.08 * t + rng.normal(0.0, 1.0, 60)
    series["rising"] = (np.round(x, 6),
                        "60 monthly values: 10 + 0.08*t + N(0,1), t=0..59, rounded to 6 decimals")

    x = 10.0 + rng.normal(0.0, 1.0, 60)
    series["flat"] = (np.round(x, 6),
                      "60 values: 10 + N(0,1), rounded to 6 decimals")

    t = np.arange(48)
    lam = 1.5 + 1.0 * t / 47.0
    x = rng.poisson(lam).astype(float)
    series["ties"] = (x,
                      "48 Poisson counts, mean 1.5 + t/47 (1.5 -> 2.5, overall mean 2), t=0..47; many ties and zeros")

    phi, n = 0.6, 120
    e = rng.normal(0.0, 1.0, n)
    ar = np.empty(n)
    ar[0] = e[0] / math.sqrt(1.0 - phi * phi)  # stationary start
    for i in range(1, n):
        ar[i] = phi * ar[i - 1] + e[i]
    x = ar + 0.01 * np.arange(n)
    series["autocorrelated"] = (np.round(x, 6),
                                "120 values: AR(1) phi=0.6 with N(0,1) innovations and stationary start, plus 0.01*t; rounded to 6 decimals")

    t = np.arange(72)
    x = 50.0 + 5.0 * np.sin(2 * np.pi * t / 12) + 0.1 * t + rng.normal(0.0, 1.5, 72)
    series["seasonal"] = (np.round(x, 6),
                          "72 monthly values: 50 + 5*sin(2*pi*t/12) + 0.1*t + N(0,1.5^2), t=0..71, rounded to 6 decimals")

    t = np.arange(10)
    x = 5.0 + 0.3 * t + rng.normal(0.0, 1.0, 10)
    series["short"] = (np.round(x, 6),
                       "10 values: 5 + 0.3*t + N(0,1), rounded to 6 decimals")

    series["constant"] = (np.full(12, 7.0), "12 identical values (7.0)")
    return series


def build_mann_kendall():
    rng = np.random.default_rng(SEED)
    alpha, period = 0.05, 12
    out = {
        "provenance": provenance("pymannkendall", mk.__version__, scipy=scipy.__version__),
        "alpha": alpha,
        "period": period,
        "notes": [
            "Each series is an object with its values 'x' and one object per test.",
            "A test key is absent when it does not apply (seasonal_* need n >= 24).",
            "null in a numeric field means the library returned NaN.",
            "'s' is integer-valued but stored as a float, as the library returns it.",
            "hamed_rao_detail is re-derived by the script (not a library output) and checked against hamed_rao.var_s.",
            "seasonal_detail.per_season is re-derived by the script and checked against seasonal_test.s / var_s.",
        ],
        "series": {},
    }
    for name, (x, desc) in make_mk_series(rng).items():
        n = len(x)
        entry = {"description": desc, "n": n, "x": jlist(x)}

        with np.errstate(invalid="ignore", divide="ignore"):
            r = mk.original_test(x, alpha=alpha)
        entry["original_test"] = mk_result(r)
        # checks of the documented formulas
        assert ref_s(x) == float(r.s), name
        assert close(ref_var_s(x), r.var_s), name
        assert close(ref_z(r.s, r.var_s), r.z), name
        assert close(2 * norm.sf(abs(ref_z(r.s, r.var_s))), r.p), name
        assert close(r.s / (0.5 * n * (n - 1)), r.Tau), name

        with np.errstate(invalid="ignore", divide="ignore"):
            r = mk.hamed_rao_modification_test(x, alpha=alpha)
        entry["hamed_rao"] = mk_result(r)
        hr = ref_hamed_rao(x, alpha)
        assert close(hr["var_s"], r.var_s), name
        entry["hamed_rao_detail"] = {
            "acf_bound": jfloat(hr["acf_bound"]),
            "significant_lags": hr["significant_lags"],
            "significant_acf": jlist(hr["significant_acf"]),
            "variance_ratio": jfloat(hr["variance_ratio"]),
        }

        r = mk.sens_slope(x)
        entry["sens_slope"] = {"slope": jfloat(r.slope), "intercept": jfloat(r.intercept)}
        assert close(ref_sen(x), (r.slope, r.intercept)), name

        if n >= 2 * period:
            r = mk.seasonal_test(x, period=period, alpha=alpha)
            entry["seasonal_test"] = mk_result(r)
            s, var, tau, sslope, sint, per = ref_seasonal(x, period)
            assert s == float(r.s) and close(var, r.var_s) and close(tau, r.Tau), name
            assert close((sslope, sint), (r.slope, r.intercept)), name
            entry["seasonal_detail"] = {"per_season": per}

            r = mk.seasonal_sens_slope(x, period=period)
            entry["seasonal_sens_slope"] = {"slope": jfloat(r.slope), "intercept": jfloat(r.intercept)}
            assert close((sslope, sint), (r.slope, r.intercept)), name

        out["series"][name] = entry
    return out


# --------------------------------------------------------------------------
# 2. STL (statsmodels)
# --------------------------------------------------------------------------

AIR_PASSENGERS = [
    112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118,
    115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,
    145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166,
    171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,
    196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201,
    204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,
    242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,
    284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
    315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336,
    340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
    360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405,
    417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
]

STL_MODEL = dict(period=12, seasonal=13, trend=21, low_pass=13,
                 seasonal_deg=1, trend_deg=1, low_pass_deg=1,
                 seasonal_jump=1, trend_jump=1, low_pass_jump=1)


def strengths(trend, seasonal, resid):
    vr = np.var(resid)  # ddof = 0
    fs = max(0.0, 1.0 - vr / np.var(seasonal + resid))
    ft = max(0.0, 1.0 - vr / np.var(trend + resid))
    return jfloat(fs), jfloat(ft)


def stl_run(y, robust, inner_iter, outer_iter):
    res = STL(y, robust=robust, **STL_MODEL).fit(inner_iter=inner_iter, outer_iter=outer_iter)
    trend = np.asarray(res.trend, dtype=float)
    seasonal = np.asarray(res.seasonal, dtype=float)
    resid = np.asarray(res.resid, dtype=float)
    weights = np.asarray(res.weights, dtype=float)
    assert np.array_equal(resid, y - seasonal - trend)
    fs, ft = strengths(trend, seasonal, resid)
    params = dict(STL_MODEL)
    params.update(robust=robust, inner_iter=inner_iter, outer_iter=outer_iter)
    return {
        "params": params,
        "trend": jlist(trend),
        "seasonal": jlist(seasonal),
        "resid": jlist(resid),
        "robust_weights": jlist(weights),
        "seasonal_strength": fs,
        "trend_strength": ft,
    }


def build_stl():
    rng = np.random.default_rng(SEED)
    t = np.arange(144)
    seasonal_counts = np.round(20.0 + 8.0 * np.sin(2 * np.pi * t / 12) + 0.1 * t
                               + rng.normal(0.0, 2.0, 144), 2)
    air = np.asarray(AIR_PASSENGERS, dtype=float)
    assert air.size == 144 and air.sum() == 40363.0

    out = {
        "provenance": provenance("statsmodels", statsmodels.__version__, scipy=scipy.__version__),
        "notes": [
            "'plain' = STL(..., robust=False).fit(inner_iter=2, outer_iter=0).",
            "'robust' = STL(..., robust=True).fit(inner_iter=1, outer_iter=15).",
            "resid = (y - seasonal) - trend, evaluated in that order (as statsmodels computes it).",
            "robust_weights are the weights used in the last inner pass (all 1.0 when outer_iter = 0).",
            "seasonal_strength = max(0, 1 - var(resid)/var(seasonal+resid)); "
            "trend_strength = max(0, 1 - var(resid)/var(trend+resid)); var is the population variance (ddof=0).",
        ],
        "series": {},
    }
    inputs = {
        "seasonal_counts": (seasonal_counts,
                            "144 monthly values: 20 + 8*sin(2*pi*t/12) + 0.1*t + N(0, 2^2), t=0..143, rounded to 2 decimals"),
        "air_passengers": (air, "Box & Jenkins AirPassengers, monthly totals 1949-01 .. 1960-12 (thousands)"),
    }
    for name, (y, desc) in inputs.items():
        out["series"][name] = {
            "description": desc,
            "n": int(y.size),
            "y": jlist(y),
            "plain": stl_run(y, robust=False, inner_iter=2, outer_iter=0),
            "robust": stl_run(y, robust=True, inner_iter=1, outer_iter=15),
        }
    return out


# --------------------------------------------------------------------------
# 3. Getis-Ord Gi* (esda)
# --------------------------------------------------------------------------

def bh_reject(p, alpha):
    """Benjamini-Hochberg step-up. Returns (reject mask, adjusted p-values)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.arange(1, m + 1)
    below = ps <= ranks / m * alpha
    reject = np.zeros(m, dtype=bool)
    if below.any():
        kmax = np.nonzero(below)[0].max()
        reject[order[: kmax + 1]] = True
    adj_sorted = np.minimum.accumulate((ps * m / ranks)[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(adj_sorted, 1.0)
    return reject, adj


def ref_gi_star(y, neighbors):
    """Gi* with binary weights and self-weight 1, written out by hand."""
    n = y.size
    ybar = y.mean()
    s = math.sqrt((y ** 2).mean() - ybar ** 2)  # population sd, ddof = 0
    G, Z = np.empty(n), np.empty(n)
    for i in range(n):
        idx = [i] + list(neighbors[i])
        wi = len(idx)  # sum of weights incl. self
        lag = y[idx].sum()
        G[i] = lag / y.sum()
        Z[i] = (lag - ybar * wi) / (s * math.sqrt((n * wi - wi * wi) / (n - 1)))
    return G, Z


def gi_case(y, w, alpha, ids):
    neighbors = [sorted(int(j) for j in w.neighbors[i]) for i in ids]
    g = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    Gs = np.asarray(g.Gs, dtype=float)
    Zs = np.asarray(g.Zs, dtype=float)
    p_norm = np.asarray(g.p_norm, dtype=float)
    EGs = np.asarray(g.EGs, dtype=float)
    VGs = np.asarray(g.VGs, dtype=float)

    G_ref, Z_ref = ref_gi_star(y, neighbors)
    assert close(G_ref, Gs) and close(Z_ref, Zs, rtol=1e-10, atol=1e-10)
    assert close(p_norm, norm.sf(np.abs(Zs)))  # esda: one-sided, upper tail of |Z|

    p_two = 2.0 * norm.sf(np.abs(Zs))
    reject, adj = bh_reject(p_two, alpha)
    sm_reject, sm_adj, _, _ = multipletests(p_two, alpha=alpha, method="fdr_bh")
    assert np.array_equal(reject, sm_reject) and close(adj, sm_adj)

    return {
        "neighbors": neighbors,
        "cardinality_with_self": [len(nb) + 1 for nb in neighbors],
        "Gs": jlist(Gs),
        "EGs": jlist(EGs),
        "VGs": jlist(VGs),
        "Zs": jlist(Zs),
        "p_norm": jlist(p_norm),
        "p_two_sided": jlist(p_two),
        "fdr_bh": {
            "alpha": alpha,
            "p_values_used": "p_two_sided",
            "q_values": jlist(adj),
            "significant": [bool(b) for b in reject],
            "n_significant": int(reject.sum()),
        },
        "hot_significant_ids": [int(i) for i in ids if reject[i] and Zs[i] > 0],
        "cold_significant_ids": [int(i) for i in ids if reject[i] and Zs[i] < 0],
    }


def build_getis_ord():
    rng = np.random.default_rng(SEED)
    nrows, ncols, alpha = 12, 10, 0.05
    n = nrows * ncols
    y = rng.poisson(3.0, n).astype(float)
    grid = y.reshape(nrows, ncols)  # view: cell (r, c) = id r*ncols + c
    hot_rows, hot_cols = (2, 5), (2, 5)  # half-open ranges
    cold_rows, cold_cols = (7, 10), (6, 9)
    grid[hot_rows[0]:hot_rows[1], hot_cols[0]:hot_cols[1]] = rng.poisson(20.0, (3, 3))
    grid[cold_rows[0]:cold_rows[1], cold_cols[0]:cold_cols[1]] = 0.0

    def block_ids(rr, cc):
        return [r * ncols + c for r in range(*rr) for c in range(*cc)]

    ids = list(range(n))

    w_queen = libpysal.weights.lat2W(nrows, ncols, rook=False)
    assert list(w_queen.id_order) == ids
    queen = gi_case(y, w_queen, alpha, ids)
    queen["weights"] = "queen contiguity, libpysal.weights.lat2W(12, 10, rook=False), binary (transform 'B'), self-weight 1 (star=True)"

    # second case: binary distance band on cell centres (x = column, y = row)
    threshold = 2.5
    coords = [(float(c), float(r)) for r in range(nrows) for c in range(ncols)]
    w_band = libpysal.weights.DistanceBand(coords, threshold=threshold, binary=True, silence_warnings=True)
    assert list(w_band.id_order) == ids
    band = gi_case(y, w_band, alpha, ids)
    band["weights"] = ("binary distance band, libpysal.weights.DistanceBand(centres, threshold=2.5, binary=True); "
                       "centre of cell (r, c) = (x=c, y=r); neighbours are cells at Euclidean distance <= 2.5 "
                       "(offsets (dr, dc) with dr^2 + dc^2 <= 5, excluding self); self-weight 1 (star=True)")
    band["threshold"] = threshold

    return {
        "provenance": provenance("esda", esda.__version__, libpysal=libpysal.__version__, scipy=scipy.__version__),
        "lattice": {
            "nrows": nrows,
            "ncols": ncols,
            "id_rule": "id = r * ncols + c (row-major), r = 0..nrows-1, c = 0..ncols-1",
            "ids": ids,
        },
        "y_description": ("Poisson(3) counts for all 120 cells (row-major draw), then the hot block "
                          "overwritten with Poisson(20) draws (3x3, row-major), then the cold block set to 0"),
        "hot_block": {"rows": list(range(*hot_rows)), "cols": list(range(*hot_cols)),
                      "ids": block_ids(hot_rows, hot_cols)},
        "cold_block": {"rows": list(range(*cold_rows)), "cols": list(range(*cold_cols)),
                       "ids": block_ids(cold_rows, cold_cols)},
        "y": jlist(y),
        "call": "esda.G_Local(y, w, transform='B', star=True, permutations=0)",
        "notes": [
            "neighbors[i] lists the neighbours of cell i WITHOUT i itself; star=True adds self-weight 1.",
            "p_norm is what esda stores: norm.sf(|Zs|), ONE-sided (upper tail of |Z|).",
            "p_two_sided = 2 * p_norm; Benjamini-Hochberg is applied to p_two_sided over all n cells.",
            "q_values are BH-adjusted p-values (step-up, monotone, capped at 1); significant == (q_values <= alpha).",
            "EGs = W_i / n and VGs are esda's moments of Gs under the normality assumption.",
        ],
        "cases": {"queen": queen, "distance_band": band},
    }


def main():
    write_json("mann_kendall.json", build_mann_kendall())
    write_json("stl.json", build_stl())
    write_json("getis_ord.json", build_getis_ord())


if __name__ == "__main__":
    main()
