"""Video colorization as a pretext for tracking (Vondrick, Shrivastava, Fathi, Guadarrama & Murphy 2018, "Tracking
Emerges by Colorizing Videos")."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.data.base import Dataset, ImageSet
from engine.data.color import fit_bins, nearest_bin, rgb_to_lab
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.methods.colorization import LabEncoder, check_colour_data, lab_tiles, training_colours, upsampled
from engine.nets.convnet import ConvNet
from engine.video.attention import window_attention, window_copy
from engine.video.tracking import TrackSettings

STRIDE = 4  # the embedding's cells: the convnet's third stage, after two 2x2 poolings


def dilated(c_in: int, c_out: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class PixelEmbedding(nn.Module):
    """A D-dimensional embedding per 4 x 4 cell of a one-channel image: the convnet backbone's first three stages
    (stride 4), two dilated 3x3 convolutions that widen the receptive field to about 60 px, and a linear 1x1
    projection. ``forward`` pools it over the image (what the explorer embeds)."""

    def __init__(self, backbone: ConvNet, dim: int, width: int = 64):
        super().__init__()
        self.stem = backbone.features[:5]
        channels = self.stem[-1][0].out_channels
        self.context = nn.Sequential(nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width),
                                     nn.ReLU(inplace=True), dilated(width, width, 2), dilated(width, width, 4))
        self.project = nn.Conv2d(width, dim, 1)
        self.out_dim = dim

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.context(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).float().mean(dim=(2, 3))


def untrained_copy(net: nn.Module, seed: int) -> nn.Module:
    """A copy of ``net`` with every layer re-initialised from ``seed`` (torch's global random state is put back)."""
    twin = copy.deepcopy(net)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in twin.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return twin.eval()


@dataclass
class VideoColorizationConfig:
    bins: int = param(16, "Quantised colours: k-means clusters of the training frames' ab values, the targets",
                      low=2, high=313)
    references: int = param(3, "Reference frames whose colours are copied into each target frame", low=1, high=8)
    frame_gap: int = param(2, "Frames between the sampled reference and target frames", low=1, high=16)
    window_radius: int = param(3, "Training: each target cell attends to the reference cells within this many cells "
                                  "(a (2r+1)^2 window) per reference frame", low=1, high=16)
    embedding_dim: int = param(64, "Dimensions of the per-cell embedding", low=4, high=512)
    track_radius: int = param(3, "Tracking: the attention window's radius in cells", low=1, high=32)
    track_topk: int = param(10, "Tracking: the largest attention weights kept per cell (0: all)", low=0, high=10_000)
    track_temperature: float = param(0.1, "Tracking: softmax temperature of the cosine similarities", low=0.001,
                                     high=10.0)
    track_context: int = param(3, "Tracking: previous frames whose predicted labels are copied, besides the first",
                               low=1, high=16)
    eval_clips: int = param(12, "Held-out clips tracked at each online evaluation (the final one tracks all)", low=1,
                            high=10_000)


@register_method
class VideoColorization(Method):
    """The network embeds each cell of a gray frame, f = phi(L) (stride 4); every cell j of a target frame attends
    to the cells i of the reference frames within a local window, A_ij = exp(f_i^T f_j) / sum_k exp(f_k^T f_j)
    (sec. 3, eq. 1), and its colour is predicted as the attention-weighted sum of the reference cells' colours,
    y_j = sum_i A_ij c_i (eq. 2), where c_i is the one-hot quantised ab colour (k-means of the training frames' ab
    values, sec. 3.2). The loss is the cross entropy of y_j against the target cell's true colour (eq. 3). Copying
    the colour is only possible by pointing at the same thing in the reference: tracking emerges, and at test time
    the same pointers propagate masks and keypoints (``engine.video.tracking``, sec. 4).

    The paper attends to all locations of three reference frames 256 x 256 px (a 32 x 32 grid); here the attention
    is restricted to a window (``window_radius``), which keeps its memory linear in the frame's area. Each step's
    batch is ``batch_size / (references + 1)`` clips, a reference run and a target ``frame_gap`` frames apart."""

    name = "video_colorization"
    paper = "Vondrick et al. 2018, Tracking Emerges by Colorizing Videos"
    Config = VideoColorizationConfig
    modality = "video"
    train_defaults = {"batch_size": 16, "warmup_steps": 20, "eval_every_s": 60.0}

    def __init__(self, backbone, config: VideoColorizationConfig, augment):
        super().__init__(backbone, config, augment)
        check_colour_data(augment, self.name)
        if not isinstance(backbone, ConvNet):
            raise ValueError(f"video_colorization embeds pixels with the convnet's first stages (stride {STRIDE}), "
                             f"not {type(backbone).__name__}: choose the convnet backbone")
        if augment.image_size % STRIDE:
            raise ValueError(f"the {augment.image_size} px frames do not divide into {STRIDE} x {STRIDE} cells: "
                             f"choose an image size that is a multiple of {STRIDE}")
        stem = ConvNet(1, backbone.features[0][0].out_channels)
        self.backbone = LabEncoder(augment, {"L": PixelEmbedding(stem, config.embedding_dim)})
        self.register_buffer("bins", torch.zeros(config.bins, 2))
        self.clip_length = 0  # frames per clip of the training data (attach_training_data)

    @property
    def embedding(self) -> PixelEmbedding:
        return self.backbone.nets["L"]

    @property
    def span(self) -> int:
        """Frames from the first reference to the target."""
        return self.config.references * self.config.frame_gap + 1

    @property
    def track_settings(self) -> TrackSettings:
        cfg = self.config
        return TrackSettings(cfg.track_radius, cfg.track_topk, cfg.track_temperature, cfg.track_context)

    def attach_training_data(self, dataset: Dataset, report: Callable[[str], None]) -> None:
        length = getattr(dataset, "clip_length", 0)
        if not length:
            raise ValueError(f"{self.name} trains on clips; {dataset.name} has none")
        if self.span > length:
            raise ValueError(f"{self.config.references} references {self.config.frame_gap} frames apart and the "
                             f"target span {self.span} frames, more than the clips' {length}: lower references or "
                             "frame_gap")
        self.clip_length = length

    def prepare_data(self, train: ImageSet) -> None:
        self.bins.copy_(fit_bins(training_colours(train.images, STRIDE), self.config.bins))

    def batch_indices(self, step: int, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Rows of ``len(proposed) / (references + 1)`` clips (those of the first proposed frames), each a reference
        run and its target ``frame_gap`` frames apart from a random start."""
        per_clip = self.config.references + 1
        if len(proposed) % per_clip:
            raise ValueError(f"batch_size {len(proposed)} is not a multiple of the {per_clip} frames of a sample "
                             f"({self.config.references} references and the target): choose e.g. {8 * per_clip}")
        clips = proposed[:len(proposed) // per_clip] // self.clip_length
        start = torch.randint(self.clip_length - self.span + 1, (len(clips),), generator=rng, device=rng.device).cpu()
        first = clips * self.clip_length + start
        return (first[:, None] + self.config.frame_gap * torch.arange(per_clip)).flatten()

    def lab(self, frames: torch.Tensor) -> torch.Tensor:
        return rgb_to_lab(frames.float() / 255)

    def embed(self, lab: torch.Tensor) -> torch.Tensor:
        """The embedding (B, D, S / 4, S / 4) of Lab frames' lightness."""
        return self.embedding.feature_map(lab[:, :1] / 50 - 1)

    def colour_bins(self, lab: torch.Tensor) -> torch.Tensor:
        """Each cell's quantised colour (B, S / 4, S / 4): the nearest bin of its mean ab."""
        return nearest_bin(F.avg_pool2d(lab[:, 1:], STRIDE).movedim(1, -1), self.bins)

    def colorize(self, features: torch.Tensor, bins: torch.Tensor, radius: int) -> torch.Tensor:
        """Predicted colour distributions (n, Q, h, w) of each sample's target from its references: ``features``
        (n, R + 1, D, h, w) and quantised colours ``bins`` (n, R + 1, h, w), the target last."""
        weights = window_attention(features[:, -1], features[:, :-1], radius)
        colours = F.one_hot(bins[:, :-1], self.config.bins).movedim(-1, 2).float()
        return window_copy(weights, colours, radius)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        lab = self.lab(images)
        features = self.embed(lab)
        per_clip = self.config.references + 1
        grouped = features.view(-1, per_clip, *features.shape[1:])
        bins = self.colour_bins(lab).view(-1, per_clip, *features.shape[2:])
        predicted = self.colorize(grouped, bins, self.config.window_radius)
        loss = F.nll_loss(predicted.clamp_min(1e-8).log(), bins[:, -1])
        accuracy = (predicted.argmax(1) == bins[:, -1]).float().mean().item()
        return StepOutput(loss, features.detach().float().mean(dim=(2, 3)), {"pretext_acc": accuracy})

    @torch.no_grad()
    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Embeddings (T, D, S / 4, S / 4) of uint8 frames (T, 3, S, S), in eval mode: what tracking propagates
        through."""
        was_training = self.training
        self.eval()
        try:
            return self.embed(self.lab(frames)).float()
        finally:
            self.train(was_training)

    def untrained_features(self, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The features of this embedding network freshly initialised from ``seed``: the random-network baseline."""
        net = untrained_copy(self.embedding, seed)

        @torch.no_grad()
        def features(frames: torch.Tensor) -> torch.Tensor:
            return net.feature_map(self.lab(frames)[:, :1] / 50 - 1).float()

        return features

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Per sample (``images``: samples of references + 1 frames, the target last): the last reference frame in
        colour, the gray target the network sees, the colours its attention copies from the references, the truth."""
        was_training = self.training
        self.eval()
        try:
            per_clip = self.config.references + 1
            lab = self.lab(images)
            features = self.embed(lab).float()
            grouped = features.view(-1, per_clip, *features.shape[1:])
            bins = self.colour_bins(lab).view(-1, per_clip, *features.shape[2:])
            predicted = self.colorize(grouped, bins, self.config.window_radius)
        finally:
            self.train(was_training)
        accuracy = (predicted.argmax(1) == bins[:, -1]).float().mean(dim=(1, 2))
        ab = torch.einsum("nqhw,qc->nchw", predicted, self.bins)
        lab = lab.view(-1, per_clip, *lab.shape[1:])
        target = lab[:, -1]
        reference, gray = lab_tiles(lab[:, -2, :1], lab[:, -2, 1:]), lab_tiles(target[:, :1])
        colour = lab_tiles(target[:, :1], upsampled(ab, target.shape[-1]))
        truth = lab_tiles(target[:, :1], target[:, 1:])
        rows = [[reference[i], gray[i], colour[i], truth[i]] for i in range(len(target))]
        captions = [["reference", "gray target", f"copied colour: {accuracy[i]:.0%} bins right", "truth"]
                    for i in range(len(target))]
        return Tiles("Reference frame, gray target, colour copied through attention, truth", rows, captions)
