"""Activation patching: where does the difference between two sentences enter the model?

Sentences A and B have the same number of tokens and differ in a word ("The doctor said that [MASK] was tired." /
"The nurse said ..."). For every layer l (0 = the embedding output, l = the output of block l) and position p, A
is run with its hidden state at (l, p) replaced by B's, and the log-probability of the target at A's mask is read.
Per head: at one layer, one head's output (its slice of the attention output before the output projection) at
one position is replaced by B's.

The layer sweep starts each copy of A at the patched layer (:func:`~xlm_explorer.forward.run_from_layer`): A's
own states below it are the cached run's, so only the blocks above the patch run, about half a full pass on
average. Per head, the forward pass's named hook point ``blocks.{l-1}.attn.heads`` is edited
(:func:`~xlm_explorer.forward.run_with_hooks`). The positions of one layer run as batches of up to 16 copies of A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checks import whole_number
from ..errors import UserInputError
from ..forward import run_from_layer, run_with_hooks
from ..tokenization import display_piece
from .attribution import resolve_foil, resolve_target, score_label
from .fill_mask import preprocess

if TYPE_CHECKING:
    from ..forward import ForwardCache
    from ..models import LoadedModel

Progress = Callable[[float, str], None]
COPIES_PER_BATCH = 16
#: A and B score the same below this |score(B) - score(A)|: no share of the way from A to B is defined
SAME_SCORE = 1e-9


@dataclass(frozen=True)
class PatchingResult:
    """``effects[l][p]``: log P(target at A's mask) with A's state at (l, p) replaced by B's; ``head_effects[h][p]``
    the same for head h's output at ``head_layer`` (None when not computed)."""

    model: str
    lang: str
    text_a: str
    text_b: str
    tokens_a: tuple[str, ...]
    tokens_b: tuple[str, ...]
    input_ids_a: tuple[int, ...]
    input_ids_b: tuple[int, ...]
    position: int
    target_id: int
    target_token: str
    logprob_a: float
    logprob_b: float
    effects: np.ndarray  # (L + 1, T)
    head_layer: int | None = None
    head_effects: np.ndarray | None = None  # (heads, T)
    notices: tuple[str, ...] = field(default=())
    #: contrastive patching: every score is log P(target) - log P(foil) instead of log P(target)
    foil_id: int | None = None
    foil_token: str = ""

    @property
    def scored(self) -> str:
        """What each cell measures, in words."""
        return score_label(self.target_token, self.foil_token if self.foil_id is not None else None,
                           f"log P({self.target_token!r})")

    def shares(self, scores: np.ndarray | None = None) -> np.ndarray | None:
        """``scores`` (default the layer sweep's ``effects``) as the share of the way from A's score (0) to B's (1);
        None when A and B score the same (closer than :data:`SAME_SCORE`)."""
        span = self.logprob_b - self.logprob_a
        if abs(span) < SAME_SCORE:
            return None
        return ((self.effects if scores is None else scores).astype(np.float64) - self.logprob_a) / span

    def entry(self) -> tuple[int, int, float] | None:
        """Where the difference between A and B enters: the earliest layer at which patching one position alone
        moves the score at least half of the way from A's to B's, with that position and share (None if none)."""
        shares = self.shares()  # (L + 1, T): 0 at A, 1 at B
        if shares is None:
            return None
        for layer in range(shares.shape[0]):
            position = int(np.argmax(shares[layer]))
            if shares[layer, position] >= 0.5:
                return layer, position, float(shares[layer, position])
        return None

    @property
    def summary(self) -> str:
        """One line: where the difference enters."""
        found = self.entry()
        if found is None:
            return f"{self.model}: no single layer and position carries half of the change in {self.scored} from A to B."
        layer, position, share = found
        where = "the embeddings" if layer == 0 else f"layer {layer}"
        how = (f"{100 * share:.0f}% of the way from A to B" if share <= 1.5
               else f"past B's value ({share:.1f} times the change from A to B)")
        return (f"{self.model}: the difference enters at {where}, position {position} ({self.tokens_a[position]!r}): "
                f"patching it alone moves {self.scored} {how}.")

    def to_dict(self) -> dict[str, Any]:
        data = {
            "model": self.model,
            "lang": self.lang,
            "text_a": self.text_a,
            "text_b": self.text_b,
            "tokens_a": list(self.tokens_a),
            "tokens_b": list(self.tokens_b),
            "input_ids_a": list(self.input_ids_a),
            "input_ids_b": list(self.input_ids_b),
            "position": self.position,
            "target_id": self.target_id,
            "target_token": self.target_token,
            "foil_id": self.foil_id,
            "foil_token": self.foil_token,
            "scored": self.scored,
            "summary": self.summary,
            "log_prob_a": self.logprob_a,
            "log_prob_b": self.logprob_b,
            "effects": np.round(self.effects.astype(np.float64), 6).tolist(),
            "notices": list(self.notices),
        }
        if self.head_effects is not None:
            data["head_layer"] = self.head_layer
            data["head_effects"] = np.round(self.head_effects.astype(np.float64), 6).tolist()
        return data


def run_patched(
    loaded: LoadedModel,
    ids_a: tuple[int, ...],
    lang_id: int | None,
    point: str,
    patches: list[dict[int, tuple[slice, torch.Tensor]]],
    position: int,
    target_id: int,
    foil_id: int | None = None,
) -> torch.Tensor:
    """log P(target at ``position``) (minus log P(foil) when ``foil_id`` is given) for one copy of A per patch:
    (len(patches),). ``patch[p] = (where, vector)`` replaces the hook point's value at position p, in the
    hidden-dimension slice ``where``."""

    def replace(tensor: torch.Tensor, _name: str) -> torch.Tensor:
        tensor = tensor.clone()
        for row, patch in enumerate(patches):
            for p, (where, vector) in patch.items():
                tensor[row, p, where] = vector.to(tensor.dtype)
        return tensor

    batch = run_with_hooks(loaded, [ids_a] * len(patches), lang_ids=lang_id, hooks={point: replace},
                           logits_at=[(row, position) for row in range(len(patches))])
    log_probs = torch.log_softmax(batch.logits.double(), dim=-1)
    score = log_probs[:, target_id] - (log_probs[:, foil_id] if foil_id is not None else 0.0)
    return score.float()


def run_patched_from_layer(
    loaded: LoadedModel, states_a: torch.Tensor, layer: int, lang_id: int | None, states_b: torch.Tensor,
    positions: list[int], position: int, target_id: int, foil_id: int | None = None,
) -> torch.Tensor:
    """As :func:`run_patched` at hidden state ``layer`` for one copy of A per position in ``positions`` (B's state
    there), but only the blocks above ``layer`` run: A's (T, H) state at that layer is the start. (len(positions),)."""
    copies = states_a.unsqueeze(0).repeat(len(positions), 1, 1)
    for row, p in enumerate(positions):
        copies[row, p] = states_b[p].to(copies.dtype)
    batch = run_from_layer(loaded, copies, layer, lang_ids=lang_id, logits_at=[(row, position) for row in range(len(positions))])
    log_probs = torch.log_softmax(batch.logits.double(), dim=-1)
    score = log_probs[:, target_id] - (log_probs[:, foil_id] if foil_id is not None else 0.0)
    return score.float()


def _head_outputs(loaded: LoadedModel, ids: tuple[int, ...], lang_id: int | None, layer: int) -> torch.Tensor:
    """Block ``layer``'s heads' outputs side by side (hook point ``blocks.{layer}.attn.heads``) for one input: (T, H)."""
    name = f"blocks.{layer}.attn.heads"
    return run_with_hooks(loaded, [ids], lang_ids=lang_id, cache=[name]).activations[name][0]


def check_pair(loaded: LoadedModel, text_a: str, text_b: str, lang: str) -> tuple[Any, Any]:
    """Both encodings; equal token lengths and a mask in A, or a clear message."""
    enc_a = preprocess(loaded, text_a, lang)
    enc_b = preprocess(loaded, text_b, lang)
    if len(enc_a) != len(enc_b):
        raise UserInputError(
            f"Patching needs sentences of equal token length: {loaded.key} reads A as {len(enc_a)} tokens and B as "
            f"{len(enc_b)}. Change one word for another word of the same number of pieces (the tokenization view shows them)."
        )
    if enc_a.mask_positions != enc_b.mask_positions:
        raise UserInputError("Put the [MASK] at the same place in both sentences.")
    return enc_a, enc_b


def patch(
    loaded: LoadedModel,
    cache: ForwardCache,
    text_a: str,
    text_b: str,
    lang: str = "en",
    target: str = "",
    head_layer: object = None,
    progress: Progress | None = None,
    foil: str = "",
) -> PatchingResult:
    """The layer x position sweep (and, with ``head_layer``, the head x position sweep at that layer) of
    log P(target), or with a ``foil`` of log P(target) - log P(foil) (contrastive patching)."""
    enc_a, enc_b = check_pair(loaded, text_a, text_b, lang)
    position = enc_a.mask_positions[0]
    lang_id = loaded.lang2id.get(enc_a.lang)
    result_a = cache.get(loaded, enc_a.input_ids, lang_id, (position,), hidden_states=True)
    result_b = cache.get(loaded, enc_b.input_ids, lang_id, (position,), hidden_states=True)
    logits_a = cache.logits_at(loaded, result_a, [position])[0]
    target_id, notices = resolve_target(loaded, target, enc_a.lang, logits_a)
    foil_id, foil_token, foil_notices = resolve_foil(loaded, foil, enc_a.lang, logits_a, target_id)
    notices += foil_notices

    def score(result: Any) -> float:
        log_probs = torch.log_softmax(cache.logits_at(loaded, result, [position])[0].double(), -1)
        return float(log_probs[target_id] - (log_probs[foil_id] if foil_id is not None else 0.0))

    n_layers, length = loaded.n_layers, len(enc_a)
    effects = np.zeros((n_layers + 1, length), dtype=np.float32)
    with_heads = head_layer not in (None, "", 0, 0.0)
    layer_for_heads = None
    if with_heads:  # checked before the sweep, not after it
        layer_for_heads = whole_number(head_layer, 1, n_layers, "The head layer",
                                       out_of_range=f"{loaded.key} has blocks 1..{{high}} with attention heads, not {{value}}.")
    layers_share = 0.5 if with_heads else 1.0  # the head sweep is about as long as the layer sweep
    for layer in range(n_layers + 1):  # A's own run below the patched layer is the cached one: only the blocks above run
        states_a, states_b = result_a.hidden_states[layer], result_b.hidden_states[layer]
        for start in range(0, length, COPIES_PER_BATCH):
            positions = list(range(start, min(length, start + COPIES_PER_BATCH)))
            effects[layer, positions] = run_patched_from_layer(loaded, states_a, layer, lang_id, states_b, positions,
                                                               position, target_id, foil_id).numpy()
        if progress is not None:
            progress(layers_share * (layer + 1) / (n_layers + 1), f"{loaded.key}: layer {layer} of {n_layers} patched")
    heads = None
    if with_heads:
        def heads_progress(done: int, total: int) -> None:
            if progress is not None:
                progress(layers_share + (1 - layers_share) * done / total,
                         f"{loaded.key}: heads of block {layer_for_heads}, {done:,} of {total:,} patched")

        heads = head_sweep(loaded, enc_a.input_ids, enc_b.input_ids, lang_id, layer_for_heads, position, target_id,
                           heads_progress, foil_id)
    return PatchingResult(
        model=loaded.key, lang=enc_a.lang, text_a=text_a, text_b=text_b,
        tokens_a=tuple(display_piece(t) for t in enc_a.tokens), tokens_b=tuple(display_piece(t) for t in enc_b.tokens),
        input_ids_a=enc_a.input_ids, input_ids_b=enc_b.input_ids, position=position, target_id=target_id,
        target_token=display_piece(loaded.tokenizer.convert_ids_to_tokens([target_id])[0]),
        logprob_a=score(result_a), logprob_b=score(result_b), effects=effects, foil_id=foil_id,
        foil_token=foil_token,
        head_layer=layer_for_heads, head_effects=heads, notices=tuple(dict.fromkeys([*enc_a.notices, *notices])),
    )


def head_sweep(
    loaded: LoadedModel, ids_a: tuple[int, ...], ids_b: tuple[int, ...], lang_id: int | None, layer: int, position: int,
    target_id: int, report: Callable[[int, int], None] | None = None, foil_id: int | None = None,
) -> np.ndarray:
    """(heads, T): head h's output at position p in block ``layer`` (1-based, like the layer sweep) patched from B;
    ``report(cells done, cells)`` after each batch."""
    outputs_b = _head_outputs(loaded, ids_b, lang_id, layer - 1)
    width = loaded.hidden_size // loaded.n_heads
    cells = [(h, p) for h in range(loaded.n_heads) for p in range(len(ids_a))]
    values = np.zeros((loaded.n_heads, len(ids_a)), dtype=np.float32)
    for start in range(0, len(cells), COPIES_PER_BATCH):
        chunk = cells[start : start + COPIES_PER_BATCH]
        patches = [{p: (slice(h * width, (h + 1) * width), outputs_b[p, h * width : (h + 1) * width])} for h, p in chunk]
        scores = run_patched(loaded, ids_a, lang_id, f"blocks.{layer - 1}.attn.heads", patches, position, target_id,
                             foil_id).numpy()
        for (h, p), score in zip(chunk, scores):
            values[h, p] = score
        if report is not None:
            report(start + len(chunk), len(cells))
    return values
