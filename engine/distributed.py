"""One run trained by several processes launched by ``torchrun`` (data-parallel, as PyTorch's
DistributedDataParallel): each rank trains on its slice of every global batch, gradients are averaged, contrastive
losses gather their negatives from all ranks and rank 0 alone writes the run folder.

``join`` initialises ``torch.distributed`` from torchrun's environment (RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
MASTER_ADDR/PORT): gloo on the CPU, NCCL on CUDA. Without torchrun every helper here is the identity, so a
single-process run computes exactly what it did before. Gradients are all-reduced explicitly after ``backward``
rather than through the DDP wrapper: a Method is not one ``forward`` (its ``training_step`` runs the backbone
several times, per view or per BatchNorm group, and EMA teachers beside it), which the wrapper's hooks assume.

Tensors a method gathers keep their gradient (``torch.distributed.nn.functional.all_gather``, whose backward sums
each rank's gradient back to its owner): a loss over a rank's anchors against every rank's candidates, averaged over
ranks, has the gradient of the loss of one process on the global batch (Chen et al. 2020, SimCLR, sec. 2.2: with the
batch spread over devices, its statistics and negatives are aggregated over all of them).
"""
from __future__ import annotations

import datetime
import os
import signal
import threading
import warnings
from contextlib import contextmanager

import torch
import torch.distributed as dist

from engine.errors import PeerLost

TIMEOUT_S = float(os.environ.get("PRETEXT_DDP_TIMEOUT_S", 600))  # a collective waiting this long fails


def launched() -> bool:
    """Started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (torchrun's RANK until the process group is joined)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ["WORLD_SIZE"]) if launched() else 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes the run folder, evaluates and reports."""
    return rank() == 0


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: CUDA device LOCAL_RANK under torchrun, else ``device``."""
    if device.type == "cuda" and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def join(device: torch.device) -> None:
    """Join torchrun's process group (no-op without torchrun, or if already joined): NCCL for CUDA, gloo otherwise,
    and as many threads per rank as the machine's cores allow (torchrun's default of one is slow)."""
    if not launched() or dist.is_initialized():
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            timeout=datetime.timedelta(seconds=TIMEOUT_S),
                            device_id=device if device.type == "cuda" else None)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped_by_torchrun)


def _stopped_by_torchrun(signum, frame) -> None:
    """torchrun sends SIGTERM to the other processes when one has ended: the run stops with a sentence, and a
    checkpoint being written is abandoned (its temporary file removed; the previous one stays)."""
    raise PeerLost(f"process {rank()} of {world_size()}: torchrun stopped it because another process of this run "
                   "ended or stopped answering; the run folder keeps its last checkpoint")


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def peers_answering():
    """Turns a collective that failed because another rank died or stopped answering into :class:`PeerLost` (gloo
reports a lost connection or a timeout as a RuntimeError from its transport, NCCL as a DistError)."""
    try:
        yield
    except RuntimeError as e:
        if not (isinstance(e, dist.DistError) or (active() and "/gloo/" in str(e))):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PeerLost(f"process {rank()} of {world_size()}: another process of this torchrun run ended or stopped "
                       f"answering ({first[:120]}), so this one stops too; the run folder keeps its last "
                       "checkpoint") from None


def local_batch(global_batch: int) -> int:
    """Images per rank of a global batch of ``global_batch``; ValueError unless the ranks split it evenly."""
    world = world_size()
    if global_batch % world:
        raise ValueError(f"batch_size {global_batch} is the global batch and must split evenly over the "
                         f"{world} processes of this torchrun run: use a multiple of {world}")
    return global_batch // world


def shard(rows: torch.Tensor) -> torch.Tensor:
    """This rank's consecutive slice of a global batch (rank 0 first): ranks together see what one process would."""
    n = local_batch(len(rows))
    return rows[rank() * n:(rank() + 1) * n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` concatenated in rank order, differentiable (gradient flows back to each owner)."""
    if not active():
        return x
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of a private module; the public one is what we use
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x))


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` concatenated in rank order, without gradient (MoCo's keys for the queue)."""
    if not active():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over ranks (a loss for the log, DINO's batch centre)."""
    if not active():
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / world_size()


def everywhere(flag: bool) -> bool:
    """True only if ``flag`` is true on every rank (a finite loss), so that all ranks take the same branch."""
    if not active():
        return flag
    t = torch.tensor([float(flag)], device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def rank0_clock(elapsed: float, stop: bool) -> tuple[float, bool]:
    """Rank 0's training time and stop request, on every rank: the time budget, the learning rate schedule and the
    end of the run follow one clock."""
    if not active():
        return elapsed, stop
    t = torch.tensor([elapsed, float(stop)], dtype=torch.float64, device=_device())
    dist.broadcast(t, 0)
    return float(t[0]), bool(t[1])


@torch.no_grad()
def average_gradients(parameters) -> None:
    """Each gradient replaced by its mean over ranks, in one all-reduce."""
    if not active():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if grads:
        _coalesced(grads, lambda flat: (dist.all_reduce(flat), flat.div_(world_size())))


@torch.no_grad()
def broadcast_state(module: torch.nn.Module, buffers_only: bool = False) -> None:
    """Rank 0's parameters and buffers (or buffers only) copied to every rank, as DDP does: BatchNorm running
    statistics, which each rank updates from its own images, and EMA teachers that copy them stay identical."""
    if not active():
        return
    tensors = list(module.buffers()) + ([] if buffers_only else [p.data for p in module.parameters()])
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        _coalesced(group, lambda flat: dist.broadcast(flat, 0))


def _coalesced(tensors: list[torch.Tensor], collective) -> None:
    flat = torch.cat([t.reshape(-1) for t in tensors])
    collective(flat)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
