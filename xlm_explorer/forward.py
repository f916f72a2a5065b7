"""One forward pass per (model, input), shared by every view that needs it.

The transformer body runs once per (model instance, token ids, language ids when the model uses them)
and keeps every layer's hidden states and attentions. Vocabulary logits are never computed for all
positions: :meth:`ForwardCache.logits_at` applies the LM head only at the positions asked for (the
200k-word head is the most expensive layer of 100-1280) and remembers them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .models import LoadedModel


@dataclass
class ForwardResult:
    """The body's output for one input.

    hidden_states: (n_layers + 1, T, H), embeddings output first, on the model's device and dtype.
    attentions: (n_layers, heads, T, T) float32 on CPU; every row sums to 1.
    """

    model_key: str
    input_ids: tuple[int, ...]
    hidden_states: torch.Tensor
    attentions: torch.Tensor
    seconds: float
    #: position -> (V,) float32 logits, filled by ForwardCache.logits_at
    logits: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        logits = sum(t.numel() * t.element_size() for t in self.logits.values())
        return (
            self.hidden_states.numel() * self.hidden_states.element_size()
            + self.attentions.numel() * self.attentions.element_size()
            + logits
        )


#: Linear layers with at least this many weights are repacked for oneDNN on CPU (the real models'
#: layers have 1.6M-16.8M; the tiny test models' 4k stay plain ``nn.Linear``).
PACK_MIN_WEIGHTS = 1 << 20
#: ``auto`` (default): pack large layers on CPU; ``0``: never; ``1``: every linear layer of the body.
ENV_PACK_LINEAR = "XLM_EXPLORER_PACK_LINEAR"


class PackedLinear(torch.nn.Module):
    """A frozen ``nn.Linear`` whose weight is stored in oneDNN's blocked layout for this CPU (inference only).

    Input (..., in_features) -> output (..., out_features), as ``nn.Linear``. The weight is reordered
    once at load time instead of on every call; float32 results differ from ``nn.Linear`` by float
    rounding only (about 1e-6 relative), bfloat16 results are identical. ``weight`` stays a parameter
    (an opaque oneDNN tensor), so parameter counts do not change. No autograd.
    """

    def __init__(self, linear: torch.nn.Linear, batch_hint: int = 16) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        weight = linear.weight.detach()
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, batch_hint)
        self.weight = torch.nn.Parameter(packed, requires_grad=False)
        self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.weight, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, onednn_packed=True"


def packing_supported(device: torch.device, dtype: torch.dtype) -> bool:
    """oneDNN-packed linear layers need a CPU with oneDNN (and bf16 support for bfloat16)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return dtype == torch.float32


def _file_mappings() -> list[tuple[int, int, str]]:
    """``(start, end, path)`` of this process's file-backed memory mappings (Linux; empty elsewhere)."""
    mappings = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].strip().startswith("/"):
                    start, end = (int(x, 16) for x in parts[0].split("-"))
                    mappings.append((start, end, parts[5].strip()))
    except OSError:
        return []
    return mappings


def release_mapped_pages(tensor: torch.Tensor, mappings: list[tuple[int, int, str]]) -> int:
    """Drop the resident pages of a tensor that lives in a safetensors file mapping; returns bytes released.

    After a weight has been copied (packed), its pages in the mmap of the checkpoint would otherwise stay
    in the process's RSS next to the copy. Only whole pages inside the tensor are released, and only in
    a mapping of a ``.safetensors`` file, where released pages read back from the file if touched again.
    """
    import ctypes
    import mmap

    try:
        address, nbytes = tensor.data_ptr(), tensor.numel() * tensor.element_size()
    except RuntimeError:
        return 0
    if not any(start <= address and address + nbytes <= end and path.endswith(".safetensors") for start, end, path in mappings):
        return 0
    page = mmap.PAGESIZE
    first = -(-address // page) * page
    last = (address + nbytes) // page * page
    if last <= first:
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        if libc.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), 4) != 0:  # MADV_DONTNEED
            return 0
    except (OSError, AttributeError):
        return 0
    return last - first


def pack_linear_layers(model: torch.nn.Module, min_weights: int = PACK_MIN_WEIGHTS) -> int:
    """Replace the body's ``nn.Linear`` layers of at least ``min_weights`` weights by :class:`PackedLinear`.

    Only ``model.transformer`` (attention projections and FFNs) is touched: the LM head shares its
    weight with the input embeddings and stays as it is. Returns the number of layers packed.
    Call on an eval model on CPU, before any forward pass; memory stays about the same (one layer at a
    time is copied, and the original's mapped pages are released).
    """
    body = getattr(model, "transformer", model)
    mappings = _file_mappings()
    targets = [
        (parent, name, child)
        for parent in body.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and child.in_features * child.out_features >= min_weights
    ]
    for parent, name, linear in targets:
        setattr(parent, name, PackedLinear(linear))
        release_mapped_pages(linear.weight, mappings)
    return len(targets)


