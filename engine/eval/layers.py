"""Reading an encoder's features at an earlier stage of its backbone, for evaluations that are fair to pretext
tasks: the last stage of a network trained on a pretext task specialises in that task, and mid-level features
transfer best (Gidaris et al. 2018, "Unsupervised Representation Learning by Predicting Image Rotations", sec. 3.2,
Table 1; Zhang et al. 2017, split-brain, sec. 4.1: conv3-conv4 beat conv5 on ImageNet linear classification).
"""
from __future__ import annotations

import torch
from torch import nn


def stage_backbones(encoder: nn.Module) -> list[nn.Module]:
    """The backbones inside ``encoder`` (modules with ``stages()``), in module order: split-brain has two."""
    return [module for module in encoder.modules() if hasattr(module, "stages")]


def pooled(output: torch.Tensor | tuple) -> torch.Tensor:
    """A stage's output as one vector per image: a feature map averaged over space, tokens over the sequence."""
    x = output[0] if isinstance(output, tuple) else output  # a ViT block returns (tokens, attention)
    return x.float().mean(dim=(2, 3)) if x.ndim == 4 else x.float().mean(dim=1)


class LayerReadout(nn.Module):
    """``encoder``'s features taken ``-layer`` stages before its backbones' last one, each stage's output pooled;
    with several backbones inside (split-brain's halves) their pooled outputs are concatenated."""

    def __init__(self, encoder: nn.Module, layer: int):
        super().__init__()
        backbones = stage_backbones(encoder)
        if not backbones:
            raise ValueError(f"eval_layer {layer} needs a backbone with stages; {type(encoder).__name__} has none")
        depth = min(len(b.stages()) for b in backbones)
        if -layer >= depth:
            raise ValueError(f"eval_layer {layer} is deeper than the backbone's {depth} stages; choose "
                             f"{1 - depth}..0")
        self.encoder = encoder
        self.points = [b.stages()[layer - 1] for b in backbones]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        caught: list[torch.Tensor] = []
        hooks = [point.register_forward_hook(lambda module, args, out: caught.append(pooled(out)))
                 for point in self.points]
        try:
            self.encoder(x)
        finally:
            for hook in hooks:
                hook.remove()
        return torch.cat(caught, dim=1)


def at_layer(encoder: nn.Module, layer: int) -> nn.Module:
    """The network evaluations read: ``encoder`` itself at layer 0, else a :class:`LayerReadout` of it."""
    return encoder if layer == 0 else LayerReadout(encoder, layer)
