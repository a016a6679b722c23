"""Video: clips, the attention that copies colours between frames, mask and keypoint propagation, the video session."""
