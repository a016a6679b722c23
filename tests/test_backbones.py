"""Every registered backbone maps images to (B, out_dim) features; the grid convnet pools per quadrant."""
from __future__ import annotations

import pytest
import torch

from engine.nets import BACKBONES, build_backbone


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_backbone_gives_out_dim_features(name):
    net = build_backbone(name, 1, 16).eval()
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, net.out_dim)


def test_the_grid_convnet_pools_each_quadrant_of_the_last_feature_map():
    torch.manual_seed(0)
    net = build_backbone("convnet-grid", 3, 16).eval()
    x = torch.randn(1, 3, 16, 16)
    fmap = net.feature_map(x)  # (1, 256, 2, 2) at 16x16: each quadrant is one cell
    assert torch.allclose(net(x).view(1, -1, 2, 2), fmap, atol=1e-6)
