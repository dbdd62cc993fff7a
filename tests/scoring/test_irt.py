"""IRT estimation: LSAT7 against an independent slow fit and against published mirt results,
parameter recovery from simulated data, abilities, and the estimator's contract."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logsumexp

from scoring.data import LSAT7_CSV
from scoring.irt import IRTConvergenceWarning, IRTModel, marginal_loglik

# Published estimates for LSAT7 (Bock & Lieberman, 1970; N = 1,000) from mirt's own test suite:
# github.com/philchalmers/mirt, tests/testthat/test-01-mirtOne.R, test 'dich' (commit 099d6d7e),
# checked there with expect_equal(..., tolerance = 1e-2). mirt reports slope a and intercept d
# (P = σ(aθ + d)), so b = -d / a. The standard errors are half-widths / 1.96 of mirt's 95% intervals:
#   mod1  <- mirt(dat, 1)                                       -> 2PL a, d
#   modm2 <- mirt(dat, 1, SE = TRUE, SE.type = 'Richardson')    -> 2PL intervals (numerical Hessian)
#   modm4 <- mirt(dat, 'F = 1-5\n CONSTRAIN = (1-5, a1)', SE.type = 'crossprod')
#            -> one common slope with θ ~ N(0, 1): the model ltm's rasch() fits and IRTModel('rasch') fits
#   fm1   <- fscores(modm1, full.scores = FALSE)                -> EAP of the first six patterns
PUBLISHED_LSAT7 = {
    "2pl": {
        "a": [0.988, 1.081, 1.706, 0.7651, 0.7358],
        "d": [1.8561, 0.808, 1.8043, 0.486, 1.8545],
        "a_ci": [(0.6406, 1.3354), (0.7501, 1.4119), (1.0779, 2.334), (0.5022, 1.028), (0.4395, 1.032)],
        "d_ci": [(1.5984, 2.1138), (0.6291, 0.9869), (1.4036, 2.205), (0.3392, 0.6328), (1.6302, 2.0787)],
        "eap_first_six": [-1.8665957, -1.5266920, -1.5134024, -1.1852276, -1.0946830, -0.7666992],
    },
    "rasch": {
        "a": [1.011] * 5,
        "d": [1.868, 0.791, 1.461, 0.521, 1.993],
        "a_ci": [(0.885, 1.138)] * 5,
        "d_ci": [(1.67, 2.067), (0.631, 0.951), (1.277, 1.644), (0.367, 0.676), (1.793, 2.193)],
    },
}


@pytest.fixture(scope="module")
def lsat7() -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_csv(LSAT7_CSV)
    return table[[f"item{i}" for i in range(1, 6)]].to_numpy(float), table["freq"].to_numpy(float)


# ----- an independent, slow and obviously correct reference: maximise the marginal log-likelihood
# directly (BFGS) over a dense rectangle-rule grid, no EM, no analytic derivatives.

REF_NODES = np.linspace(-8, 8, 161)
REF_LOGW = -0.5 * REF_NODES**2 - logsumexp(-0.5 * REF_NODES**2)


def ref_unpack(x: np.ndarray, model: str, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slopes a, intercepts d and guessing c of a parameter vector (3PL: c as its logit)."""
    if model == "rasch":
        return np.full(n_items, x[0]), x[1:], np.zeros(n_items)
    per = x.reshape(n_items, -1)
    c = expit(per[:, 2]) if model == "3pl" else np.zeros(n_items)
    return per[:, 0], per[:, 1], c


def ref_loglik(x: np.ndarray, model: str, u: np.ndarray, freq: np.ndarray) -> float:
    a, d, c = ref_unpack(x, model, u.shape[1])
    z = REF_NODES[:, None] * a + d
    with np.errstate(divide="ignore"):
        log_c, log_1mc = np.log(c), np.log1p(-c)
    # log P = log(c + (1-c) σ(z)) and log(1-P) = log(1-c) + log(1-σ(z)), kept finite for large |z|.
    log_p = np.logaddexp(log_c, log_1mc - np.logaddexp(0, -z))
    log_q = log_1mc - np.logaddexp(0, z)
    log_l = u @ log_p.T + (1 - u) @ log_q.T
    return float(freq @ logsumexp(log_l + REF_LOGW, axis=1))


