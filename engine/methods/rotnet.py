"""RotNet (Gidaris, Singh & Komodakis 2018, "Unsupervised Representation Learning by Predicting Image Rotations")."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from engine.config import from_dict, param
from engine.data.augment import AugmentConfig
from engine.data.registry import dataset_sources
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.nets.heads import MLPHead

ANGLES = (0, 90, 180, 270)
ROTATION_SMEAR_DEGREES = 45  # an augmentation turning images this far makes the quarter turns overlap


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of every image, stacked rotation-major, and their labels 0..3."""
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return rotated, labels


@dataclass
class RotNetConfig:
    hidden_dim: int = param(256, "Hidden width of the rotation classifier head", low=8, high=4096)


@register_method
class RotNet(Method):
    """Each image is shown at 0, 90, 180 and 270 degrees (the paper finds feeding all four at once best)
    and the network classifies the rotation: a 4-way cross entropy. Recognising "which way is up"
    needs the object's shape and canonical orientation, so the data must have an upright: no random rotation in
    the augmentation, and on ``shapes`` its upright world (``dataset_defaults``; ``data_warning`` says why a run
    without one cannot learn)."""

    name = "rotnet"
    paper = "Gidaris et al. 2018, RotNet"
    Config = RotNetConfig
    augment_defaults = {"crop_scale_min": 0.5, "jitter_p": 0.0, "grayscale_p": 0.0, "rotate_degrees": 0.0}
    centred_embedder = True  # its subject, the backbone's ReLU features, lies in one orthant (see collapse.py)

    @classmethod
    def dataset_defaults(cls, dataset: str) -> dict:
        """The data's upright, where its source has the setting."""
        source = dataset_sources().get(dataset)
        has_upright_option = source is not None and "upright" in {f.name for f in fields(source.config)}
        return {"upright": True} if has_upright_option else {}

    @classmethod
    def data_warning(cls, dataset: str, dataset_options: dict, augment: AugmentConfig) -> str | None:
        """No upright in the data, or an augmentation that turns it away: the rotation label is not in the image."""
        source = dataset_sources().get(dataset)
        if source is not None and not getattr(from_dict(source.config, dataset_options), "upright", True):
            return (f"RotNet cannot learn on {dataset} without an upright (its shapes lie at random angles, so the "
                    f"rotation label is independent of the image): set dataset.upright=true")
        if augment.rotate_degrees >= ROTATION_SMEAR_DEGREES:
            return (f"RotNet cannot learn with augment.rotate_degrees={augment.rotate_degrees:g}: a random rotation "
                    f"that large hides which way is up; set it below {ROTATION_SMEAR_DEGREES}")
        return None

    def __init__(self, backbone, config: RotNetConfig, augment):
        super().__init__(backbone, config, augment)
        self.classifier = MLPHead([backbone.out_dim, config.hidden_dim, len(ANGLES)])

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        rotated, labels = rotations(self.augment(images, rng))
        h = self.backbone(rotated)
        logits = self.classifier(h)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(1) == labels).float().mean().item()
        return StepOutput(loss, h[: len(images)].detach(), {"pretext_acc": accuracy})

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Each image's four rotations with the predicted angle and its confidence."""
        x = self.augment.prepare(images)
        rotated, labels = rotations(x)
        was_training = self.training
        self.eval()
        probs = self.classifier(self.backbone(rotated)).softmax(1)
        self.train(was_training)
        tiles = self.augment.unnormalize(rotated).cpu()
        n = len(images)
        rows, captions = [], []
        for i in range(n):
            idx = [k * n + i for k in range(4)]
            rows.append([tiles[j] for j in idx])
            captions.append([f"{ANGLES[int(probs[j].argmax())]}° {probs[j].max():.0%}" for j in idx])
        return Tiles("Rotations and predicted angle (confidence)", rows, captions)
