"""Headless commands: ``main.py train``, ``main.py eval RUN_DIR``, ``main.py attention RUN_DIR``, ``main.py
zero-shot RUN_DIR`` (engine.clip_cli) and ``main.py track RUN_DIR`` (engine.video.track_cli)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import typing
from pathlib import Path
from typing import Any

import torch

from engine import distributed, events
from engine.clip_cli import add_zero_shot_parser
from engine.errors import CheckpointError, DatasetUnavailable, describe
from engine.run import RunConfig, make_session, resume_session
from engine.runfolder import RunFolder
from engine.video.track_cli import add_track_parser

EXPECTED = (ValueError, CheckpointError, DatasetUnavailable)  # bad settings, files or data: one sentence, exit 2
SETTING_GROUPS = {"dataset": "dataset_options", "method": "method_options", "augment": "augment"}  # --set GROUP.NAME
NOT_FLAGS = tuple(SETTING_GROUPS.values())  # set with --set GROUP.NAME=VALUE


def parse_settings(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``["method.temperature=0.1", "augment.blur_p=0.5"]`` → {"method_options": {...}, "augment": {...}}."""
    out: dict[str, dict[str, str]] = {v: {} for v in SETTING_GROUPS.values()}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        group, dot, name = key.partition(".")
        if not sep or not dot or group not in SETTING_GROUPS:
            raise ValueError(f"--set {pair!r}: expected dataset.NAME=VALUE, method.NAME=VALUE or augment.NAME=VALUE")
        out[SETTING_GROUPS[group]][name] = value
    return out


def train_flags(config: RunConfig) -> list[str]:
    """The ``train`` flags that make ``config`` again: a flag per field and ``--set`` per nested setting."""
    values = dataclasses.asdict(config)
    flags: list[str] = []
    for f in config_flags():
        flag, value = f.name.replace("_", "-"), values[f.name]
        flags += [f"--{flag}" if value else f"--no-{flag}"] if isinstance(value, bool) else [f"--{flag}", str(value)]
    for group, field in SETTING_GROUPS.items():
        for name, value in values[field].items():
            flags += ["--set", f"{group}.{name}={value}"]  # from_dict reads the text back (True: true)
    return flags


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


class ConsoleReporter:
    """Prints progress (throughput, ETA) and a line per evaluation. On a terminal the progress is a bar redrawn in
    place; into a file or pipe it is a plain line at most every ``log_interval_s`` seconds (as tqdm does), and the
    latest one is also written before the next other line (an evaluation, the end of the run)."""

    def __init__(self, stream=None, log_interval_s: float = 15.0, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr  # looked up now: a test may have replaced it
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())
        self.log_interval_s = log_interval_s
        self.clock = clock
        self.total_steps: int | None = None
        self.minutes = 0.0
        self.rate_unit = "img"  # "img/s", or "words/s" for a text run (Started.unit)
        self.bar_shown = False
        self.unlogged: str | None = None  # not a terminal: the latest progress line not written yet
        self.logged_at: float | None = None

    def line(self, text: str) -> None:
        if self.bar_shown:
            self.stream.write("\n")
            self.bar_shown = False
        if self.unlogged is not None:
            self.stream.write(self.unlogged + "\n")
            self.unlogged = None
        self.stream.write(text + "\n")
        self.stream.flush()

    def progress(self, event: events.Step) -> None:
        if self.total_steps:
            fraction = event.step / self.total_steps
        elif self.minutes:
            fraction = event.elapsed_s / (self.minutes * 60)
        else:
            fraction = 0.0
        filled = int(30 * min(fraction, 1.0))
        text = (f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} step {event.step} "
                f"loss {event.losses[-1]:.4f} {event.images_per_s:.0f} {self.rate_unit}/s "
                f"elapsed {format_time(event.elapsed_s)} ETA {format_time(event.eta_s)}")
        if self.interactive:
            self.stream.write(f"\r{text}  ")
            self.bar_shown = True
        elif self.logged_at is None or self.clock() - self.logged_at >= self.log_interval_s:
            self.stream.write(text + "\n")
            self.logged_at, self.unlogged = self.clock(), None
        else:
            self.unlogged = text
        self.stream.flush()

    def __call__(self, event: Any) -> None:
        match event:
            case events.Status(message=message):
                self.line(message + " ...")
            case events.Started():
                self.total_steps = event.total_steps
                self.minutes = event.config["minutes"]
                self.rate_unit = "img" if event.unit == "images" else event.unit
                self.line(f"Training {event.config['method']} on {event.dataset} ({event.train_size} {event.unit}) "
                          f"on {event.device}; run folder {event.run_dir}")
            case events.Step():
                self.progress(event)
            case events.Eval():
                self.line(format_scores(event))
            case events.Report(title=title, lines=lines):
                self.line("\n".join([f"{title}:", *(f"  {line}" for line in lines)]))
            case events.Warning(message=message):
                self.line(f"warning: {message}")
            case events.Error(message=message):
                self.line(f"error: {message}")
            case events.Collapsed(step=step, reason=reason):
                self.line(f"warning: step {step}: the representation has collapsed ({reason})")
            case events.Finished(reason=reason, step=step):
                self.line(f"Run {reason} at step {step}.")