def ref_objective(x: np.ndarray, model: str, u: np.ndarray, freq: np.ndarray, prior: tuple | None) -> float:
    value = ref_loglik(x, model, u, freq)
    if model == "3pl" and prior is not None:
        c = ref_unpack(x, model, u.shape[1])[2]
        value += float(np.sum((prior[0] - 1) * np.log(c) + (prior[1] - 1) * np.log1p(-c)))
    return -value


def ref_fit(model: str, u: np.ndarray, freq: np.ndarray, prior: tuple | None = None) -> np.ndarray:
    """The maximising parameters (a, d[, logit c]), slopes bounded positive: θ ~ N(0, 1) is symmetric,
    so (-a, -d) would otherwise fit exactly as well."""
    n = u.shape[1]
    per_item = {"2pl": [(0.05, 10), (-10, 10)], "3pl": [(0.05, 10), (-10, 10), (-10, 5)]}
    bounds = [(0.05, 10)] + [(-10, 10)] * n if model == "rasch" else per_item[model] * n
    x0 = {
        "rasch": np.r_[1.0, np.zeros(n)],
        "2pl": np.tile([1.0, 0.0], n),
        "3pl": np.tile([1.0, 0.0, -1.5], n),
    }
    res = minimize(
        ref_objective,
        x0[model],
        args=(model, u, freq, prior),
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 20_000},
    )
    return res.x


