"""Generate the GLM and negative-binomial golden numbers used by the Rust tests of the models crate.

What it writes (into the folder this script lives in):

  glm.json  Reference numbers for a hand-written IRLS GLM fitter and for NB2 helpers:
              - "glm": six fitted GLMs (log-link Poisson and logit-link binomial), each with
                its design x (n rows x k columns, WITHOUT the intercept column), outcome y,
                fitted coefficients [intercept, b_1..b_k] and the predicted means of five
                new rows x_new:
                  poisson_small               n=300,  k=3, Poisson outcome
                  poisson_overdispersed_zeros n=2000, k=6, log1p(lagged count) features,
                                              negative-binomial outcome, ~70% zeros
                  binomial_small              n=400,  k=3
                  binomial_rare               n=3000, k=5, ~8% ones
                  poisson_ridge               data of poisson_overdispersed_zeros, l2 = 5
                  binomial_ridge              data of binomial_rare, l2 = 5
                The unpenalised cases are fitted with statsmodels' GLM (IRLS); the ridge cases
                minimise  -loglik(b) + (l2/2) * sum_{j>=1} b_j^2  (intercept not penalised,
                loglik a plain sum over rows) with a Newton iteration.
              - "nb": NB2 distributions (mean mu, variance mu + alpha*mu^2; alpha = 0 is
                Poisson) with scipy's quantiles at 13 levels, the cdf at a few counts and
                E[log(1 + Y)].

Everything is float64 and deterministic: one numpy Generator seeded with 20261125, drawn
from in a fixed order (case 1, 2, 3, 4; the NB part draws nothing). Values are written at
full precision (Python's shortest round-trip float repr). The features are rounded to 3
decimals BEFORE fitting, so the file stays under 400 KB; the fits use exactly the written
values. For the same reason lists of numbers are written without spaces and the rows of
x / x_new start at column 0, one row per line.

Before writing, the script checks itself and stops on any failure:
  - every statsmodels IRLS fit is re-solved with scipy.optimize.minimize (trust-ncg, exact
    gradient and Hessian, gtol 1e-12) on the exact negative log-likelihood; the
    coefficients must agree to 1e-7 relative;
  - every ridge fit (own Newton iteration) must have a gradient norm < 1e-8 and agree with
    scipy trust-ncg to 1e-7 relative, and with statsmodels' fit_regularized(L1_wt=0,
    alpha = [0, l2/n, ...]) to 5e-4 relative: an independent check of the penalty
    convention. Its coordinate descent only gets to ~1e-4, but changing l2 by 2 %
    already moves the coefficients by more than 7e-4, and a factor of 2 in l2 or a
    penalised intercept by more than 1e-2;
  - mu_new is checked against statsmodels' predict (unpenalised cases);
  - every NB quantile q of level p satisfies cdf(q) >= p > cdf(q - 1), and E[log(1+Y)] is
    re-derived as sum_k P(Y > k) * log((k+2)/(k+1)).

How to run (from the repository root):

    pip install statsmodels==0.15.0 scipy==1.17.1 numpy==2.4.6
    python3 models/tests/golden/make_glm_golden.py

Versions used to produce the committed file:
    python 3.11.7, statsmodels 0.15.0, scipy 1.17.1, numpy 2.4.6.
The script warns when the installed versions differ from these.
"""

import json
import math
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import optimize, stats
from scipy.special import expit

SEED = 20261125
SCRIPT = "models/tests/golden/make_glm_golden.py"
OUT_DIR = Path(__file__).resolve().parent
X_DECIMALS = 3
N_NEW = 5
L2 = 5.0

EXPECTED_VERSIONS = {
    "python": "3.11.7",
    "statsmodels": "0.15.0",
    "scipy": "1.17.1",
    "numpy": "2.4.6",
}
VERSIONS = {
    "python": platform.python_version(),
    "statsmodels": statsmodels.__version__,
    "scipy": scipy.__version__,
    "numpy": np.__version__,
}

# filled in while running, printed at the end
REPORT = []


