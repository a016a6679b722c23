"""Context encoder, denoising autoencoder and MAE: their masks and corruptions against what they should hide, their
losses against direct loop-by-loop computations on fixed tensors, the one-backward adversarial game, and each
method end to end on small shapes."""
from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import train_to_completion
from torch import nn

from engine import events
from engine.data.augment import Augment, AugmentConfig
from engine.losses import adversarial_losses, masked_l2, masked_patch_mse
from engine.methods import METHODS
from engine.methods.context_encoder import ContextEncoderConfig, block_mask, centre_mask, region_mask
from engine.methods.denoising_ae import masking_noise
from engine.methods.mae import MAEConfig, patchify, random_masking, unpatchify
from engine.nets import build_backbone
from engine.nets.decoder import pooled_features
from engine.nets.vit import TinyViT
from engine.run import RunConfig


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def augment(size: int, channels: int = 3) -> Augment:
    return Augment(AugmentConfig(), size, torch.zeros(channels), torch.ones(channels))


@pytest.mark.parametrize("ratio,length", [(0.75, 64), (0.75, 16), (0.6, 64), (0.5, 9)])
def test_mae_masks_exactly_round_ratio_times_l_patches_per_image(ratio, length):
    keep, mask = random_masking(32, length, ratio, g(0), torch.device("cpu"))
    assert mask.sum(1).tolist() == [round(ratio * length)] * 32
    assert keep.shape == (32, length - round(ratio * length))
    assert mask.gather(1, keep).eq(0).all() and all(len(set(row)) == len(row) for row in keep.tolist())
    assert len({tuple(row) for row in mask.int().tolist()}) > 25  # each image its own mask
    assert torch.equal(random_masking(32, length, ratio, g(0), torch.device("cpu"))[1], mask)  # from the rng
    assert not torch.equal(random_masking(32, length, ratio, g(1), torch.device("cpu"))[1], mask)


def test_patchify_orders_patches_as_the_vit_tokens_and_unpatchify_inverts_it():
    x = torch.randn(2, 3, 16, 12, generator=g(0))[..., :12, :12]
    patches = patchify(x, 4)
    assert patches.shape == (2, 9, 48)
    for i in range(3):
        for j in range(3):  # token i * 3 + j is the patch at grid row i, column j, pixels (row, column, channel)
            block = x[1, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4]
            assert torch.equal(patches[1, 3 * i + j], block.permute(1, 2, 0).flatten())
    assert torch.equal(unpatchify(patches, 4, 3), x)
    embed = nn.Conv2d(3, 5, 4, stride=4)  # the ViT's patch embedding is a linear map of the same patches
    tokens = embed(x).flatten(2).transpose(1, 2)
    weights = embed.weight.permute(0, 2, 3, 1).reshape(5, -1)
    assert torch.allclose(tokens, patches @ weights.T + embed.bias, atol=1e-5)


def test_mae_loss_counts_only_masked_patches_against_per_patch_normalised_pixels():
    pred, patches = torch.randn(2, 5, 6, generator=g(1)), torch.randn(2, 5, 6, generator=g(2))
    mask = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 1, 1, 0]])
    for norm in (True, False):
        total, count = 0.0, 0
        for b in range(2):
            for i in range(5):
                if not mask[b, i]:
                    continue
                t = patches[b, i].tolist()
                if norm:
                    mean = sum(t) / 6
                    var = sum((v - mean) ** 2 for v in t) / 5  # unbiased, as MAE's code
                    t = [(v - mean) / math.sqrt(var + 1e-6) for v in t]
                total += sum((p - v) ** 2 for p, v in zip(pred[b, i].tolist(), t)) / 6
                count += 1
        assert masked_patch_mse(pred, patches, mask, norm).item() == pytest.approx(total / count, rel=1e-5)
    visible_changed = pred.clone()
    visible_changed[mask == 0] += 5.0
    assert masked_patch_mse(visible_changed, patches, mask).item() == pytest.approx(
        masked_patch_mse(pred, patches, mask).item())


def test_the_vit_encoder_sees_only_the_visible_patches():
    vit = TinyViT(3, 16, depth=2).eval()
    x = torch.randn(2, 3, 16, 16, generator=g(3))
    every = torch.arange(16).expand(2, 16)
    assert torch.allclose(vit.forward_visible(x, every)[:, 0], vit(x), atol=1e-5)  # all visible: the forward
    keep, mask = random_masking(2, 16, 0.75, g(4), torch.device("cpu"))
    out = vit.forward_visible(x, keep)
    assert out.shape == (2, 5, 192)
    hidden = unpatchify(mask[..., None].expand(-1, -1, 48), 4, 3) > 0
    scrambled = torch.where(hidden, torch.randn(x.shape, generator=g(5)), x)  # change only the masked patches
    assert torch.allclose(vit.forward_visible(scrambled, keep), out, atol=1e-5)
    assert not torch.allclose(vit.forward_visible(torch.where(hidden, x, scrambled + 1), keep), out, atol=1e-3)


