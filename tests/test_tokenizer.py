"""The word-level vocabulary: fitted counts and caps, unknown words, round trips through ids and JSON."""
import pytest

from engine.text.tokenizer import SPECIAL_TOKENS, Vocabulary

CORPUS = ["A small red star on the left, over stripes.", "a red star", "A star, red, on a striped background!"]


def test_round_trip_of_known_words_and_punctuation():
    vocabulary = Vocabulary.fit(CORPUS)
    ids = vocabulary.encode(["a red star, on the left."])[0]
    assert vocabulary.decode(ids) == "a red star, on the left."
    assert vocabulary.unk_id not in ids


def test_unknown_words_and_case():
    vocabulary = Vocabulary.fit(CORPUS)
    ids = vocabulary.encode(["A RED zebra"])[0]
    assert ids == [vocabulary.id_of("a"), vocabulary.id_of("red"), vocabulary.unk_id]
    assert vocabulary.id_of("zebra") == vocabulary.unk_id


def test_minimum_count_and_size_cap_keep_the_most_frequent_words():
    vocabulary = Vocabulary.fit(CORPUS, min_count=2)
    assert set(vocabulary.words) == set(SPECIAL_TOKENS) | {"a", "red", "star", "on", ","}
    capped = Vocabulary.fit(CORPUS, max_size=len(SPECIAL_TOKENS) + 1)  # "a" (4 times) beats ",", "red", "star" (3)
    assert capped.words == [*SPECIAL_TOKENS, "a"]
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.fit(CORPUS, min_count=0)


def test_json_round_trip_and_foreign_json():
    vocabulary = Vocabulary.fit(CORPUS)
    restored = Vocabulary.from_json(vocabulary.to_json())
    assert restored.words == vocabulary.words
    assert restored.encode(CORPUS) == vocabulary.encode(CORPUS)
    assert (restored.pad_id, restored.unk_id, restored.cls_id, restored.mask_id) == (0, 1, 2, 3)
    from tokenizers import Tokenizer, models
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(Tokenizer(models.WordLevel({"a": 0}, unk_token="a")))
