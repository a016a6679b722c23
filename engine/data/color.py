"""CIE Lab colour space and quantised colours, for the colour pretext tasks (colorization, split-brain, video
colorization).

``rgb_to_lab`` / ``lab_to_rgb`` convert batched sRGB images (B, 3, H, W) in [0, 1] on any device: the sRGB gamma
(IEC 61966-2-1, with its linear segment near 0), the sRGB primaries to CIE XYZ under the D65 white point, then
L* = 116 f(Y/Yn) - 16, a* = 500 (f(X/Xn) - f(Y/Yn)), b* = 200 (f(Y/Yn) - f(Z/Zn)) with f(t) = t^(1/3) above
(6/29)^3 and its tangent line t / (3 (6/29)^2) + 4/29 below (CIE 15). L lies in [0, 100], a and b roughly in
[-110, 110]. Colours are quantised to bins: k-means centres of sample values (``fit_bins``), each value assigned
its nearest bin (``nearest_bin``); a distribution over bins is decoded by its annealed mean (``annealed_mean``).
"""
from __future__ import annotations

import numpy as np
import torch

RGB_TO_XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                           [0.2126729, 0.7151522, 0.0721750],
                           [0.0193339, 0.1191920, 0.9503041]])
XYZ_TO_RGB = torch.linalg.inv(RGB_TO_XYZ)
D65_WHITE = RGB_TO_XYZ.sum(dim=1)  # XYZ of sRGB white: (0.95047, 1.0, 1.08883)
DELTA = 6 / 29


def _colour_matrix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The 3x3 ``matrix`` applied to the channels of (B, 3, H, W), in float32 whatever autocast says."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(x.device, torch.float32), x.float())


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] to CIE Lab (B, 3, H, W), float32."""
    with torch.autocast(rgb.device.type, enabled=False):
        c = rgb.float()
        linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).clamp_min(0) ** 2.4)
        t = _colour_matrix(RGB_TO_XYZ, linear) / D65_WHITE.to(rgb.device).view(1, 3, 1, 1)
        f = torch.where(t > DELTA**3, t.clamp_min(DELTA**3) ** (1 / 3), t / (3 * DELTA**2) + 4 / 29)
        fx, fy, fz = f.unbind(1)
        return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (B, 3, H, W) to sRGB (B, 3, H, W) clamped to [0, 1] (colours outside the gamut are clipped)."""
    with torch.autocast(lab.device.type, enabled=False):
        lightness, a, b = lab.float().unbind(1)
        fy = (lightness + 16) / 116
        f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)
        t = torch.where(f > DELTA, f**3, 3 * DELTA**2 * (f - 4 / 29))
        linear = _colour_matrix(XYZ_TO_RGB, t * D65_WHITE.to(lab.device).view(1, 3, 1, 1)).clamp(0, 1)
        return torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055).clamp(0, 1)


def fit_bins(values: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """``k`` bins (k, D) for sample values (N, D): their k-means centres (scikit-learn). Raises ValueError when the
    values hold fewer than ``k`` distinct colours (to 0.01 units), which cannot fill ``k`` bins."""
    from sklearn.cluster import KMeans  # scikit-learn takes a second to import: only when bins are fitted

    x = values.detach().double().cpu().numpy()
    distinct = len(np.unique(np.round(x, 2), axis=0))
    if distinct < k:
        raise ValueError(f"{k} colour bins are more than the {distinct} distinct colours in the data: "
                         f"choose at most {distinct} bins")
    centres = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x).cluster_centers_
    return torch.from_numpy(centres).float()


def nearest_bin(values: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Index (...) of the nearest bin (K, D) in Euclidean distance for each value (..., D)."""
    flat = values.reshape(-1, values.shape[-1]).float()
    distances = torch.cdist(flat, bins.float(), compute_mode="donot_use_mm_for_euclid_dist")  # exact, for ties
    return distances.argmin(dim=1).reshape(values.shape[:-1])


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, temperature: float = 0.38) -> torch.Tensor:
    """Decode per-pixel distributions over bins: logits (B, K, H, W), bins (K, D) -> values (B, D, H, W).

    The annealed mean of Zhang et al. (2016, eq. 5): H(Z) = E[f_T(Z)] with f_T(z) = exp(log z / T) / sum exp(log z / T),
    which for z = softmax(logits) is softmax(logits / T). T = 1 gives the mean, T -> 0 the mode; T = 0.38 keeps the
    mode's vibrancy with the mean's spatial consistency."""
    weights = (logits.float() / temperature).softmax(dim=1)
    return torch.einsum("bkhw,kd->bdhw", weights, bins.to(weights.device, torch.float32))
