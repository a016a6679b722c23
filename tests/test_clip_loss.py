"""CLIP's losses against straightforward computations, and the learnt temperature's clamp."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.data.augment import Augment, AugmentConfig
from engine.losses.clip import clip_infonce, positive_pairs, siglip_loss
from engine.methods.clip import CLIP, CLIPConfig
from engine.nets import build_backbone


def embeddings(n: int, seed: int, dim: int = 8) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_infonce_with_distinct_captions_is_the_papers_symmetric_cross_entropy():
    images, texts, scale = embeddings(6, 0), embeddings(6, 1), torch.tensor(14.0)
    logits = scale * images @ texts.T
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    got = clip_infonce(images, texts, scale, positive_pairs(labels, labels))
    assert torch.allclose(got, expected, atol=1e-6)


def test_infonce_counts_every_equal_caption_as_a_positive():
    captions = torch.tensor([0, 1, 0, 2, 1, 0])  # images 0, 2, 5 share a caption, and 1, 4
    images, texts, scale = embeddings(6, 2), embeddings(6, 3), torch.tensor(10.0)
    logits = (scale * images @ texts.T).tolist()

    def side(rows: list[list[float]], same: list[list[bool]]) -> float:
        total = 0.0
        for row, positive in zip(rows, same):
            log_norm = math.log(sum(math.exp(v) for v in row))
            picks = [v - log_norm for v, p in zip(row, positive) if p]
            total -= sum(picks) / len(picks)
        return total / len(rows)

    same = [[a == b for b in captions.tolist()] for a in captions.tolist()]
    columns = [list(col) for col in zip(*logits)]
    expected = (side(logits, same) + side(columns, same)) / 2
    got = clip_infonce(images, texts, scale, positive_pairs(captions, captions))
    assert got.item() == pytest.approx(expected, abs=1e-5)
    # the single-positive loss treats the repeats as negatives, and is higher here
    assert clip_infonce(images, texts, scale, torch.eye(6, dtype=torch.bool)) != pytest.approx(got.item())


def test_infonce_hard_negatives_are_extra_texts_only_on_the_image_side():
    captions = torch.tensor([0, 1, 2])
    hard = torch.tensor([7, 8, 1])  # the third image's hard negative happens to be the second image's caption
    images, texts, scale = embeddings(3, 4), embeddings(6, 5), torch.tensor(5.0)
    positives = positive_pairs(captions, torch.cat([captions, hard]))
    assert positives.tolist()[1] == [False, True, False, False, False, True]
    logits = scale * images @ texts.T
    q = positives.float() / positives.sum(1, keepdim=True)
    image_side = -(q * logits.log_softmax(1)).sum(1).mean()
    text_side = F.cross_entropy(logits[:, :3].T, torch.arange(3))
    assert torch.allclose(clip_infonce(images, texts, scale, positives), (image_side + text_side) / 2, atol=1e-6)


def test_sigmoid_loss_is_a_binary_decision_per_pair():
    captions = torch.tensor([0, 1, 1, 2])
    images, texts, scale, bias = embeddings(4, 6), embeddings(4, 7), torch.tensor(10.0), torch.tensor(-10.0)
    expected = 0.0
    for i in range(4):
        for j in range(4):
            z = 1.0 if captions[i] == captions[j] else -1.0
            logit = scale.item() * float(images[i] @ texts[j]) + bias.item()
            expected -= math.log(1 / (1 + math.exp(-z * logit)))
    got = siglip_loss(images, texts, scale, bias, positive_pairs(captions, captions))
    assert got.item() == pytest.approx(expected / 4, rel=1e-5)


def clip_method(**options) -> CLIP:
    augment = Augment(AugmentConfig(), 16, torch.zeros(3), torch.ones(3))
    return CLIP(build_backbone("convnet", 3, 16), CLIPConfig(**options), augment)


def test_the_temperature_starts_at_its_setting_and_the_logit_scale_stays_clamped_at_100():
    method = clip_method(temperature=0.07)
    assert method.logit_scale.item() == pytest.approx(1 / 0.07)
    with torch.no_grad():
        method.log_scale.fill_(7.0)  # exp(7) = 1097: an optimiser step past the clamp
    assert method.logit_scale.item() == pytest.approx(100.0)  # the forward pass never scales by more
    method.after_step(0.5)
    assert method.log_scale.item() == pytest.approx(math.log(100.0))  # and the parameter is clipped back
    sigmoid = clip_method(loss="sigmoid")
    assert sigmoid.logit_scale.item() == pytest.approx(10.0) and sigmoid.bias.item() == -10.0
