"""Device selection: CUDA, then Apple's MPS, else the CPU."""
from __future__ import annotations

import torch


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.insert(0, "mps")
    return devices


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks the fastest present device; asking for an absent one raises a clear ValueError."""
    present = available_devices()
    if name == "auto":
        return torch.device(present[0])
    if name not in present:
        raise ValueError(f"device {name!r} is not available here; available: {', '.join(present)}")
    return torch.device(name)