def ref_se(x: np.ndarray, model: str, u: np.ndarray, freq: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Standard errors from a central-difference Hessian of the reference log-likelihood."""
    k = x.size
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                ref_loglik(x + ei + ej, model, u, freq)
                - ref_loglik(x + ei - ej, model, u, freq)
                - ref_loglik(x - ei + ej, model, u, freq)
                + ref_loglik(x - ei - ej, model, u, freq)
            ) / (4 * h * h)
    return np.sqrt(np.diag(np.linalg.inv(-hess)))


class TestLsat7AgainstReference:
    @pytest.mark.parametrize("model", ["rasch", "2pl"])
    def test_em_matches_direct_maximisation(self, lsat7: tuple[np.ndarray, np.ndarray], model: str) -> None:
        u, freq = lsat7
        fitted = IRTModel(model).fit(u, counts=freq)
        a, d, _ = ref_unpack(ref_fit(model, u, freq), model, 5)
        assert fitted.converged_
        np.testing.assert_allclose(fitted.a_, a, atol=0.01)
        np.testing.assert_allclose(fitted.b_, -d / a, atol=0.01)
        assert fitted.loglik_ == pytest.approx(ref_loglik(ref_fit(model, u, freq), model, u, freq), abs=0.01)

    def test_3pl_with_beta_prior_matches_direct_maximisation(
        self, lsat7: tuple[np.ndarray, np.ndarray]
    ) -> None:
        u, freq = lsat7
        prior = (4.0, 13.0)
        fitted = IRTModel("3pl", c_prior=prior, se_method=None).fit(u, counts=freq)
        x = ref_fit("3pl", u, freq, prior)
        a, d, c = ref_unpack(x, "3pl", 5)
        assert fitted.converged_
        np.testing.assert_allclose(fitted.a_, a, atol=0.01)
        np.testing.assert_allclose(fitted.b_, -d / a, atol=0.01)
        np.testing.assert_allclose(fitted.c_, c, atol=0.01)
        # loglik_ is the data log-likelihood alone, without the prior.
        assert fitted.loglik_ == pytest.approx(ref_loglik(x, "3pl", u, freq), abs=0.01)

    def test_2pl_standard_errors_match_the_reference_hessian(
        self, lsat7: tuple[np.ndarray, np.ndarray]
    ) -> None:
        u, freq = lsat7
        fitted = IRTModel("2pl").fit(u, counts=freq)
        x = ref_fit("2pl", u, freq)
        se = ref_se(x, "2pl", u, freq).reshape(5, 2)
        np.testing.assert_allclose(fitted.se_["a"], se[:, 0], atol=0.003)
        np.testing.assert_allclose(fitted.se_["d"], se[:, 1], atol=0.003)

    def test_counts_equal_expanded_rows(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        rows = np.repeat(u, freq.astype(int), axis=0)
        by_counts = IRTModel("2pl", se_method=None).fit(u, counts=freq)
        by_rows = IRTModel("2pl", se_method=None).fit(rows)
        np.testing.assert_allclose(by_rows.a_, by_counts.a_, atol=1e-8)
        assert by_rows.loglik_ == pytest.approx(by_counts.loglik_)


class TestLsat7Published:
    def test_lsat7_matches_published_mirt_2pl(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        pub = PUBLISHED_LSAT7["2pl"]
        fitted = IRTModel("2pl").fit(u, counts=freq)
        np.testing.assert_allclose(fitted.a_, pub["a"], atol=0.005)
        np.testing.assert_allclose(fitted.d_, pub["d"], atol=0.005)
        np.testing.assert_allclose(fitted.b_, -np.array(pub["d"]) / np.array(pub["a"]), atol=0.01)
        half = lambda ci: [(hi - lo) / 2 / 1.959964 for lo, hi in ci]  # noqa: E731
        np.testing.assert_allclose(fitted.se_["a"], half(pub["a_ci"]), atol=0.005)
        np.testing.assert_allclose(fitted.se_["d"], half(pub["d_ci"]), atol=0.005)

    def test_lsat7_matches_published_mirt_common_slope(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        pub = PUBLISHED_LSAT7["rasch"]
        fitted = IRTModel("rasch", se_method="crossprod").fit(u, counts=freq)
        np.testing.assert_allclose(fitted.a_, pub["a"], atol=0.005)
        np.testing.assert_allclose(fitted.d_, pub["d"], atol=0.005)
        half = lambda ci: [(hi - lo) / 2 / 1.959964 for lo, hi in ci]  # noqa: E731
        np.testing.assert_allclose(fitted.se_["a"], half(pub["a_ci"]), atol=0.002)
        np.testing.assert_allclose(fitted.se_["d"], half(pub["d_ci"]), atol=0.002)

    def test_lsat7_matches_published_mirt_eap(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        fitted = IRTModel("2pl", se_method=None).fit(u, counts=freq)
        theta, se = fitted.abilities(u[:6])
        np.testing.assert_allclose(theta, PUBLISHED_LSAT7["2pl"]["eap_first_six"], atol=0.01)
        assert np.all((se > 0.6) & (se < 0.75))


def simulate(
    n_persons: int, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_persons)
    p = 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    if c is not None:
        p = c + (1 - c) * p
    return (rng.random(p.shape) < p).astype(float)


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - y) ** 2)))


class TestRecovery:
    def test_2pl_40_items_20000_persons(self) -> None:
        # Tolerances: RMSE < 0.1 for a and b (expected sampling error here is about 0.03).
        rng = np.random.default_rng(2024)
        a, b = rng.uniform(0.6, 2.0, 40), rng.normal(0, 1, 40).clip(-2.2, 2.2)
        fitted = IRTModel("2pl", se_method=None).fit(simulate(20_000, a, b, seed=1))
        assert fitted.converged_
        assert rmse(fitted.a_, a) < 0.1
        assert rmse(fitted.b_, b) < 0.1

    def test_rasch_common_slope(self) -> None:
        b = np.linspace(-2, 2, 15)
        fitted = IRTModel("rasch", se_method=None).fit(simulate(5_000, np.full(15, 1.3), b, seed=2))
        assert fitted.a_ == pytest.approx(np.full(15, 1.3), abs=0.06)
        assert rmse(fitted.b_, b) < 0.1

    def test_3pl_with_prior(self) -> None:
        # Guessing is hard to pin down; the prior keeps c sensible. Tolerances: a, b RMSE < 0.2, c < 0.05.
        rng = np.random.default_rng(7)
        a, b, c = rng.uniform(0.8, 2.0, 20), rng.normal(0, 1, 20).clip(-1.8, 1.8), rng.uniform(0.1, 0.25, 20)
        fitted = IRTModel("3pl", se_method=None).fit(simulate(10_000, a, b, c, seed=3))
        assert fitted.converged_
        assert rmse(fitted.a_, a) < 0.2
        assert rmse(fitted.b_, b) < 0.2
        assert rmse(fitted.c_, c) < 0.05

    def test_items_not_presented(self) -> None:
        # Two forms sharing ten anchor items: NaN marks items a person never saw.
        rng = np.random.default_rng(9)
        a, b = rng.uniform(0.7, 1.8, 30), rng.normal(0, 1, 30).clip(-2, 2)
        x = simulate(12_000, a, b, seed=4)
        x[:6000, 20:] = np.nan
        x[6000:, 10:20] = np.nan
        fitted = IRTModel("2pl", se_method=None).fit(x)
        assert rmse(fitted.a_, a) < 0.1
        assert rmse(fitted.b_, b) < 0.1

    def test_missing_data_matches_reference(self) -> None:
        a, b = np.array([0.8, 1.2, 1.6, 1.0]), np.array([-1.0, 0.0, 0.5, 1.0])
        x = simulate(600, a, b, seed=5)
        x[np.random.default_rng(6).random(x.shape) < 0.2] = np.nan
        fitted = IRTModel("2pl", se_method=None).fit(x)

        u, m = np.nan_to_num(x), (~np.isnan(x)).astype(float)

        def negll(params: np.ndarray) -> float:
            aa, dd = params[0::2], params[1::2]
            p = expit(REF_NODES[:, None] * aa + dd)
            log_l = u @ np.log(p).T + (m - u) @ np.log1p(-p).T
            return -float(logsumexp(log_l + REF_LOGW, axis=1).sum())

        ref = minimize(negll, np.tile([1.0, 0.0], 4), method="BFGS").x
        np.testing.assert_allclose(fitted.a_, ref[0::2], atol=0.01)
        np.testing.assert_allclose(fitted.d_, ref[1::2], atol=0.01)
        assert fitted.loglik_ == pytest.approx(-negll(ref), abs=0.01)


@pytest.fixture(scope="module")
def model() -> IRTModel:
    a, b = np.array([0.8, 1.2, 1.6, 1.0, 1.4, 0.9]), np.linspace(-1.5, 1.5, 6)
    return IRTModel("2pl", se_method=None).fit(simulate(3000, a, b, seed=8))


class TestAbilities:
    def test_mle_matches_a_grid_search(self, model: IRTModel) -> None:
        pattern = np.array([[1, 1, 0, 1, 0, 0]], float)
        theta, se = model.abilities(pattern, method="mle")
        grid = np.linspace(-5, 5, 200_001)
        p = model.probability(grid)
        loglik = (pattern * np.log(p) + (1 - pattern) * np.log1p(-p)).sum(axis=1)
        assert theta[0] == pytest.approx(grid[np.argmax(loglik)], abs=1e-4)
        info = (model.a_**2 * p * (1 - p)).sum(axis=1)[np.argmax(loglik)]
        assert se[0] == pytest.approx(1 / np.sqrt(info), rel=1e-3)

    def test_mle_of_perfect_and_zero_scores_is_infinite(self, model: IRTModel) -> None:
        theta, se = model.abilities(np.array([[1.0] * 6, [0.0] * 6]), method="mle")
        assert theta.tolist() == [np.inf, -np.inf]
        assert np.isinf(se).all()

    def test_eap_is_shrunk_and_finite(self, model: IRTModel) -> None:
        theta, se = model.abilities(np.array([[1.0] * 6, [0.0] * 6, [1, 1, 1, 0, 0, 0]]))
        assert np.isfinite(theta).all()
        assert theta[0] > theta[2] > theta[1]
        assert np.all((se > 0) & (se < 1))

    def test_eap_ignores_items_not_presented(self, model: IRTModel) -> None:
        theta, se = model.abilities(np.array([[1, 0, 1, 0, np.nan, np.nan]], float))
        # By hand: posterior over the model's nodes from the first four items only.
        p = model.probability(model.nodes_)[:, :4]
        post = model.weights_ * np.prod(np.where([1, 0, 1, 0], p, 1 - p), axis=1)
        post /= post.sum()
        assert theta[0] == pytest.approx(post @ model.nodes_)
        assert se[0] == pytest.approx(np.sqrt(post @ model.nodes_**2 - (post @ model.nodes_) ** 2))

    def test_rejects_other_item_counts(self, model: IRTModel) -> None:
        with pytest.raises(ValueError, match="item count"):
            model.abilities(np.ones((2, 5)))


class TestContract:
    def test_attributes_and_item_table(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        frame = pd.DataFrame(u, columns=[f"Q{i}" for i in range(1, 6)])
        fitted = IRTModel("2pl").fit(frame, counts=freq)
        table = fitted.item_parameters()
        assert list(table.index) == ["Q1", "Q2", "Q3", "Q4", "Q5"]
        assert list(table.columns) == ["a", "b", "c", "d", "se_a", "se_b", "se_c", "se_d"]
        assert (fitted.c_ == 0).all() and table["se_c"].isna().all()
        assert fitted.n_iter_ >= 1 and isinstance(fitted.converged_, bool)
        # θ = b gives P = 0.5 for a 2PL item (no 1.7 constant in the metric).
        np.testing.assert_allclose(np.diag(fitted.probability(fitted.b_)), 0.5)

    def test_3pl_difficulty_is_midway_above_the_floor(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        fitted = IRTModel("3pl", se_method=None).fit(u, counts=freq)
        np.testing.assert_allclose(np.diag(fitted.probability(fitted.b_)), fitted.c_ + (1 - fitted.c_) / 2)

    def test_marginal_loglik_scores_any_parameters(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        fitted = IRTModel("3pl", se_method=None).fit(u, counts=freq)
        x = np.column_stack([fitted.a_, fitted.d_, np.log(fitted.c_ / (1 - fitted.c_))]).ravel()
        got = marginal_loglik(u, fitted.a_, fitted.b_, fitted.c_, counts=freq)
        assert got == pytest.approx(ref_loglik(x, "3pl", u, freq), abs=1e-6)
        assert got == pytest.approx(fitted.loglik_, abs=1e-3)

    def test_reports_non_convergence(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        with pytest.warns(IRTConvergenceWarning):
            fitted = IRTModel("2pl", max_iter=3, se_method=None).fit(u, counts=freq)
        assert fitted.converged_ is False and fitted.n_iter_ == 3

    @pytest.mark.parametrize("model", ["rasch", "2pl", "3pl"])
    def test_acceleration_changes_speed_not_the_answer(
        self, lsat7: tuple[np.ndarray, np.ndarray], model: str
    ) -> None:
        u, freq = lsat7
        fast = IRTModel(model, se_method=None, tol=1e-7).fit(u, counts=freq)
        plain = IRTModel(model, se_method=None, tol=1e-7, accelerate=False, max_iter=20_000).fit(
            u, counts=freq
        )
        np.testing.assert_allclose(fast.psi_, plain.psi_, atol=1e-4)
        assert fast.n_iter_ < plain.n_iter_

    def test_loglik_never_decreases(self, lsat7: tuple[np.ndarray, np.ndarray]) -> None:
        u, freq = lsat7
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fitted = IRTModel("2pl", se_method=None).fit(u, counts=freq)
        assert np.all(np.diff(fitted.loglik_history_) > -1e-8)

    def test_rejects_bad_input(self) -> None:
        with pytest.raises(ValueError, match="0/1"):
            IRTModel().fit(np.array([[0, 2], [1, 0]]))
        with pytest.raises(ValueError, match="model"):
            IRTModel("4pl")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="counts"):
            IRTModel().fit(np.array([[0, 1], [1, 0]]), counts=[1, 2, 3])
