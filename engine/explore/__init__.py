"""The representation explorer's engine: embeddings of a run's data, 2-D views (PCA at once, UMAP in a process
of its own), nearest-neighbour queries for dropped images, evaluation reports and exports. No Qt here.

A window uses it like this (every call returns plain tensors, numpy arrays or dataclasses; the slow ones take
``cancelled`` / ``progress`` callbacks and belong on a worker thread)::

    worker = UmapWorker()                                   # at app start: warms up in its own process
    snapshot = EncoderSnapshot.of_session(session)          # on the training thread (on_event) or paused
    snapshot = EncoderSnapshot.of_run(load_run(run_dir))    # or a saved run (read-only)
    emb = embed_dataset(snapshot, dataset, "train")         # seconds: up to 20 000 images
    xy = pca_2d(emb.features)                               # at once
    xy = umap_2d(worker, emb.features, init=xy)             # seconds, in the worker process
    xy = align_2d(xy, previous_xy)                          # to animate from the previous snapshot
    results = query(snapshot, emb, dropped_paths, xy)       # tens of milliseconds per image

This package's ``__init__`` and ``umap_worker`` must stay free of torch: the UMAP process imports them."""

from engine.errors import Cancelled  # noqa: F401  (the explorer's long calls raise it)
