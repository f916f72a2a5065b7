"""How far a model loaded in bfloat16 predicts from the same weights in float32: checked once, at load, on the real
weights (before they are cast), over the masks of the shipped fill-mask examples the model reads.

``ModelManager(precision_check=check_precision)`` (the workspace passes it) loads a model asked for in bfloat16 in
float32 first, keeps the float32 log-probabilities at each mask, casts, and measures the same masks again; the
result travels with the model (``LoadedModel.precision``), into its facts (the Compare tab's model table and the
API) and the batch commands' output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from .fill_mask import forward, preprocess, shipped_examples

if TYPE_CHECKING:
    from ..models import LoadedModel

#: the float32 predictions whose log-probabilities are compared (the ones the fill-mask view shows)
TOP_K = 10


@dataclass(frozen=True)
class PrecisionAgreement:
    """bfloat16 against float32 on ``n_masks`` masks: the share whose top-1 token is the same, and the largest
    ``|log p_bf16(t) - log p_fp32(t)|`` over float32's top-``TOP_K`` tokens ``t`` at any mask."""

    dtype: str
    n_masks: int
    top1_agreement: float
    max_abs_dlogp: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"summary": self.line()}

    def line(self) -> str:
        agreed = round(self.top1_agreement * self.n_masks)
        return (f"{self.dtype}: the top-1 prediction equals float32's at {agreed} of {self.n_masks} masks of the shipped "
                f"fill-mask examples; max |Δ log p| over float32's top {TOP_K}: {self.max_abs_dlogp:.3f} (checked at load)")


def mask_log_probs(loaded: LoadedModel) -> list[torch.Tensor]:
    """Per shipped example the model reads: log-softmax over the vocabulary at each mask, (n_masks, V) float32."""
    from ..forward import ForwardCache

    out = []
    for lang, text in shipped_examples():
        if lang in loaded.languages:
            logits = forward(loaded, ForwardCache(), preprocess(loaded, text, lang))
            out.append(torch.log_softmax(logits.float(), dim=-1))
    return out


def compare_log_probs(reference: list[torch.Tensor], candidate: list[torch.Tensor], dtype: str) -> PrecisionAgreement:
    """:class:`PrecisionAgreement` of ``candidate`` log-probabilities against float32's ``reference`` (same masks)."""
    same, worst, n = 0, 0.0, 0
    for ref, got in zip(reference, candidate, strict=True):
        top = ref.topk(TOP_K, dim=-1).indices  # (n_masks, TOP_K)
        same += int((got.argmax(dim=-1) == top[:, 0]).sum())
        worst = max(worst, float((got.gather(1, top) - ref.gather(1, top)).abs().max()))
        n += ref.shape[0]
    return PrecisionAgreement(dtype, n, same / max(n, 1), worst)


def check_precision(loaded32: LoadedModel) -> Callable[[LoadedModel], PrecisionAgreement]:
    """Measure ``loaded32`` (float32) now; the returned function measures the cast model against it."""
    reference = mask_log_probs(loaded32)
    return lambda cast: compare_log_probs(reference, mask_log_probs(cast), str(cast.dtype).replace("torch.", ""))
