"""The video sources: shapes_video's clips (equal lightness, different hues, constant colours, motion, occlusion,
instance masks and keypoints that follow the renderer), a folder of frames per clip, and video files through PyAV
(or the one sentence without it)."""
from __future__ import annotations

import sys

import pytest
import torch

from engine.build import RunConfig
from engine.data import load_dataset
from engine.data.color import rgb_to_lab
from engine.data.shapes_video import (
    NO_DECODER,
    VideoDataset,
    generate_clips,
    read_video,
    write_frame_folder,
    write_video,
)
from engine.errors import DatasetUnavailable


@pytest.fixture(scope="module")
def clips():
    return generate_clips(12, seed=3, frames=10, image_size=48, objects=3)


def object_lab(frames: torch.Tensor, instances: torch.Tensor, k: int) -> torch.Tensor:
    """Mean Lab (T, 3) of object k's visible pixels in each frame (NaN where hidden)."""
    lab = rgb_to_lab(frames.float() / 255)  # (T, 3, S, S)
    region = (instances == k)[:, None].float()
    return (lab * region).sum((2, 3)) / region.sum((2, 3))


def test_clips_are_deterministic_and_shaped(clips):
    frames, truth = clips
    assert frames.shape == (12, 10, 3, 48, 48) and frames.dtype == torch.uint8
    assert truth.instances.shape == (12, 10, 48, 48) and int(truth.instances.max()) == 3
    assert truth.keypoints.shape == (12, 10, 6, 2) and truth.keypoint_objects.tolist() == [1, 1, 2, 2, 3, 3]
    again, _ = generate_clips(12, seed=3, frames=10, image_size=48, objects=3)
    assert torch.equal(frames, again)


def test_shapes_share_a_lightness_but_not_a_hue_and_keep_their_colour(clips):
    frames, truth = clips
    for clip, instances in zip(frames, truth.instances):
        colours = torch.stack([object_lab(clip, instances, k) for k in (1, 2, 3)])  # (O, T, 3)
        big = torch.stack([(instances == k).flatten(1).sum(1) for k in (1, 2, 3)]) > 20  # well visible
        seen = [k for k in range(3) if big[k].any()]
        assert len(seen) >= 2
        mean = torch.stack([colours[k][big[k]].mean(0) for k in seen])  # (O, 3)
        assert (mean[:, 0].max() - mean[:, 0].min()) < 4  # one lightness
        ab = mean[:, 1:]
        assert torch.cdist(ab, ab)[~torch.eye(len(seen), dtype=torch.bool)].min() > 15  # different hues
        for i, k in enumerate(seen):  # constant over time
            assert (colours[k][big[k]] - mean[i]).abs().max() < 6  # anti-aliased edges move the mean a little
        background = object_lab(clip, instances, 0)[:, 0].mean()
        assert (background - mean[:, 0].mean()).abs() > 15  # the shapes stand out from the background in gray


def test_shapes_move_turn_and_cover_each_other(clips):
    frames, truth = clips
    centres = truth.keypoints[:, :, 0::2]  # (N, T, O, 2)
    assert (centres[:, -1] - centres[:, 0]).norm(dim=-1).mean() > 2  # pixels travelled
    heading = truth.keypoints[:, :, 1::2] - centres
    turned = torch.atan2(heading[..., 1], heading[..., 0]).diff(dim=1).abs()
    assert (turned > 1e-3).float().mean() > 0.5
    areas = torch.stack([(truth.instances == k).flatten(2).sum(2) for k in (1, 2, 3)], -1).float()  # (N, T, O)
    assert ((1 - areas.amin(1) / areas.amax(1)) > 0.3).any()  # some object loses much of its area: occluded
    assert (frames[:, 1:] != frames[:, :-1]).any()


def test_instance_masks_and_keypoints_follow_the_drawn_shapes(clips):
    frames, truth = clips
    for clip, instances in zip(frames[:4], truth.instances[:4]):
        lab = rgb_to_lab(clip.float() / 255).permute(0, 2, 3, 1)  # (T, S, S, 3)
        colours = torch.stack([lab[instances == k].median(0).values for k in range(4)])  # background, objects
        nearest = torch.cdist(lab.reshape(-1, 3), colours).argmin(1).view(instances.shape)
        on_objects = instances > 0  # (the background's texture has two tones; the shapes one colour each)
        assert (nearest[on_objects] == instances[on_objects].long()).float().mean() > 0.95
    inside = (truth.keypoints >= -0.5) & (truth.keypoints <= 47.5)
    assert inside.all()
    centre = truth.keypoints[:, :, ::2].round().long()  # an unoccluded centre lies on its own object (most shapes)
    n, t, o = centre.shape[:3]
    clip, frame = torch.arange(n)[:, None, None], torch.arange(t)[None, :, None]
    hit = truth.instances[clip, frame, centre[..., 1], centre[..., 0]]
    assert (hit == torch.arange(1, o + 1)).float().mean() > 0.6


def test_a_folder_of_frames_per_clip_loads_as_clips(tmp_path, clips):
    frames, _ = clips
    for i in range(4):
        write_frame_folder(frames[i], tmp_path / f"clip_{i}")
    (tmp_path / "notes.txt").write_text("not a clip")
    data = load_dataset("video_folder", {"path": str(tmp_path), "image_size": 48, "frames": 5, "test_fraction": 0.25})
    assert isinstance(data, VideoDataset) and data.clip_length == 5
    loaded = torch.cat([data.clips(data.train), data.clips(data.test)])
    assert loaded.shape == (8, 5, 3, 48, 48)  # each 10-frame clip cut in two
    expected = frames[:4].reshape(8, 5, 3, 48, 48)
    assert sorted(c.sum().item() for c in loaded) == sorted(c.sum().item() for c in expected)
    assert any(torch.equal(loaded[0], e) for e in expected)  # PNG frames come back exactly


def test_a_folder_without_clips_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(DatasetUnavailable, match="no clip of 16 frames"):
        load_dataset("video_folder", {"path": str(tmp_path)})
    with pytest.raises(DatasetUnavailable, match="needs dataset.path"):
        load_dataset("video_folder", {})


def test_without_pyav_a_video_file_is_skipped_with_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av fails as if it were not installed
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(DatasetUnavailable, match="PyAV"):
        read_video(tmp_path / "clip.mp4", 32)
    with pytest.raises(DatasetUnavailable) as refused:
        load_dataset("video_folder", {"path": str(tmp_path), "frames": 4})
    assert NO_DECODER in str(refused.value)


def test_video_files_round_trip_through_pyav(tmp_path, clips):
    pytest.importorskip("av", reason="PyAV is not installed (pip install 'pretext[video]')")
    frames, _ = clips
    write_video(frames[0], tmp_path / "clip.mkv")
    decoded = read_video(tmp_path / "clip.mkv", 48)
    assert decoded.shape == frames[0].shape
    assert (decoded.int() - frames[0].int()).abs().max() <= 1  # lossless FFV1, up to colour-format rounding
    data = load_dataset("video_folder", {"path": str(tmp_path), "image_size": 48, "frames": 10})
    assert len(data.clips(data.train)) == 1


def test_the_video_method_refuses_image_data_and_image_methods_refuse_clips():
    with pytest.raises(ValueError, match="video_colorization trains on video and shapes is image: choose the "
                                         "dataset shapes_video or video_folder"):
        RunConfig(method="video_colorization", dataset="shapes")
    with pytest.raises(ValueError, match="simclr trains on image and shapes_video is video"):
        RunConfig(method="simclr", dataset="shapes_video")
