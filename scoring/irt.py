"""Unidimensional IRT for dichotomous items by marginal maximum likelihood (Bock & Aitkin EM).

The item response function is P(θ) = c + (1 - c) / (1 + exp(-a(θ - b))), in the plain logistic
metric: there is no 1.7 scaling constant, so a and b compare directly with mirt's IRT
parametrisation (b = -d/a for mirt's intercept d) and ltm's, not with programs that use D = 1.7.
Abilities follow N(0, 1) in the calibration population.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd

ModelName = Literal["rasch", "2pl", "3pl"]

# Probabilities are kept this far from 0 and 1 so logs and divisions stay finite.
_P_EPS = 1e-12
# Largest change of any parameter in one Fisher-scoring step; keeps early steps from overshooting.
_MAX_STEP = 1.0


class IRTConvergenceWarning(UserWarning):
    """EM stopped at max_iter before the parameters settled within tol."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def quadrature(n_quad: int = 61, bound: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Equally spaced nodes on [-bound, bound] with N(0, 1) density weights summing to 1."""
    if n_quad < 5:
        raise ValueError(f"求积点太少（n_quad must be >= 5, got {n_quad}）")
    nodes = np.linspace(-bound, bound, n_quad)
    weights = np.exp(-0.5 * nodes**2)
    return nodes, weights / weights.sum()


