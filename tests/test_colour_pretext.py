"""Colorization and split-brain: CIE Lab against the formulas, the ab quantiser, class rebalancing, the annealed
mean and the loss against direct computations; the refusals; a raw-pixel check that the colour target depends on
what the network sees; both methods end to end, and resumed with their colour bins."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import train_to_completion
from sklearn.linear_model import LogisticRegression

from engine import events
from engine.build import channel_stats
from engine.data.augment import Augment, AugmentConfig
from engine.data.base import ImageSet
from engine.data.color import annealed_mean, fit_bins, lab_to_rgb, nearest_bin, rgb_to_lab
from engine.data.shapes import generate
from engine.losses import rebalanced_cross_entropy, rebalancing_weights
from engine.methods import METHODS
from engine.methods.colorization import lab_of
from engine.nets import build_backbone
from engine.run import RunConfig, Session

SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
         "batch_size": 32, "minutes": 0.0, "eval_bank": 512, "eval_queries": 256, "preview_every_s": 0.0,
         "checkpoint_every_s": 0.0, "device": "cpu", "warmup_steps": 5, "eval_every_s": 0.0, "final_eval": False}
METHOD_NAMES = ["colorization", "split_brain"]
BINS_OPTION = {"colorization": "bins", "split_brain": "ab_bins"}


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference_lab(r: float, g: float, b: float) -> tuple[float, float, float]:
    """One sRGB colour in [0, 1] to CIE Lab (D65), straight from the sRGB and CIE 15 formulas."""
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def f(t):
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    r, g, b = linear(r), linear(g), linear(b)
    x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b
    fx, fy, fz = f(x / 0.95047), f(y / 1.0), f(z / 1.08883)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def as_image(colours: torch.Tensor) -> torch.Tensor:
    """(N, 3) colours as a (1, 3, N, 1) image."""
    return colours.T.reshape(1, 3, -1, 1)


def test_lab_matches_the_cie_formulas_and_reference_values():
    dark = torch.tensor([[0.01, 0.02, 0.03], [0.0, 0.0, 0.0], [0.04, 0.0, 0.05]])  # both linear segments
    colours = torch.cat([dark, torch.rand(200, 3, generator=g(0))])
    lab = rgb_to_lab(as_image(colours))[0, :, :, 0].T
    expected = torch.tensor([reference_lab(*c) for c in colours.tolist()])
    assert torch.allclose(lab, expected, atol=1e-3)
    known = rgb_to_lab(as_image(torch.tensor([[1.0, 1, 1], [1, 0, 0]])))[0, :, :, 0].T
    assert known[0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.01)  # sRGB white
    assert known[1].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.01)  # pure red
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the conversion stays float32 inside mixed precision
        mixed = rgb_to_lab(as_image(colours))
    assert mixed.dtype == torch.float32 and torch.allclose(mixed[0, :, :, 0].T, expected, atol=1e-3)


def test_lab_round_trips_within_one_unit():
    rgb = torch.randint(0, 256, (4, 3, 16, 16), generator=g(1)).float() / 255
    lab = rgb_to_lab(rgb)
    assert ((lab_to_rgb(lab) - rgb).abs() * 255).max() < 1  # back to the same 8-bit colour
    assert (rgb_to_lab(lab_to_rgb(lab)) - lab).abs().max() < 1  # and to the same Lab colour, to 1 unit


def test_the_quantiser_assigns_each_value_its_nearest_bin():
    values, bins = torch.randn(300, 2, generator=g(2)) * 40, torch.randn(13, 2, generator=g(3)) * 40
    brute = [min(range(13), key=lambda k: sum((v - c) ** 2 for v, c in zip(value, bins[k].tolist())))
             for value in values.tolist()]
    assert nearest_bin(values, bins).tolist() == brute
    assert nearest_bin(values.reshape(10, 30, 2), bins).reshape(-1).tolist() == brute  # any leading shape
    centres = torch.tensor([[0.0], [10.0], [20.0]])  # 1-D values (lightness bins)
    assert nearest_bin(torch.tensor([[4.9], [5.1], [26.0], [-3.0]]), centres).tolist() == [0, 1, 2, 0]


def test_bins_are_k_means_centres_and_refuse_more_bins_than_colours():
    centres = torch.tensor([[-40.0, 10.0], [0.0, 0.0], [30.0, -50.0]])
    values = (centres[:, None] + torch.randn(3, 200, 2, generator=g(4))).reshape(-1, 2)
    bins = fit_bins(values, 3)
    assert torch.allclose(bins[bins[:, 0].argsort()], centres, atol=0.5)
    with pytest.raises(ValueError, match="more than the 3 distinct colours"):
        fit_bins(centres.repeat(50, 1), 4)


def test_rebalancing_weights_follow_eqs_3_and_4_and_favour_rare_bins():
    p = torch.tensor([0.5, 0.3, 0.12, 0.05, 0.03])
    bins = torch.tensor([[0.0, 0.0], [6.0, 0.0], [40.0, 0.0], [0.0, 40.0], [-40.0, -40.0]])
    sigma, lam, q = 5.0, 0.5, 5
    kernel = [[math.exp(-sum((a - b) ** 2 for a, b in zip(ci, cj)) / (2 * sigma**2)) for cj in bins.tolist()]
              for ci in bins.tolist()]
    smoothed = [sum(kernel[i][j] * p[j].item() for j in range(q)) for i in range(q)]
    smoothed = [s / sum(smoothed) for s in smoothed]
    raw = [1 / ((1 - lam) * s + lam / q) for s in smoothed]
    expected = [w / sum(s * w for s, w in zip(smoothed, raw)) for w in raw]
    w = rebalancing_weights(p, bins, sigma, lam)
    assert w.tolist() == pytest.approx(expected, rel=1e-5)
    assert sum(s * v for s, v in zip(smoothed, w.tolist())) == pytest.approx(1.0)  # E_p~[w] = 1
    assert torch.all(w[1:] > w[:-1])  # rarer bins weigh more
    assert torch.allclose(rebalancing_weights(p, bins, sigma, lam=1.0), torch.ones(q))  # lambda 1: no rebalancing


def test_annealed_mean_runs_from_the_mean_at_t_1_to_the_mode_as_t_falls():
    logits, bins = torch.randn(2, 5, 3, 3, generator=g(5)), torch.randn(5, 2, generator=g(6)) * 30
    z = logits.softmax(1)
    mean = torch.einsum("bkhw,kd->bdhw", z, bins)
    assert torch.allclose(annealed_mean(logits, bins, 1.0), mean, atol=1e-4)
    mode = bins[logits.argmax(1)].permute(0, 3, 1, 2)
    gaps = [(annealed_mean(logits, bins, t) - mode).abs().max().item() for t in (0.38, 0.1, 0.01, 1e-4)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-3
    f_t = torch.exp(z.log() / 0.38)
    f_t = f_t / f_t.sum(1, keepdim=True)  # eq. 5's f_T on the probabilities
    assert torch.allclose(annealed_mean(logits, bins, 0.38), torch.einsum("bkhw,kd->bdhw", f_t, bins), atol=1e-4)


def test_the_loss_is_a_pixel_weighted_cross_entropy():
    logits, labels = torch.randn(2, 4, 3, 3, generator=g(7)), torch.randint(0, 4, (2, 3, 3), generator=g(8))
    weights = torch.tensor([0.5, 1.0, 2.0, 3.0])
    total = 0.0
    for b in range(2):
        for h in range(3):
            for w in range(3):
                scores = logits[b, :, h, w].tolist()
                q = labels[b, h, w].item()
                total += -weights[q].item() * (scores[q] - math.log(sum(math.exp(s) for s in scores)))
    assert rebalanced_cross_entropy(logits, labels, weights).item() == pytest.approx(total / 18, rel=1e-5)


def small_method(name: str, channels: int = 3, backbone: str = "convnet", **options):
    augment = Augment(AugmentConfig(), 16, torch.full((channels,), 0.5), torch.full((channels,), 0.25))
    method = METHODS[name]
    return method(build_backbone(backbone, channels, 16), method.Config(**options), augment)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_bad_data_and_settings_are_refused_with_a_sentence(name):
    with pytest.raises(ValueError, match="needs colour images; this dataset is grayscale"):
        small_method(name, channels=1)
    with pytest.raises(ValueError, match="backbone"):
        small_method(name, backbone="vit-tiny")
    with pytest.raises(ValueError, match="target_stride 3 does not divide the 16 px images"):
        small_method(name, target_stride=3)
    three_colours = torch.tensor([[230, 20, 20], [20, 200, 40], [30, 60, 240]], dtype=torch.uint8)
    images = three_colours[torch.arange(12) % 3].view(12, 3, 1, 1).expand(12, 3, 16, 16)
    with pytest.raises(ValueError, match="8 colour bins are more than the 3 distinct colours"):
        small_method(name, **{BINS_OPTION[name]: 8}).prepare_data(ImageSet(images))


def test_a_grayscale_dataset_is_refused_before_training(tmp_path):
    seen = []
    cfg = RunConfig.with_method_defaults({**SMALL, "dataset": "digits", "dataset_options": {}, "method": "colorization",
                                          "steps": 2})
    assert Session(cfg, tmp_path, seen.append).run().reason == "failed"
    assert "colorization needs colour images" in [e for e in seen if isinstance(e, events.Error)][0].message


def test_the_main_shape_colour_bin_is_readable_from_the_lightness_the_network_sees():
    """The label that matters on shapes is the main shape's colour (its most frequent target bin): a logistic
    regression on the sorted raw L pixels of an augmented view (sorted, so that it need not find the shape)
    predicts it well above the majority rate. Backgrounds' muted colours are not readable from L."""
    data = generate(600, 1, 32)
    mean, std = channel_stats(data.images)
    augment = Augment(RunConfig(method="colorization").augment_config(), 32, mean, std)
    method = METHODS["colorization"](build_backbone("convnet", 3, 32), METHODS["colorization"].Config(), augment)
    method.prepare_data(data)
    head = method.head
    bins = head.targets(lab_of(augment, augment.prepare(data.images))[:, 1:]).flatten(1)
    on_shape = F.avg_pool2d(data.masks[:, None].float(), head.stride).flatten(1) > 0.5
    keep = on_shape.any(1)
    label = torch.tensor([torch.mode(b[m]).values if m.any() else -1 for b, m in zip(bins, on_shape)])
    lightness = lab_of(augment, augment(data.images, g(0)))[:, 0].flatten(1).sort(1).values[:, ::8] / 100
    train, test = keep & (torch.arange(600) < 400), keep & (torch.arange(600) >= 400)
    classifier = LogisticRegression(C=10, max_iter=3000).fit(lightness[train].numpy(), label[train].numpy())
    accuracy = classifier.score(lightness[test].numpy(), label[test].numpy())
    majority = np.bincount(label[test].numpy()).max() / int(test.sum())
    assert accuracy > majority + 0.15, (accuracy, majority)