ACCURACIES = ("knn", "probe")  # printed as percentages; the collapse monitor's scores as plain numbers
ACCURACY_PREFIXES = ("zero_shot", "binding", "t2i_", "match_")  # CLIP's zero-shot, dense correspondence: percentages


def is_accuracy(score: str) -> bool:
    return score in ACCURACIES or score.startswith(ACCURACY_PREFIXES)


def format_scores(event: events.Eval) -> str:
    head = "Final evaluation" if event.final else f"step {event.step}"
    rows = [("encoder", event.scores)] + [(f"{name} baseline", s) for name, s in event.baselines.items()]
    text = [f"{head}:"]
    for label, scores in rows:
        text.append(f"  {label:<18}" + "  ".join(f"{k} {v:6.1%}" if is_accuracy(k) else f"{k} {v:.3g}"
                                                  for k, v in scores.items()))
    return "\n".join(text)


def rank_reporter() -> Any:
    """Rank 0 (or the only process) reports progress; the other processes of a torchrun run only their errors."""
    if distributed.is_main():
        return ConsoleReporter()
    return lambda event: isinstance(event, events.Error) and print(f"error: {event.message}", file=sys.stderr)


class PreviewWriter:
    """``train --write-previews``: every preview the run shows is also written into its run folder (only rank 0's
    session emits them), for a window following the run from the folder (engine.follow)."""

    def __init__(self, report: Any):
        self.report = report
        self.folder: RunFolder | None = None

    def __call__(self, event: Any) -> None:
        match event:
            case events.Started(run_dir=run_dir):
                self.folder = RunFolder(run_dir)
            case events.Preview() if self.folder is not None:
                try:
                    self.folder.write_preview(event)
                except OSError as e:
                    self.report(events.Warning(f"could not write the preview into the run folder: {e}"))
        self.report(event)


def train(args: argparse.Namespace) -> int:
    try:
        return train_session(args)
    finally:
        distributed.leave()


