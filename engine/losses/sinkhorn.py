"""Sinkhorn-Knopp: equal-partition soft assignments by entropy-regularised optimal transport, for SwAV's codes of a
batch (Caron et al. 2020, eq. 3 and appendix A.1) and SeLa's self-labels of a whole dataset (Asano et al. 2020,
eqs. 6-8)."""
from __future__ import annotations

import math

import torch

FINITE = 1e30  # scores / epsilon are clamped to +-FINITE: -inf ("never this cluster") stays usable arithmetic


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3, tolerance: float = 0.0) -> torch.Tensor:
    """Soft assignments of N samples to K clusters for scores (N, K) (higher: more alike), solving
    max_Q <Q, scores> + epsilon H(Q) over the transportation polytope {Q >= 0: Q 1_K = 1_N / N, Q^T 1_N = 1_K / K}
    (every cluster gets 1/K of the mass, every sample 1/N). The solution is Q = diag(c) exp(scores / epsilon)
    diag(r); Sinkhorn-Knopp alternates r = 1 / (K P^T c) (clusters) and c = 1 / (N P r) (samples) for
    ``iterations`` rounds, or fewer once every cluster's mass is within ``tolerance`` (relative) of 1/K.

    SwAV: scores are prototype similarities, epsilon 0.05, 3 rounds. SeLa: scores are log-probabilities log P,
    epsilon = 1/lambda (Q ~ P^lambda), rounds until converged. Computed in float64 for float64 scores (else
    float32) with autocast off; the kernel is shifted per cluster (exactly absorbed by r) so that no cluster's
    column underflows, and if the scalings still leave the float range the same rounds run in the log domain:
    no NaN for extreme or -inf scores. Returns N * Q: each row sums to 1, each column to N / K when converged."""
    x = scores if scores.dtype == torch.float64 else scores.float()
    with torch.autocast(x.device.type, enabled=False):
        m = (x / epsilon).clamp(-FINITE, FINITE)
        m = m - m.max(dim=0, keepdim=True).values
        q = _scaled_kernel(m.exp(), iterations, tolerance)
        return q if q is not None else _log_domain(m, iterations, tolerance)


def _scaled_kernel(p: torch.Tensor, iterations: int, tolerance: float) -> torch.Tensor | None:
    """N * diag(c) p diag(r) after the rounds on the kernel p (N, K); None when a scaling left the float range."""
    n, k = p.shape
    c = torch.ones(n, dtype=p.dtype, device=p.device)
    for _ in range(iterations):
        r = 1 / (k * (c @ p))
        c = 1 / (n * (p @ r))
        if tolerance and float(((c @ p) * r * k - 1).abs().max()) < tolerance:
            break
    q = c[:, None] * p * (r * n)
    return q if bool(torch.isfinite(q).all()) else None


def _log_domain(m: torch.Tensor, iterations: int, tolerance: float) -> torch.Tensor:
    """The same rounds on log-scalings (g = log r, f = log c) of the log kernel m (N, K), by logsumexp."""
    n, k = m.shape
    f = torch.zeros(n, 1, dtype=m.dtype, device=m.device)
    for _ in range(iterations):
        g = -math.log(k) - torch.logsumexp(m + f, dim=0, keepdim=True)
        f = -math.log(n) - torch.logsumexp(m + g, dim=1, keepdim=True)
        if tolerance and float((torch.logsumexp(m + f + g, dim=0) + math.log(k)).exp().sub(1).abs().max()) < tolerance:
            break
    return (m + f + g + math.log(n)).exp()
