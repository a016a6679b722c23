"""VideoSession: the image Session (its loop, controls, events, checkpoints and run folder, unchanged) for a video
method, whose evaluations track held-out clips instead of running kNN: mean J and the keypoint error of the method's
propagation beside the baselines (the first frame copied, a random network, raw pixel colours, and the raw lightness
that the network sees). A video
dataset's splits hold the frames as images, so training, previews and checkpoints are the image Session's;
``engine.run.make_session`` picks this class for a video method."""
from __future__ import annotations

import torch

from engine import events
from engine.run import Session
from engine.video.tracking import Tracked, evaluate_tracking, raw_pixel_features, summary

PREVIEW_SAMPLES = 3  # clips shown in the preview, one sample of references and target each


class VideoSession(Session):
    """Trains a video run; scores ``J`` and ``keypoint_px`` on the test clips' ground truth."""

    @property
    def evaluable(self) -> bool:
        return getattr(self.dataset, "test_truth", None) is not None

    def _setup(self) -> None:
        super()._setup()
        if self.evaluable and self.config.eval_every_s > 0:
            self.on_event(events.Status("Tracking baselines: the first frame copied, a random network, raw pixels"))
            self.baselines = self.tracking_baselines(self.method.config.eval_clips)

    def evaluate(self) -> dict[str, float]:
        """Load this run's checkpoint and track all test clips (``main.py eval RUN_DIR``), appended to its metrics
        as a final eval record."""
        self._setup()
        try:
            if not self.evaluable:
                raise ValueError(f"{self.config.dataset} has no ground-truth masks to score tracking against")
            return self._final_eval()
        finally:
            self.metrics.close()

    def tracked(self, features_of, clips: int = 0) -> list[Tracked]:
        """The first ``clips`` (0: all) test clips tracked through ``features_of`` (None: the first frame copied)."""
        n = clips or len(self.dataset.test_truth.instances)
        frames = self.dataset.clips(self.dataset.test)[:n]
        device_features = None if features_of is None else (lambda clip: features_of(clip.to(self.device)))
        return evaluate_tracking(device_features, frames, self.dataset.test_truth[:n], self.method.track_settings)

    def tracking_baselines(self, clips: int = 0) -> dict[str, dict[str, float]]:
        """J and keypoint error of the baselines on the first ``clips`` clips: the first frame copied, a random
        network, raw pixel colours, raw lightness."""
        stride = self.image_size // self.method.features(self.dataset.test.images[:1].to(self.device)).shape[-1]
        kinds = {"copy": None, "random": self.method.untrained_features(self.config.seed + 1),
                 "raw": lambda frames: raw_pixel_features(frames, stride),
                 "gray": lambda frames: raw_pixel_features(frames, stride, lightness=True)}
        return {name: summary(self.tracked(features_of, clips)) for name, features_of in kinds.items()}

    def _evaluate(self) -> None:
        scores = summary(self.tracked(self.method.features, self.method.config.eval_clips))
        self._log_eval(events.Eval(self.step, scores, self.baselines))

    def _final_eval(self) -> dict[str, float]:
        self.on_event(events.Status("Final evaluation: tracking every test clip"))
        scores = summary(self.tracked(self.method.features))
        self._log_eval(events.Eval(self.step, scores, self.tracking_baselines(), final=True))
        return scores

    def preview_frames(self) -> torch.Tensor:
        """Frames of a few test clips, each a reference run and its target as training samples them."""
        clips = self.dataset.clips(self.dataset.test)[:PREVIEW_SAMPLES]
        gap, per_clip = self.method.config.frame_gap, self.method.config.references + 1
        return clips[:, torch.arange(per_clip) * gap].flatten(0, 1)

    def _maybe_preview(self, force: bool) -> None:
        if not (force or self._preview_requested.is_set()):
            return
        self._preview_requested.clear()
        tiles = self.method.preview(self.preview_frames().to(self.device), torch.Generator(self.device))
        self.on_event(events.Preview(self.step, tiles))
        self.on_event(self.attention())
