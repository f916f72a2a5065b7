"""oneDNN-packed linear layers for CPU inference (a load-time speed-up; see docs/performance.md).

:func:`maybe_pack_linear_layers` replaces the body's large ``nn.Linear`` layers by :class:`PackedLinear`
(weights reordered once into oneDNN's blocked layout) and releases the checkpoint's mapped pages of the
originals. Imported by :mod:`.models` at load time; nothing else depends on it.
"""

from __future__ import annotations

import torch

#: Linear layers with at least this many weights are repacked for oneDNN on CPU (the real models'
#: layers have 1.6M-16.8M; the tiny test models' 4k stay plain ``nn.Linear``).
PACK_MIN_WEIGHTS = 1 << 20
#: ``auto`` (default): pack large layers on CPU; ``0``: never; ``1``: every linear layer of the body.
ENV_PACK_LINEAR = "XLM_EXPLORER_PACK_LINEAR"


class PackedLinear(torch.nn.Module):
    """A frozen ``nn.Linear`` whose weight is stored in oneDNN's blocked layout for this CPU.

    Input (..., in_features) -> output (..., out_features), as ``nn.Linear``. The weight is reordered once at
    load time instead of on every call; float32 results differ from ``nn.Linear`` by float rounding only
    (about 1e-6 relative), bfloat16 results are identical. ``weight`` stays a parameter (an opaque oneDNN
    tensor), so parameter counts do not change. oneDNN's kernel has no autograd: when a gradient is needed
    (attribution), the call runs ``F.linear`` on the weight converted back to dense (exactly the original).
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
        if torch.is_grad_enabled() and x.requires_grad:
            return torch.nn.functional.linear(x, self.weight.data.to_dense(), self.bias)
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
