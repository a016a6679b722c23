"""Split-brain autoencoder (Zhang, Isola & Efros 2017, "Split-Brain Autoencoders: Unsupervised Learning by
Cross-Channel Prediction")."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.data.base import ImageSet
from engine.data.color import fit_bins
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.methods.colorization import (
    COLOUR_TARGET_AUGMENT,
    ColourHead,
    LabEncoder,
    check_colour_data,
    check_stride,
    feature_channels,
    lab_of,
    lab_tiles,
    predict,
    run_eval,
    training_colours,
)
from engine.nets.convnet import ConvNet

CHANNELS = {"L": slice(0, 1), "ab": slice(1, 3)}
HALVES = (("L", "ab"), ("ab", "L"))  # (input, prediction) of F1 and F2
AB_SHOWN_AT = 50.0  # the lightness at which the ab input is shown


@dataclass
class SplitBrainConfig:
    ab_bins: int = param(32, "Quantised ab colours the L -> ab half predicts per pixel: k-means centres of the "
                             "training images' colours", low=2, high=313)
    l_bins: int = param(50, "Equal-width bins of the lightness L in [0, 100] the ab -> L half predicts per pixel",
                        low=2, high=100)
    target_stride: int = param(4, "Both halves predict on a grid of 1/stride of the image resolution", low=1, high=8)
    temperature: float = param(0.38, "Annealed-mean temperature T turning predicted distributions into the values "
                                     "shown (1: the mean, towards 0: the mode)", low=0.01, high=1.0)
    head_width: int = param(64, "Channels of each half's upsampling head", low=8, high=1024)


@register_method
class SplitBrain(Method):
    """The network is split into two disjoint halves of half the width (sec. 3.2): F1 sees the lightness L and
    classifies each location's quantised ab colour, F2 sees ab and classifies its quantised L, each with a cross
    entropy, the two losses summed (the paper's best "cl, cl" variant). Neither half sees what it predicts; the
    representation is both halves' features concatenated, computed on the Lab of the image (``LabEncoder``).

    The halves are the convnet at half width (ConvNet(1, w/2) and ConvNet(2, w/2)), so together they are as wide as
    the full convnet; the other backbones are refused. The colour head and its bins are colorization's."""

    name = "split_brain"
    paper = "Zhang et al. 2017, Split-Brain Autoencoders"
    Config = SplitBrainConfig
    augment_defaults = COLOUR_TARGET_AUGMENT
    centred_embedder = True  # its subject, the halves' ReLU features, lies in one orthant (see collapse.py)

    def __init__(self, backbone, config: SplitBrainConfig, augment):
        super().__init__(backbone, config, augment)
        check_colour_data(augment, self.name)
        check_stride(augment, config.target_stride)
        if not isinstance(backbone, ConvNet):
            raise ValueError(f"split_brain splits the convnet into two half-width convnets; {type(backbone).__name__} "
                             "has no half-width form: choose the convnet or convnet-grid backbone")
        width = backbone.out_dim // (8 * backbone.grid**2)
        self.backbone = LabEncoder(augment, {"L": ConvNet(1, width // 2, backbone.grid),
                                             "ab": ConvNet(2, width // 2, backbone.grid)})
        channels = feature_channels(self.backbone.nets["L"], 1, augment.crop_size)
        head = lambda bins, dim: ColourHead(channels, bins, dim, config.head_width, config.target_stride)  # noqa: E731
        self.heads = nn.ModuleDict({"ab": head(config.ab_bins, 2), "L": head(config.l_bins, 1)})
        self.heads["L"].bins.copy_(((torch.arange(config.l_bins) + 0.5) * (100 / config.l_bins))[:, None])

    def prepare_data(self, train: ImageSet) -> None:
        ab = training_colours(train.images, self.config.target_stride)
        self.heads["ab"].bins.copy_(fit_bins(ab, self.config.ab_bins))

    def _predict(self, lab: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per predicted channel group ("ab", "L"): the logits and the global features of the half predicting it."""
        return {target: predict(self.backbone, source, self.heads[target], lab) for source, target in HALVES}

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        lab = lab_of(self.augment, self.augment(images, rng))
        predictions = self._predict(lab)
        losses, logs = [], {}
        for target, (logits, _) in predictions.items():
            loss, hits = self.heads[target].loss(logits, lab[:, CHANNELS[target]])
            losses.append(loss)
            logs[f"{target}_acc"], logs[f"{target}_loss"] = hits.float().mean().item(), loss.item()
        logs["pretext_acc"] = (logs["ab_acc"] + logs["L_acc"]) / 2
        features = torch.cat([features for _, features in predictions.values()], dim=1)  # LabEncoder's order
        return StepOutput(sum(losses), features.detach(), logs)

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Each image's L (F1's input), the colours F1 predicts for it, its ab shown at a fixed lightness (F2's
        input), the lightness F2 predicts from it, each with the fraction of locations whose bin is right, and the
        true image."""
        lab = lab_of(self.augment, self.augment.prepare(images))
        predictions = run_eval(self, self._predict, lab)
        decoded, accuracy = {}, {}
        for target, (logits, _) in predictions.items():
            head = self.heads[target]
            decoded[target] = head.decode(logits, lab.shape[-1], self.config.temperature)
            accuracy[target] = (logits.argmax(1) == head.targets(lab[:, CHANNELS[target]])).float().mean(dim=(1, 2))
        lightness, ab = lab[:, :1], lab[:, 1:]
        tiles = [lab_tiles(lightness), lab_tiles(lightness, decoded["ab"]),
                 lab_tiles(torch.full_like(lightness, AB_SHOWN_AT), ab), lab_tiles(decoded["L"]),
                 lab_tiles(lightness, ab)]
        rows = [[t[i] for t in tiles] for i in range(len(images))]
        captions = [["L in", f"ab from L: {accuracy['ab'][i]:.0%} right", "ab in",
                     f"L from ab: {accuracy['L'][i]:.0%} right", "truth"] for i in range(len(images))]
        return Tiles("L in, predicted ab; ab in, predicted L; truth", rows, captions)
