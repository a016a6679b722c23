"""One run on two processes (torchrun, gloo on the CPU): identical weights on both ranks after every step, the loss
of 2 ranks x B equal to one process's on 2B (gathered negatives), rank 0 alone writing the run folder, a resume in
one process, and a rank dying."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine import distributed
from engine.checkpoint import load_checkpoint
from engine.config import from_dict
from engine.losses import NTXentLoss
from engine.losses.clip import clip_infonce, clip_infonce_across, positive_pairs
from engine.run import RunConfig, Session

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
# fixed views (a full crop, no flip, colour or blur): 2 ranks x B then see exactly the images and views of 1 x 2B
FIXED_VIEWS = {"crop_scale_min": 1.0, "crop_ratio": 1.0, "flip_p": 0.0, "rotate_degrees": 0.0, "jitter_p": 0.0,
               "grayscale_p": 0.0, "blur_p": 0.0, "solarize_p": 0.0}
COMMON = {"dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 64, "image_size": 16},
          "batch_size": 32, "steps": 3, "minutes": 0.0, "warmup_steps": 0, "lr": 1e-3, "eval_every_s": 0.0,
          "final_eval": False, "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "device": "cpu"}
PER_METHOD = {"simclr": {"augment": FIXED_VIEWS}, "moco": {"method_options": {"queue_size": 64, "bn_groups": 2}},
              "dino": {"method_options": {"out_dim": 64}},
              "clip": {"method_options": {"text_width": 32, "text_layers": 1}}}

needs_torchrun = pytest.mark.skipif(TORCHRUN is None or not torch.distributed.is_available() or
                                    not torch.distributed.is_gloo_available(),
                                    reason="torchrun or torch.distributed's gloo backend is not available here")


def torchrun(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node", "2", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PRETEXT_DDP_TIMEOUT_S": "20", **(env or {})})


def digests(folder: Path, rank: int) -> list[tuple[int, float, str]]:
    return [(int(s), float(loss), d) for s, loss, d in
            (line.split() for line in (folder / f"rank{rank}.txt").read_text().splitlines())]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    done = torchrun("-m", "tests.ddp_worker", str(out), json.dumps({"common": COMMON, **PER_METHOD}), *PER_METHOD)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@needs_torchrun
@pytest.mark.parametrize("method", list(PER_METHOD))
def test_both_ranks_hold_identical_weights_after_every_step(two_ranks, method):
    rank0, rank1 = digests(two_ranks / f"{method}-digests", 0), digests(two_ranks / f"{method}-digests", 1)
    assert [s for s, _, _ in rank0] == [1, 2, 3]
    assert rank0 == rank1  # the same step, loss and sha256 of every weight and buffer (EMA teachers, queue, centre)
    assert len({d for _, _, d in rank0}) == 3  # and the weights did change


@needs_torchrun
def test_rank_zero_alone_writes_the_run_folder(two_ranks):
    for method in PER_METHOD:
        assert not (two_ranks / f"{method}-rank1").exists()
        folder = two_ranks / f"{method}-rank0"
        assert {p.name for p in folder.iterdir()} == {"run.json", "metrics.jsonl", "checkpoint.safetensors"}
        assert [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


@needs_torchrun
def test_two_ranks_of_b_have_the_loss_of_one_process_of_2b(two_ranks, tmp_path):
    """NT-Xent's negatives are gathered from both ranks: 2 x 16 images score as 1 x 32 do. Per-rank BatchNorm (the CPU
    has no SyncBatchNorm) normalises each rank's 16 images apart, which moves the loss by a few thousandths; had the
    negatives stayed per rank, the loss would be about log(63) - log(31) = 0.7 lower."""
    config = from_dict(RunConfig, {**COMMON, "method": "simclr", **PER_METHOD["simclr"]})
    assert Session(config, tmp_path / "one").run().reason == "completed"
    one = [json.loads(line)["loss"] for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [loss for _, loss, _ in digests(two_ranks / "simclr-digests", 0)]
    assert two == pytest.approx(one, abs=0.02)


@needs_torchrun
def test_a_run_of_two_processes_resumes_in_one(two_ranks, tmp_path):
    run_dir = tmp_path / "resumed"
    shutil.copytree(two_ranks / "moco-rank0", run_dir)
    assert Session.from_run_dir(run_dir, steps=5).run().reason == "completed"
    assert load_checkpoint(run_dir / "checkpoint.safetensors")[1]["step"] == 5


@needs_torchrun
def test_a_rank_dying_stops_the_other_with_one_sentence_and_keeps_the_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    done = torchrun("-m", "tests.ddp_worker", "--exit", "1:2",  # main.py train, rank 1 exiting after step 2
                    "train", "--method", "simclr", "--steps", "20", "--batch-size", "32", "--image-size", "16",
                    "--set", "dataset.train_size=256", "--set", "dataset.test_size=64",
                    "--device", "cpu", "--eval-every-s", "0", "--no-final-eval", "--preview-every-s", "0",
                    "--checkpoint-every-s", "0.001", "--out", str(run_dir))
    assert done.returncode != 0
    assert "another process of this" in done.stderr and "ended or stopped answering" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.split("torch/distributed/elastic")[0]  # before torchrun's own report
    _, state = load_checkpoint(run_dir / "checkpoint.safetensors")  # intact: written atomically, never after the loss
    assert 1 <= state["step"] <= 2
    assert not list(run_dir.glob(".*.tmp"))


@needs_torchrun
def test_a_torchrun_job_followed_and_stopped_through_its_folder_ends_cleanly(tmp_path, monkeypatch):
    """The window's job: started as it starts it, followed from rank 0's folder, stopped through the folder."""
    from engine import events, launch
    from gui.history import load_history

    monkeypatch.setattr(launch, "STOP_GRACE_S", 20.0)  # a stop not honoured fails the test sooner
    run_dir = tmp_path / "run"
    config = from_dict(RunConfig, {**COMMON, "method": "simclr", "steps": 100_000})
    job = launch.TorchrunJob.start(config, launch.TorchrunConfig(processes=2), run_dir,
                                   env={"OMP_NUM_THREADS": "1", "PRETEXT_DDP_TIMEOUT_S": "20"})
    seen = []

    def stop_after_3_steps(event):
        seen.append(event)
        if isinstance(event, events.Step) and event.step >= 3:
            job.stop()

    finished = job.follow(stop_after_3_steps, poll_s=0.1)
    assert (finished.reason, job.returncode) == ("stopped", 0), [e for e in seen if isinstance(e, events.Error)]
    steps = [s for e in seen if isinstance(e, events.Step) for s in e.steps]
    assert steps == list(range(1, finished.step + 1)) and finished.step >= 3
    assert isinstance(seen[0], events.Started) and any(isinstance(e, events.Preview) for e in seen)
    assert load_checkpoint(run_dir / "checkpoint.safetensors")[1]["step"] == finished.step
    assert [e.step for e in seen if isinstance(e, events.Checkpoint)][-1] == finished.step
    assert {p.name for p in run_dir.iterdir()} == {"run.json", "metrics.jsonl", "checkpoint.safetensors",
                                                    "preview.safetensors", "stop"}  # rank 0's files alone
    history = load_history(run_dir)  # and the folder opens in the window as any run's does
    assert history.checkpoint_step == finished.step and history.steps.tolist() == steps


def test_a_global_batch_the_ranks_cannot_split_is_refused_in_a_sentence(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    with pytest.raises(ValueError, match="batch_size 32 is the global batch .* use a multiple of 3"):
        distributed.local_batch(32)


def ranks_of(parts: list[torch.Tensor], rank: int):
    """``gather_with_grad`` as rank ``rank`` of len(parts) sees it: its own tensor among the others'."""
    return lambda x: torch.cat([x if r == rank else parts[r] for r in range(len(parts))])


