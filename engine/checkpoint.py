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

FORMAT = "pretext-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is not a loadable Pretext checkpoint; the message says why."""


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
