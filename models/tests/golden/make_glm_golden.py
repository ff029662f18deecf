"""Generate the GLM and negative-binomial golden numbers used by the Rust tests of the models crate.

What it writes (into the folder this script lives in):

  glm.json  Reference numbers for a hand-written IRLS GLM fitter and for NB2 helpers:
              - "glm": eight fitted GLMs (log-link Poisson, logit-link binomial and log-link
                NB2 with a fixed alpha), each with its design x (n rows x k columns,
                WITHOUT the intercept column), outcome y, fitted coefficients
                [intercept, b_1..b_k] and the predicted means of five new rows x_new:
                  poisson_small               n=300,  k=3, Poisson outcome
                  poisson_overdispersed_zeros n=2000, k=6, log1p(lagged count) features,
                                              negative-binomial outcome, ~70% zeros
                  binomial_small              n=400,  k=3
                  binomial_rare               n=3000, k=5, ~8% ones
                  poisson_ridge               data of poisson_overdispersed_zeros, l2 = 5
                  binomial_ridge              data of binomial_rare, l2 = 5
                  negbin_fixed_alpha          data of poisson_overdispersed_zeros, NB2
                                              family with alpha = 2 (x_from, see below)
                  negbin_small                n=1500, k=3, NB2(alpha = 1.5) outcome,
                                              fitted with alpha = 1.5
                The unpenalised cases are fitted with statsmodels' GLM (IRLS; the negbin
                ones with family NegativeBinomial(alpha), log link); the ridge cases
                minimise  -loglik(b) + (l2/2) * sum_{j>=1} b_j^2  (intercept not penalised,
                loglik a plain sum over rows) with a Newton iteration. The negbin entries
                carry an extra key "alpha" (the fixed dispersion) and have l2 = 0.
              - "nb": NB2 distributions (mean mu, variance mu + alpha*mu^2; alpha = 0 is
                Poisson) with scipy's quantiles at 13 levels, the cdf at a few counts and
                E[log(1 + Y)].
              - "nb_ml": joint maximum-likelihood fits of the NB2 regression (log link),
                {name, x_from, coef, alpha, loglik}: coef [intercept, b_1..b_k] and alpha
                are the joint MLE from statsmodels' discrete
                NegativeBinomial(loglike_method="nb2").fit(method="newton", maxiter=200,
                tol=1e-14) (alpha is its last parameter); loglik is the maximised full
                log-likelihood, lgamma terms included:
                  sum_i lgamma(y+1/a) - lgamma(1/a) - lgamma(y+1) + y log(a mu)
                        - (y + 1/a) log(1 + a mu).
                  nb_ml_small     data of negbin_small (statsmodels' default start)
                  nb_ml_conflict  data of poisson_overdispersed_zeros. Started at
                                  (Poisson MLE coef, alpha = 1): from statsmodels' default
                                  start (Poisson coef, moment alpha 13.3) Newton, which
                                  works in alpha and not log alpha, runs alpha off to
                                  6.5e4, then negative, and returns NaN while reporting
                                  converged.

            x_from: to keep the file small, negbin_fixed_alpha and the nb_ml cases do not
            repeat the data. They have "x_from": "<name of a "glm" case>" instead of "x"
            and "y", and use exactly that case's x and y (its fitted rows, not its x_new).
            negbin_fixed_alpha still stores its own x_new, identical to the x_new of
            poisson_overdispersed_zeros. The nb_ml cases have no x_new / mu_new.

Everything is float64 and deterministic: one numpy Generator seeded with 20261125, drawn
from in a fixed order (case 1, 2, 3, 4, then negbin_small; the NB and nb_ml parts draw
nothing). negbin_small was added later: its data are drawn from the same Generator AFTER
all the draws of cases 1-4, so those are unchanged. Values are written at full precision
(Python's shortest round-trip float repr). The features are rounded to 3 decimals BEFORE
fitting, so the file stays under 450 KB; the fits use exactly the written values. For the
same reason lists of numbers are written without spaces and the rows of x / x_new start at
column 0, one row per line.

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
  - for the negbin cases the trust-ncg result is finished with Newton on the score
    equations (scipy.optimize.root, hybr, exact Hessian as Jacobian, xtol 1e-14): trust-ncg
    alone stalls at a gradient norm ~1e-6, where the predicted decrease is below the
    rounding of f. The exact NB2 log-likelihood (lgamma terms included) must also equal
    statsmodels' llf at the fitted coefficients to 1e-12 relative. statsmodels' IRLS stops
    at a gradient norm ~1e-6 (negbin_fixed_alpha; its coef are ~1.2e-8 relative from the
    exact optimum, well inside the 1e-7 check);
  - every nb_ml fit must be finite, flagged converged, have alpha > 0, a positive definite
    Hessian in (b, log alpha), a log-likelihood equal to statsmodels' llf to 1e-12
    relative, and agree with scipy.optimize.minimize (trust-exact on the exact negative
    log-likelihood in (b, log alpha), exact gradient and Hessian, from the intercept-only
    Poisson start with alpha = 1) to 1e-6 relative on coef and on alpha, both before and
    after the same Newton finish on the score; scipy's log-likelihood must not exceed
    statsmodels'. The fixed-alpha GLM refitted at alpha = alpha_hat must give coef to 1e-6
    (a check that both statsmodels models use the same alpha convention);
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
from scipy.special import digamma, expit, gammaln, polygamma

SEED = 20261125
SCRIPT = "models/tests/golden/make_glm_golden.py"
OUT_DIR = Path(__file__).resolve().parent
X_DECIMALS = 3
N_NEW = 5
L2 = 5.0
NEGBIN_FIXED_ALPHA = 2.0  # alpha of negbin_fixed_alpha (data of poisson_overdispersed_zeros)
NEGBIN_SMALL_ALPHA = 1.5  # alpha that generates negbin_small and is used in its fit

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


def data_negbin_small(rng):
    """Drawn AFTER case 4, from the same Generator, so cases 1-4 are unchanged."""
    n, k = 1500, 3
    x = np.round(rng.normal(0.0, 1.0, size=(n + N_NEW, k)), X_DECIMALS)
    eta = 0.5 + x @ np.array([0.7, -0.3, 0.2])
    y = nb2_draw(rng, np.exp(eta), NEGBIN_SMALL_ALPHA).astype(np.float64)
    return with_new_rows(x, y)


# ------------------------------------------------------ objective functions


def design(x):
    return sm.add_constant(x, prepend=True, has_constant="add")


def mean_fn(family, eta):
    return expit(eta) if family == "binomial" else np.exp(eta)


def nb2_loglik_obs(y, eta, alpha):
    """Exact NB2 log-likelihood per row (log link, mean mu = exp(eta), variance
    mu + alpha mu^2), including the lgamma terms:
      lgamma(y + 1/a) - lgamma(1/a) - lgamma(y + 1) + y log(a mu) - (y + 1/a) log(1 + a mu)."""
    r = 1.0 / alpha
    la = math.log(alpha)
    log1p_amu = np.logaddexp(0.0, la + eta)  # log(1 + a mu), stable for large eta
    return (
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + y * (la + eta)
        - (y + r) * log1p_amu
    )


def penalty_mask(k1):
    mask = np.ones(k1)
    mask[0] = 0.0
    return mask


def objective(family, X, y, l2, alpha=None):
    """f(b) = -loglik(b) + (l2/2) sum_{j>=1} b_j^2, with its gradient and Hessian.
    The Poisson log-likelihood drops the constant -sum log(y!); the NB2 one ("negbin",
    fixed alpha) is the exact one, lgamma terms included."""
    mask = penalty_mask(X.shape[1])
    if family == "negbin":
        require(alpha is not None and alpha > 0.0, "negbin objective needs alpha > 0")

        def f(b):
            nll = -math.fsum(nb2_loglik_obs(y, X @ b, alpha))
            return float(nll + 0.5 * l2 * np.sum(mask * b * b))

        def grad(b):
            # d loglik / d eta = (y - mu) / (1 + a mu)
            mu = np.exp(X @ b)
            return X.T @ ((mu - y) / (1.0 + alpha * mu)) + l2 * mask * b

        def hess(b):
            # observed information: mu (1 + a y) / (1 + a mu)^2 per row
            mu = np.exp(X @ b)
            w = mu * (1.0 + alpha * y) / (1.0 + alpha * mu) ** 2
            return (X.T * w) @ X + np.diag(l2 * mask)

        return f, grad, hess

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
    b[0] = math.log(ybar / (1.0 - ybar)) if family == "binomial" else math.log(ybar)
    return b


def scipy_fit(family, X, y, l2, alpha=None):
    f, grad, hess = objective(family, X, y, l2, alpha)
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
    if family == "negbin":
        # trust-ncg stalls at a gradient norm ~1e-6 here: the predicted decrease is below
        # the rounding of f (~1e-12). Finish with Newton on the score equations (MINPACK
        # hybrj with the exact Hessian as Jacobian; the objective is convex in b).
        sol = optimize.root(grad, res.x, jac=hess, method="hybr", options={"xtol": 1e-14})
        require(np.all(np.isfinite(sol.x)), "negbin scipy polish: non-finite result")
        res.x = sol.x
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


def sm_family(family, alpha=None):
    if family == "negbin":
        return sm.families.NegativeBinomial(alpha=alpha)
    return sm.families.Poisson() if family == "poisson" else sm.families.Binomial()


def glm_case(name, family, x, y, x_new, l2=0.0, alpha=None, x_from=None):
    """One entry of "glm". family "negbin" needs alpha (fixed NB2 dispersion, log link)
    and is unpenalised. With x_from (a case name) the entry stores "x_from" in place of
    "x" and "y": the fit uses that case's x and y, which the caller passes in."""
    X = design(x)
    Xn = design(x_new)
    require(X.shape[1] == x.shape[1] + 1 and Xn.shape[1] == X.shape[1], f"{name}: design")
    info = {"name": name, "n": x.shape[0], "k": x.shape[1]}
    if family in ("poisson", "negbin"):
        info["zeros"] = float(np.mean(y == 0))
        info["y_max"] = float(np.max(y))
    else:
        info["ones"] = float(np.mean(y))

    require((family == "negbin") == (alpha is not None), f"{name}: alpha only for negbin")
    require(family != "negbin" or l2 == 0.0, f"{name}: negbin cases are unpenalised")
    if l2 == 0.0:
        res = sm.GLM(y, X, family=sm_family(family, alpha)).fit(tol=1e-14, maxiter=200)
        coef = np.asarray(res.params, dtype=np.float64)
        b_sp, gnorm_sp, _ = scipy_fit(family, X, y, 0.0, alpha)
        rel = max_rel_diff(coef, b_sp)
        require(rel < 1e-7, f"{name}: statsmodels vs scipy coef rel diff {rel:.3e}")
        f, grad, _ = objective(family, X, y, 0.0, alpha)
        if family == "negbin":
            # statsmodels' NB family log-likelihood is the full one too
            llf_rel = float(abs(-f(coef) - res.llf) / abs(res.llf))
            require(llf_rel < 1e-12, f"{name}: loglik vs statsmodels llf {llf_rel:.3e}")
            info["alpha"] = alpha
            info["loglik"] = -f(coef)
            info["rel_diff_loglik_vs_statsmodels"] = llf_rel
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
    out = {"name": name, "family": family}
    if family == "negbin":
        out["alpha"] = float(alpha)
    out["l2"] = float(l2)
    if x_from is None:
        out["x"] = matrix(x)
        out["y"] = floats(y)
    else:
        out["x_from"] = x_from
    out["coef"] = floats(coef)
    out["x_new"] = matrix(x_new)
    out["mu_new"] = floats(mu_new)
    return out


