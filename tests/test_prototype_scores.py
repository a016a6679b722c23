"""Prototype scores, the capability the explorer colours points by: SwAV's cosine similarities to its prototypes
and DINO's teacher logits, (B, K) in eval mode, leaving the method's mode as it was; methods without prototypes
don't offer it."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.data.augment import Augment, AugmentConfig
from engine.explore.embedding import EncoderSnapshot, has_prototypes, nearest_prototypes
from engine.methods import METHODS
from engine.nets import build_backbone

SIZE, K = 16, 12


def build(name: str, **options):
    torch.manual_seed(0)
    augment = Augment(AugmentConfig(), SIZE, torch.full((3,), 0.5), torch.full((3,), 0.25))
    method_cls = METHODS[name]
    return method_cls(build_backbone("convnet", 3, SIZE), method_cls.Config(**options), augment)


def images(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_swav_scores_are_cosines_of_the_normalised_projection_to_each_prototype():
    method = build("swav", prototypes=K).train()
    x = images()
    scores = method.prototype_scores(x)
    method.eval()
    with torch.no_grad():
        z = F.normalize(method.projection(method.backbone(method.augment.prepare(x))), dim=1)
        expected = z @ F.normalize(method.prototypes.weight, dim=1).T
    assert scores.shape == (6, K) and scores.abs().max() <= 1 + 1e-5
    assert torch.allclose(scores, expected, atol=1e-5)


def test_dino_scores_are_the_teacher_logits_in_eval_mode_and_the_mode_is_restored():
    method = build("dino", out_dim=K).train()
    x = images()
    scores = method.prototype_scores(x)
    assert method.training and method.teacher_head.training  # restored after the eval-mode pass
    method.eval()
    with torch.no_grad():
        expected = method.teacher_head(method.teacher_backbone(method.augment.prepare(x)))
    assert scores.shape == (6, K) and torch.allclose(scores, expected, atol=1e-5)


@pytest.mark.parametrize("name,options,has", [("swav", {"prototypes": K}, True), ("dino", {"out_dim": K}, True),
                                              ("simclr", {}, False)])
def test_the_explorer_colours_by_nearest_prototype_where_there_are_prototypes(name, options, has):
    snapshot = EncoderSnapshot(build(name, **options).eval(), "convnet", torch.device("cpu"), 3, 0)
    assert has_prototypes(snapshot) == has
    if has:
        nearest = nearest_prototypes(snapshot, images(10))
        assert nearest.shape == (10,) and nearest.dtype == torch.int64 and 0 <= nearest.min() <= nearest.max() < K
    else:
        with pytest.raises(ValueError):
            nearest_prototypes(snapshot, images(10))
