"""The Fill mask tab's endpoint: each model's top predictions for every [MASK]."""

from __future__ import annotations


from .. import checks
from ..analysis.fill_mask import DEFAULT_TOP_K, predict_masks
from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, per_model
from .endpoint import Language, ModelChoice, Text, TopK, endpoint


@endpoint(answer=(declared.FillMaskRequest, declared.FillMaskItem, declared.Empty))
def fill_mask(
    ws: Workspace, text: Text, model: ModelChoice = checks.BOTH, lang: Language = "en", top_k: TopK = DEFAULT_TOP_K,
    progress: Progress | None = None,
) -> Answer:
    """Top-k predictions for every [MASK] in ``text``, per chosen model (``en-2048``, ``100-1280`` or ``both``)."""
    keys = checks.model_keys(ws.manager, model)
    checks.check_text(text)
    models, errors = load_models(ws, keys, progress)
    results = [predict_masks(loaded, ws.forward_cache, text, lang, top_k) for loaded in models]
    request = {"text": text, "model": model, "lang": lang, "top_k": top_k}
    return per_model("fill_mask", request, results, errors)
