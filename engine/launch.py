"""A run on several processes, started from the window: the torchrun command for this machine, the commands to
paste on the others, and the job itself, followed through its run folder (:mod:`engine.follow`) and stopped
through it (the folder's stop request: every rank stops after the same step and rank 0 writes the checkpoint).

Several machines rendezvous at this one (torchrun's static rendezvous, ``--master_addr``): it is node 0, so the
rank 0 that writes the run folder is a process of this machine, the folder the window follows.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine import events
from engine.build import RunConfig
from engine.cli import train_flags
from engine.config import param
from engine.errors import describe
from engine.follow import RunFollower

MAIN = Path(__file__).resolve().parents[1] / "main.py"
POLL_S = 0.5  # how often the job's run folder is read
STOP_GRACE_S = 60.0  # a job still running this long after Stop is terminated (torchrun ends its processes)
LOG_TAIL_BYTES = 20_000  # of the job's output, searched for the sentence that says why it failed


@dataclass
class TorchrunConfig:
    processes: int = param(2, "Processes on each machine (torchrun's --nproc_per_node): one per GPU, or a few on "
                              "the CPU, which they share", low=1, high=256)
    machines: int = param(1, "Machines the run spreads over; each other machine runs the command shown below",
                          low=1, high=1024)
    address: str = param("localhost", "This machine's address as the other machines reach it (rank 0 runs here)")
    port: int = param(29500, "Port on this machine that the other machines connect to", low=1024, high=65535)


def default_processes(device: str) -> int:
    """One process per GPU for a run on CUDA; else two, sharing the CPU's cores (one on a single core)."""
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.device_count()
    return min(2, os.cpu_count() or 1)


def rendezvous(torchrun: TorchrunConfig, machine: int) -> list[str]:
    """torchrun's arguments for machine ``machine`` (0: this one)."""
    if torchrun.machines == 1:
        return ["--standalone", "--nproc_per_node", str(torchrun.processes)]
    return ["--nnodes", str(torchrun.machines), "--node_rank", str(machine), "--nproc_per_node",
            str(torchrun.processes), "--master_addr", torchrun.address, "--master_port", str(torchrun.port)]


def local_command(config: RunConfig, torchrun: TorchrunConfig, run_dir: Path) -> list[str]:
    """The job on this machine: this Python's torchrun, writing its previews into the run folder for the window."""
    return [sys.executable, "-m", "torch.distributed.run", *rendezvous(torchrun, 0), str(MAIN), "train",
            *train_flags(config), "--out", str(run_dir), "--write-previews"]


def remote_commands(config: RunConfig, torchrun: TorchrunConfig, run_dir: Path) -> list[str]:
    """A shell command for each other machine, to run in its Pretext folder (only rank 0, here, writes the run)."""
    return [shlex.join(["torchrun", *rendezvous(torchrun, machine), "main.py", "train", *train_flags(config),
                        "--out", str(run_dir)]) for machine in range(1, torchrun.machines)]


class TorchrunJob:
    """A torchrun job this process started: :meth:`follow` turns its run folder into events until it ends;
    :meth:`stop`, from any thread, asks it to stop."""

    def __init__(self, command: list[str], run_dir: Path, env: dict[str, str] | None = None):
        self.run_dir = Path(run_dir)
        self.follower = RunFollower(self.run_dir)
        self._output = tempfile.TemporaryFile()  # the job's stdout and stderr, for the sentence a failure ends with
        self._process = subprocess.Popen(command, cwd=MAIN.parent, stdin=subprocess.DEVNULL, stdout=self._output,
                                         stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self._stopped_at: float | None = None

    @classmethod
    def start(cls, config: RunConfig, torchrun: TorchrunConfig, run_dir: Path,
              env: dict[str, str] | None = None) -> TorchrunJob:
        return cls(local_command(config, torchrun, run_dir), run_dir, env)

    @property
    def returncode(self) -> int | None:
        """The job's exit status; None while it runs."""
        return self._process.poll()

    def stop(self) -> None:
        """Stop after the current step, with a checkpoint; a job still setting up (no run.json) is terminated,
        having nothing to keep."""
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
        if self.follower.folder.run_json.exists():
            self.follower.folder.request_stop()
        else:
            self._process.terminate()

    def follow(self, on_event: Callable[[Any], None], poll_s: float = POLL_S) -> events.Finished:
        """Emit the run's events as its folder gains them, until the job ends (then Finished; Error first, in one
        sentence, when it failed)."""
        try:
            while self.returncode is None:
                for event in self.follower.poll():
                    on_event(event)
                self._enforce_stop()
                time.sleep(poll_s)
            for event in self.follower.poll():
                on_event(event)
        except Exception as e:  # noqa: BLE001  (a folder that cannot be read: the job is ended, in a sentence)
            self._process.kill()
            self._process.wait()
            on_event(events.Error(f"could not follow the run folder {self.run_dir}: {describe(e)}"))
            return self._finish(on_event, "failed")
        stopped = self._stopped_at is not None and not self.follower.final_scores
        if self._process.returncode == 0 or stopped:
            return self._finish(on_event, "stopped" if stopped else "completed")
        on_event(events.Error(self.failure()))
        return self._finish(on_event, "failed")

    def _finish(self, on_event: Callable[[Any], None], reason: str) -> events.Finished:
        self._output.close()
        finished = self.follower.finished(reason)
        on_event(finished)
        return finished

    def _enforce_stop(self) -> None:
        """A job still running STOP_GRACE_S after Stop is terminated (torchrun stops its processes, which keep the
        last checkpoint), and killed after twice that."""
        waited = 0.0 if self._stopped_at is None else time.monotonic() - self._stopped_at
        if waited > 2 * STOP_GRACE_S:
            self._process.kill()
        elif waited > STOP_GRACE_S:
            self._process.terminate()

    def failure(self) -> str:
        """Why the job failed, in one sentence: the last ``error: ...`` line a process printed, else its last line
        of words (torchrun's report ends in a rule of ``=``)."""
        self._output.seek(max(0, self._output.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
        lines = [line.strip() for line in self._output.read().decode("utf-8", errors="replace").splitlines()]
        said = [line.partition("error: ")[2] for line in lines if "error: " in line]
        last = said[-1] if said else next((line for line in reversed(lines) if line.strip("=-_* ")), "no output")
        return f"the torchrun job ended with exit code {self._process.returncode}: {last}"
