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


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The dtype for mixed-precision training (``torch.autocast``), or None for plain float32.

    ``auto`` picks bfloat16 where the hardware computes it natively: CUDA GPUs that support it, and CPUs whose
    oneDNN kernels use AVX-512 BF16 / AMX (bench/step_variants.py measures the gain); elsewhere
    (older CPUs, MPS) bfloat16 is emulated or unsupported, so float32 is faster."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        return torch.bfloat16 if native or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() else None
    return None
