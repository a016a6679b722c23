"""A run followed from its folder (engine.follow), and the torchrun commands the window starts and shows
(engine.launch); the job itself is tests/test_distributed.py's."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from engine import cli, events
from engine.checkpoint import save_checkpoint
from engine.config import from_dict
from engine.follow import RunFollower
from engine.launch import MAIN, TorchrunConfig, local_command, remote_commands
from engine.run import RunConfig
from engine.runfolder import RunFolder

INFO = {"config": {"method": "simclr", "dataset": "shapes", "batch_size": 8, "steps": 10, "minutes": 0.0},
        "dataset": {"name": "shapes", "train": 80, "test": 16, "classes": [], "image_size": 16, "channels": 3},
        "device": "cpu", "torch": "x"}
TINY = {"dataset": "shapes", "dataset_options": {"train_size": 128, "test_size": 32, "image_size": 16},
        "method": "simclr", "batch_size": 16, "steps": 100, "minutes": 0.0, "device": "cpu"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def append(folder: Path, text: str) -> None:
    with open(folder / "metrics.jsonl", "a") as f:
        f.write(text)


def step_line(step: int, **logs) -> str:
    return json.dumps({"step": step, "loss": 1.0 / step, "lr": 0.1, **logs}) + "\n"


def test_nothing_until_run_json_then_started_from_it(tmp_path):
    follower = RunFollower(tmp_path)
    assert follower.poll() == []
    RunFolder(tmp_path).write_info(INFO)
    started, = follower.poll()
    assert isinstance(started, events.Started)
    assert (started.run_dir, started.total_steps, started.train_size, started.image_size, started.channels) == \
        (str(tmp_path), 10, 80, 16, 3)
    assert follower.poll() == []


def test_records_appended_in_pieces_become_batched_steps_and_a_partial_line_waits(tmp_path):
    clock = Clock()
    RunFolder(tmp_path).write_info(INFO)
    follower = RunFollower(tmp_path, clock)
    follower.poll()
    append(tmp_path, step_line(1) + step_line(2, pretext_acc=0.5) + step_line(3)[:10])
    clock.now = 2.0
    step, = follower.poll()
    assert (step.step, step.steps, step.losses, step.logs) == (2, (1, 2), (1.0, 0.5), {"pretext_acc": 0.5})
    assert step.images_per_s == pytest.approx(2 * 8 / 2.0) and step.epoch == pytest.approx(2 * 8 / 80)
    assert step.eta_s == pytest.approx(8 * 8 / 8.0)  # 8 steps left at 8 images/s
    assert follower.poll() == []  # the half-written line waits for its end
    append(tmp_path, step_line(3)[10:] + "not json\n" + step_line(4))
    step, = follower.poll()
    assert step.steps == (3, 4)


def test_the_poll_that_finds_a_run_already_training_has_no_rate_yet(tmp_path):
    RunFolder(tmp_path).write_info(INFO)
    append(tmp_path, step_line(1) + step_line(2))
    started, step = RunFollower(tmp_path, Clock()).poll()
    assert step.steps == (1, 2) and step.images_per_s == 0.0 and step.eta_s is None


def test_eval_records_come_between_the_steps_around_them_and_the_final_scores_finish(tmp_path):
    RunFolder(tmp_path).write_info(INFO)
    follower = RunFollower(tmp_path)
    append(tmp_path, json.dumps({"step": 0, "eval": {"knn": 0.1}, "baselines": {}, "final": False}) + "\n"
           + step_line(1) + json.dumps({"step": 1, "eval": {"knn": 0.3}, "baselines": {"raw": {"knn": 0.2}},
                                        "final": False}) + "\n" + step_line(2)
           + json.dumps({"step": 2, "eval": {"knn": 0.4, "probe": 0.5}, "baselines": {}, "final": True}) + "\n")
    kinds = [(type(e).__name__, getattr(e, "step", None)) for e in follower.poll()]
    assert kinds == [("Started", None), ("Eval", 0), ("Step", 1), ("Eval", 1), ("Step", 2), ("Eval", 2)]
    assert follower.finished("completed") == events.Finished(2, "completed", {"knn": 0.4, "probe": 0.5})
    assert follower.finished("stopped").scores == {}


def test_a_rewritten_metrics_file_goes_on_after_the_steps_already_drawn(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_info(INFO)
    follower = RunFollower(tmp_path)
    append(tmp_path, step_line(1) + step_line(2) + step_line(3))
    follower.poll()
    folder.truncate(2)  # a resume from the checkpoint at step 2
    append(tmp_path, step_line(3))
    assert follower.poll() == []  # steps 1-3 were drawn already: the curves do not repeat them
    append(tmp_path, step_line(4))
    step, = follower.poll()
    assert step.steps == (4,)


def test_each_new_checkpoint_is_one_event(tmp_path):
    RunFolder(tmp_path).write_info(INFO)
    follower = RunFollower(tmp_path)
    follower.poll()
    save_checkpoint(tmp_path / "checkpoint.safetensors", {"w": torch.zeros(2)}, {"step": 5})
    assert follower.poll() == [events.Checkpoint(5, str(tmp_path / "checkpoint.safetensors"))]
    assert follower.poll() == []
    save_checkpoint(tmp_path / "checkpoint.safetensors", {"w": torch.ones(2)}, {"step": 9})
    assert [e.step for e in follower.poll()] == [9]


def test_each_new_preview_is_one_event(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_info(INFO)
    follower = RunFollower(tmp_path)
    follower.poll()
    tile = torch.zeros(3, 4, 4, dtype=torch.uint8)
    folder.write_preview(events.Preview(7, events.Tiles("views", [[tile]], [["a view"]])))
    preview, = follower.poll()
    assert (preview.step, preview.tiles.title, preview.tiles.captions) == (7, "views", [["a view"]])
    assert follower.poll() == []


def test_the_job_here_and_the_commands_for_the_other_machines(tmp_path):
    config = from_dict(RunConfig, TINY)
    one = local_command(config, TorchrunConfig(processes=3), tmp_path / "run")
    assert one[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "3"]
    assert one[-3:] == ["--out", str(tmp_path / "run"), "--write-previews"]
    assert remote_commands(config, TorchrunConfig(processes=3), tmp_path / "run") == []
    spread = TorchrunConfig(processes=4, machines=3, address="lab-1", port=29501)
    here = local_command(config, spread, tmp_path / "run")
    assert here[3:15] == ["--nnodes", "3", "--node_rank", "0", "--nproc_per_node", "4", "--master_addr", "lab-1",
                          "--master_port", "29501", str(MAIN), "train"]
    others = [shlex.split(command) for command in remote_commands(config, spread, tmp_path / "run")]
    assert [o[o.index("--node_rank") + 1] for o in others] == ["1", "2"]
    assert others[0][:1] == ["torchrun"] and others[0][11:13] == ["main.py", "train"]
    assert others[0][13:-2] == here[15:-3] == cli.train_flags(config)
