"""Headless figures: a 2-D scatter coloured by category with a legend, written as PNG (drawn with Pillow) or
SVG (written as text), so ``main.py eval --umap`` needs no display and no plotting library."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Categorical colours (Tableau 10, then lighter variants), cycled beyond 20 categories; unknown is grey.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2",
           "#d7b5a6", "#79706e")
UNKNOWN = "#c8c8c8"
WIDTH, HEIGHT, LEGEND_WIDTH, LEGEND_ROW, MARGIN = 1100, 800, 240, 22, 30


def colour(category: int) -> str:
    return UNKNOWN if category < 0 else PALETTE[category % len(PALETTE)]


@dataclass(frozen=True)
class Scatter:
    """Points in pixel coordinates, drawn in a fixed shuffled order so that no category hides the others."""

    xy: np.ndarray  # float (N, 2) pixels
    categories: np.ndarray  # int (N,), -1 for unknown
    names: list[str]
    title: str
    radius: float

    @classmethod
    def fit(cls, coordinates: np.ndarray, categories: np.ndarray, names: list[str], title: str) -> Scatter:
        xy = np.asarray(coordinates, dtype=np.float64)
        low, high = xy.min(0), xy.max(0)
        plot = np.array([WIDTH - LEGEND_WIDTH - 2 * MARGIN, HEIGHT - 3 * MARGIN], dtype=np.float64)
        scale = (plot / np.maximum(high - low, 1e-12)).min()
        offset = np.array([MARGIN, 2 * MARGIN]) + (plot - scale * (high - low)) / 2
        pixels = offset + scale * (xy - low)
        pixels[:, 1] = HEIGHT - MARGIN - (pixels[:, 1] - 2 * MARGIN)  # y up
        order = np.random.default_rng(0).permutation(len(xy))
        radius = float(np.clip(400 / np.sqrt(max(len(xy), 1)), 1.2, 5.0))
        return cls(pixels[order], np.asarray(categories)[order].astype(int), list(names), title, radius)

    def legend(self) -> list[tuple[str, str]]:
        """(colour, name) of every category present, unknown last, cut to the rows that fit."""
        present = sorted(set(self.categories.tolist()))
        rows = [(colour(c), self.names[c] if c < len(self.names) else str(c)) for c in present if c >= 0]
        rows += [(UNKNOWN, "unknown")] if -1 in present else []
        fit = (HEIGHT - 3 * MARGIN) // LEGEND_ROW
        return rows if len(rows) <= fit else rows[:fit - 1] + [("white", f"... {len(rows) - fit + 1} more")]


def save_scatter(path: Path, coordinates: np.ndarray, categories: np.ndarray, names: list[str],
                 title: str = "") -> Path:
    """Write the scatter as PNG or SVG, chosen by ``path``'s suffix."""
    path = Path(path)
    scatter = Scatter.fit(coordinates, categories, names, title)
    if path.suffix.lower() == ".svg":
        path.write_text(_svg(scatter), encoding="utf-8")
    else:
        _png(scatter).save(path)
    return path


def _png(s: Scatter, supersample: int = 2) -> Image.Image:
    k = supersample
    image = Image.new("RGB", (WIDTH * k, HEIGHT * k), "white")
    draw = ImageDraw.Draw(image)
    r = s.radius * k
    for (x, y), c in zip(s.xy * k, s.categories.tolist()):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour(c))
    image = image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((MARGIN, MARGIN // 2), s.title, fill="black", font=font)
    for i, (fill, name) in enumerate(s.legend()):
        x, y = WIDTH - LEGEND_WIDTH + 10, 2 * MARGIN + LEGEND_ROW * i
        draw.ellipse((x, y + 3, x + 10, y + 13), fill=fill)
        draw.text((x + 18, y), name, fill="black", font=font)
    return image


def _svg(s: Scatter) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="14">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{MARGIN}" y="{MARGIN}">{escape(s.title)}</text>']
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s.radius:.1f}" fill="{colour(c)}"/>'
              for (x, y), c in zip(s.xy, s.categories.tolist())]
    for i, (fill, name) in enumerate(s.legend()):
        x, y = WIDTH - LEGEND_WIDTH + 10, 2 * MARGIN + LEGEND_ROW * i
        parts.append(f'<circle cx="{x + 5}" cy="{y + 8}" r="5" fill="{fill}"/>'
                     f'<text x="{x + 18}" y="{y + 13}">{escape(name)}</text>')
    return "\n".join(parts + ["</svg>"]) + "\n"
