"""2D/3D projections of embedding vectors: UMAP (cosine, seeded), PCA, and a direction two groups define.

The **direction** projection (the TF Embedding Projector's custom linear projection) puts every point on the axis
from mean(A) to mean(B) (x, :func:`onto_direction`: A's mean at -1/2, B's at +1/2) and lays out what is left
orthogonal to that axis by PCA (y, and z in 3D).

Small sets are handled: UMAP gets ``n_neighbors`` below the number of points and a random init when
spectral init cannot work; fewer than :data:`MIN_UMAP_POINTS` points fall back to PCA with a notice.
UMAP's numba code compiles on first use (10-14 s, and again for the NN-descent path used from 4,096
points): :func:`start_umap_warmup` compiles both in a background thread when the app starts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..checks import whole_number
from ..errors import UserInputError

log = logging.getLogger(__name__)

METHODS = ("umap", "pca", "direction")
DIMS = (2, 3)
MIN_UMAP_POINTS = 4
DEFAULT_N_NEIGHBORS = 15
#: Below this many points UMAP's spectral init is unreliable (n=3 fails): use a random init.
SPECTRAL_MIN_POINTS = 16
ENV_WARMUP = "XLM_EXPLORER_WARMUP"
WARMUP_THREAD_NAME = "xlm-explorer-umap-warmup"


@dataclass(frozen=True)
class Projection:
    """``coords`` (N, dims) float32; ``method`` is what actually ran (PCA when UMAP could not)."""

    coords: np.ndarray
    method: str
    dims: int
    seed: int
    n_neighbors: int | None
    seconds: float
    notices: tuple[str, ...] = ()
    #: direction only: rows in groups A and B, the distance between their means, and the share of A's and B's rows
    #: on their own group's side of an axis fitted without them (leave-one-out; None when a group has one row)
    groups: tuple[int, int] | None = None
    axis_length: float | None = None
    own_side: float | None = None


def check_method(method: object) -> str:
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise UserInputError(f"Unknown projection {str(method)[:30]!r}; choose one of: {', '.join(METHODS)}.")
    return method.lower()


def check_dims(dims: object) -> int:
    try:
        value = float(dims)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserInputError("Dimensions must be 2 or 3.") from None
    if value not in DIMS:
        raise UserInputError(f"Dimensions must be 2 or 3, not {str(dims)[:10]}.")
    return int(value)


def check_seed(seed: object) -> int:
    return whole_number(seed, 0, 2**31 - 1, "The seed")


#: Above this size PCA uses ARPACK's truncated SVD (a few matrix products) instead of a dense eigensolver.
DENSE_PCA_MAX = 256


def pca(points: np.ndarray, dims: int) -> np.ndarray:
    """(N, H) -> (N, dims) principal-component coordinates; missing components (N or H too small, or no
    variance left) are 0.

    Exact and deterministic (float64): a dense SVD for small inputs, ARPACK's truncated SVD with a fixed
    start vector for large ones; each component's sign is fixed so its largest loading is positive.
    """
    points = np.asarray(points, dtype=np.float64)
    centered = points - points.mean(axis=0, keepdims=True)
    n, h = centered.shape
    coords = np.zeros((n, dims), dtype=np.float32)
    if n < 2:
        return coords
    k = min(dims, n, h)
    if min(n, h) <= DENSE_PCA_MAX or k >= min(n, h) - 1:
        u, s, vt = np.linalg.svd(centered, full_matrices=False)
    else:
        from scipy.sparse.linalg import svds

        start = np.linspace(1.0, 2.0, min(n, h))  # fixed start vector: the same answer every time
        u, s, vt = svds(centered, k=k, solver="arpack", v0=start, tol=1e-10, random_state=0)
        order = np.argsort(s)[::-1]
        u, s, vt = u[:, order], s[order], vt[order]
    for c in range(k):
        if s[0] <= 0 or s[c] <= s[0] * 1e-6:  # numerically zero variance: leave the component at 0
            break
        sign = 1.0 if vt[c, np.argmax(np.abs(vt[c]))] >= 0 else -1.0
        coords[:, c] = (u[:, c] * s[c] * sign).astype(np.float32)
    return coords


def onto_direction(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N, H) points on the axis from mean(start) to mean(end) -> (N,): measured from the midpoint of the two means
    in units of the axis length, so start's mean is at -1/2 and end's at +1/2 (all 0 when the means coincide)."""
    mean_start, mean_end = start.astype(np.float64).mean(axis=0), end.astype(np.float64).mean(axis=0)
    axis = mean_end - mean_start
    length2 = float(axis @ axis)
    if length2 == 0:
        return np.zeros(len(points))
    return (points.astype(np.float64) - (mean_start + mean_end) / 2) @ axis / length2


def direction_projection(points: np.ndarray, in_a: np.ndarray, in_b: np.ndarray, dims: int) -> Projection:
    """(N, H) points, boolean (N,) group masks -> x on the axis mean(A) -> mean(B), then PCA of the rest.

    The rest is each point less its component along the axis, so y (and z) show only what the axis leaves out.
    """
    started = time.perf_counter()
    points = np.asarray(points, dtype=np.float64)
    a, b = points[in_a], points[in_b]
    axis = b.mean(axis=0) - a.mean(axis=0)
    length = float(np.linalg.norm(axis))
    if not length > 0:
        raise UserInputError("Groups A and B have the same mean vector here, so they define no direction; pick "
                             "groups that differ.")
    x = onto_direction(points, a, b)
    unit = axis / length
    rest = points - np.outer(points @ unit, unit)
    coords = np.concatenate([x[:, None], pca(rest, dims - 1)], axis=1).astype(np.float32)
    return Projection(coords=coords, method="direction", dims=dims, seed=0, n_neighbors=None,
                      seconds=time.perf_counter() - started, groups=(len(a), len(b)), axis_length=length,
                      own_side=held_out_own_side(a, b))


