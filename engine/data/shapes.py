"""The procedural ``shapes`` world, Pretext's default dataset.

Each image shows one main shape (its type is the class) in a named colour, with a size, position and
rotation, on a textured background, partly covered by small distractor shapes. A seed fixes everything.
Scenes are sampled as a :class:`Scene` of per-image parameters and drawn by :func:`render` with signed
distance functions on a coordinate grid, anti-aliased by clamping the distance in pixels, so the same
scene renders at any resolution and can be re-rendered with moved parameters (e.g. for video frames).
Positions and sizes are fractions of the image side; the y axis points down.

With ``upright`` every shape (main and distractors) is drawn at its canonical angle (:data:`UPRIGHT_ANGLES`): the
world then has a "which way is up" that RotNet can learn. Several shapes are symmetric under some of RotNet's
quarter turns, so their rotation label stays ambiguous even upright: circle and ring (any turn), square and cross
(90 degrees), bar (180 degrees); a horizontal flip also turns an upright arrow or crescent into its 180-degree
rotation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from engine.config import param
from engine.data.base import Dataset, ImageSet
from engine.data.registry import register_dataset

SHAPES = ("circle", "ring", "square", "triangle", "star", "cross", "heart", "crescent", "arrow", "bar")
COLORS = {
    "red": (0.90, 0.10, 0.10),
    "orange": (1.00, 0.55, 0.05),
    "yellow": (0.95, 0.90, 0.10),
    "green": (0.10, 0.75, 0.20),
    "cyan": (0.10, 0.85, 0.90),
    "blue": (0.15, 0.30, 0.95),
    "purple": (0.60, 0.20, 0.85),
    "pink": (1.00, 0.45, 0.75),
}
SIZES = ("small", "large")
HPOS = ("left", "center", "right")
VPOS = ("top", "middle", "bottom")
BACKGROUNDS = ("plain", "stripes", "checker", "dots", "noise", "gradient")
BACKGROUND_PHRASES = ("a plain background", "stripes", "a checkerboard", "dots", "noise", "a gradient")
ATTRIBUTE_NAMES = {"shape": list(SHAPES), "color": list(COLORS), "size": list(SIZES), "hpos": list(HPOS),
                   "vpos": list(VPOS), "background": list(BACKGROUNDS)}

PALETTE = torch.tensor(list(COLORS.values()))
SMALL_RADIUS, LARGE_RADIUS = (0.20, 0.25), (0.30, 0.36)
DISTRACTOR_RADIUS = (0.06, 0.10)
# Each shape's upright angle in radians: triangle, star and heart point up (their distance functions point down).
UPRIGHT_ANGLES = torch.tensor([math.pi if name in ("triangle", "star", "heart") else 0.0 for name in SHAPES])
NOISE_GRID = 6  # the noise background is a bicubic upsampling of this many random values per side


@dataclass
class ShapesConfig:
    train_size: int = param(10000, "Number of training images", low=1, high=1_000_000)
    test_size: int = param(2000, "Number of test images", low=1, high=1_000_000)
    image_size: int = param(32, "Side of the square images in pixels", low=16, high=256)
    seed: int = param(0, "Random seed: the same seed gives the same images")
    label: str = param("shape", "Attribute used as the class label", choices=("shape", "color"))
    background_contrast: float = param(0.4, "How colourful a background's two tones are (0: two greys)",
                                       low=0.0, high=1.0)
    background_texture: float = param(0.1, "How far apart a background pattern's two tones are (0: plain, 1: "
                                      "full contrast, busy textures that self-supervised features latch onto)",
                                      low=0.0, high=1.0)
    max_distractors: int = param(1, "Largest number of small distractor shapes that may cover the main one",
                                 low=0, high=4)
    upright: bool = param(False, "Draw every shape at its canonical angle (triangles point up), not at a random "
                          "one, and add no rotation: a world with an upright, which RotNet needs")
    captions: str = param("varied", "Captions: varied templates, synonyms and word orders with optional attributes "
                          "left out, or one fixed template naming every attribute", choices=("varied", "fixed"))
    held_out: str = param("", "Colour-shape compositions never drawn in the training split, e.g. 'red star, blue "
                          "ring' (the test split keeps them): zero-shot tests on unseen compositions")

    def __post_init__(self) -> None:
        parse_compositions(self.held_out)  # a bad entry is refused in one sentence

    def augment_defaults(self) -> dict:
        """The invariances this world calls for: unless ``upright``, shapes have no upright (any rotation); unless
        colour is the label, their colour is a nuisance (strong hue and saturation jitter); crops keep most of the
        scene so that both views show the shape. SimCLR on shapes, 300 steps: kNN 21 % without these, 32 % with."""
        colour = {} if self.label == "color" else {"hue": 0.5, "saturation": 0.8}
        return {"rotate_degrees": 0.0 if self.upright else 180.0, "crop_scale_min": 0.5, **colour}

@dataclass
class Scene:
    """Parameters of N scenes: one main shape and D distractor slots per image."""

    shape: torch.Tensor  # int64 (N,) index into SHAPES
    color: torch.Tensor  # int64 (N,) index into COLORS
    rgb: torch.Tensor  # float (N, 3) the main shape's colour: its palette colour, slightly jittered
    radius: torch.Tensor  # float (N,)
    center: torch.Tensor  # float (N, 2) x, y
    angle: torch.Tensor  # float (N,) radians
    background: torch.Tensor  # int64 (N,) index into BACKGROUNDS
    background_rgb: torch.Tensor  # float (N, 2, 3) the pattern's two colours
    background_angle: torch.Tensor  # float (N,) radians
    background_frequency: torch.Tensor  # float (N,) pattern periods per image side
    background_phase: torch.Tensor  # float (N,) fraction of a period
    background_noise: torch.Tensor  # float (N, 1, NOISE_GRID, NOISE_GRID) in [0, 1]
    distractor_on: torch.Tensor  # bool (N, D)
    distractor_shape: torch.Tensor  # int64 (N, D)
    distractor_rgb: torch.Tensor  # float (N, D, 3)
    distractor_radius: torch.Tensor  # float (N, D)
    distractor_center: torch.Tensor  # float (N, D, 2)
    distractor_angle: torch.Tensor  # float (N, D)

    def __len__(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: slice | torch.Tensor) -> Scene:
        return Scene(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def parse_compositions(text: str) -> list[tuple[int, int]]:
    """"red star, blue ring" -> [(shape, colour), ...] as indices; ValueError in one sentence for a bad entry."""
    out = []
    for entry in filter(None, (part.strip() for part in text.lower().split(","))):
        words = entry.split()
        if len(words) != 2 or words[0] not in COLORS or words[1] not in SHAPES:
            raise ValueError(f"held_out: {entry!r} is not a colour and a shape (e.g. 'red star, blue ring'; colours: "
                             f"{', '.join(COLORS)}; shapes: {', '.join(SHAPES)})")
        out.append((SHAPES.index(words[1]), list(COLORS).index(words[0])))
    for shape in {s for s, _ in out}:
        if len({c for s, c in out if s == shape}) == len(COLORS):
            raise ValueError(f"held_out: every colour of {SHAPES[shape]} is held out; keep at least one in training")
    return out


def sample_scenes(n: int, generator: torch.Generator, max_distractors: int = ShapesConfig.max_distractors,
                  background_contrast: float = ShapesConfig.background_contrast,
                  background_texture: float = ShapesConfig.background_texture,
                  upright: bool = ShapesConfig.upright, excluded: list[tuple[int, int]] = ()) -> Scene:
    """Draw n random scenes (upright: every shape at its canonical angle; the other parameters are the same). No
    scene has an ``excluded`` (shape, colour) composition: their colours are drawn again (without exclusions
    nothing is drawn again, so the scenes are those drawn before the option existed)."""

    def uniform(low: float | torch.Tensor, high: float | torch.Tensor, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    def randint(high: int, *shape: int) -> torch.Tensor:
        return torch.randint(high, shape, generator=generator)

    shape, color = randint(len(SHAPES), n), randint(len(COLORS), n)
    forbidden = torch.zeros(len(SHAPES), len(COLORS), dtype=torch.bool)
    for held_shape, held_color in excluded:
        forbidden[held_shape, held_color] = True
    while (again := forbidden[shape, color]).any():
        color[again] = randint(len(COLORS), int(again.sum()))
    rgb = (PALETTE[color] + uniform(-0.06, 0.06, n, 3)).clamp(0, 1)
    large = torch.rand(n, generator=generator) < 0.5
    radius = torch.where(large, uniform(*LARGE_RADIUS, n), uniform(*SMALL_RADIUS, n))
    # Per axis: a cell (before / centre / after), then an offset from the middle that keeps the shape in view
    # and off the 0.4 and 0.6 lines that split positions into thirds.
    cell = randint(3, n, 2)
    side_offset = uniform(0.17, 0.5 - 0.9 * radius[:, None], n, 2)
    center = 0.5 + torch.where(cell == 1, uniform(-0.06, 0.06, n, 2), (cell - 1) * side_offset)

    # Muted background colours, their two tones pulled towards their mean: a faint texture. Busy textures are a
    # shortcut that suppresses the shape in contrastive features (SimCLR, 400 steps, kNN on the shape: texture
    # 1.0 34.7 %, 0.25 42.4 %, 0.1 51.1 %, 0 56.5 %). Both tones flip when their mean is too close to the main
    # shape's colour, so that the shape stays visible.
    gray = torch.rand(n, 2, 1, generator=generator) * 0.6 + 0.2
    background_rgb = (gray + background_contrast * (torch.rand(n, 2, 3, generator=generator) - gray)).clamp(0, 1)
    mean = background_rgb.mean(dim=1, keepdim=True)
    background_rgb = mean + background_texture * (background_rgb - mean)
    too_close = (mean - rgb[:, None]).norm(dim=-1, keepdim=True) < 0.4
    background_rgb = torch.where(too_close, 1 - background_rgb, background_rgb)

    d = max_distractors
    count = randint(d + 1, n)
    # Half the distractors sit on the main shape's edge, so they cover part of it; the rest anywhere.
    direction = uniform(0, 2 * math.pi, n, d)
    on_edge = center[:, None] + radius[:, None, None] * uniform(0.7, 1.2, n, d, 1) * torch.stack(
        (direction.cos(), direction.sin()), -1)
    anywhere = uniform(0.1, 0.9, n, d, 2)
    edge = torch.rand(n, d, 1, generator=generator) < 0.5
    scene = Scene(
        shape=shape, color=color, rgb=rgb, radius=radius, center=center, angle=uniform(0, 2 * math.pi, n),
        background=randint(len(BACKGROUNDS), n), background_rgb=background_rgb,
        background_angle=uniform(0, math.pi, n), background_frequency=uniform(3, 7, n),
        background_phase=uniform(0, 1, n),
        background_noise=torch.rand(n, 1, NOISE_GRID, NOISE_GRID, generator=generator),
        distractor_on=torch.arange(d) < count[:, None], distractor_shape=randint(len(SHAPES), n, d),
        distractor_rgb=torch.rand(n, d, 3, generator=generator), distractor_radius=uniform(*DISTRACTOR_RADIUS, n, d),
        distractor_center=torch.where(edge, on_edge, anywhere), distractor_angle=uniform(0, 2 * math.pi, n, d),
    )
    if upright:  # the random angles are drawn either way, so that upright changes nothing else
        scene.angle, scene.distractor_angle = UPRIGHT_ANGLES[scene.shape], UPRIGHT_ANGLES[scene.distractor_shape]
    return scene


def render(scene: Scene, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw scenes: uint8 images (N, 3, S, S) and bool masks (N, S, S) of the main shape's visible pixels."""
    grid = (torch.arange(image_size) + 0.5) / image_size
    x, y = grid.view(1, 1, -1), grid.view(1, -1, 1)
    image = _background(scene, x, y)
    visible = _coverage(scene.shape, scene.center, scene.radius, scene.angle, x, y, image_size)
    image.lerp_(scene.rgb[:, :, None, None], visible[:, None])
    for slot in range(scene.distractor_on.shape[1]):
        on = scene.distractor_on[:, slot]
        cover = torch.zeros_like(visible)
        cover[on] = _coverage(scene.distractor_shape[on, slot], scene.distractor_center[on, slot],
                              scene.distractor_radius[on, slot], scene.distractor_angle[on, slot], x, y, image_size)
        image.lerp_(scene.distractor_rgb[:, slot, :, None, None], cover[:, None])
        visible *= 1 - cover
    return (image * 255).round_().clamp_(0, 255).to(torch.uint8), visible > 0.5


