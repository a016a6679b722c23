"""Tracking by propagation through attention (Vondrick et al. 2018, sec. 4): the first frame's labels (an instance
mask, keypoint heat maps) are copied frame by frame to the next through the attention of each frame to the first
frame and a few previous ones, y_j = sum_i A_ij c_i with the predicted labels of those frames as c, top-k and a
temperature; then scored against the ground truth.

J is the region similarity of DAVIS (Perazzi et al. 2016): the IoU of the predicted and true mask of each object,
per frame (the first, given, frame excluded; a frame where both are empty counts 1), averaged over the objects, then
over the frames of a clip. The keypoint error is the distance in pixels from each propagated keypoint (the peak of its
heat map) to the true one. Baselines: the first frame's mask and keypoints copied unchanged, and the same
propagation on the features of a randomly initialised network, of raw pixel colours and of the raw lightness the
network sees.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.data.color import rgb_to_lab
from engine.video.attention import window_attention, window_copy

KEYPOINT_SIGMA = 0.75  # width in feature cells of a keypoint's heat map


@dataclass(frozen=True)
class TrackSettings:
    radius: int = 3  # window, in feature cells
    topk: int = 10  # 0: all
    temperature: float = 0.1
    context: int = 3  # previous frames attended to, besides the first


@dataclass
class Tracked:
    """A clip's propagated labels and, where the truth is known, their scores."""

    masks: torch.Tensor  # uint8 (T, S, S): 0 background, k object k
    keypoints: torch.Tensor | None  # float (T, K, 2) x, y in pixels
    j_per_frame: torch.Tensor | None = None  # (T,) mean J over the objects, frame 0 (given) included as 1
    keypoint_error: torch.Tensor | None = None  # (T,) mean distance in pixels

    @property
    def j(self) -> float:
        """The clip's J: frames after the first."""
        return float(self.j_per_frame[1:].mean())


def one_hot_labels(instances: torch.Tensor, objects: int) -> torch.Tensor:
    """float (1 + objects, S, S) from an instance map (S, S) (0 background, k object k)."""
    return F.one_hot(instances.long(), 1 + objects).permute(2, 0, 1).float()


def keypoint_heatmaps(points: torch.Tensor, size: int, grid: int) -> torch.Tensor:
    """float (K, grid, grid): a Gaussian per keypoint (x, y in pixels of ``size``-px frames) on the feature grid."""
    stride = size / grid
    cells = (torch.arange(grid, dtype=torch.float32) + 0.5) * stride - 0.5  # the cells' centres, in pixels
    dx = (cells[None] - points[:, :1]) / stride
    dy = (cells[None] - points[:, 1:]) / stride
    return torch.exp(-(dy[:, :, None] ** 2 + dx[:, None, :] ** 2) / (2 * KEYPOINT_SIGMA**2))


