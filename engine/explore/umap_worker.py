"""UMAP (McInnes, Healy & Melville 2018) in a process of its own, warmed up at app start.

Why a process: umap-learn's numba code compiles for about a minute in every fresh process and holds the GIL
meanwhile, and on macOS umap and torch in one process can load two OpenMP runtimes and crash (umap-learn
issue 1094). The worker imports numpy and umap only, never torch; it is started with the "spawn" context.

Why it is fast: (1) the caller passes the exact k-nearest-neighbour graph (computed with torch among the first
50 principal components, see ``engine.explore.layout``), so pynndescent, whose functions cannot be cached (they
take other jitted functions as arguments), never runs; (2) before umap is imported, every numba decorator in this
process gets ``cache=True``, with the machine code kept under the Pretext cache, so later sessions load it in about a
second instead of compiling it again; (3) the layout starts from a given initialisation (PCA, or the previous
snapshot's layout) and runs 200 epochs, on one core; (4) a tiny fit at start-up loads or compiles everything a
real fit uses. ``bench/umap_first_view.py`` measures before and after.
"""
from __future__ import annotations

import functools
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from engine.explore import Cancelled

POLL_S = 0.05  # how often a waiting request checks ``cancelled()`` and the worker's health


class LayoutError(RuntimeError):
    """The worker could not compute a layout; the message says why."""


@dataclass(frozen=True)
class UmapSettings:
    n_neighbors: int = 15  # neighbourhood size of the graph (local versus global structure)
    min_dist: float = 0.1  # how tightly points may pack in 2-D
    n_epochs: int = 200  # layout optimisation epochs (umap-learn's default for <= 10 000 points is 500)
    seed: int | None = 0  # the same seed and data give the same layout; None: a different one each time


class UmapWorker:
    """The client: starts the worker process at once (it warms up in the background) and sends it layouts to
    compute. Calls block the calling thread (never the worker's CPU-heavy work: it runs in the other process),
    are serialised, and may come from any thread."""

    def __init__(self, numba_cache: Path | None = None, warm_up: bool = True):
        """``numba_cache``: where compiled code is kept (default: ``numba`` in the Pretext cache)."""
        if numba_cache is None:
            from engine.eval.protocol import cache_dir  # imported here: this module must not import torch

            numba_cache = cache_dir() / "numba"
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")
        self._numba_cache = str(numba_cache)
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(target=serve, args=(child, self._numba_cache, self._warm_up),
                                              name="pretext-umap", daemon=True)
        self._process.start()
        child.close()
        self._ready = False

    def _restart(self) -> None:
        self._stop()
        if not self._closed:
            self._start()

    def _stop(self) -> None:
        self._conn.close()  # an idle worker sees the pipe close and exits; a busy one is terminated
        self._process.join(timeout=0.5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)

    def close(self) -> None:
        """Stop the worker at once; a layout in progress on another thread then raises LayoutError."""
        self._closed = True
        self._stop()

    def __enter__(self) -> UmapWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def ready(self) -> bool:
        """Whether the warm-up has finished (a request sent before then waits for it)."""
        return self.wait_until_ready(0.0)

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        if self._ready or self._closed or not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return self._ready
        try:
            while not self._ready and self._next(timeout) is not None:
                pass
        except LayoutError:
            self._restart()
        finally:
            self._lock.release()
        return self._ready

    def fit(self, features: np.ndarray, knn_indices: np.ndarray, knn_distances: np.ndarray, init: np.ndarray,
            settings: UmapSettings = UmapSettings(), method: str = "umap",
            cancelled: Callable[[], bool] | None = None,
            progress: Callable[[float], None] | None = None) -> np.ndarray:
        """float32 (N, 2) coordinates of ``features`` (N, D).

        ``knn_indices`` / ``knn_distances`` (N, k >= n_neighbors): each point's nearest neighbours, itself
        first, and their distances; ``init`` (N, 2): the starting layout. ``method="pca"`` is a linear layout
        that needs no compilation (it exercises the protocol in tests). ``progress`` gets the fraction of
        epochs done; when ``cancelled()`` turns true the worker is killed (and restarted) and Cancelled raised.
        Raises LayoutError if the worker fails or dies."""
        request = {"method": method, "features": features, "knn_indices": knn_indices,
                   "knn_distances": knn_distances, "init": init, "settings": asdict(settings)}
        with self._lock:
            if self._closed:
                raise LayoutError("the UMAP worker has been closed")
            if not self._process.is_alive():
                self._restart()
            self._conn.send(request)
            while True:
                if cancelled is not None and cancelled():
                    self._restart()
                    raise Cancelled("layout cancelled")
                try:
                    message = self._next(POLL_S)
                except LayoutError:
                    self._restart()
                    raise
                if message is None:
                    continue
                kind, payload = message
                if kind == "progress" and progress is not None:
                    progress(payload)
                elif kind == "result":
                    return payload
                elif kind == "error":
                    raise LayoutError(payload)

    def _next(self, timeout: float | None) -> tuple[str, Any] | None:
        """The worker's next message within ``timeout`` seconds, or None; LayoutError if the worker is gone."""
        try:
            if not self._conn.poll(timeout):
                return None
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            if self._closed:
                raise LayoutError("the UMAP worker has been closed") from None
            self._process.join(timeout=5)
            raise LayoutError(f"the UMAP process stopped unexpectedly (exit code {self._process.exitcode})") from None
        if kind == "ready":
            self._ready = True
        return kind, payload