def held_out_own_side(a: np.ndarray, b: np.ndarray) -> float | None:
    """The share of the rows of (Na, H) ``a`` and (Nb, H) ``b`` that fall on their own group's side of the midpoint
    of an axis fitted without them (leave-one-out), or None when a group has a single row.

    In-sample the share says nothing: two groups of random vectors in 1,280 dimensions split perfectly on their own
    axis, while held out they split half and half (bench note in docs/embeddings.md)."""
    if len(a) < 2 or len(b) < 2:
        return None
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    hits = 0
    for rows, own_mean, other_mean, sign in ((a, mean_a, mean_b, -1.0), (b, mean_b, mean_a, 1.0)):
        n = len(rows)
        left_out = (n * own_mean[None, :] - rows) / (n - 1)  # (n, H): the own group's mean without each row
        axis = sign * (left_out - other_mean[None, :])  # (n, H): from A's mean to B's, fitted without the row
        offset = np.einsum("ij,ij->i", rows - (left_out + other_mean[None, :]) / 2, axis)
        hits += int(np.count_nonzero(sign * offset > 0))
    return hits / (len(a) + len(b))


#: From this many points UMAP runs 200 optimisation epochs instead of 500.
LARGE_SET_POINTS = 2000


def _umap_model(n_points: int, dims: int, seed: int, n_neighbors: int, force_approximation: bool = False):
    import umap

    return umap.UMAP(
        n_components=dims,
        n_neighbors=n_neighbors,
        metric="cosine",
        random_state=seed,
        init="spectral" if n_points >= SPECTRAL_MIN_POINTS else "random",
        force_approximation_algorithm=force_approximation,
        n_jobs=1,
        # umap-learn runs 500 epochs below 10,000 points; 200 (its own choice for big sets) halves the
        # layout time of a few thousand points (5,000 x 1280: ~7.5 s -> ~4 s) with no visible change.
        n_epochs=200 if n_points > LARGE_SET_POINTS else None,
    )


def project(
    points: np.ndarray, method: str = "umap", dims: int = 2, seed: int = 0, n_neighbors: int = DEFAULT_N_NEIGHBORS,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> Projection:
    """Project (N, H) vectors to (N, dims): UMAP (cosine, seeded, so repeatable), PCA, or the direction between
    ``groups`` (two boolean (N,) masks, A and B; needed for that method only)."""
    method, dims, seed = check_method(method), check_dims(dims), check_seed(seed)
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[0] == 0:
        raise UserInputError("There are no points to project.")
    if not np.isfinite(points).all():
        raise UserInputError("The vectors contain NaN or infinite values; they cannot be projected.")
    if method == "direction":
        if groups is None:
            raise UserInputError("The direction projection needs two groups of rows, A and B.")
        return direction_projection(points, *groups, dims)
    n = points.shape[0]
    notices: list[str] = []
    started = time.perf_counter()
    if method == "umap" and n < MIN_UMAP_POINTS:
        notices.append(f"UMAP needs at least {MIN_UMAP_POINTS} points; with {n} the projection is PCA instead.")
        method = "pca"
    used_neighbors: int | None = None
    if method == "umap":
        used_neighbors = max(2, min(int(n_neighbors), n - 1))
        if used_neighbors < n_neighbors:
            notices.append(f"Only {n} points: UMAP used {used_neighbors} neighbours instead of {n_neighbors}.")
        model = _umap_model(n, dims, seed, used_neighbors)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # n_jobs/random_state and small-graph warnings: expected here
                coords = np.asarray(model.fit_transform(points), dtype=np.float32)
        except (ValueError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError) as error:
            log.warning("UMAP failed on %d points: %s", n, error)
            coords = np.full((n, dims), np.nan, dtype=np.float32)
        if not np.isfinite(coords).all():
            notices.append("UMAP could not lay out these points (too few distinct ones?); the projection is PCA instead.")
            method, used_neighbors = "pca", None
    if method == "pca":
        coords = pca(points, dims)
    return Projection(
        coords=coords,
        method=method,
        dims=dims,
        seed=seed,
        n_neighbors=used_neighbors,
        seconds=time.perf_counter() - started,
        notices=tuple(notices),
    )


def warm_up_umap(dim: int = 32, seed: int = 0) -> float:
    """Compile UMAP's numba code: the exact small-n path and the NN-descent path (used from 4,096 points).

    Returns the seconds it took. Cheap on small data: the NN-descent path is forced on 64 points.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(64, dim)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _umap_model(64, 2, seed, 10).fit_transform(data)
        _umap_model(64, 2, seed, 10, force_approximation=True).fit_transform(data)
        small = data[:8]
        _umap_model(8, 3, seed, 5).fit_transform(small)
    return time.perf_counter() - started


def warmup_enabled() -> bool:
    """False when ``XLM_EXPLORER_WARMUP`` is 0/false/no/off (the tests set it to 0)."""
    return os.environ.get(ENV_WARMUP, "1").strip().lower() not in ("0", "false", "no", "off")


def start_umap_warmup() -> threading.Thread | None:
    """Start :func:`warm_up_umap` in a daemon thread, unless disabled or one is already running."""
    if not warmup_enabled():
        return None
    for thread in threading.enumerate():
        if thread.name == WARMUP_THREAD_NAME:
            return thread

    def run() -> None:
        try:
            log.info("UMAP warm-up finished in %.1f s", warm_up_umap())
        except Exception:  # a failed warm-up only means the first request compiles
            log.warning("UMAP warm-up failed", exc_info=True)

    thread = threading.Thread(target=run, name=WARMUP_THREAD_NAME, daemon=True)
    thread.start()
    return thread
