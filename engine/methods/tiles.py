"""What the spatial pretext tasks share (relative patch location, Doersch et al. 2015; jigsaw puzzles, Noroozi &
Favaro 2016): tiles cut from a 3x3 grid over the augmented view, the measures against trivial shortcuts, a shared
tile encoder (the backbone) whose features are concatenated for a classifier, and the preview's drawing helpers.

The shortcuts (Doersch et al. sec. 3.1; Noroozi & Favaro sec. 3.2): edges and textures that continue across a
tile border (closed by a gap between tiles), tiles that line up exactly (random jitter of each tile), a tile's
brightness or contrast that tells where it lies (each tile normalised on its own), and chromatic aberration, a
colour shift that grows towards the image's border (colour dropping or projection).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.methods.base import Method, StepOutput
from engine.nets.heads import MLPHead

GREEN_MAGENTA = torch.tensor([-1.0, 2.0, -1.0]) / 6**0.5  # unit colour axis along which lenses shift colour
MIN_TILE_STD = 0.1  # floor of a tile's standard deviation (normalised units): flat tiles are not blown up to noise
COLOUR_HELP = ("Against chromatic aberration: project removes each pixel's green-magenta component; drop keeps one "
               "random colour channel in each tile (its own) and replaces the other two with faint noise; none "
               "keeps the colours. Skipped for 1-channel images")


def colour_param(default: str):
    return param(default, COLOUR_HELP, choices=("drop", "project", "none"))


@dataclass
class TileConfig:
    tile_size: int = param(8, "Side of each tile (patch) in pixels, cut from the augmented view", low=1, high=256)
    gap: int = param(2, "Pixels left out between neighbouring tiles, so that edges and textures cannot just be "
                     "continued across a border", low=0, high=64)
    jitter: int = param(1, "Each tile is moved by up to this many pixels either way, so that tiles do not line "
                        "up exactly", low=0, high=32)
    colour: str = colour_param("project")
    shortcuts: bool = param(False, "Leave the trivial shortcuts open (on: the lesson): no gap, no jitter, no per-tile "
                            "normalisation, no colour treatment. The task gets easier, but the network can solve "
                            "it from low-level cues (edges continued across borders, aligned textures, brightness "
                            "gradients) instead of learning what the shapes look like")
    hidden_dim: int = param(512, "Hidden width of the classifier on the concatenated tile features", low=8, high=8192)


@dataclass(frozen=True)
class TileGrid:
    """A 3x3 grid of ``size`` px tiles, ``gap`` px apart, each moved by up to ``jitter`` px."""

    size: int
    gap: int
    jitter: int

    @property
    def extent(self) -> int:
        """Side of the square the grid needs: three tiles, two gaps and the jitter at either end."""
        return 3 * self.size + 2 * self.gap + 2 * self.jitter

    def corners(self, n: int, view_size: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        """(n, 9, 2) top-left (row, column) of every image's nine tiles in raster order: the grid at a random
        place in the view, then each tile moved by its own jitter."""
        origin = torch.randint(0, view_size - self.extent + 1, (n, 1, 2), generator=rng, device=device) + self.jitter
        steps = torch.arange(3, device=device) * (self.size + self.gap)
        cells = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), -1).view(1, 9, 2)
        shake = torch.randint(-self.jitter, self.jitter + 1, (n, 9, 2), generator=rng, device=device)
        return origin + cells + shake


def cut(x: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """(n, k, C, size, size) tiles of the images x (n, C, H, W) at top-left corners (n, k, 2)."""
    span = torch.arange(size, device=x.device)
    rows = (corners[..., 0, None] + span)[..., :, None]  # (n, k, size, 1)
    cols = (corners[..., 1, None] + span)[..., None, :]  # (n, k, 1, size)
    batch = torch.arange(len(x), device=x.device).view(-1, 1, 1, 1)
    return x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 1, 4, 2, 3)


def normalize_tiles(tiles: torch.Tensor) -> torch.Tensor:
    """Each tile's channels to mean 0 and standard deviation 1 (at most 1 / MIN_TILE_STD times amplified)."""
    mean, std = tiles.mean(dim=(-2, -1), keepdim=True), tiles.std(dim=(-2, -1), keepdim=True)
    return (tiles - mean) / std.clamp_min(MIN_TILE_STD)


