"""Why this prediction? Token attribution for a fill-mask prediction: integrated gradients and gradient × input.

Attributions are taken with respect to the **word embeddings** (the word-embedding lookup,
:func:`~xlm_explorer.forward.word_embeddings`, before positions and layer norm are added), for the **target's logit** at the mask, summed over the hidden
dimension: one number per input token.

- Integrated gradients (Sundararajan et al. 2017, as captum computes it): the baseline is the same sequence with
  every non-special token replaced by ``<pad>`` (``<s>``, ``</s>`` and the masks stay), the path integral is taken
  with Gauss-Legendre quadrature, and the number of steps doubles (from 32 up to 512) until the completeness gap
  ``|sum(attributions) - (target_logit - baseline_logit)|`` is under 1% of ``|target_logit - baseline_logit|``.
- Gradient × input: embeddings × the gradient of the target logit at the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks import check_mask_number
from ..errors import UserInputError
from ..forward import run_with_hooks, word_embeddings
from ..tokenization import display_piece, tokenize_words
from .fill_mask import preprocess

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

MIN_STEPS, MAX_STEPS = 32, 512
COMPLETENESS_TOLERANCE = 0.01
STEP_BATCH = 16


@dataclass(frozen=True)
class AttributionResult:
    model: str
    lang: str
    text: str
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    mask_number: int
    position: int
    target_id: int
    target_token: str
    integrated_gradients: tuple[float, ...]
    target_logit: float
    baseline_logit: float
    baseline_token_id: int
    n_steps: int
    completeness_gap: float
    gradient_x_input: tuple[float, ...]
    notices: tuple[str, ...] = field(default=())
    #: contrastive attribution: the foil's id and token (the score is then logit(target) - logit(foil), which is
    #: log P(target) - log P(foil): the softmax's normaliser cancels)
    foil_id: int | None = None
    foil_token: str = ""

    @property
    def attributed(self) -> str:
        """What the attributions explain, in words."""
        return score_label(self.target_token, self.foil_token if self.foil_id is not None else None,
                           f"logit of {self.target_token!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "lang": self.lang,
            "text": self.text,
            "input_ids": list(self.input_ids),
            "tokens": list(self.tokens),
            "mask_number": self.mask_number,
            "position": self.position,
            "target_id": self.target_id,
            "target_token": self.target_token,
            "foil_id": self.foil_id,
            "foil_token": self.foil_token,
            "attributed": self.attributed,
            "methods": {
                "integrated_gradients": {
                    "attributions": list(self.integrated_gradients),
                    "target_logit": self.target_logit,
                    "baseline_logit": self.baseline_logit,
                    "baseline_token_id": self.baseline_token_id,
                    "n_steps": self.n_steps,
                    "completeness_gap": self.completeness_gap,
                },
                "gradient_x_input": {"attributions": list(self.gradient_x_input)},
            },
            "notices": list(self.notices),
        }


def score_label(target_token: str, foil_token: str | None, plain: str) -> str:
    """What a contrastive score measures, in words: ``plain`` without a foil."""
    return plain if foil_token is None else f"log P({target_token!r}) - log P({foil_token!r})"


def resolve_foil(
    loaded: LoadedModel, foil: str, lang: str, logits: torch.Tensor, target_id: int
) -> tuple[int | None, str, list[str]]:
    """``(id, display token, notices)`` of a contrastive foil (``(None, "", [])`` when empty), resolved as the target
    is (:func:`resolve_target`); a foil that is the target itself is refused."""
    if not (foil or "").strip():
        return None, "", []
    foil_id, notices = resolve_target(loaded, foil, lang, logits, what="foil")
    if foil_id == target_id:
        raise UserInputError(f"The foil {foil.strip()[:40]!r} is the target itself for {loaded.key}: pick another word.")
    return foil_id, display_piece(loaded.tokenizer.convert_ids_to_tokens([foil_id])[0]), notices


def resolve_target(
    loaded: LoadedModel, target: str, lang: str, logits: torch.Tensor, what: str = "target"
) -> tuple[int, list[str]]:
    """The vocabulary id of ``target`` (a piece as written in the vocabulary, a piece as the app shows it, or a
    word: its first piece); empty -> the top non-special prediction. Returns ``(id, notices)``. A word whose first
    piece is not in the vocabulary (it would be scored as ``<unk>``) or is a special token is refused (``what``: the
    parameter's name in the message)."""
    vocab = loaded.tokenizer.get_vocab()
    target = (target or "").strip()
    if not target:
        ranked = logits.clone()
        ranked[sorted(loaded.special_ids)] = float("-inf")
        return int(ranked.argmax()), []
    for candidate in (target, target + "</w>", target[:-2] if target.endswith("@@") else None):
        if candidate and candidate in vocab and vocab[candidate] not in loaded.special_ids:
            return int(vocab[candidate]), []
    pieces, notices = tokenize_words(loaded, target, lang)
    if not pieces:
        raise UserInputError(f"The {what} {target[:40]!r} becomes no tokens for {loaded.key}.")
    if pieces[0] not in vocab or vocab[pieces[0]] in loaded.special_ids:
        raise UserInputError(f"The {what} {target[:40]!r} is not in {loaded.key}'s vocabulary (its first piece "
                             f"{display_piece(pieces[0])!r} would be scored as <unk>): pick a word the model knows.")
    if len(pieces) > 1:
        notices = [*notices, f"{loaded.key} splits {target!r} into {len(pieces)} pieces; only its first piece "
                   f"{display_piece(pieces[0])!r} is used (one mask predicts one piece)."]
    return int(vocab[pieces[0]]), notices


def _gradients(
    loaded: LoadedModel, embeds: torch.Tensor, position: int, target_id: int, lang_id: int | None, foil_id: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, H) word embeddings -> ``(score at position (B,), d score / d embeds (B, T, H))``; the score is the
    logit of ``target_id``, minus the logit of ``foil_id`` when one is given."""
    embeds = embeds.detach().requires_grad_(True)
    batch = len(embeds)
    with loaded.lock:  # the backward pass runs under the same lock as its forward
        out = run_with_hooks(loaded, inputs_embeds=embeds, lang_ids=lang_id, grad=True,
                             logits_at=[(row, position) for row in range(batch)])
        logits = out.logits[:, target_id] - (out.logits[:, foil_id] if foil_id is not None else 0.0)
        (grad,) = torch.autograd.grad(logits.sum(), embeds)
    return logits.detach(), grad


def integrated_gradients(
    loaded: LoadedModel, embeds: torch.Tensor, baseline: torch.Tensor, position: int, target_id: int,
    lang_id: int | None, n_steps: int, report: Callable[[int, int], None] | None = None, foil_id: int | None = None,
) -> tuple[torch.Tensor, float, float]:
    """(T,) attributions with ``n_steps`` Gauss-Legendre points; also the target logit at the input and baseline.
    ``report(steps done, n_steps)`` after each batch of steps."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)
    weights = torch.tensor(weights / 2, dtype=torch.float32)
    delta = (embeds - baseline).float()
    total = torch.zeros_like(delta)
    for start in range(0, n_steps, STEP_BATCH):
        alpha = alphas[start : start + STEP_BATCH].to(embeds.device)
        points = (baseline.float() + alpha[:, None, None] * delta[None]).to(embeds.dtype)
        _, grad = _gradients(loaded, points, position, target_id, lang_id, foil_id)
        total += (weights[start : start + STEP_BATCH].to(grad.device)[:, None, None] * grad.float()).sum(dim=0)
        if report is not None:
            report(min(start + STEP_BATCH, n_steps), n_steps)
    ends, _ = _gradients(loaded, torch.stack([embeds, baseline]), position, target_id, lang_id, foil_id)
    return (delta * total).sum(dim=-1), float(ends[0]), float(ends[1])


def attribute(
    loaded: LoadedModel, cache: ForwardCache, text: str, lang: str = "en", mask_number: object = 1, target: str = "",
    progress: Callable[[float, str], None] | None = None, foil: str = "",
) -> AttributionResult:
    """Integrated gradients and gradient × input of one mask's target logit over the input tokens (``mask_number``
    1 = the first [MASK]); with a ``foil``, of log P(target) - log P(foil) (contrastive: what makes the model
    prefer the target over the foil)."""
    encoding = preprocess(loaded, text, lang)
    number = check_mask_number(mask_number, len(encoding.mask_positions))
    position = encoding.mask_positions[number - 1]
    lang_id = loaded.lang2id.get(encoding.lang)
    logits = cache.logits_at(loaded, cache.get(loaded, encoding.input_ids, lang_id, (position,)), [position])[0]
    target_id, notices = resolve_target(loaded, target, encoding.lang, logits)
    foil_id, foil_token, foil_notices = resolve_foil(loaded, foil, encoding.lang, logits, target_id)
    notices += foil_notices
    ids = torch.tensor([encoding.input_ids], device=loaded.device)
    keep = torch.tensor([[i in loaded.special_ids for i in encoding.input_ids]], device=loaded.device)
    pad_id = int(loaded.tokenizer.pad_token_id)
    baseline_ids = torch.where(keep, ids, torch.full_like(ids, pad_id))
    with torch.enable_grad():
        embeds, baseline = word_embeddings(loaded, ids)[0], word_embeddings(loaded, baseline_ids)[0]
        steps = MIN_STEPS

        def report(done: int, total: int) -> None:  # a doubling of the steps holds the bar (it never goes back)
            if progress is not None:
                progress(done / (total + 1), f"{loaded.key}: integrated gradients, {done} of {total} steps")

        while True:
            attributions, target_logit, baseline_logit = integrated_gradients(
                loaded, embeds, baseline, position, target_id, lang_id, steps, report, foil_id
            )
            difference = target_logit - baseline_logit
            gap = abs(float(attributions.sum()) - difference)
            if gap <= COMPLETENESS_TOLERANCE * abs(difference) or steps >= MAX_STEPS:
                break
            steps *= 2
        _, grad = _gradients(loaded, embeds[None], position, target_id, lang_id, foil_id)
        grad_x_input = (embeds.float() * grad[0].float()).sum(dim=-1)
    if gap > COMPLETENESS_TOLERANCE * abs(difference):
        notices.append(f"Integrated gradients did not reach 1% completeness in {MAX_STEPS} steps (gap {gap:.3g}).")
    piece = loaded.tokenizer.convert_ids_to_tokens([target_id])[0]
    return AttributionResult(
        model=loaded.key, lang=encoding.lang, text=text, tokens=tuple(display_piece(t) for t in encoding.tokens),
        input_ids=encoding.input_ids, mask_number=number, position=position, target_id=target_id,
        target_token=display_piece(piece), integrated_gradients=tuple(float(v) for v in attributions.cpu()),
        target_logit=target_logit, baseline_logit=baseline_logit, baseline_token_id=pad_id, n_steps=steps,
        completeness_gap=gap, gradient_x_input=tuple(float(v) for v in grad_x_input.cpu()),
        notices=tuple(dict.fromkeys([*encoding.notices, *notices])), foil_id=foil_id,
        foil_token=foil_token,
    )
