"""What the reconstruction pretext tasks share: random subsets of pixels or patches, a convnet autoencoder whose
corruption and loss a method chooses (context encoder, denoising autoencoder), and the preview of the corrupted
input beside its reconstruction and the original."""
from __future__ import annotations

from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import nn

from engine.config import param
from engine.losses import masked_l2
from engine.methods.base import Method, StepOutput, Tiles
from engine.nets.decoder import ConvDecoder, pooled_features


def decoder_width_param() -> int:
    return param(64, "Channels of the decoder's first stage, halved at each of its three upsamplings", low=8, high=1024)


def random_indices(n: int, length: int, k: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, k): per row, k distinct indices of ``length`` drawn uniformly, the first k of the argsort of uniform
    noise (MAE's ``random_masking``)."""
    return torch.rand(n, length, generator=rng, device=device).argsort(dim=1)[:, :k]


@contextmanager
def eval_mode(module: nn.Module):
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def reconstruction_preview(title: str, inputs: torch.Tensor, reconstructions: torch.Tensor, originals: torch.Tensor,
                           errors: list[float], input_name: str) -> Tiles:
    """One row per image of uint8 tiles: the input the network sees, its reconstruction (captioned with the
    image's loss) and the original."""
    rows = [[a, b, c] for a, b, c in zip(inputs, reconstructions, originals)]
    return Tiles(title, rows, [[input_name, f"reconstruction, loss {e:.2f}", "original"] for e in errors])


class ConvAutoencoder(Method):
    """A corrupted view passes through the backbone's feature map and a light ConvDecoder back to pixels; the loss
    is the masked L2 between the reconstruction and the clean view over the region ``loss_weight`` marks. A
    subclass chooses the corruption (``corrupt``), the region, and may add terms (``total_loss``)."""

    centred_embedder = True  # its subject, the backbone's ReLU features, lies in one orthant (see collapse.py)
    paste_fill: ClassVar[bool] = False  # the preview pastes the reconstruction of the hole into the context
    input_name: ClassVar[str] = "input"
    preview_title: ClassVar[str] = "Input, reconstruction, original"

    def __init__(self, backbone, config, augment):
        super().__init__(backbone, config, augment)
        self.decoder = ConvDecoder.for_backbone(backbone, augment.mean.shape[1], config.decoder_width, self.name)

    def corrupt(self, x: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(the corrupted input, a (B, 1, H, W) map of 1 where the corruption destroyed the image)."""
        raise NotImplementedError

    def loss_weight(self, hole: torch.Tensor) -> torch.Tensor:
        """Weight of each pixel's squared error (0: not part of the loss); by default the whole image."""
        return torch.ones_like(hole)

    def total_loss(self, recon_l2: torch.Tensor, reconstruction: torch.Tensor, x: torch.Tensor,
                   hole: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return recon_l2, {}

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the decoded image, the backbone's pooled features of x) from one encoder pass."""
        feature_map = self.backbone.feature_map(x)
        return self.decoder(feature_map, x.shape[-2:]), pooled_features(self.backbone, feature_map)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        x = self.augment(images, rng)
        corrupted, hole = self.corrupt(x, rng)
        reconstruction, features = self.reconstruct(corrupted)
        recon_l2 = masked_l2(reconstruction, x, self.loss_weight(hole))
        loss, logs = self.total_loss(recon_l2, reconstruction, x, hole)
        return StepOutput(loss, features.detach(), {"recon_l2": recon_l2.item(), **logs})

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        x = self.augment.prepare(images)
        corrupted, hole = self.corrupt(x, rng)
        with eval_mode(self):
            reconstruction, _ = self.reconstruct(corrupted)
        weight = self.loss_weight(hole)
        errors = [masked_l2(reconstruction[i:i + 1], x[i:i + 1], weight[i:i + 1]).item() for i in range(len(x))]
        if self.paste_fill:
            reconstruction = x + hole * (reconstruction - x)
        tiles = [self.augment.unnormalize(t).cpu() for t in (corrupted, reconstruction, x)]
        return reconstruction_preview(self.preview_title, *tiles, errors, self.input_name)
