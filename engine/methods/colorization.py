"""Colorization (Zhang, Isola & Efros 2016, "Colorful Image Colorization"), and the cross-channel pieces that
split-brain shares: the Lab encoder, the per-pixel colour head and the training images' colour bins."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.data.augment import Augment
from engine.data.base import ImageSet
from engine.data.color import annealed_mean, fit_bins, lab_to_rgb, nearest_bin, rgb_to_lab
from engine.losses import rebalanced_cross_entropy, rebalancing_weights
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.nets.convnet import conv_bn_relu

# The colour is the target: colour jitter would recolour the image the target is read from (the same gray input
# with a random hue each time) and random grayscale would teach that a fifth of the scenes have no colour at all.
# Crops keep at least half the image, about the area of the paper's 176 px crops of 256 px images.
COLOUR_TARGET_AUGMENT = {"jitter_p": 0.0, "grayscale_p": 0.0, "crop_scale_min": 0.5}
BIN_SAMPLE_IMAGES = 2000  # training images whose colours the bins are fitted to
BIN_SAMPLE_VALUES = 20000  # of their (pooled) pixels, the k-means sample


def network_inputs(lab: torch.Tensor) -> dict[str, torch.Tensor]:
    """The Lab channel groups scaled to about [-1, 1]: L in [0, 100] and ab in about [-110, 110]."""
    return {"L": lab[:, :1] / 50 - 1, "ab": lab[:, 1:] / 100}


def lab_of(augment: Augment, x: torch.Tensor) -> torch.Tensor:
    """Lab (B, 3, H, W) of normalised RGB images as ``augment`` and ``augment.prepare`` give them."""
    return rgb_to_lab((x.float() * augment.std.to(x.device) + augment.mean.to(x.device)).clamp(0, 1))


def check_colour_data(augment: Augment, method: str) -> None:
    if augment.mean.shape[1] != 3:
        raise ValueError(f"{method} needs colour images; this dataset is grayscale ({augment.mean.shape[1]} channel)")


def check_stride(augment: Augment, stride: int) -> None:
    for size in {augment.image_size, augment.crop_size}:
        if size % stride:
            raise ValueError(f"target_stride {stride} does not divide the {size} px images: choose a divisor of {size}")


@torch.no_grad()
def feature_channels(net: nn.Module, in_channels: int, size: int) -> int:
    """Channels of ``net.feature_map`` on (1, in_channels, size, size) inputs (read in eval mode: BatchNorm
    statistics stay untouched)."""
    was_training = net.training
    channels = net.eval().feature_map(torch.zeros(1, in_channels, size, size)).shape[1]
    net.train(was_training)
    return channels


def pooled_features(net: nn.Module, fmap: torch.Tensor) -> torch.Tensor:
    """The backbone's global features from its feature map, as its forward pools them (a ``grid`` x ``grid`` average:
    ConvNet's grid, 1 for ResNet-18), without a second pass."""
    return F.adaptive_avg_pool2d(fmap.float(), getattr(net, "grid", 1)).flatten(1)