def drop_colours(tiles: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Doersch et al. sec. 3.1: per tile, one random colour channel kept, the other two replaced by Gaussian noise
    of 1/100 its standard deviation."""
    n, k, c = tiles.shape[:3]
    keep = F.one_hot(torch.randint(c, (n, k), generator=rng, device=tiles.device), c).bool()[..., None, None]
    kept_std = (tiles * keep).sum(dim=2, keepdim=True).std(dim=(-2, -1), keepdim=True)
    noise = torch.randn(tiles.shape, generator=rng, device=tiles.device, dtype=tiles.dtype) * kept_std / 100
    return torch.where(keep, tiles, noise)


def project_colours(pixels: torch.Tensor) -> torch.Tensor:
    """Doersch et al. sec. 3.1: every pixel colour v (RGB, channel dim 2) minus its component along the
    green-magenta axis a: v - (a . v) a."""
    axis = GREEN_MAGENTA.to(pixels).view(3, 1, 1)
    return pixels - (pixels * axis).sum(dim=2, keepdim=True) * axis


def outline(tile: torch.Tensor, corner: torch.Tensor, size: int, colour: tuple[int, int, int]) -> None:
    """Draw a one-pixel square border of side ``size`` with top-left ``corner`` into a uint8 (C, H, W) tile (a gray
    tile gets the red value)."""
    value = torch.tensor(colour if len(tile) == 3 else colour[:1], dtype=tile.dtype).view(-1, 1)
    r, c = corner.tolist()
    tile[:, r, c:c + size] = tile[:, r + size - 1, c:c + size] = value
    tile[:, r:r + size, c] = tile[:, r:r + size, c + size - 1] = value


def mosaic(tiles: torch.Tensor, corners: torch.Tensor, view_size: int) -> torch.Tensor:
    """uint8 tiles (k, C, t, t) pasted on a black (C, view_size, view_size) canvas at their corners (k, 2)."""
    t = tiles.shape[-1]
    canvas = torch.zeros(tiles.shape[1], view_size, view_size, dtype=tiles.dtype)
    for tile, (r, c) in zip(tiles, corners.tolist()):
        canvas[:, r:r + t, c:c + t] = tile
    return canvas


class NormalisedPerImage(nn.Module):
    """The tile encoder on whole images: each image's channels normalised on their own, as training normalises each
    tile (``normalize_tiles``), so that kNN and the probes see inputs like those the network learnt on. Whole images
    left as they are would be a distribution the backbone never saw (relative patch, 5000 / 1000 images: kNN 17.4 %
    raw, 29.7 % normalised per image)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.out_dim = backbone.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(normalize_tiles(x))

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.feature_map(normalize_tiles(x))


class Puzzle(NamedTuple):
    inputs: torch.Tensor  # (n, k, C, t, t) the tiles as the network sees them
    labels: torch.Tensor  # (n,) the class to predict
    cells: torch.Tensor  # (n, k) grid cell (raster index 0..8) each input tile was cut from
    view: torch.Tensor  # (n, C, S, S) the augmented view the tiles were cut from
    corners: torch.Tensor  # (n, 9, 2) top-left of each grid cell's tile in the view


class TileMethod(Method):
    """A classification pretext task on tiles from a 3x3 grid. Subclasses choose which cells are shown, in which
    order, and the label (``draw``), and how many classes there are (``classes``)."""

    centred_embedder = True  # its subject, the backbone's ReLU features, lies in one orthant (see collapse.py)
    classes: int
    tiles_shown: int

    def __init__(self, backbone, config: TileConfig, augment):
        super().__init__(backbone, config, augment)
        open_ = config.shortcuts
        self.grid = TileGrid(config.tile_size, 0 if open_ else config.gap, 0 if open_ else config.jitter)
        if self.grid.extent > augment.crop_size:
            raise ValueError(f"tile_size {config.tile_size}, gap {self.grid.gap} and jitter {self.grid.jitter} need "
                             f"a {self.grid.extent} px view (3 tiles + 2 gaps + twice the jitter), but the training "
                             f"views are {augment.crop_size} px: lower them or raise crop_size")
        self.channels = augment.mean.shape[1]
        check_backbone_takes(backbone, self.channels, config.tile_size)
        self.classifier = MLPHead([self.tiles_shown * backbone.out_dim, config.hidden_dim, self.classes])

    @property
    def encoder(self) -> nn.Module:
        """The backbone on whole images normalised as the tiles are (unless the shortcuts are open: then neither is;
        a ViT, which has no feature map for the attention view, is left as it is)."""
        if self.config.shortcuts or not hasattr(self.backbone, "feature_map"):
            return self.backbone
        return NormalisedPerImage(self.backbone)

    def draw(self, n: int, rng: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels (n,) and the cells (n, tiles_shown) to show, in the order the classifier sees them."""
        raise NotImplementedError

    def cut_tiles(self, view: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The raw tiles (n, k, C, t, t) of a view, their labels, cells and the grid's corners."""
        corners = self.grid.corners(len(view), view.shape[-1], rng, view.device)
        labels, cells = self.draw(len(view), rng, view.device)
        picked = corners.gather(1, cells[..., None].expand(-1, -1, 2))
        return cut(view, picked, self.grid.size), labels, cells, corners

    def treat(self, tiles: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The anti-shortcut treatment of raw tiles: colour projection, per-tile normalisation, colour dropping."""
        if self.config.shortcuts:
            return tiles
        colour = self.config.colour if self.channels == 3 else "none"
        if colour == "project":  # on pixel values: the axis is a colour direction, not one in normalised units
            mean, std = self.augment.mean.to(tiles), self.augment.std.to(tiles)
            tiles = (project_colours(tiles * std + mean) - mean) / std
        tiles = normalize_tiles(tiles)
        return drop_colours(tiles, rng) if colour == "drop" else tiles

    def puzzle(self, images: torch.Tensor, rng: torch.Generator) -> Puzzle:
        view = self.augment(images, rng)
        tiles, labels, cells, corners = self.cut_tiles(view, rng)
        return Puzzle(self.treat(tiles, rng), labels, cells, view, corners)

    def classify(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features (n, k, D) of each tile and the classifier's logits on them, concatenated in order."""
        n, k = inputs.shape[:2]
        x = inputs.reshape(n * k, *inputs.shape[2:]).contiguous(memory_format=torch.channels_last)
        h = self.backbone(x).view(n, k, -1)
        return h, self.classifier(h.flatten(1))

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        p = self.puzzle(images, rng)
        h, logits = self.classify(p.inputs)
        loss = F.cross_entropy(logits, p.labels)
        accuracy = (logits.argmax(1) == p.labels).float().mean().item()
        # the online probe reads the mean of the tiles' features, which costs nothing; kNN and the final probe see the
        # backbone on whole images (normalised per image: ``encoder``)
        return StepOutput(loss, h.mean(1).detach(), {"pretext_acc": accuracy})

    @torch.no_grad()
    def predict(self, images: torch.Tensor, rng: torch.Generator) -> tuple[Puzzle, torch.Tensor]:
        """A puzzle per image and the predicted classes, the network in eval mode (for the preview)."""
        was_training = self.training
        self.eval()
        p = self.puzzle(images, rng)
        predicted = self.classify(p.inputs)[1].argmax(1)
        self.train(was_training)
        return p, predicted

    def shown_tiles(self, p: Puzzle) -> torch.Tensor:
        """uint8 (n, k, C, t, t) inputs as the network sees them (normalised tiles stretched as a view would be)."""
        return self.augment.unnormalize(p.inputs.flatten(0, 1)).view(p.inputs.shape).cpu()


def check_backbone_takes(backbone, channels: int, size: int) -> None:
    """Refuse a tile size the backbone cannot encode (e.g. below 8 px for the convnet's three max-pools)."""
    was_training = backbone.training
    try:
        with torch.no_grad():
            backbone.eval()(torch.zeros(1, channels, size, size))
    except RuntimeError:
        raise ValueError(f"tile_size {size} px is too small for the {type(backbone).__name__} backbone: raise "
                         "tile_size (and crop_size if the grid then no longer fits)") from None
    finally:
        backbone.train(was_training)
