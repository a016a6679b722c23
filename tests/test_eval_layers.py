"""Evaluation at an earlier backbone stage (``eval_layer``): the readout equals the stage's pooled output, covers
both halves of split-brain, refuses layers the backbone lacks, and a run evaluates with it."""
import pytest
import torch
from conftest import train_to_completion

from engine import events
from engine.build import RunConfig, build
from engine.eval.layers import LayerReadout, at_layer
from engine.nets.convnet import ConvNet
from engine.nets.vit import TinyViT


def test_a_convnet_read_one_stage_early_is_its_third_stage_averaged_over_space():
    net = ConvNet(3).eval()
    x = torch.randn(4, 3, 16, 16)
    expected = net.features[:5](x).mean(dim=(2, 3))  # stage 3's conv-BN-ReLU, before the last pool and stage
    assert torch.allclose(at_layer(net, -1)(x), expected)
    assert at_layer(net, -1)(x).shape == (4, 128)
    assert at_layer(net, 0) is net


def test_a_vit_read_two_blocks_early_averages_that_block_s_tokens():
    net = TinyViT(3, 16, depth=4).eval()
    x = torch.randn(2, 3, 16, 16)
    tokens = net._tokens(x)
    for block in net.blocks[:2]:
        tokens, _ = block(tokens)
    assert torch.allclose(at_layer(net, -2)(x), tokens.mean(dim=1), atol=1e-6)


def test_split_brain_reads_both_halves_and_too_deep_a_layer_is_refused():
    base = {"dataset": "shapes", "dataset_options": {"train_size": 64, "test_size": 32, "image_size": 16},
            "device": "cpu"}
    split_brain = build(RunConfig.with_method_defaults({**base, "method": "split_brain", "eval_layer": -1})).method
    images = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    features = at_layer(split_brain.encoder, -1)(split_brain.augment.prepare(images))
    halves = [m for m in split_brain.encoder.modules() if isinstance(m, ConvNet)]
    assert len(halves) == 2 and features.shape[1] == sum(h.stages()[-2][0].out_channels for h in halves)
    with pytest.raises(ValueError, match="eval_layer -4 is deeper than the backbone's 4 stages"):
        build(RunConfig.with_method_defaults({**base, "method": "simclr", "eval_layer": -4}))
    with pytest.raises(ValueError, match="has none"):
        LayerReadout(torch.nn.Linear(2, 2), -1)


def test_a_run_evaluates_at_its_layer_and_its_random_baseline_reads_the_same_layer(tmp_path, tiny_run):
    def final_baselines(layer, folder):
        config = RunConfig.with_method_defaults({**tiny_run, "steps": 3, "final_eval": True, "eval_layer": layer})
        _, seen = train_to_completion(config, tmp_path / folder)
        return [e for e in seen if isinstance(e, events.Eval) and e.final][0]

    last, middle = final_baselines(0, "last"), final_baselines(-1, "mid")
    assert set(middle.scores) >= {"knn", "probe"}
    assert middle.baselines["random"] != last.baselines["random"]  # read at its own layer, not cached from layer 0
    assert middle.baselines["raw"] == last.baselines["raw"]
