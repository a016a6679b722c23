"""Losses run in float32 even inside a bfloat16 autocast region, as mixed-precision recipes keep them: the
similarities, softmaxes, cross-correlations and Sinkhorn exponentials need more than bfloat16's 8 bits."""
from __future__ import annotations

import functools

import torch


def _to_float(x):
    if isinstance(x, torch.Tensor):
        return x.float()
    if isinstance(x, (list, tuple)):
        return type(x)(_to_float(v) for v in x)
    return x


def _device_type(args) -> str:
    for x in args:
        if isinstance(x, torch.Tensor):
            return x.device.type
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], torch.Tensor):
            return x[0].device.type
    return "cpu"


def float32(fn):
    """Run ``fn`` with autocast off and its tensor arguments (and lists of tensors) cast to float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.autocast(_device_type(args), enabled=False):
            return fn(*_to_float(args), **{k: _to_float(v) for k, v in kwargs.items()})

    return wrapper
