"""Exemplar-CNN (Dosovitskiy, Springenberg, Riedmiller & Brox 2014, "Discriminative Unsupervised Feature Learning
with Convolutional Neural Networks"; the TPAMI version: "Discriminative unsupervised feature learning with exemplar
convolutional neural networks")."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.data.base import ImageSet
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.methods.reconstruction import eval_mode

PREVIEW_VIEWS = 3  # augmented views shown beside each seed image


@dataclass
class ExemplarConfig:
    seed_images: int = param(2000, "N, the training images that each become a surrogate class (drawn by the run's "
                                   "seed); the classifier has one output per seed image, so the method does not "
                                   "scale past a few thousand of them, where SimCLR contrasts each image with the "
                                   "rest of its batch instead", low=2, high=32000)


@register_method
class Exemplar(Method):
    """N seed images, each its own surrogate class: every training view is a seed image under heavy augmentation
    (the paper's translation, scaling, contrast and colour transformations; rotation as the data calls for) and a
    linear classifier over the backbone names which seed it came from, a cross entropy over N classes (sec. 2).

    It is instance discrimination's ancestor: SimCLR asks the same question, "which image is this a view of?", but
    answers it without parameters by contrasting each view with the other images of its batch, so it scales to any
    number of images; Exemplar-CNN keeps one weight vector per image, which grows with N and sees each class only
    every N / batch steps, and in the paper's experiments its features stop improving past some thousands of classes
    (seeds then start to look alike, and the classifier must tell them apart anyway).

    Batches are drawn from the seed images only: ``prepare_data`` keeps their rows in the training set (and their
    pixels, for the preview) in buffers, so a resumed run draws the same ones; ``batch_indices`` samples each step's
    seeds from (its selection seed, step) and keeps their surrogate labels for ``training_step``."""

    name = "exemplar"
    paper = "Dosovitskiy et al. 2014, Exemplar-CNN"
    Config = ExemplarConfig
    # The paper's transformations (sec. 2): translation and scaling by 0.7-1.4 (crops of half the area or more),
    # contrast, brightness and saturation on every view, no grayscale. Its rotation within 20 degrees and hue shift
    # within 0.1 are left to the dataset (AugmentConfig's are 0 and 0.1): setting them would narrow the invariances a
    # world like shapes calls for, with no upright and colour as a nuisance (shapes, 2000 seeds, 300 steps of 256:
    # kNN 16 % and probe 26 % with the paper's two, 23 % and 43 % with the world's 180 degrees and 0.5)
    augment_defaults = {"crop_scale_min": 0.5, "jitter_p": 1.0, "brightness": 0.4, "contrast": 0.5, "saturation": 0.5,
                        "grayscale_p": 0.0}
    centred_embedder = True  # its subject, the backbone's ReLU features, lies in one orthant (see collapse.py)

    def __init__(self, backbone, config: ExemplarConfig, augment):
        super().__init__(backbone, config, augment)
        n, channels, size = config.seed_images, augment.mean.shape[1], augment.image_size
        self.classifier = nn.Linear(backbone.out_dim, n)
        self.register_buffer("seed_rows", torch.zeros(n, dtype=torch.long))
        self.register_buffer("seed_pixels", torch.zeros(n, channels, size, size, dtype=torch.uint8))
        # drawn from torch's generator, which the build step seeds with the run's seed: the same seed, the same seeds
        self.selection_seed = int(torch.randint(2**62, ()))
        self.batch_labels = torch.zeros(0, dtype=torch.long)  # the surrogate classes of the batch batch_indices drew

    def prepare_data(self, train: ImageSet) -> None:
        """Draw the seed images from the training images and keep them."""
        images, n = train.images, self.config.seed_images
        if len(images) < n:
            raise ValueError(f"seed_images {n} is more than the {len(images)} training images: set it to at most "
                             f"{len(images)}")
        rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.selection_seed))[:n]
        rows = rows.sort().values
        self.seed_rows.copy_(rows)
        self.seed_pixels.copy_(images[rows])

    def batch_indices(self, step: int, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """A batch of seed images drawn uniformly (from the selection seed and ``step``, on the CPU whatever the
        device); their surrogate labels, the seeds' numbers, wait in ``batch_labels`` for the training step."""
        g = torch.Generator().manual_seed(self.selection_seed + step)
        self.batch_labels = torch.randint(len(self.seed_rows), (len(proposed),), generator=g)
        return self.seed_rows.cpu()[self.batch_labels]

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        labels = self.batch_labels.to(images.device)
        h = self.backbone(self.augment(images, rng))
        logits = self.classifier(h)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(1) == labels).float().mean().item()
        return StepOutput(loss, h.detach(), {"pretext_acc": accuracy})

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """As many seed images as ``images`` (the task is defined on the seeds only), each beside augmented views of
        it with the surrogate class the network names and its confidence."""
        seeds = torch.randint(len(self.seed_rows), (len(images),), generator=rng, device=self.seed_pixels.device)
        labels = seeds.repeat(PREVIEW_VIEWS)
        views = self.augment(self.seed_pixels[labels], rng)
        with eval_mode(self):
            probs = self.classifier(self.backbone(views)).softmax(1)
        confidence, predicted = probs.max(1)
        originals = self.augment.unnormalize(self.augment.prepare(self.seed_pixels[seeds])).cpu()
        shown = self.augment.unnormalize(views).cpu()
        n = len(images)
        rows, captions = [], []
        for i in range(n):
            views_of_i = [v * n + i for v in range(PREVIEW_VIEWS)]
            rows.append([originals[i]] + [shown[j] for j in views_of_i])
            names = [f"class {int(predicted[j])} {'✓' if predicted[j] == seeds[i] else '✗'} {confidence[j]:.0%}"
                     for j in views_of_i]
            captions.append([f"seed {int(seeds[i])}"] + names)
        return Tiles(f"Views of seed images and the surrogate class named (of {len(self.seed_rows)})", rows, captions)
