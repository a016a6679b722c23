"""CLIP end to end on tiny shapes: the loss falls, the preview is the batch's similarity matrix, the vocabulary and
caption table travel with the run (load and resume), distinct-caption batches, hard negatives, LiT's locked encoder,
zero-shot scores on a toy model with a known answer, and bad settings refused in one sentence."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import train_to_completion

from engine import events
from engine.data.base import Dataset, ImageSet
from engine.data.shape_captions import read_caption
from engine.data.shapes import ATTRIBUTE_NAMES, COLORS, SHAPES
from engine.eval.zero_shot import class_embeddings, zero_shot_scores
from engine.methods.clip import distinct_caption_batch
from engine.run import RunConfig, Session, load_run

SMALL = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
         "method": "clip", "batch_size": 32, "minutes": 0.0, "eval_bank": 256, "eval_queries": 128,
         "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "device": "cpu", "warmup_steps": 5, "eval_every_s": 0.0,
         "final_eval": False}


def config(steps: int, **overrides) -> RunConfig:
    return RunConfig.with_method_defaults({**SMALL, "steps": steps, **overrides})


def losses_and_logs(seen: list) -> tuple[list[float], list[dict]]:
    steps = [e for e in seen if isinstance(e, events.Step)]
    return [loss for e in steps for loss in e.losses], [e.logs for e in steps]


def test_a_short_run_lowers_the_loss_and_previews_the_batch_similarity_matrix(tmp_path):
    session, seen = train_to_completion(config(70, final_eval=True), tmp_path / "run")
    losses, logs = losses_and_logs(seen)
    assert len(losses) == 70 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5
    assert logs[-1]["pretext_acc"] > 2 / 32  # image-to-caption top-1 in the batch, chance 1/32
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][0]
    for key in ("zero_shot", "zero_shot_seen", "binding", "t2i_r1", "t2i_r5", "knn", "probe"):
        assert 0 <= final.scores[key] <= 1, key
    assert final.scores["zero_shot_chance"] == 0.1 and final.scores["binding_chance"] == 0.5
    preview = session.method.preview(session.dataset.test.images[:4], torch.Generator().manual_seed(0))
    assert isinstance(preview, events.SimilarityTiles) and preview.matrix.shape == (6, 6)
    assert len({tuple(tile.shape) for row in preview.rows for tile in row}) == 1
    assert all(sum(c.endswith(("✓", "✗")) for c in row) == 1 for row in preview.captions)
    assert [row[0].split(": ", 1)[1] for row in preview.captions] == preview.texts
    assert preview.matrix.abs().max() <= 1 + 1e-5


def test_the_vocabulary_and_captions_travel_with_the_run_and_a_resumed_run_retraces_the_whole(tmp_path,
                                                                                              whole_and_resumed):
    cfg = config(10, method_options={"same_caption": "distinct", "hard_negatives": True})
    whole, resumed = whole_and_resumed(cfg)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole if k.startswith("model."))
    assert whole["model.caption_of._extra_state"].dtype == torch.int64  # the caption table, no pickle
    run = load_run(tmp_path / "whole")
    session, _ = train_to_completion(cfg, tmp_path / "again")
    assert run.method.vocabulary.words == session.method.vocabulary.words
    assert run.method.texts == session.method.texts
    prompts = ["a red star", "a blue ring", "a zebra in the rain"]
    unknown = run.method.unknown_words(prompts)
    assert {"zebra", "rain"} <= set(unknown) and not {"red", "star", "blue", "ring"} & set(unknown)
    assert torch.allclose(run.method.embed_texts(prompts), session.method.embed_texts(prompts), atol=1e-5)


def test_distinct_caption_batches_have_no_repeated_caption_and_depend_only_on_the_step():
    caption_of = torch.tensor([0, 0, 0, 1, 1, 2, 3, 4, 5, 5])
    order = torch.tensor([0, 1, 3, 4, 2])
    batch = distinct_caption_batch(order, caption_of, step=3)
    assert len(batch) == 5 and len(set(caption_of[batch].tolist())) == 5 and batch[:2].tolist() == [0, 3]
    assert torch.equal(batch, distinct_caption_batch(order, caption_of, step=3))
    few = distinct_caption_batch(torch.arange(10), torch.tensor([0, 1] * 5), step=0)
    assert len(few) == 10 and set(torch.tensor([0, 1] * 5)[few[:2]].tolist()) == {0, 1}


def test_hard_negatives_are_one_attribute_swaps_added_as_texts(tmp_path):
    session, seen = train_to_completion(config(4, method_options={"hard_negatives": True}), tmp_path / "run")
    method = session.method
    table = method.caption_table.value
    pairs = [(table["texts"][i], table["texts"][h]) for i, h in enumerate(table["hard_negative"]) if h >= 0]
    assert len(pairs) > 0.9 * len(set(session.dataset.train.captions))
    for text, negative in pairs[:200]:
        before, after = read_caption(text), read_caption(negative)
        assert sum(before[k] != after.get(k) for k in before) == 1
    assert all(math.isfinite(x) for x in losses_and_logs(seen)[0])


def test_the_logit_scale_stays_at_most_100_while_training(tmp_path):
    _, seen = train_to_completion(config(8, lr=0.5, warmup_steps=0, method_options={"temperature": 0.01}),
                                  tmp_path / "run")
    scales = [logs["logit_scale"] for logs in losses_and_logs(seen)[1]]
    assert scales and max(scales) <= 100.0 + 1e-4


def test_lit_locks_the_encoder_of_an_earlier_run_and_trains_the_text_side(tmp_path):
    earlier, _ = train_to_completion(config(3, method="simclr"), tmp_path / "simclr")
    lit = {"towers": "lit", "lit_run": str(tmp_path / "simclr")}
    session, seen = train_to_completion(config(6, method_options=lit), tmp_path / "lit")
    method = session.method
    locked = earlier.method.backbone.state_dict()
    assert all(torch.equal(locked[k], v) for k, v in method.backbone.state_dict().items())  # BN statistics too
    optimised = {id(p) for group in session.optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in method.backbone.parameters())
    assert all(id(p) in optimised for p in method.text_encoder.parameters())
    assert all(math.isfinite(x) for x in losses_and_logs(seen)[0])


def test_lit_refuses_a_run_folder_whose_encoder_does_not_fit(tmp_path):
    train_to_completion(config(2, method="simclr", backbone="vit-tiny"), tmp_path / "vit")
    seen = []
    Session(config(2, method_options={"towers": "lit", "lit_run": str(tmp_path / "vit")}), tmp_path / "lit",
            seen.append).run()
    errors = [e.message for e in seen if isinstance(e, events.Error)]
    assert errors and "does not fit this run's backbone" in errors[0] and "vit-tiny" in errors[0]


@pytest.mark.parametrize("options, message", [({"towers": "lit"}, "set method.lit_run"),
                                              ({"text_width": 100, "text_heads": 3}, "multiple of text_heads")])
def test_bad_settings_are_refused_before_training(options, message):
    from engine.build import build

    with pytest.raises(ValueError, match=message):
        build(config(1, method_options=options))


def test_training_needs_captions():
    from engine.build import build

    method = build(config(1)).method
    with pytest.raises(ValueError, match="2 of the 3 training images have none"):
        method.prepare_data(ImageSet(torch.zeros(3, 3, 16, 16, dtype=torch.uint8), captions=["a star", "", " "]))


class ToyModel:
    """Reads the colour and shape from pixel (0, 0) of an image and from the words of a text: the model a perfect
    CLIP would be on this data. ``colour_blind`` ignores colour words and pixels (a shape-only model)."""

    logit_scale = 100.0

    def __init__(self, colour_blind: bool = False):
        self.colour_blind = colour_blind

    def vector(self, shape: int | None, colour: int | None) -> torch.Tensor:
        v = torch.zeros(len(SHAPES) + len(COLORS) + 1)
        v[-1] = 0.1
        if shape is not None:
            v[shape] = 1
        if colour is not None and not self.colour_blind:
            v[len(SHAPES) + colour] = 1
        return torch.nn.functional.normalize(v, dim=0)

    def embed_images(self, images):
        return torch.stack([self.vector(int(im[0, 0, 0]), int(im[1, 0, 0])) for im in images])

    def embed_texts(self, texts):
        return torch.stack([self.vector(read_caption(t).get("shape"), read_caption(t).get("color")) for t in texts])


def toy_dataset() -> Dataset:
    def split(pairs):
        images = torch.zeros(len(pairs), 3, 4, 4, dtype=torch.uint8)
        images[:, 0, 0, 0] = torch.tensor([s for s, _ in pairs])
        images[:, 1, 0, 0] = torch.tensor([c for _, c in pairs])
        attributes = {"shape": torch.tensor([s for s, _ in pairs]), "color": torch.tensor([c for _, c in pairs])}
        captions = [f"a {list(COLORS)[c]} {SHAPES[s]}" for s, c in pairs]
        return ImageSet(images, attributes["shape"], attributes, captions)

    every = [(s, c) for s in range(len(SHAPES)) for c in range(len(COLORS))]
    held = {(4, 0), (1, 5)}  # red star, blue ring
    return Dataset("toy", split([p for p in every if p not in held]), split(every), list(SHAPES),
                   {name: list(values) for name, values in ATTRIBUTE_NAMES.items()})


def test_zero_shot_scores_of_a_toy_model_with_a_known_answer():
    data = toy_dataset()
    scores = zero_shot_scores(ToyModel(), data, final=True)
    assert scores["zero_shot"] == 1 and scores["zero_shot_unseen"] == 1 and scores["zero_shot_seen"] == 1
    assert scores["binding"] == 1 and scores["t2i_r1"] == 1
    assert scores["zero_shot_unseen_chance"] == 1 / 80
    blind = zero_shot_scores(ToyModel(colour_blind=True), data, final=True)
    assert blind["zero_shot"] == 1  # the shape it reads
    assert blind["binding"] == pytest.approx(9 / 16)  # wins the 9 shape swaps, ties the 7 colour swaps
    assert blind["zero_shot_unseen"] <= 0.5
    names = class_embeddings(ToyModel(), ["red star", "blue ring"], templates=("a {}.", "a drawing of a {}."))
    assert names.shape == (2, 19) and torch.allclose(names.norm(dim=1), torch.ones(2))


def test_the_image_tower_is_any_backbone_of_the_registry(tmp_path):
    session, seen = train_to_completion(config(4, backbone="vit-tiny"), tmp_path / "vit")
    assert all(math.isfinite(x) for x in losses_and_logs(seen)[0])
    assert session.method.embed_images(session.dataset.test.images[:3]).shape == (3, 128)


def test_a_captioned_folder_trains_and_its_uncaptioned_images_are_reported(tmp_path):
    from PIL import Image

    colours = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    lines = []
    for name, rgb in colours.items():
        for i in range(12):
            path = tmp_path / "photos" / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (24, 24), tuple(max(0, c - 8 * i) for c in rgb)).save(path)
            if i:  # the first image of each class has no caption
                lines.append(f"{name}/{i}.png\ta {name} square number {i}")
    (tmp_path / "photos" / "captions.tsv").write_text("\n".join(lines), encoding="utf-8")
    cfg = RunConfig.with_method_defaults({**SMALL, "dataset": "folder", "steps": 3, "batch_size": 8,
                                          "final_eval": True, "dataset_options": {
                                              "path": str(tmp_path / "photos"), "image_size": 16}})
    assert cfg.dataset_options["captioned_only"] is True  # clip's default for folders
    session, seen = train_to_completion(cfg, tmp_path / "run")
    skipped = [e.message for e in seen if isinstance(e, events.Warning) and e.message.startswith("skipped")]
    assert len(skipped) == 2 and all("0.png" in m and "no caption" in m for m in skipped)
    assert len(session.dataset.train) + len(session.dataset.test) == 22
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][0]
    assert final.scores["zero_shot_chance"] == 0.5 and "t2i_r1" in final.scores and "binding" not in final.scores