def layer_coverage(scene: Scene, image_size: int) -> torch.Tensor:
    """Anti-aliased coverage (N, 1 + D, S, S) in [0, 1] of the main shape and of each distractor slot (0 where the
    slot is off), in drawing order: a later layer covers the earlier ones (e.g. instance masks of video frames)."""
    grid = (torch.arange(image_size) + 0.5) / image_size
    x, y = grid.view(1, 1, -1), grid.view(1, -1, 1)
    layers = torch.zeros(len(scene), 1 + scene.distractor_on.shape[1], image_size, image_size)
    layers[:, 0] = _coverage(scene.shape, scene.center, scene.radius, scene.angle, x, y, image_size)
    for slot in range(scene.distractor_on.shape[1]):
        on = scene.distractor_on[:, slot]
        layers[on, 1 + slot] = _coverage(scene.distractor_shape[on, slot], scene.distractor_center[on, slot],
                                         scene.distractor_radius[on, slot], scene.distractor_angle[on, slot], x, y,
                                         image_size)
    return layers


def scene_attributes(scene: Scene) -> dict[str, torch.Tensor]:
    """Per-image attributes (int64, indices into ATTRIBUTE_NAMES); size and position follow the geometry."""
    x, y = scene.center[:, 0], scene.center[:, 1]
    return {
        "shape": scene.shape,
        "color": scene.color,
        "size": (scene.radius > (SMALL_RADIUS[1] + LARGE_RADIUS[0]) / 2).long(),
        "hpos": (x > 0.4).long() + (x > 0.6).long(),
        "vpos": (y > 0.4).long() + (y > 0.6).long(),
        "background": scene.background,
    }


