"""Video clips: the ``shapes_video`` world (the shapes renderer with moving parameters) and ``video_folder`` (a
folder of frames per clip, or video files decoded by PyAV where it is installed).

A clip is T frames of one scene. In ``shapes_video`` several shapes move on their own straight paths (bouncing off
the image's edges) and turn at their own rates over a static background, and later shapes cover earlier ones where
they cross. All shapes of a clip share one CIE lightness L* and differ in hue, and the background is darker or
lighter than them: the gray frames show where the shapes are but not which colour each has, so colouring a gray
frame from a coloured reference frame means finding each shape again (Vondrick et al. 2018, sec. 3). Colours are
constant over time. Every frame comes with its instance masks (0 background, k the k-th shape's visible pixels) and
two keypoints per shape (its centre and a point half its radius along its heading, which turns with it).

A video dataset's splits hold the frames as images, clip after clip (``VideoDataset.clips`` regroups them), so the
image Session trains on them unchanged; a video method draws whole clips in ``batch_indices``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from engine.config import param
from engine.data.base import Dataset, ImageSet
from engine.data.color import lab_to_rgb
from engine.data.folder import IMAGE_EXTENSIONS
from engine.data.images import ImageRejected, decode_image, resize_images
from engine.data.registry import register_dataset
from engine.data.shapes import SHAPES, layer_coverage, render, sample_scenes
from engine.errors import DatasetUnavailable

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
NO_DECODER = ("reading video files needs the PyAV decoder (pip install 'pretext[video]'); a folder of frames per "
              "clip works without it")
OBJECT_RADIUS = (0.12, 0.19)
OBJECT_CHROMA = 38.0  # of the shapes' colours in Lab units: saturated, yet inside sRGB at L* 55-70
KEYPOINTS_PER_OBJECT = 2  # centre, heading point


@dataclass
class ClipTruth:
    """Ground truth of N clips of T frames with O objects."""

    instances: torch.Tensor  # uint8 (N, T, S, S): 0 background, k the k-th object's visible pixels
    keypoints: torch.Tensor  # float (N, T, K, 2): x, y in pixels of the S-px frames (pixel i's centre is i)
    keypoint_objects: torch.Tensor  # int64 (K,): the object (1..O) each keypoint belongs to

    @property
    def objects(self) -> int:
        return int(self.keypoint_objects.max())

    def __getitem__(self, index: slice | torch.Tensor) -> ClipTruth:
        return ClipTruth(self.instances[index], self.keypoints[index], self.keypoint_objects)


@dataclass
class VideoDataset(Dataset):
    """A dataset of clips: ``train`` and ``test`` hold their frames as images, clip after clip; ``test_truth`` the
    test clips' instance masks and keypoints (None for clips without ground truth)."""

    clip_length: int = 1
    test_truth: ClipTruth | None = None

    def clips(self, split: ImageSet) -> torch.Tensor:
        """uint8 (N, T, C, S, S): the split's frames regrouped into clips."""
        return split.images.view(-1, self.clip_length, *split.images.shape[1:])


@dataclass
class ShapesVideoConfig:
    train_clips: int = param(256, "Number of training clips", low=1, high=100_000)
    test_clips: int = param(32, "Number of held-out clips (tracking is measured on them)", low=1, high=10_000)
    frames: int = param(16, "Frames per clip", low=2, high=256)
    image_size: int = param(64, "Side of the square frames in pixels", low=16, high=256)
    objects: int = param(3, "Shapes per clip, each with its own motion, spin and hue", low=1, high=6)
    max_speed: float = param(0.025, "Fastest motion, in image sides per frame", low=0.0, high=0.2)
    max_spin: float = param(0.12, "Fastest rotation, in radians per frame", low=0.0, high=1.0)
    seed: int = param(0, "Random seed: the same seed gives the same clips")