def _collapse(present: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct response patterns with their frequencies (u, m, f), rows kept as they are if few repeat."""
    # Two bit planes per row packed to bytes, then a 64-bit hash per row: sorting hashes is far
    # cheaper than sorting whole rows, and the rows are compared afterwards so a collision cannot merge two.
    planes = np.concatenate([np.packbits(present, axis=1), np.packbits(correct > 0, axis=1)], axis=1)
    mixer = np.random.default_rng(20240229).integers(1, 2**63, planes.shape[1], dtype=np.uint64) | np.uint64(
        1
    )
    with np.errstate(over="ignore"):
        hashes = (planes.astype(np.uint64) * mixer).sum(axis=1, dtype=np.uint64)
    _, first, inverse, freq = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
    if len(first) > 0.8 * len(hashes) or not np.array_equal(planes[first[inverse]], planes):
        return correct.astype(np.float64), present.astype(np.float64), np.ones(len(hashes))
    return correct[first].astype(np.float64), present[first].astype(np.float64), freq.astype(np.float64)


class _Data:
    """Response patterns with their frequencies: u (0/1, 0 where not presented) and presence mask m."""

    def __init__(self, responses: Any, counts: Any = None) -> None:
        if isinstance(responses, pd.DataFrame):
            self.items = list(responses.columns)
            arr = responses.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(responses, dtype=np.float64)
            self.items = list(range(arr.shape[1])) if arr.ndim == 2 else []
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(
                f"作答矩阵应为 人 × 题 且至少两题（persons × items with >= 2 items, got {arr.shape}）"
            )
        present = ~np.isnan(arr)
        if np.any((arr[present] != 0) & (arr[present] != 1)):
            raise ValueError("作答只能为 0、1 或 NaN（responses must be 0/1, NaN = not presented）")
        if counts is None:
            u, m, f = _collapse(present, np.where(present, arr, 0.0))
        else:
            f = np.asarray(counts, dtype=np.float64)
            if f.shape != (arr.shape[0],) or np.any(f < 0):
                raise ValueError(
                    f"counts 应为每行一个非负频数（one non-negative count per row, got {f.shape}）"
                )
            u, m = np.where(present, arr, 0.0), present.astype(np.float64)
        self.u, self.m, self.f = u, m, f
        self.complete = bool(self.m.all())
        self.n_persons = float(self.f.sum())
        # m - u is 1 for a wrong answer, 0 otherwise: with it the likelihood is one matrix product per side.
        self.w = self.m - self.u


class IRTModel:
    """Rasch (one common slope), 2PL or 3PL for 0/1 items, fitted by marginal maximum likelihood.

    Rasch estimates a single discrimination a shared by all items with θ ~ N(0, 1), as ltm's rasch()
    does; that is the same model as mirt's Rasch (a = 1, free latent SD = a). The 3PL puts a Beta
    (alpha, beta) prior on each c (`c_prior`), so its estimates are posterior modes for c.
    Learned attributes: a_, b_, c_, d_ (intercept = -a·b), loglik_, se_, cov_, n_iter_, converged_.
    Converged means one more EM step would move no parameter (a, d, logit c) by tol or more; n_iter_
    counts EM steps, SQUAREM extrapolation (`accelerate`) included.
    """

    def __init__(
        self,
        model: ModelName = "2pl",
        n_quad: int = 61,
        bound: float = 6.0,
        max_iter: int = 2000,
        tol: float = 1e-5,
        c_prior: tuple[float, float] | None = (4.0, 13.0),
        se_method: Literal["hessian", "crossprod"] | None = "hessian",
        m_steps: int = 5,
        accelerate: bool = True,
    ) -> None:
        if model not in ("rasch", "2pl", "3pl"):
            raise ValueError(f"未知模型 {model!r}（model must be 'rasch', '2pl' or '3pl'）")
        if se_method not in ("hessian", "crossprod", None):
            raise ValueError(f"未知标准误方法 {se_method!r}（se_method: 'hessian', 'crossprod' or None）")
        self.model = model
        self.n_quad = n_quad
        self.bound = bound
        self.max_iter = max_iter
        self.tol = tol
        self.c_prior = c_prior
        self.se_method = se_method
        self.m_steps = m_steps
        self.accelerate = accelerate

    # ----- parameter vector: (a, d_1..d_J) for Rasch, (a_j, d_j) pairs for 2PL, (a_j, d_j, g_j) for 3PL
    # g is logit(c) so c stays inside (0, 1) without constraints.

    def _unpack(self, psi: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.model == "rasch":
            return np.full(n_items, psi[0]), psi[1:], np.full(n_items, -np.inf)
        per = psi.reshape(n_items, 2 if self.model == "2pl" else 3)
        g = per[:, 2] if self.model == "3pl" else np.full(n_items, -np.inf)
        return per[:, 0], per[:, 1], g

    def _pack_grad(self, grads: np.ndarray) -> np.ndarray:
        """Per-item gradient columns (a, d, g) collapsed onto the parameter vector."""
        if self.model == "rasch":
            return np.concatenate([[grads[:, 0].sum()], grads[:, 1]])
        return grads[:, :2].ravel() if self.model == "2pl" else grads.ravel()

    @staticmethod
    def _curves(a: np.ndarray, d: np.ndarray, g: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, ...]:
        """s = σ(aθ + d), c, P and 1-P at the nodes (items × nodes)."""
        s = _sigmoid(a[:, None] * nodes[None, :] + d[:, None])
        c = _sigmoid(g)[:, None]
        p = c + (1 - c) * s
        q = (1 - c) * (1 - s)
        return s, c, np.clip(p, _P_EPS, 1 - _P_EPS), np.clip(q, _P_EPS, 1 - _P_EPS)

    def _e_step(self, data: _Data, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Posterior over nodes per pattern, expected correct r and presented n per item × node, and loglik."""
        a, d, g = self._unpack(psi, data.u.shape[1])
        _, _, p, q = self._curves(a, d, g, self.nodes_)
        logp, logq = np.log(p), np.log(q)
        # log L[n, k] = Σ_j u log P + (m - u) log Q; with nothing missing that is u (log P - log Q) + Σ_j log Q.
        if data.complete:
            ll = data.u @ (logp - logq) + logq.sum(axis=0)[None, :]
        else:
            ll = data.u @ logp + data.w @ logq
        ll += np.log(self.weights_)[None, :]
        top = ll.max(axis=1, keepdims=True)
        np.exp(ll - top, out=ll)
        marginal = ll.sum(axis=1, keepdims=True)
        loglik = float(data.f @ (np.log(marginal[:, 0]) + top[:, 0]))
        post = ll / marginal
        fpost = post * data.f[:, None]
        r = data.u.T @ fpost
        n = np.broadcast_to(fpost.sum(axis=0), r.shape) if data.complete else data.m.T @ fpost
        return post, r, n, loglik

    def _log_prior(self, psi: np.ndarray) -> float:
        """Log density of the Beta prior on every c (0 unless a 3PL with a prior)."""
        if self.model != "3pl" or self.c_prior is None:
            return 0.0
        alpha, beta = self.c_prior
        g = self._unpack(psi, psi.size // 3)[2]
        # log c = -log(1 + e^-g) and log(1 - c) = -log(1 + e^g), finite for any g.
        return float(np.sum(-(alpha - 1) * np.logaddexp(0, -g) - (beta - 1) * np.logaddexp(0, g)))

    def _item_derivs(self, psi: np.ndarray, r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (items × 3: a, d, g) and Fisher information (items × 3 × 3) of the expected
        complete-data loglik, priors included."""
        n_items = r.shape[0]
        a, d, g = self._unpack(psi, n_items)
        x = self.nodes_[None, :]
        s, c, p, q = self._curves(a, d, g, self.nodes_)
        # dP/dψ / (P(1-P)) for ψ = a, d, g, written so that nothing divides by a vanishing 1-P.
        ad = s / p
        deriv = np.stack([ad * x, ad, np.broadcast_to(c / p, s.shape)], axis=-1)
        if self.model != "3pl":
            deriv[..., 2] = 0.0
        resid = r - n * p
        grad = np.einsum("jq,jqk->jk", resid, deriv)
        info = np.einsum("jq,jqk,jql->jkl", n * p * q, deriv, deriv)
        if self.model == "3pl" and self.c_prior is not None:
            alpha, beta = self.c_prior
            cj = c[:, 0]
            grad[:, 2] += (alpha - 1) * (1 - cj) - (beta - 1) * cj
            info[:, 2, 2] += (alpha + beta - 2) * cj * (1 - cj)
        return grad, info

    def _m_step(self, psi: np.ndarray, r: np.ndarray, n: np.ndarray) -> np.ndarray:
        """A few Fisher-scoring steps on every item at once (one joint system for the Rasch slope)."""
        n_items = r.shape[0]
        for _ in range(self.m_steps):
            grad, info = self._item_derivs(psi, r, n)
            if self.model == "rasch":
                k = n_items + 1
                full = np.zeros((k, k))
                full[0, 0] = info[:, 0, 0].sum()
                full[0, 1:] = full[1:, 0] = info[:, 0, 1]
                full[np.arange(1, k), np.arange(1, k)] = info[:, 1, 1]
                step = np.linalg.solve(full + 1e-10 * np.eye(k), self._pack_grad(grad))
            else:
                size = 2 if self.model == "2pl" else 3
                sub = info[:, :size, :size] + 1e-10 * np.eye(size)
                step = np.linalg.solve(sub, grad[:, :size, None])[..., 0].ravel()
            biggest = np.abs(step).max()
            if biggest > _MAX_STEP:
                step *= _MAX_STEP / biggest
            psi = psi + step
            if biggest < self.tol * 0.1:
                break
        return psi

    def _start(self, data: _Data) -> np.ndarray:
        n_items = data.u.shape[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            pj = (data.f @ data.u) / (data.f @ data.m)
        pj = np.clip(np.nan_to_num(pj, nan=0.5), 0.02, 0.98)
        c0 = 0.0
        if self.model == "3pl":
            alpha, beta = self.c_prior or (4.0, 13.0)
            c0 = (alpha - 1) / (alpha + beta - 2) if alpha + beta > 2 else 0.2
            pj = np.clip((pj - c0) / (1 - c0), 0.02, 0.98)
        # With a = 1 and θ ~ N(0,1), the marginal P is about σ(d / 1.16), so start d there.
        d0 = np.log(pj / (1 - pj)) * 1.16
        if self.model == "rasch":
            return np.concatenate([[1.0], d0])
        if self.model == "2pl":
            return np.column_stack([np.ones(n_items), d0]).ravel()
        return np.column_stack([np.ones(n_items), d0, np.full(n_items, np.log(c0 / (1 - c0)))]).ravel()

    def fit(self, responses: Any, counts: Any = None) -> IRTModel:
        """Estimate item parameters from persons × items 0/1 responses (NaN = not presented).

        `counts`, if given, holds how many persons gave each row's pattern (e.g. the LSAT7 freq column).
        """
        data = _Data(responses, counts)
        self.items_ = data.items
        self.nodes_, self.weights_ = quadrature(self.n_quad, self.bound)
        psi = self._start(data)
        self.converged_ = False
        self.n_iter_ = 0
        self.loglik_history_: list[float] = []
        change = float("inf")

        def em_step(psi: np.ndarray) -> tuple[np.ndarray, float]:
            """One EM step from psi, with the objective (loglik plus the c prior) at psi."""
            self.n_iter_ += 1
            _, r, n, loglik = self._e_step(data, psi)
            return self._m_step(psi, r, n), loglik + self._log_prior(psi)

        while self.n_iter_ < self.max_iter:
            psi1, obj0 = em_step(psi)
            self.loglik_history_.append(obj0)
            change = float(np.abs(psi1 - psi).max())
            if change < self.tol:
                psi = psi1
                self.converged_ = True
                break
            if not self.accelerate or self.n_iter_ + 2 > self.max_iter:
                psi = psi1
                continue
            # SQUAREM (Varadhan & Roland 2008, scheme S3): extrapolate along two EM steps, then
            # take one EM step from there; fall back to plain EM when that would lower the objective.
            psi2, obj1 = em_step(psi1)
            self.loglik_history_.append(obj1)
            step, curve = psi1 - psi, psi2 - 2 * psi1 + psi
            alpha = -np.sqrt((step @ step) / max(curve @ curve, 1e-300))
            alpha = min(alpha, -1.0)
            jump = psi - 2 * alpha * step + alpha**2 * curve
            psi3, obj_jump = em_step(jump)
            if np.isfinite(obj_jump) and obj_jump >= obj1 and np.all(np.isfinite(psi3)):
                self.loglik_history_.append(obj_jump)
                psi = psi3
            else:
                psi = psi2
        if not self.converged_:
            warnings.warn(
                f"IRT 估计未收敛：{self.max_iter} 次迭代后参数变化 {change:.2e} > tol {self.tol:g}"
                f"（EM did not converge）",
                IRTConvergenceWarning,
                stacklevel=2,
            )
        self.psi_ = psi
        post, _, _, self.loglik_ = self._e_step(data, psi)
        a, d, g = self._unpack(psi, len(self.items_))
        self.a_, self.d_ = a.copy(), d.copy()
        self.b_ = -d / a
        self.c_ = _sigmoid(g) if self.model == "3pl" else np.zeros(len(a))
        self.cov_ = self._covariance(data, psi, post) if self.se_method else None
        self.se_ = self._standard_errors()
        return self

    # ----- standard errors

    def _marginal_grad(self, data: _Data, psi: np.ndarray) -> np.ndarray:
        # Fisher's identity: the marginal loglik's gradient is the expected complete-data gradient.
        _, r, n, _ = self._e_step(data, psi)
        grad, _ = self._item_derivs(psi, r, n)
        return self._pack_grad(grad)

    def _covariance(self, data: _Data, psi: np.ndarray, post: np.ndarray) -> np.ndarray:
        k = psi.size
        if self.se_method == "hessian":
            # Central differences of the exact gradient: 2k E-steps, accurate to O(h²).
            h = 1e-4
            hess = np.empty((k, k))
            for i in range(k):
                e = np.zeros(k)
                e[i] = h
                hess[:, i] = (self._marginal_grad(data, psi + e) - self._marginal_grad(data, psi - e)) / (
                    2 * h
                )
            info = -(hess + hess.T) / 2
        else:
            info = self._crossprod_information(data, psi, post)
        try:
            return np.linalg.inv(info)
        except np.linalg.LinAlgError:
            return np.full((k, k), np.nan)

    def _crossprod_information(self, data: _Data, psi: np.ndarray, post: np.ndarray) -> np.ndarray:
        """Σ_patterns f · s sᵀ with s each pattern's score vector (mirt's SE.type = 'crossprod')."""
        n_items = data.u.shape[1]
        a, d, g = self._unpack(psi, n_items)
        x = self.nodes_[None, :]
        s, c, p, _ = self._curves(a, d, g, self.nodes_)
        ad = s / p
        parts = [ad * x, ad]
        if self.model == "3pl":
            parts.append(np.broadcast_to(c / p, s.shape))
        # Pattern score for item j: Σ_k post[n,k] m_nj (u_nj - P_jk) D_jk.
        scores = [data.m * (data.u * (post @ dk.T) - post @ (p * dk).T) for dk in parts]
        if self.model == "rasch":
            mat = np.column_stack([scores[0].sum(axis=1), scores[1]])
        else:
            mat = np.stack(scores, axis=-1).reshape(len(data.f), -1)
        return (mat * data.f[:, None]).T @ mat

    def _standard_errors(self) -> pd.DataFrame:
        n_items = len(self.items_)
        se = pd.DataFrame(np.nan, index=pd.Index(self.items_, name="item"), columns=["a", "b", "c", "d"])
        if self.cov_ is None:
            return se
        cov = self.cov_
        if self.model == "rasch":
            ia = np.zeros(n_items, dtype=int)
            idd = np.arange(1, n_items + 1)
        else:
            step = 2 if self.model == "2pl" else 3
            ia = np.arange(n_items) * step
            idd = ia + 1
        var_a, var_d, cov_ad = cov[ia, ia], cov[idd, idd], cov[ia, idd]
        a, b = self.a_, self.b_
        # A c drifting to 0 leaves a near-singular information: its variances come out NaN, not a warning.
        with np.errstate(invalid="ignore"):
            se["a"] = np.sqrt(var_a)
            se["d"] = np.sqrt(var_d)
            # Delta method for b = -d/a: ∂b/∂d = -1/a, ∂b/∂a = -b/a.
            se["b"] = np.sqrt(var_d + b**2 * var_a + 2 * b * cov_ad) / np.abs(a)
            if self.model == "3pl":
                ig = ia + 2
                se["c"] = np.sqrt(cov[ig, ig]) * self.c_ * (1 - self.c_)
        return se

    # ----- results

    def item_parameters(self) -> pd.DataFrame:
        """The estimates a, b, c, d with their standard errors, one row per item."""
        est = pd.DataFrame({"a": self.a_, "b": self.b_, "c": self.c_, "d": self.d_}, index=self.se_.index)
        return est.join(self.se_.add_prefix("se_"))

    def probability(self, theta: Any) -> np.ndarray:
        """P(correct) for each θ × item."""
        a, d, g = self._unpack(self.psi_, len(self.items_))
        _, _, p, _ = self._curves(a, d, g, np.atleast_1d(np.asarray(theta, dtype=np.float64)))
        return p.T

    def abilities(
        self, responses: Any, method: Literal["eap", "mle"] = "eap"
    ) -> tuple[np.ndarray, np.ndarray]:
        """θ and its standard error per person: EAP (posterior mean/SD, N(0,1) prior) or MLE.

        MLE of an all-correct or all-wrong pattern is ±inf with SE inf.
        """
        data = _Data(responses, counts=np.ones(len(np.asarray(responses))))
        if data.u.shape[1] != len(self.items_):
            raise ValueError(
                f"题目数 {data.u.shape[1]} 与模型的 {len(self.items_)} 不一致（item count differs）"
            )
        post, _, _, _ = self._e_step(data, self.psi_)
        eap = post @ self.nodes_
        eap_sd = np.sqrt(np.maximum(post @ self.nodes_**2 - eap**2, 0.0))
        if method == "eap":
            return eap, eap_sd
        if method != "mle":
            raise ValueError(f"未知能力估计方法 {method!r}（method must be 'eap' or 'mle'）")
        return self._mle(data, eap)

    def _mle(self, data: _Data, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, d, g = self._unpack(self.psi_, len(self.items_))
        c = _sigmoid(g)
        theta = start.copy()
        for _ in range(100):
            s = _sigmoid(theta[:, None] * a[None, :] + d[None, :])
            p = np.clip(c + (1 - c) * s, _P_EPS, 1 - _P_EPS)
            dp = (1 - c) * a * s * (1 - s)
            score = (data.m * (data.u - p) * dp / (p * (1 - p))).sum(axis=1)
            info = (data.m * dp**2 / (p * (1 - p))).sum(axis=1)
            step = np.clip(score / np.maximum(info, 1e-12), -_MAX_STEP, _MAX_STEP)
            theta = np.clip(theta + step, -30, 30)
            if np.abs(step).max() < 1e-8:
                break
        se = 1 / np.sqrt(np.maximum(info, 1e-300))
        # A perfect or zero score has no finite maximum (for positive slopes).
        answered = data.m.sum(axis=1)
        right = data.u.sum(axis=1)
        top = (right == answered) & (answered > 0)
        bottom = right == 0
        theta[top], theta[bottom] = np.inf, -np.inf
        se[top | bottom] = np.inf
        return theta, se


def marginal_loglik(
    responses: Any,
    a: Any,
    b: Any,
    c: Any = None,
    counts: Any = None,
    n_quad: int = 201,
    bound: float = 8.0,
) -> float:
    """The marginal log-likelihood of 0/1 responses under given item parameters and θ ~ N(0, 1).

    Any estimator's parameters can be scored on the same (dense by default) quadrature this way.
    """
    data = _Data(responses, counts)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    model = IRTModel("3pl" if c is not None else "2pl")
    model.nodes_, model.weights_ = quadrature(n_quad, bound)
    columns = [a, -a * b]
    if c is not None:
        c = np.clip(np.asarray(c, dtype=np.float64), _P_EPS, 1 - _P_EPS)
        columns.append(np.log(c / (1 - c)))
    return model._e_step(data, np.column_stack(columns).ravel())[3]