def build_data(rng):
    """All random draws, in exactly this order: cases 1, 2, 3, 4, then 5 (negbin_small,
    added later and drawn last so that cases 1-4 stay identical)."""
    d1 = data_poisson_small(rng)
    d2 = data_poisson_overdispersed_zeros(rng)
    d3 = data_binomial_small(rng)
    d4 = data_binomial_rare(rng)
    d5 = data_negbin_small(rng)

    y2, y4, y5 = d2[1], d4[1], d5[1]
    require(0.65 <= np.mean(y2 == 0) <= 0.75, f"case 2 zero share {np.mean(y2 == 0)}")
    require(100 <= np.max(y2) < 1000, f"case 2 max {np.max(y2)}")
    require(0.06 <= np.mean(y4) <= 0.10, f"case 4 share of ones {np.mean(y4)}")
    require(0.15 <= np.mean(y5 == 0) <= 0.45, f"case 5 zero share {np.mean(y5 == 0)}")
    return d1, d2, d3, d4, d5


def build_glm(data):
    d1, d2, d3, d4, d5 = data
    return [
        glm_case("poisson_small", "poisson", *d1),
        glm_case("poisson_overdispersed_zeros", "poisson", *d2),
        glm_case("binomial_small", "binomial", *d3),
        glm_case("binomial_rare", "binomial", *d4),
        glm_case("poisson_ridge", "poisson", *d2, l2=L2),
        glm_case("binomial_ridge", "binomial", *d4, l2=L2),
        glm_case(
            "negbin_fixed_alpha",
            "negbin",
            *d2,
            alpha=NEGBIN_FIXED_ALPHA,
            x_from="poisson_overdispersed_zeros",
        ),
        glm_case("negbin_small", "negbin", *d5, alpha=NEGBIN_SMALL_ALPHA),
    ]