def test_the_centre_mask_is_the_central_square_of_the_configured_area():
    mask = centre_mask(2, 32, 0.25, torch.device("cpu"))
    assert mask.shape == (2, 1, 32, 32) and mask.sum().item() == 2 * 256
    assert mask[:, :, 8:24, 8:24].eq(1).all()  # 16 x 16 in the middle, as the paper's 64 x 64 of 128 x 128


def test_random_blocks_and_regions_cover_about_the_configured_area():
    for area in (0.25, 0.4):
        blocks = block_mask(300, 32, area, g(6), torch.device("cpu"))
        cover = blocks.mean(dim=(1, 2, 3))
        assert cover.max() <= area and cover.min() > area - 1 / 16 - 1e-6  # up to the area, within one 8 px block
        assert len({tuple(m.flatten().tolist()) for m in blocks[:20]}) == 20
        assert torch.equal(block_mask(300, 32, area, g(6), torch.device("cpu")), blocks)
        regions = region_mask(50, 32, area, g(7), torch.device("cpu"))
        assert regions.sum(dim=(1, 2, 3)).tolist() == [round(area * 1024)] * 50


def test_masked_l2_is_the_weighted_mean_square_over_the_region():
    pred, target = torch.randn(2, 3, 4, 4, generator=g(8)), torch.randn(2, 3, 4, 4, generator=g(9))
    weight = torch.zeros(2, 1, 4, 4)
    weight[0, 0, 1:3, 1:3], weight[1, 0, 0, :] = 1.0, 10.0
    total = sum(weight[b, 0, i, j].item() * (pred[b, c, i, j] - target[b, c, i, j]).item() ** 2
                for b in range(2) for c in range(3) for i in range(4) for j in range(4))
    assert masked_l2(pred, target, weight).item() == pytest.approx(total / (3 * 8), rel=1e-5)
    method = METHODS["context_encoder"](build_backbone("convnet", 3, 16), ContextEncoderConfig(overlap=1), augment(16))
    hole = centre_mask(1, 16, 0.25, torch.device("cpu"))  # rows and columns 4..11
    w = method.loss_weight(hole)[0, 0]
    assert w[4:12, 4:12].eq(1).all() and w[3, 3:13].eq(10).all() and w[12, 3:13].eq(10).all()
    assert w.eq(10).sum() == 10 * 10 - 8 * 8 and w.eq(0).sum() == 256 - 100


def test_one_backward_gives_each_player_its_own_opposite_gradient():
    torch.manual_seed(0)
    generator, discriminator = nn.Linear(4, 6), nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1))
    real, z = torch.randn(16, 6, generator=g(10)) + 1.0, torch.randn(16, 4, generator=g(11))
    fake = generator(z)
    d_loss, g_loss, accuracy = adversarial_losses(discriminator, real, fake)
    d_params, g_params = list(discriminator.parameters()), list(generator.parameters())
    assert all(gr is None for gr in torch.autograd.grad(g_loss, d_params, retain_graph=True, allow_unused=True))
    assert all(gr is None for gr in torch.autograd.grad(d_loss, g_params, retain_graph=True, allow_unused=True))
    assert 0 <= accuracy <= 1
    d_alone = torch.autograd.grad(d_loss, d_params, retain_graph=True)
    g_alone = torch.autograd.grad(g_loss, g_params, retain_graph=True)
    (d_loss + g_loss).backward()  # one backward, as the Session does: each player gets its own loss's gradient
    assert all(torch.allclose(p.grad, e) for p, e in zip(d_params + g_params, d_alone + g_alone))

    def d_of(x: torch.Tensor) -> float:
        return discriminator(x).mean().item()

    before_fake, before_real = d_of(fake.detach()), d_of(real)
    with torch.no_grad():
        for p in d_params:
            p -= 0.05 * p.grad
    assert d_of(fake.detach()) < before_fake and d_of(real) > before_real  # D learns to flag the fakes
    with torch.no_grad():
        for p in d_params:  # back to the D the generator's gradient was taken against
            p += 0.05 * p.grad
        for p in g_params:
            p -= 0.05 * p.grad
    assert d_of(generator(z)) > before_fake  # while the generator learns to pass them