def floats(a):
    """A 1-d array as a list of Python floats (full precision, no NaN allowed)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"non-finite value in {a}")
    return [float(v) for v in a]


def matrix(a):
    return [floats(row) for row in np.asarray(a, dtype=np.float64)]


def max_rel_diff(a, b, floor=1e-12):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    return float(np.max(np.abs(a - b) / scale))


def require(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ------------------------------------------------------------------- data


def nb2_draw(rng, mu, alpha):
    """NB2 counts with mean mu and variance mu + alpha*mu^2 (numpy's n, p form)."""
    n = 1.0 / alpha
    return rng.negative_binomial(n, n / (n + mu))


def with_new_rows(x, y):
    """Split n + N_NEW generated rows into the fitted part and the x_new rows."""
    return x[:-N_NEW], y[:-N_NEW], x[-N_NEW:]


def data_poisson_small(rng):
    n, k = 300, 3
    x = np.round(rng.normal(0.0, 1.0, size=(n + N_NEW, k)), X_DECIMALS)
    eta = 0.3 + x @ np.array([0.5, -0.4, 0.1])
    y = rng.poisson(np.exp(eta)).astype(np.float64)
    return with_new_rows(x, y)


def data_poisson_overdispersed_zeros(rng):
    """Conflict-like panel rows: a latent log intensity z per row drives
    log1p-transformed lagged counts (lags 1-3, a 12-month rolling mean, a neighbour
    count, months since the last event) and an NB2(alpha = 2) outcome."""
    n = 2000
    m = n + N_NEW
    z = rng.normal(-1.6, 2.2, size=m)
    lam = np.exp(z)
    lag1 = nb2_draw(rng, lam, 0.4)
    lag2 = nb2_draw(rng, lam, 0.4)
    lag3 = nb2_draw(rng, lam, 0.4)
    roll12 = np.mean([nb2_draw(rng, lam, 0.4) for _ in range(12)], axis=0)
    neighbour = nb2_draw(rng, np.exp(0.6 * z + rng.normal(0.0, 0.7, size=m)), 1.0)
    p_event = np.clip(1.0 - np.exp(-lam), 0.01, 1.0)
    since = np.minimum(rng.geometric(p_event) - 1, 120)
    counts = np.column_stack([lag1, lag2, lag3, roll12, neighbour, since]).astype(np.float64)
    x = np.round(np.log1p(counts), X_DECIMALS)
    y = nb2_draw(rng, np.exp(z + 0.3), 2.0).astype(np.float64)
    return with_new_rows(x, y)


def data_binomial_small(rng):
    n, k = 400, 3
    x = np.round(rng.normal(0.0, 1.0, size=(n + N_NEW, k)), X_DECIMALS)
    eta = -0.5 + x @ np.array([1.0, -0.7, 0.4])
    y = (rng.random(n + N_NEW) < expit(eta)).astype(np.float64)
    return with_new_rows(x, y)


def data_binomial_rare(rng):
    """Two normals, a third correlated with the first, a log1p(Poisson) count feature and
    a 0/1 dummy; intercept -3.4 gives ~8% ones."""
    n = 3000
    m = n + N_NEW
    x1 = rng.normal(0.0, 1.0, size=m)
    x2 = rng.normal(0.0, 1.0, size=m)
    x3 = 0.8 * x1 + 0.6 * rng.normal(0.0, 1.0, size=m)
    x4 = np.log1p(rng.poisson(2.0, size=m).astype(np.float64))
    x5 = (rng.random(m) < 0.3).astype(np.float64)
    x = np.round(np.column_stack([x1, x2, x3, x4, x5]), X_DECIMALS)
    eta = -3.4 + x @ np.array([0.8, -0.5, 0.3, 0.4, 0.6])
    y = (rng.random(m) < expit(eta)).astype(np.float64)
    return with_new_rows(x, y)


# ------------------------------------------------------ objective functions


def design(x):
    return sm.add_constant(x, prepend=True, has_constant="add")


def mean_fn(family, eta):
    return np.exp(eta) if family == "poisson" else expit(eta)


def penalty_mask(k1):
    mask = np.ones(k1)
    mask[0] = 0.0
    return mask


def objective(family, X, y, l2):
    """f(b) = -loglik(b) + (l2/2) sum_{j>=1} b_j^2, with its gradient and Hessian.
    The Poisson log-likelihood drops the constant -sum log(y!)."""
    mask = penalty_mask(X.shape[1])

    def f(b):
        eta = X @ b
        if family == "poisson":
            nll = np.sum(np.exp(eta) - y * eta)
        else:
            nll = np.sum(np.logaddexp(0.0, eta) - y * eta)
        return float(nll + 0.5 * l2 * np.sum(mask * b * b))

    def grad(b):
        mu = mean_fn(family, X @ b)
        return X.T @ (mu - y) + l2 * mask * b

    def hess(b):
        mu = mean_fn(family, X @ b)
        w = mu if family == "poisson" else mu * (1.0 - mu)
        return (X.T * w) @ X + np.diag(l2 * mask)

    return f, grad, hess


def start_point(family, y, k1):
    b = np.zeros(k1)
    ybar = float(np.mean(y))
    b[0] = math.log(ybar) if family == "poisson" else math.log(ybar / (1.0 - ybar))
    return b


def scipy_fit(family, X, y, l2):
    f, grad, hess = objective(family, X, y, l2)
    with warnings.catch_warnings():
        # trust-ncg warns when rounding stops it just short of gtol
        warnings.simplefilter("ignore")
        res = optimize.minimize(
            f,
            start_point(family, y, X.shape[1]),
            jac=grad,
            hess=hess,
            method="trust-ncg",
            options={"gtol": 1e-12, "maxiter": 1000},
        )
    return res.x, float(np.linalg.norm(grad(res.x))), res


def newton_fit(family, X, y, l2, tol=1e-10, maxiter=100):
    """Plain damped Newton on the penalised objective, from the intercept-only start."""
    f, grad, hess = objective(family, X, y, l2)
    b = start_point(family, y, X.shape[1])
    fb = f(b)
    for it in range(maxiter):
        g = grad(b)
        if np.linalg.norm(g) < tol:
            return b, float(np.linalg.norm(g)), it
        step = np.linalg.solve(hess(b), g)
        t = 1.0
        while True:
            cand = b - t * step
            fc = f(cand)
            if fc <= fb or t < 1e-12:
                break
            t *= 0.5
        if np.max(np.abs(cand - b)) == 0.0:
            break
        b, fb = cand, fc
    g = grad(b)
    return b, float(np.linalg.norm(g)), maxiter


# ---------------------------------------------------------------- GLM cases


def sm_family(family):
    return sm.families.Poisson() if family == "poisson" else sm.families.Binomial()


def glm_case(name, family, x, y, x_new, l2=0.0):
    X = design(x)
    Xn = design(x_new)
    require(X.shape[1] == x.shape[1] + 1 and Xn.shape[1] == X.shape[1], f"{name}: design")
    info = {"name": name, "n": x.shape[0], "k": x.shape[1]}
    if family == "poisson":
        info["zeros"] = float(np.mean(y == 0))
        info["y_max"] = float(np.max(y))
    else:
        info["ones"] = float(np.mean(y))

    if l2 == 0.0:
        res = sm.GLM(y, X, family=sm_family(family)).fit(tol=1e-14, maxiter=200)
        coef = np.asarray(res.params, dtype=np.float64)
        b_sp, gnorm_sp, _ = scipy_fit(family, X, y, 0.0)
        rel = max_rel_diff(coef, b_sp)
        require(rel < 1e-7, f"{name}: statsmodels vs scipy coef rel diff {rel:.3e}")
        _, grad, _ = objective(family, X, y, 0.0)
        mu_new = mean_fn(family, Xn @ coef)
        mu_sm = np.asarray(res.predict(Xn), dtype=np.float64)
        require(max_rel_diff(mu_new, mu_sm) < 1e-12, f"{name}: mu_new vs statsmodels predict")
        info.update(
            {
                "method": "statsmodels IRLS",
                "irls_iterations": int(res.fit_history["iteration"]),
                "irls_converged_flag": bool(res.converged),
                "grad_norm": float(np.linalg.norm(grad(coef))),
                "scipy_grad_norm": gnorm_sp,
                "rel_diff_vs_scipy": rel,
            }
        )
    else:
        coef, gnorm, iters = newton_fit(family, X, y, l2)
        require(gnorm < 1e-8, f"{name}: ridge gradient norm {gnorm:.3e} >= 1e-8")
        b_sp, gnorm_sp, _ = scipy_fit(family, X, y, l2)
        rel = max_rel_diff(coef, b_sp)
        require(rel < 1e-7, f"{name}: Newton vs scipy coef rel diff {rel:.3e}")
        # independent check of the penalty convention: statsmodels minimises
        # -loglik/n + sum_j alpha_j b_j^2 / 2  (L1_wt = 0)
        alpha = np.full(X.shape[1], l2 / X.shape[0])
        alpha[0] = 0.0
        reg = sm.GLM(y, X, family=sm_family(family)).fit_regularized(
            method="elastic_net", alpha=alpha, L1_wt=0.0, cnvrg_tol=1e-12, maxiter=1000
        )
        rel_sm = max_rel_diff(coef, reg.params)
        require(rel_sm < 5e-4, f"{name}: Newton vs statsmodels fit_regularized {rel_sm:.3e}")
        mu_new = mean_fn(family, Xn @ coef)
        info.update(
            {
                "method": "Newton",
                "newton_iterations": iters,
                "grad_norm": gnorm,
                "scipy_grad_norm": gnorm_sp,
                "rel_diff_vs_scipy": rel,
                "rel_diff_vs_statsmodels_regularized": rel_sm,
            }
        )
    info["coef"] = coef.tolist()
    REPORT.append(info)
    return {
        "name": name,
        "family": family,
        "l2": float(l2),
        "x": matrix(x),
        "y": floats(y),
        "coef": floats(coef),
        "x_new": matrix(x_new),
        "mu_new": floats(mu_new),
    }


def build_glm(rng):
    # draws happen in exactly this order
    d1 = data_poisson_small(rng)
    d2 = data_poisson_overdispersed_zeros(rng)
    d3 = data_binomial_small(rng)
    d4 = data_binomial_rare(rng)

    y2, y4 = d2[1], d4[1]
    require(0.65 <= np.mean(y2 == 0) <= 0.75, f"case 2 zero share {np.mean(y2 == 0)}")
    require(100 <= np.max(y2) < 1000, f"case 2 max {np.max(y2)}")
    require(0.06 <= np.mean(y4) <= 0.10, f"case 4 share of ones {np.mean(y4)}")

    return [
        glm_case("poisson_small", "poisson", *d1),
        glm_case("poisson_overdispersed_zeros", "poisson", *d2),
        glm_case("binomial_small", "binomial", *d3),
        glm_case("binomial_rare", "binomial", *d4),
        glm_case("poisson_ridge", "poisson", *d2, l2=L2),
        glm_case("binomial_ridge", "binomial", *d4, l2=L2),
    ]


# ----------------------------------------------------------------- NB cases

NB_CASES = [
    (4.0, 0.0),
    (4.0, 0.5),
    (0.05, 2.0),
    (0.8, 3.0),
    (37.5, 1.2),
    (250.0, 0.7),
    (1e-4, 0.3),
    (12.0, 1e-6),
]
PROBS = [0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95]
CDF_AT = [0, 1, 2, 5, 24, 100]
TAIL = 1e-15


def nb_dist(mu, alpha):
    if alpha == 0.0:
        return stats.poisson(mu)
    n = 1.0 / alpha
    return stats.nbinom(n, n / (n + mu))


def mean_log1p(dist):
    """sum_k pmf(k) log1p(k) over k = 0..K-1, with K the first count where the
    remaining tail mass P(Y >= K) = sf(K - 1) is below 1e-15."""
    kmax = 64
    while dist.sf(kmax - 1) >= TAIL:
        kmax *= 2
    k = np.arange(kmax)
    sf = dist.sf(k)
    cut = int(np.argmax(sf < TAIL)) + 1  # include k where sf(k) first drops below
    k = k[:cut]
    pmf = dist.pmf(k)
    value = math.fsum(pmf * np.log1p(k))
    # independent: summation by parts, E[log1p Y] = sum_k P(Y > k) (log(k+2) - log(k+1))
    by_parts = math.fsum(sf[:cut] * (np.log1p(k + 1.0) - np.log1p(k)))
    return value, by_parts, cut, float(math.fsum(pmf))


def nb_case(mu, alpha):
    dist = nb_dist(mu, alpha)
    q = dist.ppf(PROBS)
    # a discrete quantile q of level p: cdf(q) >= p and cdf(q - 1) < p
    cdf_q = dist.cdf(q)
    cdf_below = dist.cdf(q - 1.0)
    require(np.all(cdf_q >= np.asarray(PROBS)), f"nb {mu},{alpha}: cdf(q) < p")
    require(np.all(cdf_below < np.asarray(PROBS)), f"nb {mu},{alpha}: cdf(q-1) >= p")
    margin = float(
        np.min(np.minimum(cdf_q - np.asarray(PROBS), np.asarray(PROBS) - cdf_below))
    )
    cdf = dist.cdf(CDF_AT)
    ml, by_parts, terms, mass = mean_log1p(dist)
    require(abs(ml - by_parts) <= 1e-13 * max(1.0, ml), f"nb {mu},{alpha}: mean_log1p check")
    require(abs(mass - 1.0) < 1e-12, f"nb {mu},{alpha}: pmf mass {mass}")
    REPORT.append(
        {
            "nb": (mu, alpha),
            "quantiles": q.tolist(),
            "mean_log1p": ml,
            "by_parts_diff": ml - by_parts,
            "terms": terms,
            "min_quantile_margin": margin,
        }
    )
    return {
        "mu": float(mu),
        "alpha": float(alpha),
        "probs": [float(p) for p in PROBS],
        "quantiles": floats(q),
        "cdf_at": list(CDF_AT),
        "cdf": floats(cdf),
        "mean_log1p": float(ml),
    }


# ------------------------------------------------------------------ output


def is_scalar_list(v):
    return isinstance(v, list) and not any(isinstance(e, (dict, list)) for e in v)


def dump(obj, indent=0):
    """JSON with nested objects indented and lists of scalars kept on one line without
    spaces; a matrix (list of scalar lists) has one row per line, rows not indented."""
    pad = "  " * indent
    if isinstance(obj, list) and obj and all(is_scalar_list(v) for v in obj):
        return "[\n" + ",\n".join(dump(v) for v in obj) + "\n" + pad + "]"
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [f"{pad}  {dump(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False, separators=(",", ":"))


def write(name, doc):
    text = dump(doc) + "\n"
    json.loads(text)  # sanity: valid JSON
    (OUT_DIR / name).write_text(text)
    print(f"wrote {name} ({len(text.encode())} bytes)")


def print_report():
    for r in REPORT:
        if "name" in r:
            extra = {k: v for k, v in r.items() if k not in ("name", "coef")}
            print(f"{r['name']}: coef = {r['coef']}")
            print(f"    {extra}")
        else:
            print(
                f"nb mu={r['nb'][0]} alpha={r['nb'][1]}: quantiles={r['quantiles']} "
                f"mean_log1p={r['mean_log1p']!r} (by-parts diff {r['by_parts_diff']:.1e}, "
                f"{r['terms']} terms, min quantile margin {r['min_quantile_margin']:.2e})"
            )


def main():
    for lib, want in EXPECTED_VERSIONS.items():
        if VERSIONS[lib] != want:
            print(
                f"warning: {lib} {VERSIONS[lib]} installed, glm.json was made with {want}",
                file=sys.stderr,
            )
    rng = np.random.default_rng(SEED)
    doc = {
        "provenance": {
            "library": "statsmodels",
            "version": VERSIONS["statsmodels"],
            "scipy": VERSIONS["scipy"],
            "numpy": VERSIONS["numpy"],
            "script": SCRIPT,
            "seed": SEED,
        },
        "glm": build_glm(rng),
        "nb": [nb_case(mu, alpha) for mu, alpha in NB_CASES],
    }
    write("glm.json", doc)
    print_report()


if __name__ == "__main__":
    main()
