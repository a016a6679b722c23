"""Dense descriptors (Florence, Manuelli & Tedrake 2018, "Dense Object Nets: Learning Dense Visual Object
Descriptors By and For Robotic Manipulation")."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.data.augment import Augment, colour_transform
from engine.data.base import Dataset, ImageSet
from engine.data.warp_pairs import WarpPair, make_pairs, sample_at, sample_matches, sample_non_matches
from engine.eval.correspondence import best_matches, descriptor_rgb, heat_tile, within_tolerance
from engine.losses import pixelwise_contrastive_loss
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.nets.convnet import conv_bn_relu
from engine.nets.decoder import pooled_features

ONLINE_PAIRS = 256  # held-out pairs of an online evaluation (a final one uses the whole test split)
QUERIES_PER_PAIR = 32  # correspondences scored per held-out pair
SCORED_PER_STEP = 16  # matches per training pair whose best match the logged pretext_acc checks
PREVIEW_POINTS = 6
PREVIEW_SIDE = 96  # preview tiles are enlarged (nearest) to about this side so that the marks show
SCORE_KEYS = {"trained": "match_2px", "random": "match_2px_random", "raw": "match_2px_raw"}
RIGHT, WRONG, QUERY = (40, 220, 60), (235, 40, 40), (255, 255, 255)


@dataclass
class DenseDescriptorsConfig:
    descriptor_dim: int = param(16, "D, the dimensions of each pixel's descriptor", low=1, high=256)
    margin: float = param(0.5, "M: non-matching pixels' descriptors are pushed at least this far apart (L2)",
                          low=0.01, high=100.0)
    matches: int = param(128, "Matching pixel pairs sampled per image pair (on the object where the data has "
                              "masks)", low=1, high=4096)
    non_matches: int = param(16, "Non-matching pixels of view B drawn per match (half on the object, half on the "
                                 "background where the data has masks)", low=1, high=512)
    non_match_distance: float = param(2.0, "A non-match lies farther than this many pixels from the true match",
                                      low=0.5, high=64.0)
    max_rotation: float = param(30.0, "Each view is rotated by up to this many degrees either way", low=0.0,
                                high=180.0)
    max_scale: float = param(1.2, "Each view is zoomed by a factor in [1/s, s]", low=1.0, high=3.0)
    max_shift: float = param(0.1, "Each view is shifted by up to this fraction of the side on each axis", low=0.0,
                             high=0.5)
    hard_negatives: bool = param(True, "Hard-negative scaling: average the non-match loss over the non-matches "
                                       "still closer than the margin, not over all of them")
    head_width: int = param(32, "Channels of the upsampling head that fuses the backbone's stages", low=4, high=512)


def stage_outputs(backbone: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The feature maps of each of the backbone's ``stages()``, from one pass over ``x``."""
    caught: list[torch.Tensor] = []
    hooks = [stage.register_forward_hook(lambda module, args, out: caught.append(out)) for stage in backbone.stages()]
    try:
        backbone.feature_map(x)
    finally:
        for hook in hooks:
            hook.remove()
    return caught


