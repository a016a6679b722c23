"""Jigsaw puzzles (Noroozi & Favaro 2016, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles")."""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch

from engine.config import param
from engine.methods.base import Tiles, register_method
from engine.methods.tiles import TileConfig, TileMethod, colour_param, mosaic


@functools.lru_cache(maxsize=1)
def all_permutations() -> torch.Tensor:
    """The 9! orders of nine tiles, (362880, 9)."""
    return torch.tensor(list(itertools.permutations(range(9))), dtype=torch.uint8)


def max_hamming_permutations(count: int, seed: int) -> torch.Tensor:
    """``count`` permutations of nine tiles, far apart in Hamming distance (tiles in different places), (count, 9).

    The paper's Algorithm 1 starts from a random permutation and greedily adds the one whose total distance to
    those chosen is largest. Here the distance to the nearest chosen one ranks first and the total breaks ties,
    which keeps the set's closest pair as far apart as the greedy search can; the same seed gives the same set."""
    candidates = all_permutations()
    first = int(torch.randint(len(candidates), (1,), generator=torch.Generator().manual_seed(seed)))
    chosen = [first]
    nearest = torch.full((len(candidates),), 9, dtype=torch.long)
    total = torch.zeros(len(candidates), dtype=torch.long)
    for _ in range(count - 1):
        distance = (candidates != candidates[chosen[-1]]).sum(1)
        nearest, total = torch.minimum(nearest, distance), total + distance
        chosen.append(int((nearest * (9 * count + 1) + total).argmax()))  # chosen ones score 0 + their total
    return candidates[chosen].long()


@dataclass
class JigsawConfig(TileConfig):
    colour: str = colour_param("none")  # the paper uses grayscale images some of the time instead (augment_defaults)
    permutations: int = param(30, "Size P of the permutation set the network chooses from (the classes); more "
                              "permutations make a harder puzzle", low=2, high=1000)
    permutation_seed: int = param(0, "Seed of the permutation set's greedy selection (kept in the checkpoint)")


@register_method
class Jigsaw(TileMethod):
    """The nine tiles of a 3x3 grid are shuffled by one of P permutations, chosen for large Hamming distances
    (Algorithm 1); a shared tile encoder (the backbone) maps each tile, the nine features are concatenated in the
    shuffled order, and a classifier names the permutation: a P-way cross entropy (sec. 3). Putting the tiles back
    needs to know what parts of an object look like and how they fit, once gaps, jitter and per-tile
    normalisation (sec. 3.2) close the low-level shortcuts."""

    name = "jigsaw"
    paper = "Noroozi & Favaro 2016, jigsaw puzzles"
    Config = JigsawConfig
    # As for relative patch location (see there): the tiles' places define the label under any augmentation, but
    # any rotation leaves only low-level cues and marks the corner cells with reflected borders, and colour jitter
    # is no help against per-tile shortcuts. The paper shows a share of the images in grayscale against chromatic
    # aberration.
    augment_defaults = {"rotate_degrees": 0.0, "crop_scale_min": 0.5, "jitter_p": 0.0, "grayscale_p": 0.3}
    tiles_shown = 9

    @property
    def classes(self) -> int:
        return self.config.permutations

    def __init__(self, backbone, config: JigsawConfig, augment):
        super().__init__(backbone, config, augment)
        self.register_buffer("permutation_set", max_hamming_permutations(config.permutations, config.permutation_seed))

    def draw(self, n: int, rng: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """A random permutation per image: input position k shows the tile of cell ``permutation[k]``."""
        labels = torch.randint(self.classes, (n,), generator=rng, device=device)
        return labels, self.permutation_set[labels]

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Per image: the view, the shuffled tiles as the network sees them (input k in cell k) and the tiles put
        back by the predicted permutation."""
        p, predicted = self.predict(images, rng)
        views = self.augment.unnormalize(p.view).cpu()
        shown = self.shown_tiles(p)
        size, corners = views.shape[-1], p.corners.cpu()
        guesses = self.permutation_set[predicted].cpu()
        rows, captions = [], []
        for i in range(len(images)):
            truth, guess = int(p.labels[i]), int(predicted[i])
            rows.append([views[i], mosaic(shown[i], corners[i], size), mosaic(shown[i], corners[i, guesses[i]], size)])
            captions.append(["view", f"shuffled #{truth}", f"put back #{guess} {'✓' if truth == guess else '✗'}"])
        return Tiles("Jigsaw: shuffled tiles and the predicted order", rows, captions)
