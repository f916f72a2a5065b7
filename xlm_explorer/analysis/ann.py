"""An approximate index (faiss IVF over float16 vectors) for token indexes too large for one exact pass.

The command builds it beside the vectors (``python -m xlm_explorer.index ... --ann``: ``faiss-L<layer>.index``);
the app memory-maps it, so a search reads only the inverted lists it probes, and the candidates it returns are
scored again exactly from the memory-mapped float16 vectors (``token_search.rescore_rows``), as the exact search
does. faiss is an optional extra (``pip install -r requirements-scale.txt``); an index without the file, or an app
without faiss, searches exactly. docs/explain.md has recall@10 and latency at 100k and 1M vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError

#: Past this many tokens in one layer the exact pass costs about 0.4 s per query on 2 cores at 1280 wide (0.18 s at
#: 1M, bound by memory bandwidth) and its vectors 5 GB: the command then advises ``--ann`` (bench/faiss_search.py).
ANN_ADVISED_FROM = 2_000_000
#: vectors sampled per inverted list to train the coarse quantizer (faiss warns under 39)
TRAIN_PER_LIST = 40
ADD_CHUNK = 100_000


def n_lists_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4 sqrt(n) (faiss's guideline), at least 1."""
    return max(1, min(n // TRAIN_PER_LIST, int(4 * np.sqrt(n))))


def n_probe_for(n_lists: int) -> int:
    """Lists probed per query: a sixteenth of them, at least 16 (all of them for small indexes)."""
    return min(n_lists, max(16, n_lists // 16))


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as error:
        raise UserInputError("An approximate index needs faiss: pip install -r requirements-scale.txt") from error
    return faiss


@dataclass
class AnnIndex:
    """A faiss ``IVF<n_lists>,SQfp16`` inner-product index over unit vectors (N, H); ``n_probe`` lists per query."""

    index: Any
    n_probe: int

    @property
    def n_lists(self) -> int:
        return int(self.index.nlist)

    def candidates(self, unit_query: np.ndarray, n: int) -> np.ndarray:
        """Up to ``n`` rows with the largest approximate inner product with ``unit_query`` (H,), in row order."""
        self.index.nprobe = self.n_probe
        _scores, rows = self.index.search(np.asarray(unit_query, np.float32)[None], n)
        return np.sort(rows[0][rows[0] >= 0])

    def save(self, path: Path) -> None:
        faiss = _faiss()
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> AnnIndex:
        """Memory-mapped: the inverted lists stay on disk until a query probes them."""
        faiss = _faiss()
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        return cls(index, n_probe_for(int(index.nlist)))


def build_ann(vectors: np.ndarray, seed: int = 0) -> AnnIndex:
    """Train the coarse quantizer on a sample of the (N, H) float16 vectors, then add them all in chunks."""
    faiss = _faiss()
    n, dim = vectors.shape
    n_lists = n_lists_for(n)
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, n_lists, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(seed).choice(n, min(n, TRAIN_PER_LIST * n_lists), replace=False))
    index.train(np.asarray(vectors[sample], np.float32))
    for start in range(0, n, ADD_CHUNK):
        index.add(np.asarray(vectors[start : start + ADD_CHUNK], np.float32))
    return AnnIndex(index, n_probe_for(n_lists))