class DescriptorHead(nn.Module):
    """A fully convolutional read-out of D channels at the input's resolution: each backbone stage's map reduced by a
    1x1 conv, bilinearly upsampled to the image size and summed (FCN's skip fusion, Long et al. 2015), then a 3x3
    conv-BN-ReLU and a 1x1 conv to D. Dense Object Nets reads one stride-8 map of a ResNet-34 upsampled; at 32 px
    that map is 4x4, too coarse to place a pixel within 2 px, hence the earlier stages' finer maps."""

    def __init__(self, stage_channels: list[int], width: int, dim: int):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1, bias=False) for c in stage_channels)
        self.fuse = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True), conv_bn_relu(width, width),
                                  nn.Conv2d(width, dim, 1))

    def forward(self, stages: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        fused = sum(F.interpolate(conv(x), size=size, mode="bilinear", align_corners=False)
                    for conv, x in zip(self.lateral, stages))
        return self.fuse(fused)


def describe(backbone: nn.Module, head: DescriptorHead, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Descriptor images (N, D, S, S) of normalised images, and the backbone's last feature map."""
    stages = stage_outputs(backbone, x)
    return head(stages, x.shape[-2:]), stages[-1]


@register_method
class DenseDescriptors(Method):
    """A fully convolutional network maps an image to a D-dimensional descriptor per pixel (sec. III-A). Two views of
    an image, each a random affine warp (rotation, zoom, shift) under independent colour jitter, give exactly known
    pixel correspondences; the pixelwise contrastive loss (eqs. 1-3, engine.losses.pixelwise_contrastive) pulls
    matching pixels' descriptors together and pushes non-matches beyond the margin M, its non-match term scaled by
    the hard negatives (sec. III-B). Where the data has object masks (the shapes world's main shape), matches are
    sampled on the object, and non-matches half on the object, half on the background of the other view (sec.
    III-B's object masking; the masked and background non-matches of the authors' code); without masks, both
    anywhere both views see.

    The evaluation: on held-out pairs of test images, the share of correspondences whose best match (the nearest
    descriptor in the other view) lies within 2 px of the truth (the paper plots the cumulative distribution of that
    pixel error), beside the same share for the untrained network and for raw pixels (each pixel's colour as its
    descriptor). The warps replace the augmentation's crop, flip and rotation; its colour settings apply."""

    name = "dense_descriptors"
    paper = "Florence et al. 2018, Dense Object Nets"
    Config = DenseDescriptorsConfig
    # colour jitter without grayscale or strong hue: what changes between two views of a scene (lighting); the
    # geometry comes from the warps, so the augmentation's crop and rotation are not used
    augment_defaults = {"jitter_p": 0.8, "hue": 0.05, "saturation": 0.4, "grayscale_p": 0.0}
    # a few pairs per step, many pixels each: more steps in the budget (Dense Object Nets trains on one pair a step)
    train_defaults = {"batch_size": 8}

    def __init__(self, backbone, config: DenseDescriptorsConfig, augment: Augment):
        super().__init__(backbone, config, augment)
        if not hasattr(backbone, "feature_map") or not hasattr(backbone, "stages"):
            raise ValueError(f"dense_descriptors needs a convolutional backbone with spatial feature maps, which "
                             f"{type(backbone).__name__} does not give: choose convnet, convnet-grid or resnet18")
        with torch.no_grad():
            was_training = backbone.training
            size = augment.image_size
            channels = [x.shape[1] for x in stage_outputs(backbone.eval(), torch.zeros(1, len(augment.mean[0]),
                                                                                      size, size))]
            backbone.train(was_training)
        self.head = DescriptorHead(channels, config.head_width, config.descriptor_dim)
        # the network as initialised, kept out of the module tree (and the checkpoint): the random-network baseline
        self._untrained = (copy.deepcopy(backbone).eval(), copy.deepcopy(self.head).eval())
        self._train_masks: torch.Tensor | None = None
        self._batch_masks: torch.Tensor | None = None
        self._test_split: ImageSet | None = None
        self._baseline_scores: dict[int, dict[str, float]] = {}

    def attach_training_data(self, dataset: Dataset, report: Callable[[str], None]) -> None:
        self._train_masks = dataset.train.masks
        self._test_split = dataset.test

    def known_masks(self, images: torch.Tensor) -> torch.Tensor | None:
        """The object masks of uint8 images that are the test split's first ones (the Session's preview images), else
        None."""
        test = self._test_split
        if test is None or test.masks is None or len(images) > len(test):
            return None
        same = torch.equal(images.cpu(), test.images[: len(images)])
        return test.masks[: len(images)].to(images.device) if same else None

    def batch_indices(self, step: int, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        self._batch_masks = None if self._train_masks is None else self._train_masks[proposed]
        return proposed

    def pairs(self, images: torch.Tensor, masks: torch.Tensor | None, rng: torch.Generator) -> WarpPair:
        """Warped pairs of uint8 images (views in [0, 1], before colour jitter)."""
        cfg = self.config
        return make_pairs(images.float() / 255, masks, cfg.max_rotation, cfg.max_scale, cfg.max_shift, rng)

    def jittered(self, view: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """A view under the augmentation's colour jitter, normalised (outside the image stays zero before it)."""
        cfg = self.augment.config
        if cfg.jitter_p > 0 or cfg.grayscale_p > 0:
            view = colour_transform(view, cfg, rng)
        return self.augment.normalize(view)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        cfg = self.config
        masks, self._batch_masks = self._batch_masks, None
        if masks is not None and len(masks) != len(images):
            masks = None  # called on other images than batch_indices chose (a direct call)
        pair = self.pairs(images, None if masks is None else masks.to(images.device), rng)
        x = torch.cat([self.jittered(pair.view_a, rng), self.jittered(pair.view_b, rng)])
        descriptors, fmap = describe(self.backbone, self.head, x)
        desc_a, desc_b = descriptors.float().chunk(2)
        points_a, points_b = sample_matches(pair, cfg.matches, rng)
        non_b, kept = sample_non_matches(pair, points_b, cfg.non_matches, cfg.non_match_distance, rng)
        match_a, match_b = sample_at(desc_a, points_a), sample_at(desc_b, points_b)  # (N, K, D)
        n, k, m = kept.shape
        non_a = match_a[:, :, None].expand(-1, -1, m, -1)[kept]
        non_b = sample_at(desc_b, non_b.reshape(n, k * m, 2)).view(n, k, m, -1)[kept]
        loss, matches, non_matches = pixelwise_contrastive_loss(match_a.flatten(0, 1), match_b.flatten(0, 1),
                                                                non_a, non_b, cfg.margin, cfg.hard_negatives)
        with torch.no_grad():
            scored = slice(0, min(k, SCORED_PER_STEP))
            found = best_matches(desc_a.detach(), desc_b.detach(), points_a[:, scored])
            accuracy = within_tolerance(found, points_b[:, scored]).float().mean().item()
        features = pooled_features(self.backbone, fmap[: len(images)]).detach()
        return StepOutput(loss, features, {"pretext_acc": accuracy, "match_loss": matches.item(),
                                           "non_match_loss": non_matches.item()})

    @torch.no_grad()
    def descriptor_images(self, images: torch.Tensor) -> torch.Tensor:
        """Descriptor images (N, D, S, S), float32, of uint8 images at the run's size (eval mode): what the window's
        click-a-pixel view compares (engine.eval.correspondence.distance_map)."""
        return self._describe_eval(self.backbone, self.head, self.augment.prepare(images))

    def _describe_eval(self, backbone: nn.Module, head: nn.Module, x: torch.Tensor) -> torch.Tensor:
        was_training = (backbone.training, head.training)
        backbone.eval(), head.eval()
        try:
            return describe(backbone, head, x)[0].float()
        finally:
            backbone.train(was_training[0]), head.train(was_training[1])

    @torch.no_grad()
    def match_accuracy(self, split: ImageSet, count: int, networks: tuple[str, ...] = ("trained",), seed: int = 0
                       ) -> dict[str, float]:
        """On ``count`` held-out pairs of ``split``'s first images (warps and jitter drawn from ``seed``: the same pairs
        every time), the share of correspondences whose best match lies within 2 px, for each of ``networks``:
        "trained" (this network, ``match_2px``), "random" (as initialised, ``match_2px_random``) and "raw" (each
        pixel's colour as its descriptor, ``match_2px_raw``)."""
        device = next(self.head.parameters()).device
        untrained = tuple(net.to(device) for net in self._untrained)
        describers = {"trained": lambda x: self._describe_eval(self.backbone, self.head, x),
                      "random": lambda x: self._describe_eval(*untrained, x), "raw": lambda x: x.float()}
        rng = torch.Generator().manual_seed(seed)
        hits: dict[str, list[torch.Tensor]] = {name: [] for name in networks}
        masks = split.masks
        for start in range(0, count, ONLINE_PAIRS):
            rows = slice(start, min(count, start + ONLINE_PAIRS))
            pair = self.pairs(split.images[rows], None if masks is None else masks[rows], rng)
            a, b = self.jittered(pair.view_a, rng), self.jittered(pair.view_b, rng)
            points_a, truth = sample_matches(pair, QUERIES_PER_PAIR, rng)
            a, b, points_a, truth = a.to(device), b.to(device), points_a.to(device), truth.to(device)
            for name in networks:
                found = best_matches(describers[name](a), describers[name](b), points_a)
                hits[name].append(within_tolerance(found, truth).flatten().cpu())
        return {SCORE_KEYS[name]: torch.cat(values).float().mean().item() for name, values in hits.items()}

    def evaluation_scores(self, dataset: Dataset, limit: int, final: bool) -> dict[str, float]:
        """Correspondence accuracy within 2 px on held-out test pairs (``ONLINE_PAIRS`` online, the whole test split
        finally), beside the untrained network's and raw pixels' (computed once per pair count: the same pairs and
        fixed networks)."""
        count = len(dataset.test) if final else min(limit, ONLINE_PAIRS, len(dataset.test))
        if count not in self._baseline_scores:
            self._baseline_scores[count] = self.match_accuracy(dataset.test, count, ("random", "raw"))
        return {**self.match_accuracy(dataset.test, count), **self._baseline_scores[count]}

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Per image: the two views, a few points of view A (white; on the object for the test images whose masks
        are known, as evaluated) and their best matches in view B (green within 2 px of the truth, red not), both
        views' descriptor images as RGB (their first three principal components, shared) and the distance of the
        first point's descriptor to every pixel of B (yellow: near)."""
        pair = self.pairs(images, self.known_masks(images), rng)
        a, b = self.jittered(pair.view_a, rng), self.jittered(pair.view_b, rng)
        desc_a, desc_b = self._describe_eval(self.backbone, self.head, torch.cat([a, b])).chunk(2)
        points_a, truth = sample_matches(pair, PREVIEW_POINTS, rng)
        found = best_matches(desc_a, desc_b, points_a)
        right = within_tolerance(found, truth).cpu()
        rgb_a, rgb_b = descriptor_rgb(torch.cat([desc_a, desc_b])).chunk(2)
        view_a, view_b = self.augment.unnormalize(a).cpu(), self.augment.unnormalize(b).cpu()
        zoom = max(1, PREVIEW_SIDE // images.shape[-1])
        rows, captions = [], []
        for i in range(len(images)):
            first = (desc_b[i] - sample_at(desc_a[i:i + 1], points_a[i:i + 1, :1])[0, 0, :, None, None]).norm(dim=0)
            tiles = [enlarged(t, zoom) for t in (view_a[i], view_b[i], rgb_a[i], rgb_b[i], heat_tile(first))]
            for point, hit, match in zip(points_a[i].tolist(), right[i].tolist(), found[i].tolist()):
                mark(tiles[0], point, zoom, QUERY)
                mark(tiles[1], match, zoom, RIGHT if hit else WRONG)
            mark(tiles[4], found[i, 0].tolist(), zoom, RIGHT if right[i, 0] else WRONG)
            rows.append(tiles)
            captions.append(["view A: points", f"view B: {int(right[i].sum())}/{len(right[i])} within 2 px",
                             "descriptors A (PCA)", "descriptors B (PCA)", "distance to point 1"])
        return Tiles("Best matches of view A's points in view B; descriptor images as RGB", rows, captions)


def enlarged(tile: torch.Tensor, zoom: int) -> torch.Tensor:
    """A uint8 (C, H, W) tile as 3-channel RGB, each pixel a zoom x zoom block."""
    tile = tile.expand(3, -1, -1) if len(tile) == 1 else tile
    return tile.repeat_interleave(zoom, dim=1).repeat_interleave(zoom, dim=2).contiguous()


def mark(tile: torch.Tensor, point: list[float], zoom: int, colour: tuple[int, int, int]) -> None:
    """A filled square in ``colour`` on the pixel nearest ``point`` (x, y) of an enlarged tile, ringed in black."""
    x, y = (round(p) * zoom + zoom // 2 for p in point)
    radius = max(1, zoom // 2)
    for r, value in ((radius + 1, (0, 0, 0)), (radius, colour)):
        top, left = max(0, y - r), max(0, x - r)
        tile[:, top:y + r + 1, left:x + r + 1] = torch.tensor(value, dtype=tile.dtype).view(3, 1, 1)
