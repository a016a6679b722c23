"""Contrastive Predictive Coding on images (van den Oord, Li & Vinyals 2018, "Representation Learning with
Contrastive Predictive Coding", sec. 3.3; Hénaff et al. 2019, "Data-Efficient Image Recognition with Contrastive
Predictive Coding", for the patch encoder without batch normalisation)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.losses import cpc_infonce
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.methods.reconstruction import eval_mode

PREVIEW_SCALE = 4  # preview tiles are enlarged this many times so that the grid lines are visible
CONTEXT_TINT, PREDICTED_TINT, GRID_COLOUR = (60, 120, 255), (255, 150, 30), (255, 255, 255)


@dataclass
class CPCConfig:
    patch_size: int = param(8, "Side of each patch in pixels, cut from the augmented view", low=2, high=256)
    patch_stride: int = param(4, "Pixels from one patch to the next (half the patch: the paper's 50 % overlap); "
                                 "the grid has (view - patch) / stride + 1 patches per side", low=1, high=256)
    predict_rows: int = param(2, "K: the context of a row predicts the patches 1..K rows below it, each offset k "
                                 "with its own linear predictor W_k", low=1, high=32)
    context_dim: int = param(256, "Channels of the autoregressive context network", low=8, high=4096)
    context_layers: int = param(3, "Masked convolutions in the context network; each sees its own row and the two "
                                   "above, so the context of row i sees rows i - 2 x layers .. i", low=1, high=16)
    negatives: int = param(512, "Negatives per prediction: patches drawn from the whole batch (other places, other "
                                 "images), shared by a step's predictions (0: every patch in the batch)",
                           low=0, high=10_000_000)


def grid_margin(size: int, patch: int, stride: int) -> int:
    """Pixels left out above and left of a grid of ``patch`` px patches every ``stride`` px, centred in ``size``."""
    return ((size - patch) % stride) // 2


def grid_side(size: int, patch: int, stride: int) -> int:
    """Patches per side of the grid in a ``size`` px image."""
    return (size - patch) // stride + 1


def patch_grid(x: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """(B, G, G, C, patch, patch): the grid of overlapping patches of images x (B, C, S, S), by (row, column),
    centred when the patches do not tile the image exactly."""
    m = grid_margin(x.shape[-1], patch, stride)
    x = x[..., m:, m:]
    return x.unfold(2, patch, stride).unfold(3, patch, stride).permute(0, 2, 3, 1, 4, 5)


def without_batchnorm(net: nn.Module) -> nn.Module:
    """``net`` with every BatchNorm2d replaced by a GroupNorm over the same channels (8 groups where they divide
    them): batch statistics would let a patch's embedding see the other patches, the ones it is asked to predict,
    and so solve the task (Hénaff et al. 2019, sec. 3)."""
    for name, module in net.named_children():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            setattr(net, name, nn.GroupNorm(math.gcd(8, channels), channels))
        else:
            without_batchnorm(module)
    return net


class PatchMean(nn.Module):
    """The patch encoder on whole images: every patch of the grid encoded, the embeddings averaged (the encoder
    kNN and the probes evaluate); ``feature_map`` is the grid of embeddings, for the attention view."""

    def __init__(self, net: nn.Module, patch: int, stride: int):
        super().__init__()
        self.net, self.patch, self.stride = net, patch, stride
        self.out_dim = net.out_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, G, G, D) embeddings z of the grid's patches."""
        patches = patch_grid(x, self.patch, self.stride)
        b, rows, cols = patches.shape[:3]
        flat = patches.reshape(b * rows * cols, *patches.shape[3:]).contiguous(memory_format=torch.channels_last)
        return self.net(flat).view(b, rows, cols, -1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x).mean(dim=(1, 2))