def test_ranks_losses_with_gathered_negatives_average_to_the_global_batch_loss(monkeypatch):
    """The losses' arithmetic without processes: each "rank" scores its anchors against all candidates."""
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    whole = NTXentLoss(0.2)(z1, z2)
    halves = []
    for r in range(2):
        own = slice(4 * r, 4 * r + 4)
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        gathered = iter([F.normalize(z1, dim=1).chunk(2), F.normalize(z2, dim=1).chunk(2)])  # z1's, then z2's
        monkeypatch.setattr(distributed, "gather_with_grad", lambda x, r=r, g=gathered: ranks_of(list(next(g)), r)(x))
        halves.append(NTXentLoss(0.2)(z1[own], z2[own]))
    assert (halves[0] + halves[1]) / 2 == pytest.approx(whole.item(), abs=1e-6)

    images = F.normalize(torch.randn(8, 5, generator=g), dim=1)
    texts = F.normalize(torch.randn(8, 5, generator=g), dim=1)
    ids = torch.tensor([0, 1, 2, 1, 3, 4, 0, 5])  # equal captions are positives, across ranks too
    scale = torch.tensor(10.0)
    whole = clip_infonce(images, texts, scale, positive_pairs(ids, ids))
    shares = [clip_infonce_across(images[s], texts[s], images, texts, scale, positive_pairs(ids[s], ids))
              for s in (slice(0, 4), slice(4, 8))]
    assert (shares[0] + shares[1]) / 2 == pytest.approx(whole.item(), abs=1e-6)
