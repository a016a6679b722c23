"""Pairs of views of one image with a known geometric warp between them, and the pixel correspondences it gives,
for dense descriptor learning (Florence, Manuelli & Tedrake 2018, "Dense Object Nets", sec. III-A: there the
correspondences come from depth and camera poses; here each view is a random affine warp of the image, so every
pixel's match is known exactly).

Points are pixel coordinates (x, y) as floats, x the column and y the row, with pixel centres at integers: pixel
(0, 0) is the top-left one, and a view of side S covers [-0.5, S - 0.5]. A view's ``image_from_view`` matrix (N, 3, 3)
maps its pixels' coordinates to the image's (homogeneous, an affine map), and ``grid_sample`` draws it from there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class WarpPair:
    """N pairs of views (float (N, C, S, S) in [0, 1], zeros where a view sees outside the image) of N images, the
    affine maps between their pixel coordinates, and where each view sees the image (``inside_*``: bool (N, S, S))
    and its main object (``object_*``, None when the source has no masks)."""

    view_a: torch.Tensor
    view_b: torch.Tensor
    b_from_a: torch.Tensor  # (N, 3, 3): homogeneous pixel coordinates of A to those of B
    inside_a: torch.Tensor
    inside_b: torch.Tensor
    object_a: torch.Tensor | None
    object_b: torch.Tensor | None

    @property
    def size(self) -> int:
        return self.view_a.shape[-1]

    def to_b(self, points_a: torch.Tensor) -> torch.Tensor:
        """Where points (N, K, 2) of view A lie in view B."""
        return transform(self.b_from_a, points_a)

    def to_a(self, points_b: torch.Tensor) -> torch.Tensor:
        return transform(torch.linalg.inv(self.b_from_a), points_b)


def transform(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Points (N, K, 2) through affine maps (N, 3, 3)."""
    return points @ matrix[:, :2, :2].transpose(1, 2) + matrix[:, None, :2, 2]


def pixel_grid(size: int, device: torch.device) -> torch.Tensor:
    """The (x, y) coordinates of every pixel of a size x size view, (size * size, 2), row by row."""
    y, x = torch.meshgrid(torch.arange(size, device=device), torch.arange(size, device=device), indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1).float()


def normalised(points: torch.Tensor, size: int | torch.Tensor) -> torch.Tensor:
    """Pixel coordinates as ``grid_sample`` reads them with align_corners=False: -1 and 1 are the outer edges of a
    view of side ``size`` (or of (width, height))."""
    return (2 * points + 1) / size - 1


def inside(points: torch.Tensor, size: int) -> torch.Tensor:
    """Points at which bilinear sampling reads only real pixels: within [0, size - 1] on both axes."""
    return ((points >= 0) & (points <= size - 1)).all(dim=-1)