def heatmap_peaks(heatmaps: torch.Tensor, size: int) -> torch.Tensor:
    """(K, 2) x, y in pixels of each heat map's (K, h, w) peak: the heat-weighted centroid of the pixels within one
    cell of its maximum, upsampled to ``size``."""
    up = F.interpolate(heatmaps[None].float(), size=(size, size), mode="bilinear", align_corners=False)[0]
    flat = up.flatten(1).argmax(1)
    pixels = torch.arange(size, dtype=torch.float32)
    reach = size / heatmaps.shape[-1]
    near_x = ((pixels[None] - (flat % size)[:, None]).abs() <= reach).float()  # (K, S)
    near_y = ((pixels[None] - (flat // size)[:, None]).abs() <= reach).float()
    weights = up.clamp_min(0) * near_y[:, :, None] * near_x[:, None, :]
    total = weights.sum((1, 2)).clamp_min(1e-12)
    return torch.stack([(weights.sum(1) * pixels).sum(1) / total, (weights.sum(2) * pixels).sum(1) / total], 1)


def propagate(features: torch.Tensor, first: torch.Tensor, settings: TrackSettings) -> torch.Tensor:
    """Labels (T, C, h, w) of every frame: ``first`` (C, h, w) for frame 0, then frame by frame the attention of its
    features (T, D, h, w), L2-normalised (the similarities are cosines, divided by the temperature), to frame 0 and
    the ``context`` frames before it copies their labels."""
    features = F.normalize(features.float(), dim=1)  # cosine similarities: comparable across kinds of features
    labels = [first.float()]
    for t in range(1, len(features)):
        context = [0] + list(range(max(1, t - settings.context), t))
        weights = window_attention(features[t][None], features[context][None], settings.radius,
                                   settings.temperature, settings.topk)
        labels.append(window_copy(weights, torch.stack([labels[c] for c in context])[None], settings.radius)[0])
    return torch.stack(labels)


def region_similarity(predicted: torch.Tensor, truth: torch.Tensor, objects: int) -> torch.Tensor:
    """J per frame (T,): the IoU of each object's predicted and true masks (T, S, S) averaged over the objects (an
    object absent from both counts 1)."""
    scores = []
    for k in range(1, objects + 1):
        p, g = predicted == k, truth == k
        inter, union = (p & g).flatten(1).sum(1).float(), (p | g).flatten(1).sum(1).float()
        scores.append(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)))
    return torch.stack(scores).mean(0)


@torch.no_grad()
def track(features: torch.Tensor, first_instances: torch.Tensor, objects: int, settings: TrackSettings,
          first_keypoints: torch.Tensor | None = None) -> Tracked:
    """Propagate the first frame's instance map (S, S) (and keypoints (K, 2) in pixels) through a clip's features
    (T, D, h, w): instance maps (T, S, S) and keypoints (T, K, 2) of every frame."""
    size, grid = first_instances.shape[-1], features.shape[-1]
    seed = F.adaptive_avg_pool2d(one_hot_labels(first_instances, objects)[None], grid)[0]
    k = 0
    if first_keypoints is not None:
        k = len(first_keypoints)
        seed = torch.cat([seed, keypoint_heatmaps(first_keypoints, size, grid)])
    labels = propagate(features.float(), seed.to(features.device), settings).cpu()
    regions = labels[:, :1 + objects] if k else labels
    masks = F.interpolate(regions, size=(size, size), mode="bilinear", align_corners=False).argmax(1).to(torch.uint8)
    masks[0] = first_instances
    keypoints = None
    if k:
        keypoints = torch.stack([heatmap_peaks(frame[1 + objects:], size) for frame in labels])
        keypoints[0] = first_keypoints
    return Tracked(masks, keypoints)


def scored(tracked: Tracked, instances: torch.Tensor, keypoints: torch.Tensor | None, objects: int) -> Tracked:
    """``tracked`` with its J and keypoint error per frame against the true instance maps (T, S, S) and keypoints."""
    tracked.j_per_frame = region_similarity(tracked.masks, instances, objects)
    if keypoints is not None and tracked.keypoints is not None:
        tracked.keypoint_error = (tracked.keypoints - keypoints).norm(dim=-1).mean(-1)
    return tracked


def copied(first_instances: torch.Tensor, first_keypoints: torch.Tensor | None, frames: int) -> Tracked:
    """The copy baseline: the first frame's mask and keypoints for every frame."""
    keypoints = None if first_keypoints is None else first_keypoints[None].expand(frames, -1, -1).clone()
    return Tracked(first_instances[None].expand(frames, -1, -1).clone(), keypoints)


def raw_pixel_features(frames: torch.Tensor, stride: int, lightness: bool = False) -> torch.Tensor:
    """(T, C stride^2, S / stride, S / stride): each cell's stride x stride patch of RGB colours (centred on gray),
    the raw-pixel features; with ``lightness``, of the L* the network sees (scaled to [-0.5, 0.5]) instead."""
    x = rgb_to_lab(frames.float() / 255)[:, :1] / 100 - 0.5 if lightness else frames.float() / 255 - 0.5
    grid = frames.shape[-1] // stride
    return F.unfold(x, stride, stride=stride).view(len(frames), -1, grid, grid)


FeatureFn = Callable[[torch.Tensor], torch.Tensor]  # uint8 frames (T, 3, S, S) -> features (T, D, h, w)


def evaluate_tracking(features_of: FeatureFn | None, clips: torch.Tensor, truth, settings: TrackSettings
                      ) -> list[Tracked]:
    """Each clip (N, T, 3, S, S) tracked from its first frame's truth (``engine.data.shapes_video.ClipTruth``) and
    scored; ``features_of`` None: the copy baseline."""
    out = []
    for clip, instances, keypoints in zip(clips, truth.instances, truth.keypoints):
        if features_of is None:
            tracked = copied(instances[0], keypoints[0], len(clip))
        else:
            tracked = track(features_of(clip), instances[0], truth.objects, settings, keypoints[0])
        out.append(scored(tracked, instances, keypoints, truth.objects))
    return out


def summary(tracked: list[Tracked]) -> dict[str, float]:
    """Mean J (frames after the first) and mean keypoint error in pixels over the clips."""
    scores = {"J": sum(t.j for t in tracked) / len(tracked)}
    errors = [t.keypoint_error[1:].mean() for t in tracked if t.keypoint_error is not None]
    if errors:
        scores["keypoint_px"] = float(torch.stack(errors).mean())
    return scores


@torch.no_grad()
def track_clip(method, frames: torch.Tensor, first_mask: torch.Tensor, first_keypoints: torch.Tensor | None = None,
               truth_masks: torch.Tensor | None = None, truth_keypoints: torch.Tensor | None = None) -> Tracked:
    """Propagate a first-frame mask through a clip with a video method's learned attention (its ``features`` and
    ``track_settings``; e.g. ``engine.run.load_run(RUN_DIR).method``): uint8 frames (T, 3, S, S) at the run's
    size, ``first_mask`` (S, S) bool for one object (a clicked object id's pixels) or an instance map (0 background,
    k object k), optional keypoints (K, 2) in pixels. Returns the per-frame masks (and keypoints) and, given the true
    masks (T, S, S) (and keypoints), J (and the keypoint error) per frame. Safe on a background thread with a model
    no one trains meanwhile."""
    if first_mask.shape != frames.shape[-2:]:
        raise ValueError(f"the first-frame mask is {tuple(first_mask.shape)}, the frames {tuple(frames.shape[-2:])}")
    instances = first_mask.to(torch.uint8)
    objects = max(int(instances.max()), 1)
    device = next(method.parameters()).device
    tracked = track(method.features(frames.to(device)), instances, objects, method.track_settings, first_keypoints)
    if truth_masks is not None:
        tracked = scored(tracked, truth_masks.to(torch.uint8), truth_keypoints, objects)
    return tracked