# The worker process.

def serve(conn: Connection, numba_cache: str, warm_up: bool) -> None:
    """The worker's loop: warm up, then answer requests until the pipe closes."""
    os.environ["NUMBA_CACHE_DIR"] = numba_cache
    # One core: with training busy on both cores of a laptop, a second numba thread made layouts slower (barrier
    # waits), and the core left over keeps training and the window going.
    os.environ["NUMBA_NUM_THREADS"] = "1"
    warnings.simplefilter("ignore")  # umap-learn warns that transform() needs a search index: we never use it
    try:
        if warm_up:
            _warm_up()
        conn.send(("ready", None))
        while True:
            request = conn.recv()
            try:
                layout = LAYOUTS[request["method"]]
                reply = ("result", layout(request, lambda fraction: conn.send(("progress", fraction))))
            except OSError:
                raise
            except Exception as e:  # noqa: BLE001 -- any failure becomes the client's LayoutError
                reply = ("error", f"{type(e).__name__}: {e}")
            conn.send(reply)
    except (EOFError, OSError):  # the window closed the pipe or exited: nobody waits for an answer
        return


def cache_numba_functions() -> None:
    """From now on every numba function compiled in this process keeps its machine code on disk
    (``cache=True``, under ``NUMBA_CACHE_DIR``), even those umap-learn marks ``cache=False``. Call it before
    importing umap. Numba keys each cache entry on the source file's time stamp and numba's version, so
    upgrades invalidate it."""
    import numba

    def caching(decorator: Callable) -> Callable:
        @functools.wraps(decorator)
        def with_cache(*args: Any, **kwargs: Any) -> Any:
            return decorator(*args, **{**kwargs, "cache": True})

        return with_cache

    numba.njit, numba.jit = caching(numba.njit), caching(numba.jit)


@functools.cache
def _import_umap() -> Any:
    cache_numba_functions()
    import umap
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())  # not its default multiprocessing lock, which a killed worker would leak
    return umap


def _umap(request: dict, progress: Callable[[float], None]) -> np.ndarray:
    umap = _import_umap()
    s = UmapSettings(**request["settings"])
    k = s.n_neighbors
    knn = (np.ascontiguousarray(request["knn_indices"][:, :k], dtype=np.int64),
           np.ascontiguousarray(request["knn_distances"][:, :k], dtype=np.float32), None)
    reducer = umap.UMAP(n_neighbors=k, min_dist=s.min_dist, n_epochs=s.n_epochs, random_state=s.seed,
                        init=np.asarray(request["init"], dtype=np.float32), precomputed_knn=knn,
                        tqdm_kwds={"disable": False, "file": _EpochProgress(progress), "bar_format": "{n}/{total}",
                                   "mininterval": 0.2})
    return reducer.fit_transform(np.ascontiguousarray(request["features"], dtype=np.float32)).astype(np.float32)


def _pca(request: dict, progress: Callable[[float], None]) -> np.ndarray:
    x = np.asarray(request["features"], dtype=np.float64)
    if len(x) < 2:
        raise ValueError("a layout needs at least two points")
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    progress(1.0)
    return (x @ vt[:2].T).astype(np.float32)


LAYOUTS = {"umap": _umap, "pca": _pca}


class _EpochProgress:
    """A file for umap-learn's tqdm bar ("{n}/{total}" lines) that reports the fraction of epochs done."""

    def __init__(self, progress: Callable[[float], None]):
        self.progress = progress

    def write(self, text: str) -> None:
        if done := re.findall(r"(\d+)/(\d+)", text):
            n, total = map(int, done[-1])
            self.progress(n / max(total, 1))

    def flush(self) -> None:
        pass


def _warm_up(n: int = 300, dim: int = 16, k: int = UmapSettings.n_neighbors) -> None:
    """A tiny fit with the dtypes and code paths of a real one, so the first real fit compiles nothing."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    indices = np.argsort(distances, axis=1)[:, :k]
    request = {"features": x, "knn_indices": indices, "knn_distances": np.take_along_axis(distances, indices, 1),
               "init": x[:, :2], "settings": asdict(UmapSettings(n_epochs=10))}
    _umap(request, lambda fraction: None)