def sample_at(values: torch.Tensor, points: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``values`` (N, C, S, S) read at points (N, K, 2): (N, K, C); exact at integer points."""
    width_height = torch.tensor([values.shape[-1], values.shape[-2]], device=points.device)
    grid = normalised(points, width_height).unsqueeze(2).to(values.dtype)  # (N, K, 1, 2)
    return F.grid_sample(values, grid, mode=mode, padding_mode="zeros", align_corners=False)[..., 0].transpose(1, 2)


def random_affine(n: int, size: int, max_degrees: float, max_scale: float, max_shift: float, rng: torch.Generator,
                  device: torch.device) -> torch.Tensor:
    """``image_from_view`` maps (n, 3, 3) of random views: a rotation about the centre up to ``max_degrees`` either way,
    a zoom log-uniform in [1 / max_scale, max_scale] and a shift of up to ``max_shift`` of the side on each axis."""
    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=rng, device=device) * (high - low) + low

    angle = uniform(-max_degrees, max_degrees) * (math.pi / 180)
    scale = torch.exp(uniform(-math.log(max_scale), math.log(max_scale)))
    shift = torch.stack([uniform(-max_shift, max_shift), uniform(-max_shift, max_shift)], dim=1) * size
    cos, sin = angle.cos() / scale, angle.sin() / scale  # a view zoomed in by s reads 1/s of the image per pixel
    centre = torch.full((n, 2), (size - 1) / 2, device=device)
    matrix = torch.zeros(n, 3, 3, device=device)
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
    # image point = centre + shift + R / s (view point - centre)
    matrix[:, :2, 2] = centre + shift - (matrix[:, :2, :2] @ centre.unsqueeze(-1)).squeeze(-1)
    matrix[:, 2, 2] = 1
    return matrix


def warp(values: torch.Tensor, image_from_view: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """The views (N, C, S, S) of images ``values`` through their ``image_from_view`` maps (zeros outside)."""
    n, _, size, _ = values.shape
    points = transform(image_from_view, pixel_grid(size, values.device).expand(n, -1, -1))
    grid = normalised(points, size).view(n, size, size, 2).to(values.dtype)
    return F.grid_sample(values, grid, mode=mode, padding_mode="zeros", align_corners=False)


def make_pairs(images: torch.Tensor, masks: torch.Tensor | None, max_degrees: float, max_scale: float,
               max_shift: float, rng: torch.Generator) -> WarpPair:
    """Two independently warped views of each image (float (N, C, S, S) in [0, 1]); ``masks`` (bool (N, S, S), the
    main object's pixels) are warped with them (nearest pixel)."""
    n, _, size, _ = images.shape
    a = random_affine(n, size, max_degrees, max_scale, max_shift, rng, images.device)
    b = random_affine(n, size, max_degrees, max_scale, max_shift, rng, images.device)
    grid = pixel_grid(size, images.device).expand(n, -1, -1)
    sees = [inside(transform(m, grid), size).view(n, size, size) for m in (a, b)]
    objects = [None, None] if masks is None else [warp(masks[:, None].float(), m, "nearest")[:, 0] > 0.5
                                                   for m in (a, b)]
    return WarpPair(warp(images, a), warp(images, b), torch.linalg.inv(b) @ a, sees[0], sees[1], *objects)


def draw(weights: torch.Tensor, fallback: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """``count`` pixel indices per row of ``weights`` (N, P), with replacement; rows that allow no pixel draw from
    ``fallback``'s instead."""
    empty = weights.sum(dim=1) == 0
    weights = torch.where(empty[:, None], fallback, weights).float()
    return torch.multinomial(weights, count, replacement=True, generator=rng)


def indices_to_points(index: torch.Tensor, size: int) -> torch.Tensor:
    return torch.stack([index % size, index // size], dim=-1).float()


def sample_matches(pair: WarpPair, count: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` matches per pair: pixels of view A (N, K, 2) that both views see, on the object where the masks know
    it (Dense Object Nets samples matches on the object only, sec. III-B), and where they lie in view B (N, K, 2;
    between pixels in general)."""
    n, size = len(pair.view_a), pair.size
    grid = pixel_grid(size, pair.view_a.device)
    seen = pair.inside_a.flatten(1) & inside(pair.to_b(grid.expand(n, -1, -1)), size)
    wanted = seen if pair.object_a is None else seen & pair.object_a.flatten(1)
    points_a = indices_to_points(draw(wanted, seen, count, rng), size)
    return points_a, pair.to_b(points_a)


def sample_non_matches(pair: WarpPair, points_b: torch.Tensor, per_match: int, min_distance: float,
                       rng: torch.Generator, tries: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """For each match's location in B (N, K, 2), ``per_match`` pixels of view B (N, K, per_match, 2) farther than
    ``min_distance`` from it, and whether each is kept (N, K, per_match): a draw that ``tries`` attempts left too
    close is dropped, so no non-match is ever a match. With masks, half are drawn on the object in B and half on its
    background (Dense Object Nets' masked and background non-matches), else anywhere in view."""
    n, k, _ = points_b.shape
    size = pair.size
    seen = pair.inside_b.flatten(1)
    regions = [seen] if pair.object_b is None else [seen & pair.object_b.flatten(1), seen & ~pair.object_b.flatten(1)]
    per_region = [per_match // len(regions) + (r < per_match % len(regions)) for r in range(len(regions))]
    picks = [draw(region, seen, k * m * tries, rng).view(n, k, m, tries) for region, m in zip(regions, per_region)]
    candidates = indices_to_points(torch.cat(picks, dim=2), size)  # (N, K, per_match, tries, 2)
    far = (candidates - points_b[:, :, None, None]).norm(dim=-1) > min_distance
    first = far.float().argmax(dim=-1, keepdim=True)  # the first far one, or 0 when none is
    chosen = candidates.gather(3, first[..., None].expand(-1, -1, -1, -1, 2))[:, :, :, 0]
    return chosen, far.any(dim=-1)
