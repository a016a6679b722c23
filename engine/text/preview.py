"""Token tiles: a text pretext task drawn in the window's preview grid, one small coloured tile per token with the
token (or the prediction) as its caption."""
from __future__ import annotations

import torch

from engine.events import Tiles

TILE = 8
COLOURS = {  # role -> RGB
    "word": (186, 176, 172), "centre": (242, 142, 43), "context": (89, 161, 79), "noise": (121, 112, 110),
    "masked": (242, 142, 43), "random": (176, 122, 161), "kept": (78, 121, 167),
    "right": (89, 161, 79), "wrong": (225, 87, 89), "blank": (40, 40, 40),
}


def chip(role: str) -> torch.Tensor:
    """A uint8 (3, TILE, TILE) tile of the role's colour."""
    return torch.tensor(COLOURS[role], dtype=torch.uint8)[:, None, None].expand(3, TILE, TILE).clone()


def token_tiles(title: str, rows: list[list[tuple[str, str]]]) -> Tiles:
    """Rows of (role, caption) as Tiles; the title should say what the colours mean."""
    return Tiles(title, [[chip(role) for role, _ in row] for row in rows], [[text for _, text in row] for row in rows])
