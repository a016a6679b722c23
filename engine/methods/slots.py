"""State a method derives from its data (``prepare_data``) whose size is known only then: a tensor or a JSON value
kept in the checkpoint as a module's *extra state*, which ``load_state_dict`` hands back whatever its shape (a
buffer would have to be allocated at its final shape before loading). JSON travels as its UTF-8 bytes in a uint8
tensor, so the checkpoint stays one safetensors file and nothing is pickled."""
from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn


class TensorSlot(nn.Module):
    """A tensor of any shape, saved and restored with the module (on the CPU; ``value`` is None until set)."""

    def __init__(self) -> None:
        super().__init__()
        self.value: torch.Tensor | None = None

    def get_extra_state(self) -> torch.Tensor:
        return torch.zeros(0) if self.value is None else self.value.detach().cpu()

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.value = state.clone() if state.numel() else None


class JsonSlot(nn.Module):
    """A JSON-serialisable value (None until set), saved as UTF-8 bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.value: Any = None

    def get_extra_state(self) -> torch.Tensor:
        data = json.dumps(self.value).encode("utf-8")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.value = json.loads(state.to(torch.uint8).numpy().tobytes().decode("utf-8")) if state.numel() else None