# ------------------------------------------------- joint NB2 maximum likelihood


def nb2_joint_objective(X, y):
    """Negative exact NB2 log-likelihood in theta = (b, log alpha), with its gradient and
    Hessian, written in r = 1/alpha (dr/dlog alpha = -r)."""
    k1 = X.shape[1]

    def parts(theta):
        b, la = theta[:k1], theta[k1]
        eta = X @ b
        mu = np.exp(eta)
        r = math.exp(-la)
        return b, la, eta, mu, r

    def score_r(y, mu, r):
        """d loglik_i / d r per row."""
        return (
            digamma(y + r) - digamma(r) + math.log(r) + 1.0 - np.log(r + mu) - (y + r) / (r + mu)
        )

    def f(theta):
        _, la, eta, _, _ = parts(theta)
        return -math.fsum(nb2_loglik_obs(y, eta, math.exp(la)))

    def grad(theta):
        _, _, _, mu, r = parts(theta)
        g_eta = r * (y - mu) / (r + mu)
        g_r = score_r(y, mu, r)
        g = np.empty(k1 + 1)
        g[:k1] = X.T @ g_eta
        g[k1] = -r * math.fsum(g_r)
        return -g

    def hess(theta):
        _, _, _, mu, r = parts(theta)
        h_ee = -mu * r * (r + y) / (r + mu) ** 2
        h_er = (y - mu) * mu / (r + mu) ** 2
        g_r = score_r(y, mu, r)
        h_rr = (
            polygamma(1, y + r)
            - polygamma(1, r)
            + 1.0 / r
            - 1.0 / (r + mu)
            - (mu - y) / (r + mu) ** 2
        )
        H = np.empty((k1 + 1, k1 + 1))
        H[:k1, :k1] = (X.T * h_ee) @ X
        H[:k1, k1] = H[k1, :k1] = -r * (X.T @ h_er)
        H[k1, k1] = r * r * math.fsum(h_rr) + r * math.fsum(g_r)
        return -H

    return f, grad, hess


