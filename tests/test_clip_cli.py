"""``main.py zero-shot`` and ``main.py eval`` on a CLIP run: probabilities per image, zero-shot scores in the
evaluation, and one clear sentence for bad prompt lists, other runs and missing folders."""
from __future__ import annotations

import re

import pytest
from conftest import train_to_completion
from PIL import Image

from engine import events
from engine.cli import format_scores, main
from engine.run import RunConfig, Session

TINY = {"dataset": "shapes", "dataset_options": {"train_size": 256, "test_size": 128, "image_size": 16},
        "batch_size": 32, "steps": 15, "minutes": 0.0, "device": "cpu", "eval_every_s": 0.0, "preview_every_s": 0.0,
        "final_eval": False, "warmup_steps": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for method in ("clip", "simclr"):
        train_to_completion(RunConfig.with_method_defaults({**TINY, "method": method}), root / method)
    image = root / "red.png"
    Image.new("RGB", (40, 40), (230, 20, 20)).save(image)
    (root / "broken.png").write_bytes(b"not an image")
    return root


def run_cli(args: list[str], capfd) -> tuple[int, str, str]:
    code = main(args)
    out = capfd.readouterr()
    return code, out.out, out.err


def test_zero_shot_prints_each_images_probabilities(runs, capfd):
    code, out, err = run_cli(["zero-shot", str(runs / "clip"), "--image", str(runs / "red.png"),
                              str(runs / "broken.png"), "--prompts", "a red star", "a blue ring", "a green heart"],
                             capfd)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("red.png") and len(lines) == 4
    values = [float(line.split("%")[0].split()[-1]) for line in lines[1:]]
    assert sum(values) == pytest.approx(100, abs=0.3) and values == sorted(values, reverse=True)
    assert "skipped" in err and "broken.png" in err


def test_class_names_with_a_template(runs, capfd):
    code, out, _ = run_cli(["zero-shot", str(runs / "clip"), "--image", str(runs / "red.png"), "--prompts", "star",
                            "arrow", "--template", "a drawing of a {}."], capfd)
    assert code == 0 and "a drawing of an arrow." in out and "a drawing of a star." in out


def test_eval_adds_zero_shot_accuracy_for_a_clip_run(runs):
    seen = []
    scores = Session.from_run_dir(runs / "clip", seen.append, eval_every_s=0.0).evaluate()  # main.py eval's work
    assert {"knn", "probe", "zero_shot", "zero_shot_unseen", "binding", "t2i_r1", "t2i_r5"} <= set(scores)
    text = format_scores([e for e in seen if isinstance(e, events.Eval)][-1])
    assert re.search(r"zero_shot +\d+\.\d%", text) and re.search(r"t2i_r5 +\d+\.\d%", text)


@pytest.mark.parametrize("make, message", [
    (lambda d: ["--prompts", " ", ""], "no prompts"),
    (lambda d: ["--prompts-file", str(write(d / "many.txt", "\n".join(f"a shape {i}" for i in range(10_000))))],
     "10,000 prompts is more than the 1,000"),
    (lambda d: ["--prompts-file", str(write(d / "latin1.txt", b"a caf\xe9\n"))], "not UTF-8 text"),
    (lambda d: ["--prompts-file", str(d / "missing.txt")], "cannot read the prompts file"),
    (lambda d: ["--prompts", "star", "--template", "a drawing"], "needs exactly one {}"),
])
def test_a_bad_prompt_list_gets_one_clear_sentence(runs, capfd, make, message):
    code, _, err = run_cli(["zero-shot", str(runs / "clip"), "--image", str(runs / "red.png"), *make(runs)], capfd)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("model, message", [("simclr", "is a simclr run: zero-shot needs a run trained with clip"),
                                            ("nowhere", "does not exist"),
                                            ("red.png", "is a file, not a Hugging Face CLIP folder")])
def test_a_model_that_cannot_do_zero_shot_gets_one_sentence(runs, capfd, model, message):
    code, _, err = run_cli(["zero-shot", str(runs / model), "--image", str(runs / "red.png"), "--prompts", "a star"],
                           capfd)
    assert code == 2 and message in err and "Traceback" not in err
