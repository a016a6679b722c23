"""``main.py track RUN_DIR --out strip.png``: a video run's propagation on held-out clips, as a frame strip (the
propagated masks and keypoints over the frames, the truth below) and a table of mean J and keypoint error beside the
three baselines."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.errors import CheckpointError, DatasetUnavailable
from engine.video.tracking import Tracked, evaluate_tracking, raw_pixel_features, summary

EXPECTED = (ValueError, CheckpointError, DatasetUnavailable)
OBJECT_COLOURS = torch.tensor([[255, 255, 255], [255, 40, 40], [40, 255, 40], [60, 120, 255], [255, 255, 0],
                               [255, 0, 255], [0, 255, 255]], dtype=torch.float32)


def most_occluded(instances: torch.Tensor, count: int) -> list[int]:
    """The ``count`` clips (N, T, S, S) in which some object loses the largest share of its area at some frame."""
    objects = int(instances.max())
    areas = torch.stack([(instances == k).flatten(2).sum(2).float() for k in range(1, objects + 1)], -1)  # (N, T, O)
    hidden = 1 - areas.amin(1) / areas.amax(1).clamp_min(1)
    return hidden.amax(1).argsort(descending=True)[:count].tolist()


def overlay(frame: torch.Tensor, mask: torch.Tensor, keypoints: torch.Tensor | None) -> torch.Tensor:
    """uint8 (3, S, S): the frame with each object's region tinted and outlined in its colour, keypoints as dots."""
    image = frame.float()
    for k in range(1, int(mask.max()) + 1):
        region = mask == k
        inner = region.clone()  # pixels whose four neighbours are in the region too
        inner[1:-1, 1:-1] &= region[:-2, 1:-1] & region[2:, 1:-1] & region[1:-1, :-2] & region[1:-1, 2:]
        colour = OBJECT_COLOURS[k % len(OBJECT_COLOURS)][:, None]
        image[:, region] = 0.6 * image[:, region] + 0.4 * colour
        image[:, region & ~inner] = colour
    if keypoints is not None:
        size = frame.shape[-1]
        for x, y in keypoints.round().long().tolist():
            image[:, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = torch.tensor([255.0, 255.0, 0.0])[:, None, None]
            if 0 <= y < size and 0 <= x < size:
                image[:, y, x] = 0
    return image.round().clamp(0, 255).to(torch.uint8)


def frame_strip(clips: torch.Tensor, tracked: list[Tracked], truth, every: int = 2, scale: int = 3) -> torch.Tensor:
    """uint8 (3, H, W): per clip a row of every ``every``-th frame with the propagated masks and keypoints, and a row
    with the true ones, with a 2 px gap between clips."""
    rows = []
    for clip, result, instances, keypoints in zip(clips, tracked, truth.instances, truth.keypoints):
        frames = range(0, len(clip), every)
        rows.append(torch.cat([overlay(clip[t], result.masks[t], result.keypoints[t]) for t in frames], 2))
        rows.append(torch.cat([overlay(clip[t], instances[t], keypoints[t]) for t in frames], 2))
        rows.append(torch.full((3, 2, rows[-1].shape[-1]), 255, dtype=torch.uint8))
    strip = torch.cat(rows[:-1], 1)
    return strip.repeat_interleave(scale, 1).repeat_interleave(scale, 2)


def track(args: argparse.Namespace) -> int:
    from PIL import Image

    from engine.run import load_run

    try:
        run = load_run(Path(args.run_dir))
        if not hasattr(run.method, "track_settings"):
            raise ValueError(f"{run.config.method} is not a video method: track needs a video_colorization run")
        truth = getattr(run.dataset, "test_truth", None)
        if truth is None:
            raise ValueError(f"{run.config.dataset} has no ground-truth masks to start from and score against")
    except EXPECTED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    method, clips = run.method, run.dataset.clips(run.dataset.test)
    n = min(args.clips, len(clips)) if args.clips else len(clips)
    clips, truth = clips[:n], truth[:n]
    settings = method.track_settings
    stride = clips.shape[-1] // method.features(clips[0, :1].to(run.device)).shape[-1]
    kinds = {"model": lambda frames: method.features(frames.to(run.device)), "copy": None,
             "random": method.untrained_features(run.config.seed + 1),
             "raw": lambda frames: raw_pixel_features(frames, stride),
             "gray": lambda frames: raw_pixel_features(frames, stride, True)}
    results = {name: evaluate_tracking(fn, clips, truth, settings) for name, fn in kinds.items()}
    print(f"Tracking {n} held-out clips of {clips.shape[1]} frames from the first frame's masks "
          f"(step {run.step:,}; radius {settings.radius}, top-k {settings.topk}, temperature {settings.temperature}, "
          f"context {settings.context}):")
    print(f"  {'':<8}{'mean J':>8}{'keypoint error (px)':>22}")
    for name, tracked in results.items():
        scores = summary(tracked)
        print(f"  {name:<8}{scores['J']:>8.3f}{scores['keypoint_px']:>22.2f}")
    model = results["model"]
    per_frame = torch.stack([t.j_per_frame for t in model]).mean(0)[1:]
    print("  model's J per frame (1..T-1, mean over clips): " + " ".join(f"{j:.2f}" for j in per_frame.tolist()))
    print("  model's J per clip: " + " ".join(f"{t.j:.2f}" for t in model))
    shown = most_occluded(truth.instances, args.strip_clips)
    strip = frame_strip(clips[shown], [results["model"][i] for i in shown], truth[torch.tensor(shown)])
    Image.fromarray(strip.permute(1, 2, 0).numpy()).save(args.out)
    print(f"Frame strip of the {len(shown)} most occluded clips (propagated above, truth below) written to {args.out}")
    return 0


def add_track_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("track", help="propagate first-frame masks through a video run's held-out clips: a frame strip "
                       "and mean J beside the baselines")
    t.add_argument("run_dir")
    t.add_argument("--out", default="strip.png", help="PNG of the frame strip (default strip.png)")
    t.add_argument("--clips", type=int, default=0, help="held-out clips tracked (default 0: all)")
    t.add_argument("--strip-clips", type=int, default=2, help="clips drawn in the strip, the most occluded first "
                   "(default 2)")
    t.set_defaults(func=track)