def caption(shape: int, color: int, size: int, hpos: int, vpos: int, background: int) -> str:
    """E.g. "a small red star on the left over stripes"."""
    if hpos == 1 and vpos == 1:
        place = "in the center"
    elif vpos == 1:
        place = f"on the {HPOS[hpos]}"
    elif hpos == 1:
        place = f"at the {VPOS[vpos]}"
    else:
        place = f"at the {VPOS[vpos]} {HPOS[hpos]}"
    color_name = list(COLORS)[color]
    return f"a {SIZES[size]} {color_name} {SHAPES[shape]} {place} over {BACKGROUND_PHRASES[background]}"


def generate(n: int, seed: int, image_size: int = ShapesConfig.image_size,
             max_distractors: int = ShapesConfig.max_distractors, label: str = ShapesConfig.label,
             background_contrast: float = ShapesConfig.background_contrast,
             background_texture: float = ShapesConfig.background_texture,
             upright: bool = ShapesConfig.upright, captions: str = ShapesConfig.captions,
             excluded: list[tuple[int, int]] = ()) -> ImageSet:
    """n images with attributes, captions (``captions``: "varied" or "fixed", see shape_captions) and masks,
    determined by seed; none has an ``excluded`` (shape, colour) composition."""
    from engine.data.shape_captions import describe_all

    scene = sample_scenes(n, torch.Generator().manual_seed(seed), max_distractors, background_contrast,
                          background_texture, upright, excluded)
    chunk = max(1, 2**20 // image_size**2)  # about a million pixels per batch bounds memory at large sizes
    images, masks = zip(*(render(scene[i:i + chunk], image_size) for i in range(0, n, chunk)))
    attributes = scene_attributes(scene)
    if captions == "varied":
        texts = describe_all(attributes, seed)
    else:
        columns = zip(*(attributes[name].tolist() for name in ("shape", "color", "size", "hpos", "vpos", "background")))
        texts = [caption(*row) for row in columns]
    return ImageSet(images=torch.cat(images), labels=attributes[label], attributes=attributes, captions=texts,
                    masks=torch.cat(masks))


@register_dataset("shapes", ShapesConfig,
                  "Procedural world: 10 shape types in 8 colours on textured backgrounds, with occluders")
def load_shapes(config: ShapesConfig) -> Dataset:
    """Train and test splits from two seeds derived from config.seed; the held-out compositions only in test."""
    train_seed, test_seed = torch.randint(2**62, (2,), generator=torch.Generator().manual_seed(config.seed)).tolist()
    options = dict(image_size=config.image_size, max_distractors=config.max_distractors, label=config.label,
                   background_contrast=config.background_contrast, background_texture=config.background_texture,
                   upright=config.upright, captions=config.captions)
    return Dataset(
        name="shapes",
        train=generate(config.train_size, train_seed, **options, excluded=parse_compositions(config.held_out)),
        test=generate(config.test_size, test_seed, **options),
        class_names=list(ATTRIBUTE_NAMES[config.label]),
        attribute_names={name: list(values) for name, values in ATTRIBUTE_NAMES.items()},
    )


def _coverage(shape: torch.Tensor, center: torch.Tensor, radius: torch.Tensor, angle: torch.Tensor,
              x: torch.Tensor, y: torch.Tensor, image_size: int) -> torch.Tensor:
    """Anti-aliased coverage in [0, 1] of one shape per image, (N, S, S)."""
    coverage = torch.empty(len(shape), y.shape[1], x.shape[2])
    for kind, sdf in enumerate(_SDFS):
        on = shape == kind
        r = radius[on, None, None]
        dx, dy = x - center[on, 0, None, None], y - center[on, 1, None, None]
        cos, sin = angle[on, None, None].cos() / r, angle[on, None, None].sin() / r
        distance = sdf(dx * cos + dy * sin, dy * cos - dx * sin)  # in the shape's frame
        coverage[on] = (0.5 - distance * (r * image_size)).clamp_(0, 1)
    return coverage


def _background(scene: Scene, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Float images (N, 3, S, S): each scene's pattern blending its two background colours."""
    size = x.shape[2]
    pattern = torch.zeros(len(scene), size, size)
    for kind, name in enumerate(BACKGROUNDS):
        on = scene.background == kind
        cos, sin = scene.background_angle[on, None, None].cos(), scene.background_angle[on, None, None].sin()
        frequency, phase = scene.background_frequency[on, None, None], scene.background_phase[on, None, None]
        u = x * (cos * frequency) + (y * (sin * frequency) + phase)  # periods along the pattern's direction
        v = y * (cos * frequency) - (x * (sin * frequency) - phase)  # and across it
        if name == "stripes":
            pattern[on] = 0.5 + 2 * torch.sin(2 * math.pi * u)
        elif name == "checker":
            pattern[on] = 0.5 + 4 * torch.sin(2 * math.pi * u) * torch.sin(2 * math.pi * v)
        elif name == "dots":
            gap = torch.hypot(u.frac() - 0.5, v.frac() - 0.5)
            pattern[on] = (0.25 - gap) * (size / frequency) + 0.5
        elif name == "noise":
            pattern[on] = F.interpolate(scene.background_noise[on], size=(size, size), mode="bicubic",
                                        align_corners=False)[:, 0]
        elif name == "gradient":
            pattern[on] = 0.5 + (x - 0.5) * cos + (y - 0.5) * sin
    pattern.clamp_(0, 1)
    return torch.lerp(scene.background_rgb[:, 0, :, None, None], scene.background_rgb[:, 1, :, None, None],
                      pattern[:, None])


# Signed distances (negative inside) in the shape's frame, where each shape roughly fills the unit disc.
# Formulas after Inigo Quilez, "2D distance functions".

def _box(x: torch.Tensor, y: torch.Tensor, half_width: float, half_height: float) -> torch.Tensor:
    dx, dy = x.abs() - half_width, y.abs() - half_height
    return torch.hypot(dx.clamp(min=0), dy.clamp(min=0)) + torch.maximum(dx, dy).clamp(max=0)


def _triangle(x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    """Equilateral triangle of side 2r centred on the origin, apex towards +y."""
    k = math.sqrt(3)
    x, y = x.abs() - r, y + r / k
    fold = x + k * y > 0
    x, y = torch.where(fold, (x - k * y) / 2, x), torch.where(fold, (-k * x - y) / 2, y)
    x = x - x.clamp(-2 * r, 0)
    return -torch.hypot(x, y) * torch.sign(y)


def _star(x: torch.Tensor, y: torch.Tensor, r: float = 1.05, inner: float = 0.45) -> torch.Tensor:
    """Five-pointed star of outer radius r; inner sets how fat the arms are."""
    k1x, k1y = 0.809016994375, -0.587785252292
    x = x.abs()
    fold = 2 * (k1x * x + k1y * y).clamp(min=0)
    x, y = x - fold * k1x, y - fold * k1y
    fold = 2 * (-k1x * x + k1y * y).clamp(min=0)
    x, y = (x + fold * k1x).abs(), y - fold * k1y - r
    bx, by = -inner * k1y, inner * k1x - 1
    h = ((x * bx + y * by) / (bx * bx + by * by)).clamp(0, r)
    return torch.hypot(x - bx * h, y - by * h) * torch.sign(y * bx - x * by)


def _heart(x: torch.Tensor, y: torch.Tensor, scale: float = 1.45) -> torch.Tensor:
    x, y = x.abs() / scale, y / scale + 0.55
    upper = torch.hypot(x - 0.25, y - 0.75) - math.sqrt(2) / 4
    along = (x + y).clamp(min=0) / 2
    lower = torch.minimum(x**2 + (y - 1) ** 2, (x - along) ** 2 + (y - along) ** 2).sqrt() * torch.sign(x - y)
    return torch.where(x + y > 1, upper, lower) * scale


_SDFS = (
    lambda x, y: torch.hypot(x, y) - 0.9,  # circle
    lambda x, y: (torch.hypot(x, y) - 0.7).abs() - 0.25,  # ring
    lambda x, y: _box(x, y, 0.78, 0.78),  # square
    lambda x, y: _triangle(x, y, 0.95),  # triangle
    _star,
    lambda x, y: torch.minimum(_box(x, y, 0.95, 0.3), _box(x, y, 0.3, 0.95)),  # cross
    _heart,
    lambda x, y: torch.maximum(torch.hypot(x, y) - 0.9, 0.72 - torch.hypot(x - 0.45, y)),  # crescent
    lambda x, y: torch.minimum(_box(x + 0.45, y, 0.45, 0.18), _triangle(y, x - 0.265, 0.55)),  # arrow
    lambda x, y: _box(x, y, 1.0, 0.32),  # bar
)
