"""Checkpoints: one safetensors file of tensors whose header carries the JSON state (config, step,
optimizer hyper-parameters, RNG). Written atomically: a temporary file, fsync, then ``os.replace``,
so a process killed mid-save leaves the previous checkpoint intact. Never unpickles anything."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.errors import CheckpointError

FORMAT = "pretext-checkpoint"
VERSION = 1


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # safetensors refuses shared or strided storage: give every tensor its own contiguous CPU copy
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "version": str(VERSION), "state": json.dumps(state)}
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform (Windows)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_state(path: Path) -> dict[str, Any]:
    """The JSON state from the header alone, without reading the tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({e})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a Pretext checkpoint")
    if int(metadata.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} was written by a newer Pretext (format {metadata['version']})")
    try:
        return json.loads(metadata["state"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{path} has a damaged header") from None


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    state = read_state(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is damaged ({e})") from None
    return tensors, state


def training_tensors(method: torch.nn.Module, optimizer: torch.optim.Optimizer, probe: Any = None
                     ) -> dict[str, torch.Tensor]:
    """Everything a resumed run needs as flat tensors: ``model.*`` (the method), ``probe.*`` (the online probe),
    ``optim.<param>.<field>`` and ``probe_optim.*`` (the optimisers' per-parameter state) and ``rng.torch``."""
    tensors = {f"model.{k}": v for k, v in method.state_dict().items()}
    if probe is not None:
        tensors.update({f"probe.{k}": v for k, v in probe.state_dict().items()})
    for prefix, opt in _optimizers(optimizer, probe):
        for pid, state in opt.state_dict()["state"].items():
            tensors.update({f"{prefix}.{pid}.{k}": torch.as_tensor(v) for k, v in state.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    return tensors


def restore_model(tensors: dict[str, torch.Tensor], method: torch.nn.Module, probe: Any = None) -> None:
    """Load the ``model.*`` (and ``probe.*``) tensors; CheckpointError when they do not fit the network."""
    try:
        method.load_state_dict(_prefixed(tensors, "model."))
        if probe is not None:
            probe.load_state_dict(_prefixed(tensors, "probe."))
    except RuntimeError as e:
        raise CheckpointError(f"the checkpoint does not fit this model: {str(e).splitlines()[0]}") from None


def restore_training(tensors: dict[str, torch.Tensor], method: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     probe: Any = None) -> None:
    """The inverse of :func:`training_tensors`: weights, optimiser states and torch's global RNG state."""
    restore_model(tensors, method, probe)
    for prefix, opt in _optimizers(optimizer, probe):
        saved = opt.state_dict()
        for key, value in _prefixed(tensors, prefix + ".").items():
            pid, field = key.split(".", 1)
            saved["state"].setdefault(int(pid), {})[field] = value
        opt.load_state_dict(saved)
    torch.set_rng_state(tensors["rng.torch"])


def check_architecture(state: dict[str, Any], method: str, backbone: str) -> None:
    """CheckpointError unless the checkpoint's state was written by ``method`` on ``backbone``."""
    if state.get("method") != method or state.get("backbone") != backbone:
        raise CheckpointError(f"the checkpoint is of {state.get('method')}/{state.get('backbone')}, "
                              f"not {method}/{backbone}")


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizers(optimizer: torch.optim.Optimizer, probe: Any) -> list[tuple[str, torch.optim.Optimizer]]:
    return [("optim", optimizer)] + ([("probe_optim", probe.optimizer)] if probe is not None else [])
