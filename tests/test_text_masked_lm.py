"""Masked language modelling: BERT's 80/10/10 masking rule in proportion, the next-word targets, the loss against
a direct cross-entropy, a short run that learns, and refused settings."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.text.base import FIRST_WORD, word_counts
from engine.text.masked_lm import IGNORED, MaskedLM, MaskedLMConfig, mask_tokens, sequences
from engine.text.tokenizer import Vocabulary

CAPTIONS = [f"a {size} {colour} {shape} on the {side}" for size in ("small", "large")
            for colour in ("red", "green", "blue", "pink") for shape in ("star", "ring", "heart") for side in
            ("left", "right")]


def test_the_masking_rule_selects_15_percent_and_splits_them_80_10_10():
    ids = torch.randint(FIRST_WORD, 1000, (400, 128), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = 2  # [CLS]
    ids[:, 100:] = 0  # [PAD]
    maskable = ids >= FIRST_WORD
    inputs, targets = mask_tokens(ids, maskable, 0.15, mask_id=3, vocabulary_size=1000,
                                  rng=torch.Generator().manual_seed(1))
    selected = targets != IGNORED
    assert not (selected & ~maskable).any()  # [CLS] and [PAD] are never selected
    assert torch.equal(targets[selected], ids[selected])
    share = selected.sum() / maskable.sum()
    assert share == pytest.approx(0.15, abs=0.005)
    n = selected.sum().item()
    masked = (inputs[selected] == 3).sum().item() / n
    kept = (inputs[selected] == ids[selected]).sum().item() / n
    swapped = 1 - masked - kept
    assert masked == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1 + 0.1 / 996, abs=0.01)  # a random word may draw the original
    assert swapped == pytest.approx(0.1, abs=0.01)
    assert (inputs[selected & (inputs != 3)] >= FIRST_WORD).all()  # random words are never special tokens
    assert torch.equal(inputs[~selected], ids[~selected])


def test_at_least_one_token_is_selected_and_sequences_cut_long_passages():
    ids = torch.tensor([[2, 5, 6, 0]])
    _, targets = mask_tokens(ids, ids >= FIRST_WORD, 1e-9, 3, 10, torch.Generator().manual_seed(0))
    assert (targets != IGNORED).sum() == 1
    rows = sequences([[5, 6, 7, 8, 9], [10]], max_length=4, cls_id=2, pad_id=0)
    assert rows.tolist() == [[2, 5, 6, 7], [2, 8, 9, 0], [2, 10, 0, 0]]


def build(objective="masked", **options):
    vocabulary = Vocabulary.fit(CAPTIONS, min_count=1)
    ids = vocabulary.encode(CAPTIONS)
    torch.manual_seed(0)
    method = MaskedLM(vocabulary, word_counts(ids, len(vocabulary)),
                      MaskedLMConfig(objective=objective, dim=32, heads=2, ff_dim=64, max_length=12, **options))
    method.prepare_corpus(ids, 16, seed=0)
    return method, ids


def test_the_loss_is_cross_entropy_on_the_selected_tokens_only():
    method, _ = build(dropout=0.0)
    method.eval()
    rows = method.rows[:8]
    inputs, targets = method.task(rows, torch.Generator().manual_seed(5))
    logits = method.logits(method.encode(inputs))  # every position
    chosen = targets != IGNORED
    expected = F.cross_entropy(logits[chosen], targets[chosen])
    got_logits, wanted = method.predict(inputs, targets)
    assert torch.allclose(F.cross_entropy(got_logits, wanted), expected, atol=1e-5)
    # an unselected position's prediction does not enter the loss: changing its target changes nothing
    assert len(wanted) == int(chosen.sum()) < int((rows >= FIRST_WORD).sum())


def test_next_word_targets_are_the_following_tokens_and_the_mask_is_causal():
    method, _ = build("next-word", dropout=0.0)
    method.eval()
    rows = method.rows[:4]
    inputs, targets = method.task(rows, torch.Generator())
    length = inputs.shape[1]
    assert torch.equal(inputs, rows[:, :length])
    real = targets != IGNORED
    assert torch.equal(targets[real], rows[:, 1:length + 1][real])
    changed = inputs.clone()
    changed[:, -1] = FIRST_WORD  # the last token cannot change what earlier positions predict
    assert torch.allclose(method.encode(inputs)[:, :-1], method.encode(changed)[:, :-1], atol=1e-5)


@pytest.mark.parametrize("objective", ["masked", "next-word"])
def test_a_short_run_lowers_the_loss_and_predicts_held_out_words(objective):
    method, ids = build(objective)
    optimizer = torch.optim.AdamW(method.parameters(), lr=3e-3)
    losses = []
    for step in range(120):
        out = method.training_step(step, 3e-3, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10
    scores = method.held_out_scores(ids[:20], seed=0)
    assert list(scores.values())[0] > 0.3
    preview = method.preview(ids[:3], torch.Generator().manual_seed(0))
    assert len(preview.rows) == 6 and all(tile.shape == (3, 8, 8) for row in preview.rows for tile in row)
    assert any("✓" in caption or "✗" in caption for row in preview.captions for caption in row)
    cls, mean = method.sentence_vectors(ids[:5], "cls"), method.sentence_vectors(ids[:5], "mean")
    assert cls.shape == mean.shape == (5, 32)


def test_heads_that_do_not_divide_the_width_are_refused_in_one_sentence():
    vocabulary = Vocabulary.fit(CAPTIONS, min_count=1)
    with pytest.raises(ValueError, match="heads .* must divide its dim"):
        MaskedLM(vocabulary, torch.ones(len(vocabulary)), MaskedLMConfig(dim=30, heads=4))
