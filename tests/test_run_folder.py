"""The engine's seams: the run-folder format (its stop request and preview file too), the build step, the checkpoint
codec, the CLI's flags made from RunConfig (and back), and a hand-edited run.json refused in one sentence before
anything starts."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from engine import events
from engine.build import RunConfig, build, build_optimizer, channel_stats
from engine.checkpoint import load_checkpoint, restore_training, training_tensors
from engine.cli import build_parser, config_flags, main, parse_settings, train_flags
from engine.config import from_dict
from engine.data import dataset_sources
from engine.errors import CheckpointError, describe
from engine.run import Session, load_run
from engine.runfolder import RunFolder

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 128, "image_size": 16},
         "batch_size": 32, "minutes": 0.0, "eval_bank": 256, "eval_queries": 128, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu", "eval_every_s": 0.0, "final_eval": False}


def test_records_skip_damaged_lines_stop_at_a_step_and_truncate(tmp_path):
    folder = RunFolder(tmp_path)
    folder.metrics.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 2, "eval": {"knn": 0.5}}\n'
                              '{"step": 3, "lo\n[1, 2]\n{"step": 4, "loss": 1.0}\n', encoding="utf-8")
    assert [r["step"] for r in folder.records()] == [1, 2, 2, 4]
    assert [r["step"] for r in folder.records(up_to_step=2)] == [1, 2, 2]
    assert list(folder.records(evals_only=True)) == [{"step": 2, "eval": {"knn": 0.5}}]
    folder.truncate(2)
    assert [json.loads(line)["step"] for line in folder.metrics.read_text().splitlines()] == [1, 2, 2]
    assert list(RunFolder(tmp_path / "none").records()) == []


def test_a_folder_that_is_not_a_run_is_named_in_one_sentence(tmp_path):
    for text in (None, "not json", "[1, 2]", '{"config": 3}'):
        if text is not None:
            (tmp_path / "run.json").write_text(text)
        with pytest.raises(CheckpointError, match="is not a Pretext run folder"):
            RunFolder(tmp_path).read_config()


@pytest.mark.parametrize("edit,words", [
    ({"method": "nonexistent"}, "unknown method 'nonexistent'; known: barlow_twins"),
    ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"batch_size": "many"}, "expected int"),
    ({"batch_size": 10**9}, "batch_size must be at most"),
    ({"lr": -1.0}, "lr must be at least"),
    ({"method_options": {"temperature": 99.0}}, "temperature must be at most"),
    ({"dataset_options": {"image_size": 4}}, "image_size must be at least"),
    ({"augment": []}, "augment must be a set of NAME: VALUE settings"),
    ({"colour": 1}, "has no setting(s) colour"),
])
def test_a_hand_edited_run_json_is_refused_before_anything_starts(tmp_path, edit, words):
    RunFolder(tmp_path).write_info({"config": {**dataclasses.asdict(RunConfig()), **edit}})
    with pytest.raises(ValueError) as error:
        Session.from_run_dir(tmp_path)
    assert "run.json has a setting that cannot be used" in str(error.value) and words in str(error.value)
    assert describe(error.value) == str(error.value)  # the window and the CLI show the sentence, not a type name


def test_eval_of_a_bad_folder_says_why_and_trains_nothing(tmp_path):
    RunFolder(tmp_path).write_info({"config": {**dataclasses.asdict(RunConfig()), "method": "nonexistent"}})
    result = subprocess.run([sys.executable, "main.py", "eval", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "unknown method 'nonexistent'" in result.stderr, result.stderr
    assert "Run failed" not in result.stderr and "Traceback" not in result.stderr


def test_every_run_setting_is_a_train_flag_with_its_help_and_default():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {a.dest: a for a in train._actions}
    for f in config_flags():
        assert f.name in flags and f.metadata["help"] in flags[f.name].help
        assert f"default: {f.default}" in flags[f.name].help
    args = parser.parse_args(["train", "--batch-size", "64", "--no-final-eval", "--eval-every-s", "5"])
    assert (args.batch_size, args.final_eval, args.eval_every_s, args.lr) == (64, False, 5.0, None)


def test_the_preview_builds_the_augmentation_as_training_does():
    config = RunConfig.with_method_defaults({**SMALL, "crop_size": 12})
    trained = build(config)
    previewed = build(config, trained.dataset, with_method=False)
    assert previewed.method is None and previewed.augment.crop_size == trained.augment.crop_size == 12
    mean, std = channel_stats(trained.dataset.train.images)
    assert torch.equal(previewed.augment.mean.flatten(), mean) and torch.equal(trained.augment.std.flatten(), std)
    assert all(torch.equal(a, b) for a, b in zip(build(config).method.state_dict().values(),
                                                 trained.method.state_dict().values()))  # seeded, repeatable


def test_the_checkpoint_codec_restores_model_optimiser_and_rng():
    config = from_dict(RunConfig, SMALL)
    method = build(config).method
    optimizer = build_optimizer(method, config)
    images = build(config).dataset.train.images[:16]
    method.training_step(images, torch.Generator().manual_seed(0)).loss.backward()
    optimizer.step()
    torch.manual_seed(5)
    tensors = training_tensors(method, optimizer)
    expected = torch.rand(3)
    fresh = build(config).method
    fresh_optimizer = build_optimizer(fresh, config)
    restore_training(tensors, fresh, fresh_optimizer)
    assert torch.equal(torch.rand(3), expected)
    for a, b in zip(method.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    state, restored = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert state.keys() == restored.keys() and all(torch.equal(state[k]["exp_avg"], restored[k]["exp_avg"])
                                                   for k in state)


def test_load_run_reads_a_folder_without_writing_to_it(tmp_path):
    Session(from_dict(RunConfig, {**SMALL, "steps": 2}), tmp_path).run()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    run = load_run(tmp_path, device="cpu")
    assert run.step == 2 and not run.method.training
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


STOPPABLE = {**SMALL, "method": "simclr", "dataset_options": {"train_size": 128, "test_size": 32, "image_size": 16},
             "batch_size": 16, "steps": 100_000, "warmup_steps": 0}


def test_a_stop_request_in_the_folder_stops_a_run_with_its_checkpoint_and_a_resume_clears_it(tmp_path):
    run_dir = tmp_path / "run"

    def stop_at_3(event):
        if isinstance(event, events.Step) and event.step >= 3:
            RunFolder(run_dir).request_stop()

    finished = Session(from_dict(RunConfig, STOPPABLE), run_dir, stop_at_3).run()
    assert finished.reason == "stopped" and finished.step >= 3
    assert load_checkpoint(run_dir / "checkpoint.safetensors")[1]["step"] == finished.step
    resumed = Session.from_run_dir(run_dir, steps=finished.step + 2).run()  # writing run.json removed the request
    assert (resumed.reason, resumed.step) == ("completed", finished.step + 2)


def test_a_stop_request_ends_a_cli_run_cleanly_and_it_wrote_its_preview(tmp_path, capsys):
    run_dir = tmp_path / "run"
    folder = RunFolder(run_dir)

    def stop_once_training():
        while not folder.metrics.exists() or not folder.metrics.read_text():
            threading.Event().wait(0.05)
        folder.request_stop()

    threading.Thread(target=stop_once_training, daemon=True).start()
    settings = [arg for name, value in STOPPABLE["dataset_options"].items()
                for arg in ("--set", f"dataset.{name}={value}")]
    assert main(["train", "--method", "simclr", "--batch-size", "16", "--steps", "100000", "--device", "cpu",
                 "--eval-every-s", "0", "--no-final-eval", "--preview-every-s", "0", "--checkpoint-every-s", "0",
                 "--write-previews", "--out", str(run_dir), *settings]) == 0
    assert "Run stopped at step" in capsys.readouterr().err
    assert load_checkpoint(folder.checkpoint)[1]["step"] >= 1
    assert folder.read_preview().step == 0  # the preview shown as training began


def test_a_preview_file_holds_the_tiles_and_a_similarity_matrix(tmp_path):
    folder = RunFolder(tmp_path)
    tile = torch.arange(3 * 4 * 4, dtype=torch.uint8).reshape(3, 4, 4)
    tiles = events.SimilarityTiles("pairs", [[tile, tile + 1], [tile + 2]], [["a", "b"], ["c"]], texts=["x", "y"],
                                   matrix=torch.eye(2))
    folder.write_preview(events.Preview(7, tiles))
    preview = folder.read_preview()
    assert preview.step == 7 and type(preview.tiles) is events.SimilarityTiles
    assert (preview.tiles.title, preview.tiles.captions, preview.tiles.texts) == ("pairs", [["a", "b"], ["c"]],
                                                                                  ["x", "y"])
    assert [len(row) for row in preview.tiles.rows] == [2, 1] and torch.equal(preview.tiles.rows[1][0], tile + 2)
    assert torch.equal(preview.tiles.matrix, torch.eye(2))
    folder.write_preview(events.Preview(8, events.Tiles("views", [[tile]], [["t"]])))
    assert type(folder.read_preview().tiles) is events.Tiles
    assert not list(tmp_path.glob(".*.tmp"))


def cli_config(flags: list[str]) -> RunConfig:
    """The config ``main.py train FLAGS`` trains, built as engine.cli.train_session builds it."""
    args = build_parser().parse_args(["train", *flags])
    values = parse_settings(args.set)
    values.update({f.name: getattr(args, f.name) for f in config_flags() if getattr(args, f.name) is not None})
    return RunConfig.with_method_defaults(values)


def trained_as(config: RunConfig) -> dict:
    """What a run of ``config`` trains: its fields, the nested settings parsed (``--set`` gives them as text)."""
    nested = {"dataset_options": from_dict(dataset_sources()[config.dataset].config, config.dataset_options),
              "method_options": config.method_config(), "augment": config.augment_config()}
    return {**vars(config), **nested}


def test_the_train_flags_of_a_config_make_the_same_config():
    config = RunConfig.with_method_defaults({**STOPPABLE, "method": "moco", "final_eval": True,
                                             "method_options": {"queue_size": 64},
                                             "augment": {"crop_ratio": 2.0, "flip_p": 0.0}})
    assert trained_as(cli_config(train_flags(config))) == trained_as(config)
    assert from_dict(type(config.method_config()), {}) != config.method_config()  # the options did travel
