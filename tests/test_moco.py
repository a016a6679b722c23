"""MoCo's Shuffling BN on one device (He et al. 2020, sec. 3.3): each group of the batch gets its own BatchNorm
statistics, as each GPU does, and a key is normalised with other images than its query."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.config import from_dict
from engine.data.augment import Augment, AugmentConfig
from engine.methods.moco import MoCo, MoCoConfig
from engine.nets import build_backbone

BATCH, GROUPS = 16, 4
IDENTITY = {"crop_scale_min": 1.0, "crop_ratio": 1.0, "flip_p": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0}


def moco(**options) -> MoCo:
    torch.manual_seed(0)
    augment = Augment(from_dict(AugmentConfig, IDENTITY), 16, torch.full((3,), 0.5), torch.full((3,), 0.25))
    return MoCo(build_backbone("convnet", 3, 16), MoCoConfig(queue_size=64, bn_groups=GROUPS, **options), augment)


def calls(method: MoCo) -> tuple[list[list[int]], list[list[int]], list[torch.Tensor]]:
    """One training step on images that are flat grey levels 10 i: which images each call of the query and key
    encoders saw (the images one BatchNorm normalises together), and the key projection's output per call."""
    images = (torch.arange(BATCH) * 10).view(-1, 1, 1, 1).expand(-1, 3, 16, 16).to(torch.uint8).contiguous()
    levels = method.augment.prepare(images).mean(dim=(1, 2, 3))
    identify = lambda x: (x.mean(dim=(1, 2, 3))[:, None] - levels).abs().argmin(1).tolist()  # noqa: E731
    queries, keys, key_outputs = [], [], []
    method.backbone.register_forward_pre_hook(lambda module, args: queries.append(identify(args[0])))
    method.key_backbone.register_forward_pre_hook(lambda module, args: keys.append(identify(args[0])))
    method.key_projection.register_forward_hook(lambda module, args, output: key_outputs.append(output))
    method.training_step(images, torch.Generator().manual_seed(1))
    return queries, keys, key_outputs


def test_each_group_has_its_own_statistics_and_a_key_is_normalised_with_other_images_than_its_query():
    method = moco()
    queries, keys, key_outputs = calls(method)
    size = BATCH // GROUPS
    assert queries == [list(range(g * size, (g + 1) * size)) for g in range(GROUPS)]  # as each GPU's own slice
    assert len(keys) == GROUPS and sorted(i for group in keys for i in group) == list(range(BATCH))
    query_group = {i: set(group) for group in queries for i in group}
    key_group = {i: set(group) for group in keys for i in group}
    assert all(key_group[i] != query_group[i] for i in range(BATCH))
    # the keys are put back in the queries' order: key i is the output for image i in the group it was shuffled to
    by_image = {i: row for group, out in zip(keys, key_outputs) for i, row in zip(group, out)}
    expected = F.normalize(torch.stack([by_image[i] for i in range(BATCH)]), dim=1)
    assert torch.allclose(method._keys, expected)


def test_without_shuffle_bn_both_encoders_see_the_whole_batch_at_once():
    queries, keys, _ = calls(moco(shuffle_bn=False))
    assert queries == keys == [list(range(BATCH))]


def test_a_batch_too_small_for_the_groups_is_refused_with_the_settings_that_fit():
    images = torch.zeros(6, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="bn_groups=4 groups of at least 2 images: use a batch_size of at least 8"):
        moco().training_step(images, torch.Generator().manual_seed(0))