def train(tmp_path, name: str, steps: int, **overrides) -> tuple[Session, list]:
    cfg = RunConfig.with_method_defaults({**SMALL, "method": name, "steps": steps, **overrides})
    return train_to_completion(cfg, tmp_path / name)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_short_run_learns_to_predict_colours_and_previews_them(tmp_path, name):
    session, seen = train(tmp_path, name, 80, final_eval=True)
    losses = [loss for e in seen if isinstance(e, events.Step) for loss in e.losses]
    assert len(losses) == 80 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    lines = [json.loads(line) for line in (session.run_dir / "metrics.jsonl").read_text().splitlines()]
    accuracy = [line["pretext_acc"] for line in lines if "pretext_acc" in line]
    assert len(accuracy) == 80 and sum(accuracy[-10:]) > sum(accuracy[:10]), accuracy
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][0]
    assert all(math.isfinite(v) for v in final.scores.values())
    method, images = session.method, session.dataset.test.images[:3]
    preview = method.preview(images, g(0))
    assert len(preview.rows) == 3 and {tuple(t.shape) for row in preview.rows for t in row} == {(3, 16, 16)}
    assert [len(row) for row in preview.captions] == [len(row) for row in preview.rows]
    # the encoder takes the normalised RGB images; colorization's sees only their lightness, split-brain's also ab
    augment, encoder = session.augment, method.encoder.eval()
    x = augment.prepare(images)
    lab = lab_of(augment, x)
    gray = augment.normalize(lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1)))
    with torch.no_grad():
        same = torch.allclose(encoder(x), encoder(gray), atol=1e-3)
    assert same == (name == "colorization")


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_resumed_run_keeps_its_colour_bins(whole_and_resumed, name):
    # the resumed half does not call prepare_data again: its bins come from the checkpoint
    a, b = whole_and_resumed(RunConfig.with_method_defaults({**SMALL, "method": name, "steps": 12}))
    bins = "model.head.bins" if name == "colorization" else "model.heads.ab.bins"
    assert bins in a and a[bins].abs().sum() > 0
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))