def bounce(position: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Positions moving freely folded back into [low, high], as a point bouncing off the walls moves."""
    u = ((position - low) / (high - low)).remainder(2)
    return low + (1 - (u - 1).abs()) * (high - low)


@torch.no_grad()
def generate_clips(n: int, seed: int, frames: int = 16, image_size: int = 64, objects: int = 3,
                   max_speed: float = 0.025, max_spin: float = 0.12) -> tuple[torch.Tensor, ClipTruth]:
    """n clips: uint8 frames (n, T, 3, S, S) and their ground truth, determined by ``seed``."""
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float | torch.Tensor, high: float | torch.Tensor, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    base = sample_scenes(n, g, max_distractors=objects - 1)  # its background: pattern, angle, frequency, noise
    o = objects
    shape = torch.randint(len(SHAPES), (n, o), generator=g)
    radius = uniform(*OBJECT_RADIUS, n, o)
    start = uniform(0.2, 0.8, n, o, 2)
    heading = uniform(0, 2 * math.pi, n, o)
    velocity = uniform(0.3, 1.0, n, o, 1) * max_speed * torch.stack((heading.cos(), heading.sin()), -1)
    angle0, spin = uniform(0, 2 * math.pi, n, o), uniform(-max_spin, max_spin, n, o)
    # one lightness per clip, hues spread around the circle; the background darker or lighter by 25-35
    lightness = uniform(55, 70, n, 1)
    hue = uniform(0, 2 * math.pi, n, 1) + 2 * math.pi * torch.arange(o) / o + uniform(-0.3, 0.3, n, o) * math.pi / o
    lab = torch.stack((lightness.expand(n, o), OBJECT_CHROMA * hue.cos(), OBJECT_CHROMA * hue.sin()), -1)
    rgb = lab_to_rgb(lab.reshape(-1, 3, 1, 1)).reshape(n, o, 3)
    side = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    background_l = (lightness + side * uniform(25, 35, n, 1)).clamp(12, 96)[:, :, None] + uniform(-4, 4, n, 2, 1)
    tone_hue = uniform(0, 2 * math.pi, n, 2, 1)
    background_lab = torch.cat((background_l, 8 * tone_hue.cos(), 8 * tone_hue.sin()), -1)
    background_rgb = lab_to_rgb(background_lab.reshape(-1, 3, 1, 1)).reshape(n, 2, 3)

    t = torch.arange(frames, dtype=torch.float32).view(1, -1, 1, 1)
    margin = 0.6 * radius[:, None, :, None]
    centers = bounce(start[:, None] + velocity[:, None] * t, margin, 1 - margin)  # (n, T, o, 2)
    angles = angle0[:, None] + spin[:, None] * t[..., 0]  # (n, T, o)

    def per_frame(x: torch.Tensor) -> torch.Tensor:  # (n, ...) -> (n * T, ...), constant over time
        return x[:, None].expand(n, frames, *x.shape[1:]).reshape(n * frames, *x.shape[1:])

    flat = {k: v.reshape(n * frames, *v.shape[2:]) for k, v in (("center", centers), ("angle", angles))}
    scene = replace(
        base[torch.arange(n).repeat_interleave(frames)],
        shape=per_frame(shape[:, 0]), rgb=per_frame(rgb[:, 0]), radius=per_frame(radius[:, 0]),
        center=flat["center"][:, 0], angle=flat["angle"][:, 0], background_rgb=per_frame(background_rgb),
        distractor_on=torch.ones(n * frames, o - 1, dtype=torch.bool), distractor_shape=per_frame(shape[:, 1:]),
        distractor_rgb=per_frame(rgb[:, 1:]), distractor_radius=per_frame(radius[:, 1:]),
        distractor_center=flat["center"][:, 1:], distractor_angle=flat["angle"][:, 1:])
    chunk = max(1, 2**20 // image_size**2)
    images, instances = [], []
    for i in range(0, n * frames, chunk):
        part = scene[i:i + chunk]
        images.append(render(part, image_size)[0])
        coverage = layer_coverage(part, image_size)  # a later layer covers the earlier ones
        above = torch.cat([coverage.flip(1).cumsum(1).flip(1)[:, 1:], torch.zeros_like(coverage[:, :1])], 1)
        visible = coverage * (above < 0.5)
        instances.append(torch.where(visible.amax(1) > 0.5, visible.argmax(1) + 1, 0).to(torch.uint8))
    tip = centers + 0.5 * radius[:, None, :, None] * torch.stack((angles.cos(), angles.sin()), -1)
    keypoints = torch.stack((centers, tip), dim=3).reshape(n, frames, o * KEYPOINTS_PER_OBJECT, 2)
    truth = ClipTruth(torch.cat(instances).view(n, frames, image_size, image_size), keypoints * image_size - 0.5,
                      torch.arange(1, o + 1).repeat_interleave(KEYPOINTS_PER_OBJECT))
    return torch.cat(images).view(n, frames, 3, image_size, image_size), truth


def frames_split(clips: torch.Tensor) -> ImageSet:
    """The clips' frames (N * T, C, S, S) as one split, clip after clip."""
    return ImageSet(images=clips.reshape(-1, *clips.shape[2:]).contiguous())


@register_dataset("shapes_video", ShapesVideoConfig, "Clips of the shapes world: several shapes of one lightness and "
                  "different hues moving, turning and covering each other, with instance masks and keypoints",
                  modality="video")
def load_shapes_video(config: ShapesVideoConfig) -> VideoDataset:
    train_seed, test_seed = torch.randint(2**62, (2,), generator=torch.Generator().manual_seed(config.seed)).tolist()
    options = dict(frames=config.frames, image_size=config.image_size, objects=config.objects,
                   max_speed=config.max_speed, max_spin=config.max_spin)
    train, _ = generate_clips(config.train_clips, train_seed, **options)
    test, truth = generate_clips(config.test_clips, test_seed, **options)
    return VideoDataset(name="shapes_video", train=frames_split(train), test=frames_split(test),
                        clip_length=config.frames, test_truth=truth)


# clips on disk: a folder of frames per clip, or a video file

def write_frame_folder(clip: torch.Tensor, folder: Path) -> list[Path]:
    """Write a clip's uint8 frames (T, 3, H, W) as ``frame_0000.png``, ... into ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame_{t:04d}.png" for t in range(len(clip))]
    for frame, path in zip(clip, paths):
        Image.fromarray(frame.permute(1, 2, 0).numpy()).save(path)
    return paths


def read_frame_folder(folder: Path, size: int) -> torch.Tensor:
    """uint8 (T, 3, size, size): the folder's image files in name order, centre-cropped and resized. Raises
    ImageRejected naming the first file that cannot be used."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    frames = []
    for path in files:
        try:
            frames.append(decode_image(path, size))
        except ImageRejected as e:
            raise ImageRejected(f"{path.name}: {e}") from None
    return torch.stack(frames) if frames else torch.empty(0, 3, size, size, dtype=torch.uint8)


def read_video(path: Path, size: int) -> torch.Tensor:
    """uint8 (T, 3, size, size): a video file's frames decoded by PyAV, centre-cropped and resized. Raises
    DatasetUnavailable when PyAV is not installed, ImageRejected when the file cannot be decoded."""
    try:
        import av
    except ImportError:
        raise DatasetUnavailable(NO_DECODER) from None
    try:
        with av.open(str(path)) as container:
            frames = [torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)
                      for frame in container.decode(video=0)]
    except (av.FFmpegError, ValueError, IndexError) as e:
        raise ImageRejected(f"cannot decode the video ({e})") from None
    if not frames:
        raise ImageRejected("the video has no frames")
    clip = torch.stack(frames)
    h, w = clip.shape[-2:]
    side = min(h, w)
    clip = clip[..., (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    return resize_images(clip.contiguous(), size)


def write_video(clip: torch.Tensor, path: Path, fps: int = 10) -> None:
    """Write a clip's uint8 frames (T, 3, H, W) losslessly (FFV1 in Matroska, ``.mkv``) with PyAV."""
    try:
        import av
    except ImportError:
        raise DatasetUnavailable(NO_DECODER.replace("reading", "writing")) from None
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = clip.shape[-1], clip.shape[-2], "bgr0"
        for frame in clip:
            image = av.VideoFrame.from_ndarray(frame.permute(1, 2, 0).contiguous().numpy(), format="rgb24")
            container.mux(stream.encode(image.reformat(format="bgr0")))
        container.mux(stream.encode())


@dataclass
class VideoFolderConfig:
    path: str = param("", "A folder holding one sub-folder of frames per clip and/or video files (video files need "
                          "PyAV)")
    image_size: int = param(64, "Side of the square frames in pixels (centre-cropped)", low=16, high=256)
    frames: int = param(16, "Frames per clip: longer clips are cut into pieces of this length", low=2, high=256)
    test_fraction: float = param(0.1, "Share of the clips held out", low=0.0, high=0.9)
    seed: int = param(0, "Seed of the train/test split")


@register_dataset("video_folder", VideoFolderConfig, "Your clips: a sub-folder of frames per clip, or video files "
                  "(decoded by PyAV)", modality="video")
def load_video_folder(config: VideoFolderConfig) -> VideoDataset:
    """Each clip cut into pieces of ``frames`` frames (a shorter remainder is dropped); sources that cannot be read
    are listed in ``skipped``. Raises DatasetUnavailable when no clip can be made."""
    root = Path(config.path).expanduser()
    if not config.path or not root.is_dir():
        raise DatasetUnavailable(f"video_folder needs dataset.path: a folder of clips ({root} is not a folder)")
    pieces, skipped = [], []
    for source in sorted(root.iterdir()):
        try:
            if source.is_dir():
                clip = read_frame_folder(source, config.image_size)
            elif source.suffix.lower() in VIDEO_EXTENSIONS:
                clip = read_video(source, config.image_size)
            else:
                continue
        except (ImageRejected, DatasetUnavailable) as e:
            skipped.append((str(source), str(e)))
            continue
        if len(clip) < config.frames:
            skipped.append((str(source), f"{len(clip)} frames, fewer than the {config.frames} of a clip"))
        pieces += list(clip[:len(clip) // config.frames * config.frames].split(config.frames))
    if not pieces:
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:3])
        raise DatasetUnavailable(f"no clip of {config.frames} frames in {root}" + (f" ({reasons})" if reasons else ""))
    order = torch.randperm(len(pieces), generator=torch.Generator().manual_seed(config.seed)).tolist()
    held = min(len(pieces) - 1, round(config.test_fraction * len(pieces))) if len(pieces) > 1 else 0
    test = [pieces[i] for i in order[:held]] or [pieces[order[0]]]  # one clip is both, said by train == test
    train = [pieces[i] for i in order[held:]]
    return VideoDataset(name="video_folder", train=frames_split(torch.stack(train)),
                        test=frames_split(torch.stack(test)), clip_length=config.frames, skipped=skipped)

