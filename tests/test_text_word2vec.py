"""word2vec's pieces against independent computations: the noise distribution, subsampling, the skip-gram pairs and
CBOW windows of a known sentence, and one SGD step of the negative-sampling loss against autograd."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.text.base import FIRST_WORD, word_counts
from engine.text.tokenizer import Vocabulary
from engine.text.word2vec import (
    Word2Vec,
    Word2VecConfig,
    cbow_step,
    context_windows,
    keep_probabilities,
    noise_distribution,
    skipgram_pairs,
    skipgram_step,
)


def test_the_noise_distribution_is_the_unigram_to_the_three_quarters_and_the_draws_follow_it():
    counts = torch.tensor([0, 0, 0, 0, 1000, 100, 10, 1, 0])
    probabilities = noise_distribution(counts, 0.75)
    expected = torch.tensor([0, 0, 0, 0, 1000**0.75, 100**0.75, 10**0.75, 1, 0], dtype=torch.float64)
    assert torch.allclose(probabilities, expected / expected.sum())
    vocabulary = Vocabulary.fit(["a b c d e"], min_count=1)  # 4 special tokens and 5 words: 9 ids as counts
    method = Word2Vec(vocabulary, counts, Word2VecConfig())
    draws = method.draw_noise(200_000, torch.Generator().manual_seed(0))
    observed = torch.bincount(draws, minlength=len(vocabulary)).double() / len(draws)
    assert torch.allclose(observed, probabilities, atol=0.005)
    assert observed[:FIRST_WORD].sum() == 0  # special tokens are never noise


def test_subsampling_keeps_rare_words_and_thins_frequent_ones_as_the_formula_says():
    counts = torch.tensor([0, 0, 0, 0, 90_000, 9_000, 900, 90, 9, 1])
    keep = keep_probabilities(counts, 1e-3)
    frequency = counts.double() / counts.sum()
    assert torch.all(keep[frequency <= 1e-3] == 1.0)  # rare words are always kept
    f = frequency[4].item()
    assert keep[4].item() == pytest.approx((math.sqrt(f / 1e-3) + 1) * 1e-3 / f, rel=1e-5)
    assert keep[4] < keep[5] < keep[6] < 1.0
    assert torch.all(keep_probabilities(counts, 0.0) == 1.0)


def test_an_epoch_stream_keeps_every_rare_word_and_drops_some_frequent_ones():
    passages = [["the"] * 50 + ["zebra"] for _ in range(40)]
    vocabulary = Vocabulary.fit([" ".join(p) for p in passages], min_count=1)
    ids = vocabulary.encode([" ".join(p) for p in passages])
    method = Word2Vec(vocabulary, word_counts(ids, len(vocabulary)), Word2VecConfig(sample=1e-2))
    method.prepare_corpus(ids, 64, seed=0)
    stream, _, raw = method.epoch_stream(0)
    zebra, the = vocabulary.id_of("zebra"), vocabulary.id_of("the")
    assert int((stream == zebra).sum()) == 40
    assert 0 < int((stream == the).sum()) < 40 * 50 * 0.5
    assert int(raw[-1]) == 40 * 51  # the raw count includes the subsampled-away words


def test_skipgram_pairs_of_a_known_sentence_match_the_hand_written_list():
    # ids stand for "the cat sat on the mat" (passage 0) and "dogs bark" (passage 1)
    the, cat, sat, on, mat, dogs, bark = 4, 5, 6, 7, 8, 9, 10
    stream = torch.tensor([the, cat, sat, on, the, mat, dogs, bark])
    passage = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
    centres = torch.arange(8)
    words, contexts = skipgram_pairs(stream, passage, centres, torch.full((8,), 2), window=2)
    expected = [(the, cat), (the, sat),
                (cat, the), (cat, sat), (cat, on),
                (sat, the), (sat, cat), (sat, on), (sat, the),
                (on, cat), (on, sat), (on, the), (on, mat),
                (the, sat), (the, on), (the, mat),
                (mat, on), (mat, the),
                (dogs, bark), (bark, dogs)]  # no pair crosses into the next passage
    assert sorted(zip(words.tolist(), contexts.tolist())) == sorted(expected)
    # a centre's drawn span shortens its window: "sat" with span 1 sees only "cat" and "on"
    spans = torch.tensor([2, 2, 1, 2, 2, 2, 2, 2])
    words, contexts = skipgram_pairs(stream, passage, torch.tensor([2]), spans[2:3], window=2)
    assert sorted(contexts.tolist()) == [cat, on] and words.tolist() == [sat, sat]


def test_cbow_windows_hold_the_same_contexts_as_the_pairs():
    stream = torch.randint(4, 30, (40,), generator=torch.Generator().manual_seed(1))
    passage = torch.arange(40) // 9
    spans = torch.randint(1, 4, (40,), generator=torch.Generator().manual_seed(2))
    contexts, inside = context_windows(stream, passage, torch.arange(40), spans, 3)
    words, paired = skipgram_pairs(stream, passage, torch.arange(40), spans, 3)
    assert inside.sum() == len(paired)
    assert sorted(contexts[inside].tolist()) == sorted(paired.tolist())


def straightforward_loss(inputs, outputs, words, contexts, negatives, group):
    """-[log sigma(u_c . v_w) + sum_k log sigma(-u_n . v_w)] summed over pairs, one pair at a time."""
    total = 0.0
    for i, (w, c) in enumerate(zip(words.tolist(), contexts.tolist())):
        v = inputs[w]
        total -= math.log(1 / (1 + math.exp(-float(outputs[c] @ v))))
        for n in negatives[i // group].tolist():
            total -= math.log(1 / (1 + math.exp(float(outputs[n] @ v))))
    return total


def test_one_skipgram_step_is_the_loss_and_an_sgd_step_on_its_gradient():
    generator = torch.Generator().manual_seed(0)
    size, dim, group, k = 12, 6, 4, 3
    inputs, outputs = torch.randn(size, dim, generator=generator), torch.randn(size, dim, generator=generator)
    words = torch.tensor([4, 5, 4, 6, 7, 7, 8, 4])  # repeated rows: their updates add up
    contexts = torch.tensor([5, 4, 6, 4, 8, 9, 7, 5])
    negatives = torch.tensor([[9, 10, 4], [11, 5, 5]])
    weight, lr = torch.ones(8), 0.1
    expected_loss = straightforward_loss(inputs, outputs, words, contexts, negatives, group)
    leaf_in, leaf_out = inputs.clone().requires_grad_(), outputs.clone().requires_grad_()
    v = leaf_in[words]
    loss = -(F.logsigmoid((v * leaf_out[contexts]).sum(1)).sum()
             + F.logsigmoid(-(v.view(2, group, 1, dim) * leaf_out[negatives][:, None]).sum(-1)).sum())
    loss.backward()
    new_in, new_out = inputs.clone(), outputs.clone()
    got_loss, correct = skipgram_step(new_in, new_out, words, contexts, negatives, weight, lr, math.inf)
    assert float(got_loss) == pytest.approx(expected_loss, rel=1e-5)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-5)
    assert torch.allclose(new_in, inputs - lr * leaf_in.grad, atol=1e-6)
    assert torch.allclose(new_out, outputs - lr * leaf_out.grad, atol=1e-6)
    assert 0 <= float(correct) <= 8 * (k + 1)


def test_padding_pairs_change_nothing_and_max_step_shortens_a_frequent_rows_summed_step():
    generator = torch.Generator().manual_seed(0)
    inputs, outputs = torch.randn(10, 4, generator=generator), torch.randn(10, 4, generator=generator)
    words, contexts = torch.tensor([4, 5, 0, 0]), torch.tensor([6, 7, 0, 0])
    negatives, weight = torch.tensor([[8, 9], [8, 9]]), torch.tensor([1.0, 1.0, 0.0, 0.0])
    padded_in, padded_out = inputs.clone(), outputs.clone()
    skipgram_step(padded_in, padded_out, words, contexts, negatives, weight, 0.1, math.inf)
    plain_in, plain_out = inputs.clone(), outputs.clone()
    skipgram_step(plain_in, plain_out, words[:2], contexts[:2], negatives[:1], weight[:2], 0.1, math.inf)
    assert torch.allclose(padded_in, plain_in) and torch.allclose(padded_out, plain_out)
    # one row as the centre of 64 pairs: its summed step is shortened to max_step, in the same direction
    words, contexts = torch.full((64,), 4), torch.randint(5, 8, (64,), generator=generator)
    negatives, weight = torch.randint(8, 10, (4, 2), generator=generator), torch.ones(64)
    summed, clipped = inputs.clone(), inputs.clone()
    skipgram_step(summed, outputs.clone(), words, contexts, negatives, weight, 0.1, math.inf)
    outputs_clipped = outputs.clone()
    skipgram_step(clipped, outputs_clipped, words, contexts, negatives, weight, 0.1, 0.05)
    full, short = summed[4] - inputs[4], clipped[4] - inputs[4]
    assert full.norm() > 0.05 and short.norm() == pytest.approx(0.05, rel=1e-4)
    assert torch.allclose(short, full * 0.05 / full.norm(), atol=1e-6)
    assert torch.all((outputs_clipped - outputs).norm(dim=1) <= 0.05 + 1e-6)
    assert torch.equal(clipped[[0, 1, 2, 3, 5, 6, 7, 8, 9]], inputs[[0, 1, 2, 3, 5, 6, 7, 8, 9]])


def test_one_cbow_step_moves_each_context_word_by_the_step_of_their_mean():
    generator = torch.Generator().manual_seed(3)
    inputs, outputs = torch.randn(10, 4, generator=generator), torch.randn(10, 4, generator=generator)
    contexts = torch.tensor([[5, 6, 0], [7, 0, 0]])
    inside = torch.tensor([[True, True, False], [True, False, False]])
    words, negatives, weight, lr = torch.tensor([8, 9]), torch.tensor([[4]]), torch.ones(2), 0.5
    hidden = torch.stack([(inputs[5] + inputs[6]) / 2, inputs[7]]).requires_grad_()
    leaf_out = outputs.clone().requires_grad_()
    loss = -(F.logsigmoid((hidden * leaf_out[words]).sum(1)).sum() + F.logsigmoid(-(hidden @ leaf_out[4])).sum())
    loss.backward()
    new_in, new_out = inputs.clone(), outputs.clone()
    got, _ = cbow_step(new_in, new_out, contexts, inside, words, negatives, weight, lr, math.inf)
    assert float(got) == pytest.approx(loss.item(), rel=1e-5)
    for row, pair in ((5, 0), (6, 0), (7, 1)):  # the paper's code: the whole step of the mean, not a share
        assert torch.allclose(new_in[row], inputs[row] - lr * hidden.grad[pair], atol=1e-6)
    assert torch.allclose(new_out, outputs - lr * leaf_out.grad, atol=1e-6)