def maybe_pack_linear_layers(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> int:
    """:func:`pack_linear_layers` as configured by ``XLM_EXPLORER_PACK_LINEAR`` (default ``auto``)."""
    import os

    setting = os.environ.get(ENV_PACK_LINEAR, "auto").strip().lower()
    if setting in ("0", "false", "no", "off") or not packing_supported(device, dtype):
        return 0
    return pack_linear_layers(model, 0 if setting in ("1", "true", "yes", "on") else PACK_MIN_WEIGHTS)


def lm_head_logits(loaded: "LoadedModel", hidden: torch.Tensor) -> torch.Tensor:
    """The model's LM head applied to hidden states: (..., H) -> (..., V) float32.

    XLM's prediction layer is a single (tied) linear projection, so this equals
    ``XLMWithLMHeadModel(...).logits`` at those positions; it also serves the per-layer "logit lens".
    """
    with torch.inference_mode():
        head = loaded.model.pred_layer
        return head(hidden.to(device=loaded.device, dtype=loaded.dtype))[0].float()


def run_forward(loaded: "LoadedModel", input_ids: Sequence[int], lang_id: int | None = None) -> ForwardResult:
    """Run the transformer body on one input (no LM head); no caching here."""
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=loaded.device)
    kwargs = {}
    if lang_id is not None and loaded.uses_lang_embeddings:
        kwargs["langs"] = torch.full_like(ids, int(lang_id))
    started = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.transformer(
            input_ids=ids, output_hidden_states=True, output_attentions=True, return_dict=True, **kwargs
        )
    hidden = torch.stack([h[0] for h in out.hidden_states])
    attentions = torch.stack([a[0] for a in out.attentions]).float().cpu()
    return ForwardResult(
        model_key=loaded.key,
        input_ids=tuple(int(i) for i in input_ids),
        hidden_states=hidden,
        attentions=attentions,
        seconds=time.perf_counter() - started,
    )


class ForwardCache:
    """An LRU of :class:`ForwardResult`, bounded in bytes, shared by all tabs.

    Forward passes of one model are serialised by that model's lock, and the cache is checked again
    under it, so two identical requests arriving together run the model once.
    """

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[tuple, ForwardResult] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.forward_calls = 0
        self.head_calls = 0

    @staticmethod
    def key_for(loaded: "LoadedModel", input_ids: Sequence[int], lang_id: int | None) -> tuple:
        lang_key = int(lang_id) if (lang_id is not None and loaded.uses_lang_embeddings) else None
        return (loaded.key, loaded.instance_id, tuple(int(i) for i in input_ids), lang_key)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _lookup(self, key: tuple) -> ForwardResult | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def _store(self, key: tuple, result: ForwardResult) -> None:
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            self._evict()

    def _evict(self) -> None:
        total = sum(entry.nbytes for entry in self._entries.values())
        while self._entries and total > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            total -= dropped.nbytes

    def get(self, loaded: "LoadedModel", input_ids: Sequence[int], lang_id: int | None = None) -> ForwardResult:
        """The body's output for ``input_ids``, from cache or from one forward pass."""
        key = self.key_for(loaded, input_ids, lang_id)
        entry = self._lookup(key)
        if entry is not None:
            self.hits += 1
            return entry
        with loaded.lock:
            entry = self._lookup(key)
            if entry is not None:
                self.hits += 1
                return entry
            self.misses += 1
            self.forward_calls += 1
            result = run_forward(loaded, input_ids, lang_id)
        self._store(key, result)
        return result

    def logits_at(self, loaded: "LoadedModel", result: ForwardResult, positions: Sequence[int]) -> torch.Tensor:
        """Vocabulary logits at ``positions``: (P, V) float32 on CPU, computed once per position."""
        missing = [p for p in dict.fromkeys(int(p) for p in positions) if p not in result.logits]
        if missing:
            with loaded.lock:
                missing = [p for p in missing if p not in result.logits]
                if missing:
                    self.head_calls += 1
                    logits = lm_head_logits(loaded, result.hidden_states[-1, missing]).cpu()
                    for row, position in zip(logits, missing):
                        result.logits[position] = row
            with self._lock:
                self._evict()
        return torch.stack([result.logits[int(p)] for p in positions]) if positions else torch.empty(0, loaded.vocab_size)
