"""Dense correspondence from per-pixel descriptors (Florence, Manuelli & Tedrake 2018, "Dense Object Nets", sec.
III-A and V-A): a pixel of image A finds its best match in image B as the pixel whose descriptor is nearest in L2,
and a correspondence counts as found when that best match lies within ``TOLERANCE_PX`` of the true location.

Descriptor images are float (N, D, H, W); points are pixel coordinates (x, y) (engine.data.warp_pairs). These are
plain functions on tensors, for the method's evaluation and preview and for the window's click-a-pixel view.
"""
from __future__ import annotations

import torch

from engine.data.warp_pairs import sample_at

TOLERANCE_PX = 2.0


def best_matches(descriptors_a: torch.Tensor, descriptors_b: torch.Tensor, points_a: torch.Tensor) -> torch.Tensor:
    """For points (N, K, 2) of images A, the pixels (N, K, 2) of images B with the nearest descriptors."""
    queries = sample_at(descriptors_a.float(), points_a)  # (N, K, D)
    pixels = descriptors_b.float().flatten(2).transpose(1, 2)  # (N, H * W, D)
    nearest = torch.cdist(queries, pixels).argmin(dim=2)
    width = descriptors_b.shape[-1]
    return torch.stack([nearest % width, nearest // width], dim=-1).float()


def within_tolerance(found: torch.Tensor, truth: torch.Tensor, tolerance: float = TOLERANCE_PX) -> torch.Tensor:
    """bool (N, K): whether each found point lies within ``tolerance`` pixels of the true one."""
    return (found - truth).norm(dim=-1) <= tolerance


def distance_map(descriptors_a: torch.Tensor, descriptors_b: torch.Tensor, u: float, v: float
                 ) -> tuple[torch.Tensor, tuple[int, int]]:
    """The clicked pixel (u, v) = (column, row) of image A (descriptors (D, H, W)): the L2 distance of its descriptor
    to each pixel's of image B, (H, W), and the best match (x, y) in B (the nearest)."""
    query = sample_at(descriptors_a[None].float(), torch.tensor([[[float(u), float(v)]]]).to(descriptors_a.device))
    distances = (descriptors_b.float() - query[0, 0, :, None, None]).norm(dim=0)
    best = int(distances.argmin())
    return distances, (best % distances.shape[1], best // distances.shape[1])


def heat_tile(distances: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (3, H, W) of a distance map: yellow at the nearest, through red, to dark blue at the median distance
    and beyond (the far half of the image is not what one looks for)."""
    low, median = distances.min(), distances.median()
    near = (1 - (distances - low) / (median - low).clamp_min(1e-8)).clamp(0, 1)
    rgb = torch.stack([(near * 2).clamp(max=1), (near * 2 - 1).clamp(min=0), 0.4 * (1 - near)], dim=0)
    return (rgb * 255).round().to(torch.uint8).cpu()


def descriptor_rgb(descriptors: torch.Tensor) -> torch.Tensor:
    """uint8 RGB images (N, 3, H, W) of descriptor images (N, D, H, W): their first three principal components,
    fitted over all pixels of all N images together (so that the same colour means the same descriptor across
    them), each stretched from its 1st to its 99th percentile; missing components (D < 3) are black."""
    n, d, h, w = descriptors.shape
    pixels = descriptors.float().movedim(1, -1).reshape(-1, d)
    centred = pixels - pixels.mean(dim=0)
    components = torch.linalg.svd(centred, full_matrices=False).Vh[:3]
    projected = centred @ components.T
    low, high = projected.quantile(0.01, dim=0), projected.quantile(0.99, dim=0)
    scaled = ((projected - low) / (high - low).clamp_min(1e-8)).clamp(0, 1)
    scaled = torch.cat([scaled, scaled.new_zeros(len(scaled), 3 - scaled.shape[1])], dim=1)
    return (scaled * 255).round().to(torch.uint8).view(n, h, w, 3).movedim(-1, 1).cpu()