class RowCausalConv(nn.Conv2d):
    """A 3x3 convolution whose output at row i sees input rows i-2..i only: padded above, never below."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (1, 1, 2, 0)))


class ContextNetwork(nn.Module):
    """g_ar over the grid, top to bottom (a PixelCNN-style masked convolution stack, as the paper's): a 1x1
    projection, then residual ReLU row-causal convolutions, so that c_{i,j} depends on z at rows <= i only."""

    def __init__(self, in_dim: int, dim: int, layers: int):
        super().__init__()
        self.project = nn.Conv2d(in_dim, dim, 1)
        self.layers = nn.ModuleList(RowCausalConv(dim) for _ in range(layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Contexts (B, G, G, dim) for patch embeddings z (B, G, G, D)."""
        c = self.project(z.permute(0, 3, 1, 2))
        for conv in self.layers:
            c = c + conv(F.relu(c))
        return c.permute(0, 2, 3, 1)


def tint(tile: torch.Tensor, top: int, bottom: int, colour: tuple[int, int, int], alpha: float = 0.35) -> None:
    """Blend rows top..bottom-1 of a uint8 RGB (3, H, W) tile towards ``colour``, in place."""
    rgb = torch.tensor(colour, dtype=torch.float32).view(3, 1, 1)
    band = tile[:, top:bottom].float()
    tile[:, top:bottom] = ((1 - alpha) * band + alpha * rgb).round().to(torch.uint8)


def draw_grid(tile: torch.Tensor, lines: list[int]) -> None:
    """Blend the rows and columns ``lines`` of a uint8 RGB (3, H, W) tile a third of the way to the grid colour, in
    place."""
    colour = torch.tensor(GRID_COLOUR, dtype=torch.float32).view(3, 1)
    for at in lines:
        tile[:, at, :] = (tile[:, at, :].float() * 2 / 3 + colour / 3).round().to(torch.uint8)
        tile[:, :, at] = (tile[:, :, at].float() * 2 / 3 + colour / 3).round().to(torch.uint8)


@register_method
class CPC(Method):
    """The augmented view is cut into a grid of overlapping patches; the backbone, with group instead of batch
    normalisation, encodes each patch alone to z_{i,j}; a masked convolutional network summarises the rows above and
    including row i into contexts c_{i,j}; and for each offset k = 1..K a linear map W_k predicts z_{i+k,j} from
    c_{i,j}, scored against negatives (other patches of this and other images) by the InfoNCE loss on the
    log-bilinear score z^T W_k c (eqs. 3-4, ``engine.losses.cpc``). The evaluated encoder is the patch encoder's
    mean over the grid of a whole image."""

    name = "cpc"
    paper = "van den Oord et al. 2018, Contrastive Predictive Coding"
    Config = CPCConfig
    # the paper's image version crops and flips only; colour jitter would not stop neighbouring patches from being
    # matched by their shared colour (each image is jittered as a whole), and it keeps the dataset's own rotation
    augment_defaults = {"crop_scale_min": 0.5, "jitter_p": 0.0, "grayscale_p": 0.0}
    centred_embedder = True  # its subject, the mean of the backbone's ReLU features, lies in one orthant (collapse.py)

    def __init__(self, backbone, config: CPCConfig, augment):
        super().__init__(without_batchnorm(backbone), config, augment)
        size, patch, stride, k = augment.crop_size, config.patch_size, config.patch_stride, config.predict_rows
        if patch > size:
            raise ValueError(f"patch_size {patch} is larger than the {size} px training views: choose at most {size}")
        if (size - patch) % stride:
            fitting = [s for s in range(1, patch + 1) if (size - patch) % s == 0]
            raise ValueError(f"{patch} px patches every {stride} px do not tile the {size} px training views: choose "
                             f"a patch_stride that divides {size - patch} (e.g. {', '.join(map(str, fitting))})")
        rows = grid_side(size, patch, stride)
        if rows < k + 1:
            fix = f"predict_rows to {rows - 1} or " if rows > 1 else ""
            raise ValueError(f"predict_rows {k} needs at least {k + 1} rows of patches, but {patch} px patches every "
                             f"{stride} px give {rows} in the {size} px views: lower {fix}the patch_size or "
                             "patch_stride")
        self.check_patches_fit_backbone(augment.mean.shape[1])
        self.context = ContextNetwork(backbone.out_dim, config.context_dim, config.context_layers)
        self.predictors = nn.ModuleList(nn.Linear(config.context_dim, backbone.out_dim, bias=False)
                                        for _ in range(k))

    def check_patches_fit_backbone(self, channels: int) -> None:
        size = self.config.patch_size
        try:
            with torch.no_grad(), eval_mode(self.backbone):
                self.backbone(torch.zeros(1, channels, size, size))
        except RuntimeError:
            raise ValueError(f"the {type(self.backbone).__name__} backbone cannot encode {size} px patches: raise "
                             "patch_size (8 px or more for the convnets) or choose the convnet backbone") from None

    @property
    def encoder(self) -> nn.Module:
        return PatchMean(self.backbone, self.config.patch_size, self.config.patch_stride)

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Patch embeddings z (B, G, G, D) of normalised images and the predictions W_k c of rows k below, k=1..K."""
        z = self.encoder.embed(x)
        c = self.context(z)
        rows = z.shape[1]
        return z, [w(c[:, :rows - k]) for k, w in enumerate(self.predictors, start=1)]

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        z, predictions = self.predict(self.augment(images, rng))
        patches = z.shape[0] * z.shape[1] * z.shape[2]
        candidates = None
        if 0 < self.config.negatives < patches:
            candidates = torch.randperm(patches, generator=rng, device=z.device)[:self.config.negatives]
        loss, hits = cpc_infonce(predictions, z, candidates)
        accuracy = {f"acc_k{k}": h.float().mean().item() for k, h in enumerate(hits, start=1)}
        logs = {"pretext_acc": sum(accuracy.values()) / len(accuracy), **accuracy}
        return StepOutput(loss, z.mean(dim=(1, 2)).detach(), logs)

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Each image with its patch grid, captioned with the per-offset accuracy of its predictions (among all these
        images' patches), and with the rows one context sees (blue, rows 0..i) and the rows it predicts (orange,
        i+1..i+K) tinted."""
        x = self.augment.prepare(images)
        with eval_mode(self):
            z, predictions = self.predict(x)
        _, hits = cpc_infonce(predictions, z)
        cfg, k = self.config, self.config.predict_rows
        shown = self.augment.unnormalize(x).cpu()
        shown = shown.expand(-1, 3, -1, -1) if shown.shape[1] == 1 else shown
        shown = shown.repeat_interleave(PREVIEW_SCALE, -2).repeat_interleave(PREVIEW_SCALE, -1)
        size, rows = x.shape[-1], z.shape[1]
        m, s, p = grid_margin(size, cfg.patch_size, cfg.patch_stride), cfg.patch_stride, cfg.patch_size
        edges = [m + r * s for r in range(rows)] + [m + (rows - 1) * s + p - 1]
        lines = [PREVIEW_SCALE * e + (PREVIEW_SCALE - 1 if e == edges[-1] else 0) for e in edges]
        last = (rows - 1 - k) // 2  # the context row shown: its K predicted rows lie in the grid, with rows below
        batch = " ".join(f"k{i} {h.float().mean():.0%}" for i, h in enumerate(hits, start=1))
        out_rows, captions = [], []
        for b in range(len(images)):
            grid = shown[b].clone()
            draw_grid(grid, lines)
            tinted = grid.clone()
            tint(tinted, PREVIEW_SCALE * m, PREVIEW_SCALE * (m + last * s + p), CONTEXT_TINT)
            tint(tinted, PREVIEW_SCALE * (m + (last + 1) * s), PREVIEW_SCALE * (m + (last + k) * s + p), PREDICTED_TINT)
            accuracy = " ".join(f"k{i} {h[b].float().mean():.0%}" for i, h in enumerate(hits, start=1))
            out_rows.append([grid, tinted])
            captions.append([f"{rows}x{rows} patches: {accuracy}", f"rows 0-{last} predict {last + 1}-{last + k}"])
        return Tiles(f"CPC: the context of the blue rows predicts the orange rows, k rows below (accuracy among "
                     f"these images' patches: {batch})", out_rows, captions)
