"""Hugging Face Spaces: model events inside ``spaces.GPU`` on a ZeroGPU Space, a no-op elsewhere."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import gradio as gr

from .wiring import MODEL_GROUPS

log = logging.getLogger(__name__)

#: Set by Hugging Face on ZeroGPU Spaces; only there are model events run inside ``spaces.GPU``.
ENV_ZERO_GPU = "SPACES_ZERO_GPU"


def zero_gpu_decorator(environ: dict[str, str] | None = None) -> Callable[..., Any] | None:
    """``spaces.GPU`` on a ZeroGPU Space (``SPACES_ZERO_GPU`` set and ``spaces`` importable); None elsewhere."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if ENV_ZERO_GPU not in environ:
        return None
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        log.warning("%s is set but the 'spaces' package is missing: running on CPU", ENV_ZERO_GPU)
        return None
    return spaces.GPU


def wrap_model_events_for_gpu(demo: gr.Blocks, gpu: Callable[..., Any] | None = None) -> list[str]:
    """Run every model event (the page's and the API's, see :data:`MODEL_GROUPS`) inside ``gpu`` (default:
    :func:`zero_gpu_decorator`). A no-op on CPU machines and ordinary GPUs; returns the wrapped names."""
    gpu = gpu if gpu is not None else zero_gpu_decorator()
    if gpu is None:
        return []
    wrapped: list[str] = []
    for block_fn in demo.fns.values():
        if block_fn.concurrency_id in MODEL_GROUPS and block_fn.fn is not None:
            block_fn.fn = gpu(block_fn.fn)
            wrapped.append(str(block_fn.api_name or block_fn.name))
    return wrapped
