"""Text sources: captions through the shapes source, a user's files and folders (bad files get a clear message and
the rest loads), the fortunes default, analogy files, and RunConfig refusing a method on the other modality."""
from __future__ import annotations

import pytest

from engine.build import RunConfig
from engine.data import load_dataset
from engine.errors import DatasetUnavailable
from engine.text import corpora
from engine.text.corpora import passages, read_analogies


def test_captions_are_the_shapes_worlds_and_carry_their_attribute_words():
    from engine.data import shapes

    corpus = load_dataset("captions", {"train_size": 50, "test_size": 10})
    assert len(corpus.train) == 50 and len(corpus.test) == 10
    assert set(" ".join(corpus.train).split()) & set(shapes.COLORS)
    assert [w for w in corpus.attribute_words["color"] if w in shapes.COLORS] == list(shapes.COLORS)
    assert {"turquoise", "violet"} <= set(corpus.attribute_words["color"])
    assert set(corpus.attribute_words["position"]) == set(shapes.HPOS) | set(shapes.VPOS) | {"centre"}
    assert corpus.passage_attributes["color"][0] in corpus.train[0]
    varied = load_dataset("captions", {"train_size": 50, "test_size": 10, "style": "varied"})
    assert varied.train != corpus.train and len({caption.split()[0] for caption in varied.train}) > 1


def test_passages_split_at_blank_lines_and_fortune_separators():
    text = "First line\nof one.\n\nSecond.\n%\nThird,\r\nfourth.\n%\n"
    assert passages(text) == ["First line of one.", "Second.", "Third, fourth."]


def test_a_folder_loads_its_good_files_and_names_each_bad_one(tmp_path):
    (tmp_path / "good.txt").write_text("The cat sat on the mat.\n\nA dog barked.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.TXT").write_text("Another passage here.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("  \n\n ", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "wide.txt").write_bytes("hello".encode("utf-16"))
    (tmp_path / "notes.md").write_text("not read", encoding="utf-8")
    corpus = load_dataset("text", {"path": str(tmp_path), "test_fraction": 0.0})
    assert sorted(corpus.train) == ["A dog barked.", "Another passage here.", "The cat sat on the mat."]
    reasons = {name.rsplit("/", 1)[-1]: reason for name, reason in corpus.skipped}
    assert reasons["latin1.txt"].startswith("not UTF-8 text (byte 0xe9 at offset 3)")
    assert reasons["empty.txt"] == reasons["blank.txt"] == "empty file"
    assert reasons["image.txt"] == "a binary file, not text"
    assert reasons["wide.txt"] == "UTF-16 text: save it as UTF-8"
    assert "1 file(s) not named .txt were not read (notes.md)" in reasons[tmp_path.name]
    assert corpus.description == f"2 file(s) from {tmp_path}"


def test_a_single_file_a_missing_path_and_a_folder_of_bad_files(tmp_path):
    book = tmp_path / "book"
    book.write_text("One.\n\nTwo.\n\nThree.\n\nFour.", encoding="utf-8")
    corpus = load_dataset("text", {"path": str(book), "test_fraction": 0.25})
    assert len(corpus.train) == 3 and len(corpus.test) == 1
    with pytest.raises(DatasetUnavailable, match="does not exist"):
        load_dataset("text", {"path": str(tmp_path / "nowhere")})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_bytes(b"")
    with pytest.raises(DatasetUnavailable, match=r"No readable text .*a\.txt: empty file"):
        load_dataset("text", {"path": str(bad)})


def test_no_path_reads_the_fortunes_or_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "FORTUNES", tmp_path / "absent")
    with pytest.raises(DatasetUnavailable, match="apt-get install fortunes"):
        load_dataset("text", {})
    fortunes = tmp_path / "fortunes"
    fortunes.mkdir()
    (fortunes / "wisdom").write_text("Look before you leap.\n%\nHaste makes waste.\n%\n", encoding="utf-8")
    (fortunes / "wisdom.dat").write_bytes(b"\x00\x00\x00\x02binary index")
    (fortunes / "wisdom.u8").symlink_to(fortunes / "wisdom")
    monkeypatch.setattr(corpora, "FORTUNES", fortunes)
    corpus = load_dataset("text", {"test_fraction": 0.0})
    assert sorted(corpus.train) == ["Haste makes waste.", "Look before you leap."] and corpus.skipped == []
    assert corpus.analogies and all(len(q) == 4 for q in corpus.analogies)  # the shipped list


def test_analogy_files_skip_comments_and_name_a_bad_line(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(": capitals\n# a comment\nAthens Greece Oslo Norway\n\nman woman king queen\n", encoding="utf-8")
    assert read_analogies(path) == [("athens", "greece", "oslo", "norway"), ("man", "woman", "king", "queen")]
    path.write_text("man woman king\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: an analogy is four words"):
        read_analogies(path)


def test_a_method_and_a_dataset_of_different_modalities_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match="simclr trains on image and captions is text: choose the dataset"):
        RunConfig(method="simclr", dataset="captions")
    with pytest.raises(ValueError, match="word2vec trains on text and shapes is image: choose the dataset "
                                         "captions or text"):
        RunConfig(method="word2vec", dataset="shapes")
    assert RunConfig.with_method_defaults({"method": "word2vec"}).dataset == "captions"
