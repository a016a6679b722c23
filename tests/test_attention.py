"""Attention maps: shapes and range for both backbones, the in-mask measure against a direct sum, overlays, and the
``main.py attention`` command on a saved run."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from engine import cli
from engine.config import from_dict
from engine.eval.attention import attention_maps, mass_in_mask, overlay_grid
from engine.nets import build_backbone
from engine.run import RunConfig, Session


@pytest.mark.parametrize("backbone,heads", [("convnet", 1), ("vit-tiny", 3)])
def test_maps_are_per_head_at_image_resolution_scaled_to_one(backbone, heads):
    torch.manual_seed(0)
    maps = attention_maps(build_backbone(backbone, 3, 16), torch.randn(2, 3, 16, 16))
    assert maps.shape == (2, heads, 16, 16) and maps.min() >= 0
    assert torch.allclose(maps.amax(dim=(2, 3)), torch.ones(2, heads))


def test_vit_maps_are_the_cls_row_of_the_last_attention_upsampled_per_patch():
    torch.manual_seed(0)
    vit, x = build_backbone("vit-tiny", 3, 16).eval(), torch.randn(1, 3, 16, 16)
    cls_row = vit.last_attention(x)[0, 1, 0, 1:].reshape(4, 4)  # head 1, [CLS] -> 16 patches of 4x4 pixels
    maps = attention_maps(vit, x)
    assert torch.allclose(maps[0, 1, ::4, ::4], cls_row / cls_row.max(), atol=1e-6)
    assert torch.equal(maps[0, 1, 4:8, 8:12], maps[0, 1, 4, 8].expand(4, 4))


def test_mass_in_mask_is_the_share_of_attention_on_the_object():
    maps = torch.rand(3, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(3, 5, 5, dtype=torch.bool)
    masks[:, 1:3, 2:5] = True
    direct = [sum(float(maps[b, h][masks[b]].sum() / maps[b, h].sum()) for h in range(2)) / 2 for b in range(3)]
    assert mass_in_mask(maps, masks).tolist() == pytest.approx(direct, rel=1e-5)
    assert mass_in_mask(torch.ones(1, 1, 5, 5), masks[:1]).item() == pytest.approx(6 / 25)  # even: the area


def test_overlay_grid_puts_each_image_beside_its_heads():
    images = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    grid = overlay_grid(images, torch.rand(2, 3, 8, 8), scale=2)
    assert grid.shape == (3, 2 * 8 * 2, 4 * 8 * 2) and grid.dtype == torch.uint8
    assert torch.equal(grid[0, :16, :16], images[0, 0].repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_the_attention_command_writes_overlays_of_a_saved_run(tmp_path, capsys):
    cfg = from_dict(RunConfig, {"dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 64,
                                "image_size": 16}, "method": "dino", "backbone": "vit-tiny", "batch_size": 16,
                                "steps": 2, "minutes": 0.0, "eval_every_s": 0.0, "final_eval": False, "device": "cpu",
                                "method_options": {"local_crops": 0}, "preview_every_s": 0.0})
    Session(cfg, tmp_path / "run").run()
    assert cli.main(["attention", str(tmp_path / "run"), "--out", str(tmp_path / "a.png"), "--images", "3"]) == 0
    assert Image.open(tmp_path / "a.png").size == (4 * 16 * 4, 3 * 16 * 4)  # image + 3 heads, 3 rows, 4x enlarged
    out = capsys.readouterr().out
    assert "inside the object masks of 64 test images: trained" in out and "untrained network" in out
    Image.new("RGB", (40, 30), "red").save(tmp_path / "dropped.png")
    assert cli.main(["attention", str(tmp_path / "run"), "--out", str(tmp_path / "b.png"),
                     "--image", str(tmp_path / "dropped.png")]) == 0
    assert Image.open(tmp_path / "b.png").size == (4 * 16 * 4, 16 * 4)
    assert cli.main(["attention", str(tmp_path / "nowhere")]) == 2
