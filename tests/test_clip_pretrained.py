"""A user's pretrained CLIP: a Hugging Face CLIP folder (here a tiny randomly initialised one this test writes in
that format) loads offline for zero-shot and text search on their own photos; anything else gets one sentence."""
from __future__ import annotations

import json
import string

import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.eval.pretrained_clip import load_pretrained_clip


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("hf") / "tiny-clip"
    folder.mkdir()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + ".,":  # a character-level BPE: every lower-case word tokenizes
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2, image_size=30,
                  patch_size=6)
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.25] * 3}))
    photos = folder.parent / "photos"
    photos.mkdir()
    for name, colour in (("red.png", (220, 20, 20)), ("blue.jpg", (20, 20, 220))):
        Image.new("RGB", (64, 48), colour).save(photos / name)
    return folder


def test_a_hugging_face_clip_folder_loads_offline_and_embeds_images_and_texts(hf_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_pretrained_clip(hf_folder)
    images = torch.randint(0, 256, (3, 3, 50, 50), dtype=torch.uint8)
    embedded = model.embed_images(images)
    assert embedded.shape == (3, 16) and torch.allclose(embedded.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(model.embed_images(images[:1]), embedded[:1], atol=1e-5)
    texts = model.embed_texts(["a red star", "a photo of a dog", "a red star"])
    assert texts.shape == (3, 16) and torch.allclose(texts[0], texts[2]) and not torch.allclose(texts[0], texts[1])
    assert model.embed_images(images[:, :1]).shape == (3, 16)  # grayscale images are given three channels
    assert 0 < model.logit_scale <= 100 and model.image_size == 30
    assert torch.allclose(model.mean.flatten(), torch.tensor([0.5] * 3))


def test_zero_shot_and_search_on_a_folder_of_photos(hf_folder, capfd):
    photos = hf_folder.parent / "photos"
    assert main(["zero-shot", str(hf_folder), "--image", str(photos / "red.png"), "--prompts", "red", "blue"]) == 0
    out = capfd.readouterr().out.splitlines()
    assert out[0].endswith("red.png") and {line.split()[0] for line in out[1:]} == {"red", "blue"}
    assert main(["search", str(hf_folder), "--images", str(photos), "--text", "something red", "--top", "2"]) == 0
    out = capfd.readouterr().out.splitlines()
    assert out[0] == "something red" and sorted(line.rsplit("/", 1)[-1] for line in out[1:]) == ["blue.jpg", "red.png"]


def test_what_is_not_a_hugging_face_clip_folder_gets_one_sentence(hf_folder, tmp_path):
    (tmp_path / "open_clip").mkdir()
    (tmp_path / "open_clip" / "open_clip_pytorch_model.bin").write_bytes(b"\0" * 16)
    (tmp_path / "ViT-B-32.pt").write_bytes(b"\0" * 16)
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text((hf_folder / "config.json").read_text())
    cases = {"nowhere": "does not exist", "ViT-B-32.pt": "need the open_clip package",
             "open_clip": "need the open_clip package", "bert": "'bert' model, not a CLIP model",
             "empty": "has no config.json", "broken": "cannot be loaded"}
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message) as caught:
            load_pretrained_clip(tmp_path / name)
        assert "\n" not in str(caught.value), name