def train_session(args: argparse.Namespace) -> int:
    reporter = PreviewWriter(rank_reporter()) if args.write_previews else rank_reporter()
    try:
        if args.resume:
            overrides = {k: v for k, v in (("steps", args.steps), ("minutes", args.minutes)) if v is not None}
            session = resume_session(Path(args.resume), reporter, **overrides)
        else:
            values: dict[str, Any] = parse_settings(args.set)
            values.update({f.name: getattr(args, f.name) for f in config_flags() if getattr(args, f.name) is not None})
            if args.steps and args.minutes is None:
                values["minutes"] = 0.0
            session = make_session(RunConfig.with_method_defaults(values), Path(args.out) if args.out else None,
                                   reporter)
    except EXPECTED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        finished = session.run()
    except KeyboardInterrupt:
        session.stop()
        return 130
    if finished.reason == "failed":
        return 1
    if not distributed.is_main():
        return 0
    print(f"Done in {format_time(time.perf_counter() - start)}; run folder: {session.run_dir}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    reporter = ConsoleReporter()
    try:
        resume_session(Path(args.run_dir), reporter, eval_every_s=0.0).evaluate()
    except EXPECTED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001  (a bug: its type is named, the traceback would only scare)
        print(f"error: {describe(e)}", file=sys.stderr)
        return 1
    return explore(args) if args.umap or args.export else 0


def explore(args: argparse.Namespace) -> int:
    """The explorer's UMAP scatter and exports of a saved run (``eval --umap PNG --export DIR``)."""
    from engine.explore.umap_worker import LayoutError
    from engine.methods import METHODS

    try:
        method = METHODS.get(RunFolder(args.run_dir).read_config().get("method"))
        if method is not None and method.modality == "text":  # a text run's words, not images
            from engine.text.explore import explore_text_run as explore_run
        else:
            from engine.explore.headless import explore_run
        written = explore_run(Path(args.run_dir), Path(args.umap) if args.umap else None,
                              Path(args.export) if args.export else None, args.points,
                              lambda text: print(text + " ...", file=sys.stderr))
    except (*EXPECTED, LayoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


def attention(args: argparse.Namespace) -> int:
    """Overlays of the run's attention maps on test images (or ``--image`` files), written as a PNG."""
    from PIL import Image

    from engine.data.images import decode_image
    from engine.eval.attention import attention_maps, mass_in_mask, overlay_grid
    from engine.nets import untrained_backbone
    from engine.run import load_run

    try:
        run = load_run(Path(args.run_dir))
        if args.image:
            images = torch.stack([decode_image(f, run.augment.image_size, run.dataset.channels) for f in args.image])
            masks = None
        else:
            test = run.dataset.test
            images, masks = test.images[:args.images], None if test.masks is None else test.masks[:args.images]
    except EXPECTED as e:  # ImageRejected is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    maps = run.method.attention(images.to(run.device)).cpu()
    Image.fromarray(overlay_grid(images, maps).permute(1, 2, 0).numpy()).save(args.out)
    print(f"{len(images)} images x {maps.shape[1]} attention map(s) written to {args.out}")
    if masks is not None:
        test = run.dataset.test
        images, masks = test.images[:args.measure], test.masks[:args.measure]
        untrained = untrained_backbone(run.config.backbone, run.dataset.channels, run.augment.image_size,
                                       run.config.seed + 1).to(run.device)
        trained_mass = mass_in_mask(run.method.attention(images.to(run.device)).cpu(), masks).mean()
        untrained_mass = mass_in_mask(attention_maps(untrained, run.augment.prepare(images.to(run.device))).cpu(),
                                      masks).mean()
        print(f"attention mass inside the object masks of {len(images)} test images: trained {trained_mass:.1%}, "
              f"untrained network {untrained_mass:.1%}, evenly spread {masks.float().mean():.1%}")
    return 0


def config_flags() -> list[dataclasses.Field]:
    """The RunConfig fields that are ``train`` flags (``--batch-size`` for ``batch_size``, ...)."""
    return [f for f in dataclasses.fields(RunConfig) if f.name not in NOT_FLAGS]


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """A flag per RunConfig field, with its type, choices and help from the field's ``param()`` metadata, so a new
    field reaches the CLI as it reaches the window's form. Flags left out keep the method's or the field's default."""
    from engine.data import dataset_sources
    from engine.methods import METHODS

    registries = {"method": METHODS, "dataset": dataset_sources()}
    hints = typing.get_type_hints(RunConfig)
    for f in config_flags():
        flag, kind = "--" + f.name.replace("_", "-"), hints[f.name]
        choices = sorted(registries[f.name]) if f.name in registries else f.metadata["choices"]
        by_method = any(f.name in method.train_defaults_for(dataset, {}) for method in METHODS.values()
                        for dataset in registries["dataset"])
        help_text = f"{f.metadata['help']} (default: {f.default}" + (", or the method's)" if by_method else ")")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, type=kind, choices=choices, help=help_text,
                                metavar=None if choices else f.name.upper())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Pretext: self-supervised learning, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a method and evaluate it")
    add_config_flags(t)
    t.add_argument("--out", help="run folder (default: ~/pretext-runs/<time>-<method>-<dataset>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its checkpoint")
    t.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE",
                   help="a dataset, method or augment setting, e.g. method.temperature=0.1 (repeatable)")
    t.add_argument("--write-previews", action="store_true", help="also write the method's previews into the run "
                   "folder (preview.safetensors), for a window following the run")
    t.set_defaults(func=train)
    e = sub.add_parser("eval", help="evaluate a saved run (kNN, linear probe, baselines)")
    e.add_argument("run_dir")
    e.add_argument("--umap", metavar="PNG", help="also write a UMAP scatter of the embeddings coloured by label "
                   "(PNG, or SVG by suffix)")
    e.add_argument("--export", metavar="DIR", help="also write the embeddings: TensorBoard Projector files "
                   "(vectors/metadata TSV, sprite, config), .npy arrays and a CSV of UMAP coordinates")
    e.add_argument("--points", type=int, default=20000, help="training images embedded for --umap/--export "
                   "(default 20000)")
    e.set_defaults(func=evaluate)
    a = sub.add_parser("attention", help="write attention-map overlays of a saved run as a PNG")
    a.add_argument("run_dir")
    a.add_argument("--out", default="attention.png", help="PNG to write (default attention.png)")
    a.add_argument("--images", type=int, default=8, help="test images to show (default 8)")
    a.add_argument("--measure", type=int, default=500, help="test images whose attention mass inside the object "
                   "masks is measured, for the run and for an untrained network (default 500)")
    a.add_argument("--image", action="append", default=[], metavar="FILE", help="an image file instead (repeatable)")
    a.set_defaults(func=attention)
    add_zero_shot_parser(sub)
    add_track_parser(sub)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
