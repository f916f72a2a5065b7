"""The Models tab's endpoint: the facts read from a loaded config."""

from __future__ import annotations


from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, make_answer
from .endpoint import OneModel, endpoint


@endpoint(answer=(declared.ModelRequest, declared.ModelFacts, declared.Empty))
def model_info(ws: Workspace, model: OneModel, progress: Progress | None = None) -> Answer:
    """Facts of one model read from its loaded config (loading it if needed)."""
    key = model  # checked by the declaration (OneModel)
    models, _errors = load_models(ws, [key], progress)
    facts = models[0].facts()
    return make_answer("model_info", {"model": key}, [facts], facts, {})