def lab_tiles(lightness: torch.Tensor, ab: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 RGB tiles (B, 3, H, W) on the CPU of L (B, 1, H, W) with colours ab (B, 2, H, W) (None: gray)."""
    ab = torch.zeros_like(lightness).expand(-1, 2, -1, -1) if ab is None else ab
    return (lab_to_rgb(torch.cat([lightness, ab], dim=1)) * 255).round().to(torch.uint8).cpu()


def upsampled(values: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(values, size=(size, size), mode="bilinear", align_corners=False)


class LabEncoder(nn.Module):
    """The evaluated encoder of a cross-channel method: normalised RGB images, as ``augment.prepare`` and the
    augmentations give them, are converted to Lab, each network sees its channel group ("L" or "ab"), and their
    features (or feature maps) are concatenated."""

    def __init__(self, augment: Augment, nets: dict[str, nn.Module]):
        super().__init__()
        self.augment = augment
        self.nets = nn.ModuleDict(nets)
        self.out_dim = sum(net.out_dim for net in nets.values())

    def _each(self, x: torch.Tensor, output: str) -> torch.Tensor:
        inputs = network_inputs(lab_of(self.augment, x))
        return torch.cat([getattr(net, output)(inputs[name]) for name, net in self.nets.items()], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._each(x, "forward")

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self._each(x, "feature_map")


class ColourHead(nn.Module):
    """Per-location classification over Q quantised colour values (the ``bins`` buffer, (Q, D)): the encoder's
    feature map reduced by a 1x1 conv, bilinearly upsampled to 1/``stride`` of the image size, a 3x3 conv, then Q
    logits per location from a 1x1 conv, as Zhang et al. read 313 ab bins out of their upsampled conv8 at 1/4 of
    the input resolution. Its targets are the nearest bins of the true values averaged over stride x stride
    blocks; the loss weighs each by its bin's ``weights`` (rebalancing; 1: plain cross entropy). Bins and weights
    are buffers, so checkpoints keep them."""

    def __init__(self, in_channels: int, bins: int, dim: int, width: int, stride: int):
        super().__init__()
        self.stride = stride
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width),
                                    nn.ReLU(inplace=True))
        self.refine = conv_bn_relu(width, width)
        self.classify = nn.Conv2d(width, bins, 1)
        self.register_buffer("bins", torch.zeros(bins, dim))
        self.register_buffer("weights", torch.ones(bins))

    def forward(self, fmap: torch.Tensor, image_size: int) -> torch.Tensor:
        """Logits (B, Q, S / stride, S / stride) for the feature map of S x S inputs."""
        return self.classify(self.refine(upsampled(self.reduce(fmap), image_size // self.stride)))

    def targets(self, values: torch.Tensor) -> torch.Tensor:
        """Target bins (B, S / stride, S / stride) of true values (B, D, S, S)."""
        return nearest_bin(F.avg_pool2d(values.float(), self.stride).movedim(1, -1), self.bins)

    def loss(self, logits: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (rebalanced) cross entropy against the true values and the per-location hits (B, h, w)."""
        labels = self.targets(values)
        return rebalanced_cross_entropy(logits, labels, self.weights), logits.argmax(1) == labels

    def decode(self, logits: torch.Tensor, image_size: int, temperature: float) -> torch.Tensor:
        """Values (B, D, S, S): the annealed mean of each location's distribution, upsampled to the image."""
        return upsampled(annealed_mean(logits, self.bins, temperature), image_size)


@torch.no_grad()
def training_colours(images: torch.Tensor, stride: int, seed: int = 0) -> torch.Tensor:
    """A sample (N, 2) of the ab values, averaged over stride x stride blocks as the targets are, of up to
    BIN_SAMPLE_IMAGES uint8 RGB images."""
    g = torch.Generator().manual_seed(seed)
    picked = images[torch.randperm(len(images), generator=g)[:BIN_SAMPLE_IMAGES]]
    ab = torch.cat([F.avg_pool2d(rgb_to_lab(chunk.float() / 255)[:, 1:], stride).movedim(1, -1).reshape(-1, 2)
                    for chunk in picked.split(256)])
    return ab[torch.randperm(len(ab), generator=g)[:BIN_SAMPLE_VALUES]]


def predict(encoder: LabEncoder, source: str, head: ColourHead, lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of ``head`` on the feature map of the encoder's ``source`` network ("L" or "ab") for Lab images,
    and that network's global features."""
    net = encoder.nets[source]
    fmap = net.feature_map(network_inputs(lab)[source])
    return head(fmap, lab.shape[-1]), pooled_features(net, fmap)


def run_eval(method: nn.Module, fn, *args):
    """``fn(*args)`` with ``method`` in eval mode (restored afterwards)."""
    was_training = method.training
    method.eval()
    try:
        return fn(*args)
    finally:
        method.train(was_training)


def with_input_channels(net: nn.Module, channels: int) -> nn.Module:
    """``net`` with its first convolution rebuilt (freshly initialised) for ``channels`` input channels."""
    name, conv = next((n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
    parent, _, attr = name.rpartition(".")
    setattr(net.get_submodule(parent), attr, nn.Conv2d(channels, conv.out_channels, conv.kernel_size, conv.stride,
                                                       conv.padding, bias=conv.bias is not None))
    return net


@dataclass
class ColorizationConfig:
    bins: int = param(32, "Q, the quantised ab colours predicted per pixel: k-means centres of the training images' "
                          "colours", low=2, high=313)
    target_stride: int = param(4, "Colours are predicted on a grid of 1/stride of the image resolution (the paper's "
                                  "network predicts at 1/4)", low=1, high=8)
    rebalance_lambda: float = param(0.5, "Class rebalancing: the colour distribution is mixed with uniform by lambda "
                                         "before its inverse weighs each pixel (1: no rebalancing)", low=0.0, high=1.0)
    smoothing_sigma: float = param(5.0, "Width in ab units of the Gaussian smoothing the colour distribution before "
                                        "rebalancing", low=0.1, high=100.0)
    temperature: float = param(0.38, "Annealed-mean temperature T turning predicted distributions into the colours "
                                     "shown (1: the mean, towards 0: the mode)", low=0.01, high=1.0)
    head_width: int = param(64, "Channels of the upsampling colour head", low=8, high=1024)


@register_method
class Colorization(Method):
    """The network sees the lightness L of an image and predicts, per location, a distribution over Q quantised ab
    colours (sec. 2.1): a multinomial cross entropy in which each pixel weighs by the rarity of its colour (eqs.
    2-4), so that the desaturated colours that dominate the data do not wash out the predictions. Shown colours
    are the annealed mean of the predictions (eq. 5). Bins (k-means of the training images' ab values, where the
    paper uses a 10-unit grid of the gamut) and weights are fitted once in ``prepare_data``.

    The backbone is rebuilt with a single input channel for L, so it never sees the colours it predicts; its
    encoder (``LabEncoder``) takes the normalised RGB images every evaluation uses and converts them to L first.
    Targets are one-hot nearest bins, not the paper's soft encoding over 5 neighbours."""

    name = "colorization"
    paper = "Zhang et al. 2016, Colorful Image Colorization"
    Config = ColorizationConfig
    augment_defaults = COLOUR_TARGET_AUGMENT
    centred_embedder = True  # its subject, the backbone's ReLU features, lies in one orthant (see collapse.py)

    def __init__(self, backbone, config: ColorizationConfig, augment):
        super().__init__(backbone, config, augment)
        check_colour_data(augment, self.name)
        check_stride(augment, config.target_stride)
        if not hasattr(backbone, "feature_map"):
            raise ValueError(f"colorization predicts colours from a spatial feature map, which "
                             f"{type(backbone).__name__} does not give: choose the convnet, convnet-grid or resnet18 "
                             "backbone")
        net = with_input_channels(backbone, 1)
        self.backbone = LabEncoder(augment, {"L": net})
        self.head = ColourHead(feature_channels(net, 1, augment.crop_size), config.bins, 2, config.head_width,
                               config.target_stride)

    def prepare_data(self, train: ImageSet) -> None:
        cfg = self.config
        ab = training_colours(train.images, cfg.target_stride)
        bins = fit_bins(ab, cfg.bins)
        p = torch.bincount(nearest_bin(ab, bins), minlength=cfg.bins).float() / len(ab)
        self.head.bins.copy_(bins)
        self.head.weights.copy_(rebalancing_weights(p, bins, cfg.smoothing_sigma, cfg.rebalance_lambda))

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        lab = lab_of(self.augment, self.augment(images, rng))
        logits, features = predict(self.backbone, "L", self.head, lab)
        loss, hits = self.head.loss(logits, lab[:, 1:])
        return StepOutput(loss, features.detach(), {"pretext_acc": hits.float().mean().item()})

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Each image's lightness (the input), the colours predicted from it (annealed mean) with the fraction of
        locations whose bin is right, and the true image."""
        lab = lab_of(self.augment, self.augment.prepare(images))
        logits, _ = run_eval(self, predict, self.backbone, "L", self.head, lab)
        accuracy = (logits.argmax(1) == self.head.targets(lab[:, 1:])).float().mean(dim=(1, 2))
        lightness, predicted = lab[:, :1], self.head.decode(logits, lab.shape[-1], self.config.temperature)
        gray, colour, truth = lab_tiles(lightness), lab_tiles(lightness, predicted), lab_tiles(lightness, lab[:, 1:])
        rows = [[gray[i], colour[i], truth[i]] for i in range(len(images))]
        captions = [["L input", f"predicted: {accuracy[i]:.0%} bins right", "truth"] for i in range(len(images))]
        return Tiles("Lightness in, predicted colour (annealed mean), truth", rows, captions)