def nb_ml_case(name, x_from, x, y, start_alpha=None):
    """Joint ML of (coef, alpha) of the NB2 regression with log link: statsmodels'
    discrete NegativeBinomial(nb2) by Newton, re-solved with scipy trust-exact in
    (b, log alpha) from the intercept-only Poisson start with alpha = 1.

    start_alpha None: statsmodels' own start (Poisson MLE coef, moment estimate of alpha).
    Otherwise Newton starts at (Poisson MLE coef, start_alpha): needed where the moment
    estimate is so large that Newton in alpha (not log alpha) runs off to infinity and
    then to a negative alpha (NaN, yet reported as converged)."""
    X = design(x)
    k1 = X.shape[1]
    start = None
    if start_alpha is not None:
        poi = sm.Poisson(y, X).fit(method="newton", maxiter=200, tol=1e-14, disp=0)
        start = np.append(np.asarray(poi.params, dtype=np.float64), start_alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence / overflow warnings allowed
        res = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(
            start_params=start, method="newton", maxiter=200, tol=1e-14, disp=0
        )
    params = np.asarray(res.params, dtype=np.float64)
    require(np.all(np.isfinite(params)), f"{name}: statsmodels returned {params}")
    require(bool(res.mle_retvals["converged"]), f"{name}: statsmodels did not converge")
    coef, alpha = params[:k1], float(params[k1])
    require(alpha > 0.0, f"{name}: alpha {alpha}")

    f, grad, hess = nb2_joint_objective(X, y)
    theta_hat = np.append(coef, math.log(alpha))
    loglik = -f(theta_hat)
    gnorm = float(np.linalg.norm(grad(theta_hat)))
    llf_rel = float(abs(loglik - res.llf) / abs(res.llf))
    require(llf_rel < 1e-12, f"{name}: loglik vs statsmodels llf {llf_rel:.3e}")
    require(
        np.all(np.linalg.eigvalsh(hess(theta_hat)) > 0.0), f"{name}: not a local maximum"
    )

    sp_start = np.append(start_point("poisson", y, k1), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp = optimize.minimize(
            f,
            sp_start,
            jac=grad,
            hess=hess,
            method="trust-exact",
            options={"gtol": 1e-10, "maxiter": 1000},
        )
    # as in scipy_fit: trust-exact stalls at a gradient norm ~1e-7 (f rounding), so
    # finish with Newton on the score equations (hybrj, exact Hessian as Jacobian)
    sol = optimize.root(grad, sp.x, jac=hess, method="hybr", options={"xtol": 1e-14})
    require(np.all(np.isfinite(sol.x)), f"{name}: scipy polish non-finite")
    theta_sp = sol.x
    sp_gnorm = float(np.linalg.norm(grad(theta_sp)))
    sp_loglik = -f(theta_sp)
    coef_sp, alpha_sp = theta_sp[:k1], math.exp(theta_sp[k1])
    # the unpolished trust-exact optimum must already agree to 1e-6
    rel_coef_te = max_rel_diff(coef, sp.x[:k1])
    rel_alpha_te = abs(alpha - math.exp(sp.x[k1])) / alpha
    require(
        max(rel_coef_te, rel_alpha_te) < 1e-6,
        f"{name}: statsmodels vs scipy trust-exact rel diff "
        f"{rel_coef_te:.3e} (coef), {rel_alpha_te:.3e} (alpha)",
    )
    rel_coef = max_rel_diff(coef, coef_sp)
    rel_alpha = abs(alpha - alpha_sp) / alpha
    require(rel_coef < 1e-6, f"{name}: statsmodels vs scipy coef rel diff {rel_coef:.3e}")
    require(rel_alpha < 1e-6, f"{name}: statsmodels vs scipy alpha rel diff {rel_alpha:.3e}")
    require(
        max(-sp.fun, sp_loglik) <= loglik + 1e-12 * abs(loglik),
        f"{name}: scipy found a higher loglik {max(-sp.fun, sp_loglik)!r} > {loglik!r}",
    )

    # consistency with the fixed-alpha GLM: at alpha = alpha_hat its IRLS fit is coef
    glm = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=alpha)).fit(
        tol=1e-14, maxiter=200
    )
    rel_glm = max_rel_diff(coef, glm.params)
    require(rel_glm < 1e-6, f"{name}: GLM at alpha_hat vs joint coef {rel_glm:.3e}")

    REPORT.append(
        {
            "name": name,
            "coef": coef.tolist(),
            "alpha": alpha,
            "loglik": loglik,
            "method": "statsmodels NegativeBinomial(nb2) newton",
            "start": (
                "statsmodels default" if start is None else f"Poisson coef, alpha {start_alpha}"
            ),
            "newton_iterations": int(res.mle_retvals["iterations"]),
            "grad_norm_b_logalpha": gnorm,
            "scipy_alpha": alpha_sp,
            "scipy_grad_norm_trust_exact": float(np.linalg.norm(sp.jac)),
            "scipy_grad_norm_polished": sp_gnorm,
            "rel_diff_coef_vs_scipy_trust_exact": rel_coef_te,
            "rel_diff_alpha_vs_scipy_trust_exact": rel_alpha_te,
            "rel_diff_coef_vs_scipy": rel_coef,
            "rel_diff_alpha_vs_scipy": rel_alpha,
            "loglik_scipy_minus_statsmodels": sp_loglik - loglik,
            "rel_diff_loglik_vs_statsmodels_llf": float(llf_rel),
            "rel_diff_coef_vs_glm_at_alpha_hat": rel_glm,
        }
    )
    return {
        "name": name,
        "x_from": x_from,
        "coef": floats(coef),
        "alpha": alpha,
        "loglik": float(loglik),
    }


def build_nb_ml(data):
    _, d2, _, _, d5 = data
    return [
        nb_ml_case("nb_ml_small", "negbin_small", d5[0], d5[1]),
        # statsmodels' default start (moment alpha 13.3) diverges here, see nb_ml_case
        nb_ml_case(
            "nb_ml_conflict", "poisson_overdispersed_zeros", d2[0], d2[1], start_alpha=1.0
        ),
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
    data = build_data(rng)
    doc = {
        "provenance": {
            "library": "statsmodels",
            "version": VERSIONS["statsmodels"],
            "scipy": VERSIONS["scipy"],
            "numpy": VERSIONS["numpy"],
            "script": SCRIPT,
            "seed": SEED,
        },
        "glm": build_glm(data),
        "nb": [nb_case(mu, alpha) for mu, alpha in NB_CASES],
        "nb_ml": build_nb_ml(data),
    }
    write("glm.json", doc)
    print_report()


if __name__ == "__main__":
    main()