def test_masking_noise_zeroes_the_configured_fraction_of_pixels():
    x = torch.randn(8, 3, 16, 16, generator=g(12))
    corrupted, hole = masking_noise(x, 0.3, g(13))
    assert hole.sum(dim=(1, 2, 3)).tolist() == [round(0.3 * 256)] * 8
    kept = hole.expand_as(x) == 0
    assert corrupted[~kept].eq(0).all() and torch.equal(corrupted[kept], x[kept])
    assert not torch.equal(hole[0], hole[1])


def test_pooled_features_are_the_backbone_features():
    x = torch.randn(2, 3, 16, 16, generator=g(14))
    for name in ("convnet", "convnet-grid"):
        net = build_backbone(name, 3, 16).eval()
        assert torch.allclose(pooled_features(net, net.feature_map(x)), net(x), atol=1e-6)


def test_bad_settings_are_refused_with_a_clear_sentence():
    with pytest.raises(ValueError, match="--backbone vit-tiny"):
        METHODS["mae"](build_backbone("convnet", 3, 16), MAEConfig(), augment(16))
    with pytest.raises(ValueError, match="4-pixel patches, which do not divide 18 px"):
        METHODS["mae"](TinyViT(3, 18), MAEConfig(), augment(18))
    with pytest.raises(ValueError, match="decoder_dim 30"):
        METHODS["mae"](TinyViT(3, 16), MAEConfig(decoder_dim=30, decoder_heads=3), augment(16))
    for name in ("context_encoder", "denoising_ae"):
        with pytest.raises(ValueError, match="feature map.*--backbone convnet"):
            METHODS[name](TinyViT(3, 16), METHODS[name].Config(), augment(16))


SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
         "batch_size": 32, "minutes": 0.0, "eval_bank": 512, "eval_queries": 256, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu", "warmup_steps": 5, "eval_every_s": 0.0, "final_eval": True,
         "steps": 70}


@pytest.mark.parametrize("method,backbone,options", [("context_encoder", "convnet", {"mask": "blocks"}),
                                                     ("denoising_ae", "convnet", {}), ("mae", "vit-tiny", {})])
def test_a_short_run_lowers_the_reconstruction_loss(tmp_path, method, backbone, options):
    cfg = RunConfig.with_method_defaults({**SMALL, "method": method, "backbone": backbone, "method_options": options})
    session, seen = train_to_completion(cfg, tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "loss" in line]
    assert len(steps) == 70 and all(math.isfinite(s["loss"]) for s in steps)
    part = {"context_encoder": "recon_l2", "denoising_ae": "recon_l2", "mae": "recon_mse"}[method]
    recon = [s[part] for s in steps]
    assert sum(recon[-10:]) / 10 < 0.9 * sum(recon[:10]) / 10, recon
    if method == "context_encoder":
        assert all(0 <= s["disc_acc"] <= 1 for s in steps) and all("adv_g" in s for s in steps)
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][0]
    assert all(math.isfinite(v) for v in final.scores.values())
    preview = session.method.preview(session.dataset.test.images[:2], g(0))
    assert len(preview.rows) == 2 and len({tuple(tile.shape) for row in preview.rows for tile in row}) == 1
    assert all(tile.dtype == torch.uint8 for row in preview.rows for tile in row)


@pytest.mark.parametrize("method,options", [("context_encoder", {"mask": "region", "overlap": 2}),
                                            ("context_encoder", {"mask": "centre", "adversarial": False}),
                                            ("denoising_ae", {"corruption": "gaussian"}),
                                            ("mae", {"norm_pix_loss": False, "mask_ratio": 0.5})])
def test_each_setting_trains_one_step_on_gray_images(method, options):
    backbone = build_backbone("vit-tiny" if method == "mae" else "convnet", 1, 16)
    model = METHODS[method](backbone, METHODS[method].Config(**options), augment(16, channels=1))
    images = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8, generator=g(17))
    out = model.training_step(images, g(18))
    out.loss.backward()
    assert math.isfinite(out.loss.item()) and out.features.shape == (6, backbone.out_dim)
    assert all(p.grad is not None for p in backbone.parameters())
    preview = model.preview(images[:2], g(19))
    assert {tuple(t.shape) for row in preview.rows for t in row} == {(1, 16, 16)}


def test_the_context_encoder_without_the_adversary_is_the_l2_alone():
    method = METHODS["context_encoder"](build_backbone("convnet", 3, 16), ContextEncoderConfig(adversarial=False),
                                        augment(16))
    assert not hasattr(method, "discriminator")
    out = method.training_step(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=g(15)), g(16))
    assert set(out.logs) == {"recon_l2"} and out.loss.item() == pytest.approx(out.logs["recon_l2"])
