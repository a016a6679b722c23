"""Relative patch location (Doersch, Gupta & Efros 2015, "Unsupervised Visual Representation Learning by Context
Prediction")."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.methods.base import Tiles, register_method
from engine.methods.tiles import TileConfig, TileMethod, mosaic, outline

CENTRE = 4  # raster index of the grid's middle cell
ARROWS = ("↖", "↑", "↗", "←", "→", "↙", "↓", "↘")  # the neighbour classes 0..7: the other cells in raster order
CENTRE_COLOUR, NEIGHBOUR_COLOUR = (255, 255, 0), (0, 255, 255)


@dataclass
class RelativePatchConfig(TileConfig):
    """The tile grid's settings, shared with jigsaw."""


@register_method
class RelativePatch(TileMethod):
    """The centre tile of a 3x3 grid and one of its eight neighbours go through the same encoder (the backbone);
    their features, concatenated, are classified into the neighbour's position: an 8-way cross entropy (sec. 3).
    Telling where a part lies relative to another needs to recognise the parts, once the gap, jitter, per-tile
    normalisation and colour dropping (sec. 3.1) close the low-level shortcuts."""

    name = "relative_patch"
    paper = "Doersch et al. 2015, context prediction"
    Config = RelativePatchConfig
    # The label is where the two tiles are cut from the augmented view, so it stays defined under any augmentation;
    # what matters is whether the content can tell it. Any rotation (the shapes world's default) leaves only
    # low-level cues, and its reflected corners mark the corner cells; strong colour jitter is per image, no help
    # against the per-tile shortcuts the method closes itself. So, like the paper: no rotation and no photometric
    # jitter; flips keep the label defined; crops down to half the area vary the scale, as the paper's resizing.
    augment_defaults = {"rotate_degrees": 0.0, "crop_scale_min": 0.5, "jitter_p": 0.0, "grayscale_p": 0.0}
    classes = len(ARROWS)
    tiles_shown = 2

    def draw(self, n: int, rng: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """One random neighbour per image; the centre is shown first, then the neighbour."""
        labels = torch.randint(self.classes, (n,), generator=rng, device=device)
        neighbour = labels + (labels >= CENTRE).long()  # skip the centre in the raster order
        return labels, torch.stack([torch.full_like(labels, CENTRE), neighbour], 1)

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Per image: the view with the centre (yellow) and neighbour (cyan) tiles outlined, and the two tiles as
        the network sees them, in place, with the true and predicted position."""
        p, predicted = self.predict(images, rng)
        views = self.augment.unnormalize(p.view).cpu()
        shown = self.shown_tiles(p)
        size = views.shape[-1]
        rows, captions = [], []
        for i in range(len(images)):
            corners = p.corners[i, p.cells[i]].cpu()
            marked = views[i].clone()
            outline(marked, corners[0], self.grid.size, CENTRE_COLOUR)
            outline(marked, corners[1], self.grid.size, NEIGHBOUR_COLOUR)
            truth, guess = int(p.labels[i]), int(predicted[i])
            rows.append([marked, mosaic(shown[i], corners, size)])
            mark = "✓" if truth == guess else "✗"
            captions.append(["centre + neighbour", f"true {ARROWS[truth]} pred {ARROWS[guess]} {mark}"])
        return Tiles("Relative patch position: true and predicted", rows, captions)
