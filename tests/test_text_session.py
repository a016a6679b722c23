"""Text runs end to end: the CLI trains word2vec and masked_lm on captions into a run folder, ``eval`` reads it
back, a stopped run resumes to what an uninterrupted one reaches, the attribute-neighbour score beats random
vectors; and the word-vector queries (neighbours, analogies) against hand-made vectors."""
from __future__ import annotations

import json

import pytest
import torch

from engine import events
from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.run import RunConfig, make_session, resume_session
from engine.text.evaluation import WordVectors, attribute_neighbour_score, parse_query
from engine.text.session import TextSession, load_text_run

SMALL = {"train_size": 2000, "test_size": 100}


def run_config(method: str, **values) -> RunConfig:
    return RunConfig.with_method_defaults({"method": method, "dataset_options": dict(SMALL), "device": "cpu",
                                           "minutes": 0.0, "eval_every_s": 0.0, "preview_every_s": 0.0, **values})


def test_the_cli_trains_word2vec_on_captions_and_eval_reads_the_run_back(tmp_path, capfd):
    run_dir = tmp_path / "w2v"
    assert main(["train", "--method", "word2vec", "--steps", "300", "--out", str(run_dir), "--device", "cpu",
                 "--set", "dataset.train_size=2000", "--set", "dataset.test_size=100"]) == 0
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config"]["method"] == "word2vec" and info["dataset"]["name"] == "captions"
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in lines if "loss" in r]
    assert len(steps) == 300 and steps[-1]["loss"] < steps[0]["loss"]
    final = [r for r in lines if r.get("final")][-1]
    score, random = final["eval"]["attribute_neighbours"], final["baselines"]["random"]["attribute_neighbours"]
    assert score > random + 0.3, (score, random)
    err = capfd.readouterr().err
    assert "words/s" in err and "red:" in err and "attribute-neighbour score" in err
    assert main(["eval", str(run_dir)]) == 0
    assert "Nearest words and analogies at step 300" in capfd.readouterr().err
    assert main(["eval", str(run_dir), "--export", str(tmp_path / "words"), "--points", "10"]) == 0  # PCA: 10 words
    metadata = (tmp_path / "words" / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "word\tgroup\tcount" and len(metadata) == 11
    snapshot = load_text_run(run_dir)
    vectors = snapshot.word_vectors()
    colours = {w for w, _ in vectors.neighbours("red", 3)}
    assert colours <= {"orange", "yellow", "green", "cyan", "blue", "purple", "pink"}, colours


@pytest.mark.parametrize("method", ["word2vec", "masked_lm"])
def test_a_stopped_run_resumes_to_what_an_uninterrupted_one_reaches(tmp_path, method):
    config = run_config(method, steps=12, batch_size=256 if method == "word2vec" else 16, final_eval=False,
                        **({"method_options": {"dim": 32, "heads": 2, "ff_dim": 64}} if method == "masked_lm" else {}))
    whole = make_session(config, tmp_path / "whole")
    assert isinstance(whole, TextSession) and whole.run().reason == "completed"
    seen = []

    def stop_at_5(event):
        seen.append(event)
        if isinstance(event, events.Step) and event.step >= 5:
            interrupted.stop()

    interrupted = make_session(config, tmp_path / "split", stop_at_5)
    assert interrupted.run().reason == "stopped"
    started = next(e for e in seen if isinstance(e, events.Started))
    assert started.unit == "words" and started.train_size > 0
    assert any(isinstance(e, events.Preview) and e.tiles.rows for e in seen)
    resumed = resume_session(tmp_path / "split")
    assert resumed.run().step == 12
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.safetensors")[0] for name in ("whole", "split"))
    for key in a:
        if key.startswith("model."):
            assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 13))


def test_masked_lm_on_captions_learns_its_task_and_a_failure_is_reported(tmp_path):
    config = run_config("masked_lm", steps=100, warmup_steps=10, method_options={"dim": 32, "heads": 2, "ff_dim": 64})
    seen = []
    assert make_session(config, tmp_path / "mlm", seen.append).run().reason == "completed"
    final = [e for e in seen if isinstance(e, events.Eval) and e.final][-1]
    assert final.scores["masked_acc"] > 0.3
    report = [e for e in seen if isinstance(e, events.Report)][-1]
    assert any(line.startswith("red:") for line in report.lines)
    bad = run_config("masked_lm", steps=5, method_options={"dim": 30, "heads": 4})
    seen = []
    assert make_session(bad, tmp_path / "bad", seen.append).run().reason == "failed"
    assert "must divide its dim" in next(e for e in seen if isinstance(e, events.Error)).message


def test_neighbours_analogies_and_the_attribute_score_on_hand_made_vectors():
    words = ["[PAD]", "[UNK]", "[CLS]", "[MASK]", "man", "woman", "king", "queen", "red", "blue", "apple"]
    vectors = torch.tensor([[0, 0, 0]] * 4 + [[1, 0.1, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 5], [0, 0.2, 5],
                                             [5, 5, -5]], dtype=torch.float)
    wv = WordVectors(words, vectors)
    assert wv.analogy("man", "woman", "king")[0][0] == "queen"  # woman - man + king
    assert [w for w, _ in wv.neighbours("red", 2)] == ["blue", "king"]
    assert all(w not in ("[PAD]", "[UNK]", "[CLS]", "[MASK]") for w, _ in wv.neighbours("man", 6))
    assert parse_query("King - man+woman") == [(1, "king"), (-1, "man"), (1, "woman")]
    with pytest.raises(ValueError, match="'zebra' is not in the vocabulary"):
        wv.neighbours("red + zebra")
    with pytest.raises(ValueError, match="type a word"):
        parse_query("   ")
    groups = {"colour": ["red", "blue"], "person": ["man", "woman"]}
    assert attribute_neighbour_score(wv, groups, k=1) == pytest.approx(0.75)  # woman's nearest is queen
