"""The one way the app runs a model: :func:`run_batch`, and the shared per-input cache on top of it.

:func:`run_batch` runs the transformer body on a right-padded batch (attention mask and lengths set, so
padding changes no real position), optionally keeps every layer's hidden states and attentions, and
applies the LM head only at the ``(row, position)`` pairs asked for (the 200k-word head is the most
expensive layer of 100-1280). Language ids are handled here and only here (:func:`language_tensor`).

:class:`ForwardCache` keeps one body pass per (model instance, token ids, language id when the model uses
one), with every hidden state and attention, in a :class:`~xlm_explorer.cache.BoundedLRU`; fill-mask,
attention, compare and the logit lens all read it. :meth:`ForwardCache.get_many` runs the inputs it does
not hold as padded batches (the request batcher and the attention averages use it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .cache import BoundedLRU, LRUBacked

if TYPE_CHECKING:
    from .models import LoadedModel

#: Inputs per padded batch when the caller does not say.
DEFAULT_BATCH_SIZE = 16


@dataclass
class BatchOutput:
    """One padded batch through the body.

    input_ids, attention_mask: (B, T) on CPU (right padding); lengths: (B,).
    last_hidden: (B, T, H) on the model's device and dtype.
    hidden_states: (n_layers + 1, B, T, H) (embedding output first) when asked for, else None.
    attentions: (n_layers, B, heads, T, T) float32 on CPU when asked for, else None; padded columns are 0.
    logits: (P, V) float32 on CPU at the ``logits_at`` pairs, in their order, when asked for, else None.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: torch.Tensor
    last_hidden: torch.Tensor
    hidden_states: torch.Tensor | None = None
    attentions: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    seconds: float = 0.0


def pad_batch(loaded: "LoadedModel", batch_ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad token id lists with ``<pad>``: ``(input_ids (B, T), attention_mask (B, T), lengths (B,))`` on CPU."""
    if not batch_ids:
        raise ValueError("an empty batch")
    pad = int(loaded.tokenizer.pad_token_id)
    lengths = torch.tensor([len(ids) for ids in batch_ids], dtype=torch.long)
    width = int(lengths.max())
    input_ids = torch.full((len(batch_ids), width), pad, dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        input_ids[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
    attention_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    return input_ids, attention_mask, lengths


def language_tensor(
    loaded: "LoadedModel", lang_ids: int | Sequence[int | None] | None, shape: tuple[int, int]
) -> torch.Tensor | None:
    """The ``langs`` argument for a (B, T) batch, or None when the model ignores it.

    ``langs`` only changes the output when the model has language embeddings and more than one language
    (neither real checkpoint: see the stack notes); then each row gets its language id (0 when None).
    """
    if lang_ids is None or not loaded.uses_lang_embeddings:
        return None
    rows = [lang_ids] * shape[0] if isinstance(lang_ids, int) else list(lang_ids)
    values = torch.tensor([int(i or 0) for i in rows], dtype=torch.long)
    return values[:, None].expand(shape).to(loaded.device)


def lm_head_logits(loaded: "LoadedModel", hidden: torch.Tensor) -> torch.Tensor:
    """The model's LM head applied to hidden states: (..., H) -> (..., V) float32.

    XLM's prediction layer is a single (tied) linear projection, so this equals
    ``XLMWithLMHeadModel(...).logits`` at those positions; it also serves the per-layer "logit lens".
    """
    with torch.inference_mode():
        head = loaded.model.pred_layer
        return head(hidden.to(device=loaded.device, dtype=loaded.dtype))[0].float()


def run_batch(
    loaded: "LoadedModel",
    batch_ids: Sequence[Sequence[int]],
    *,
    lang_ids: int | Sequence[int | None] | None = None,
    hidden_states: bool = False,
    attentions: bool = False,
    logits_at: Sequence[tuple[int, int]] | None = None,
) -> BatchOutput:
    """Run the body once on ``batch_ids`` (any lengths: right-padded and masked) under the model's lock.

    ``logits_at`` lists ``(row, position)`` pairs where the LM head runs (never on the whole batch).
    """
    input_ids, attention_mask, lengths = pad_batch(loaded, batch_ids)
    langs = language_tensor(loaded, lang_ids, tuple(input_ids.shape))
    started = time.perf_counter()
    with loaded.lock, torch.inference_mode():
        out = loaded.model.transformer(
            input_ids=input_ids.to(loaded.device),
            attention_mask=attention_mask.to(loaded.device),
            lengths=lengths.to(loaded.device),
            langs=langs,
            output_hidden_states=hidden_states,
            output_attentions=attentions,
            return_dict=True,
        )
        last_hidden = out.last_hidden_state
        logits = None
        if logits_at is not None:
            rows = torch.tensor([r for r, _ in logits_at], dtype=torch.long, device=last_hidden.device)
            positions = torch.tensor([p for _, p in logits_at], dtype=torch.long, device=last_hidden.device)
            logits = lm_head_logits(loaded, last_hidden[rows, positions]).cpu()
    return BatchOutput(
        input_ids=input_ids,
        attention_mask=attention_mask,
        lengths=lengths,
        last_hidden=last_hidden,
        hidden_states=torch.stack(out.hidden_states) if hidden_states else None,
        attentions=torch.stack(out.attentions).float().cpu() if attentions else None,
        logits=logits,
        seconds=time.perf_counter() - started,
    )


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
    #: the key this result is cached under (set by ForwardCache), so it can be re-measured when logits are added
    cache_key: tuple | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        logits = sum(t.numel() * t.element_size() for t in self.logits.values())
        return (
            self.hidden_states.numel() * self.hidden_states.element_size()
            + self.attentions.numel() * self.attentions.element_size()
            + logits
        )


def split_rows(loaded: "LoadedModel", batch: BatchOutput, batch_ids: Sequence[Sequence[int]]) -> list[ForwardResult]:
    """One :class:`ForwardResult` per row of a batch run with hidden states and attentions (padding cut off)."""
    assert batch.hidden_states is not None and batch.attentions is not None
    results = []
    share = batch.seconds / len(batch_ids)
    alone = len(batch_ids) == 1  # a batch of one has no padding: its rows are the whole tensors, no copy needed
    for row, ids in enumerate(batch_ids):
        n = len(ids)
        hidden = batch.hidden_states[:, row, :n]
        attentions = batch.attentions[:, row, :, :n, :n]
        results.append(
            ForwardResult(
                model_key=loaded.key,
                input_ids=tuple(int(i) for i in ids),
                hidden_states=hidden if alone else hidden.clone(),
                attentions=attentions if alone else attentions.clone(),
                seconds=share,
            )
        )
    return results


def run_forward(loaded: "LoadedModel", input_ids: Sequence[int], lang_id: int | None = None) -> ForwardResult:
    """The body on one input with every hidden state and attention (no LM head, no caching)."""
    batch = run_batch(loaded, [input_ids], lang_ids=lang_id, hidden_states=True, attentions=True)
    return split_rows(loaded, batch, [input_ids])[0]


#: How long the first of several concurrent requests for one model waits for others to join its batch.
DEFAULT_GATHER_MS = 3.0


@dataclass
class _Waiting:
    """A request waiting for the next batch of its model: input, language, where it needs logits."""

    input_ids: tuple[int, ...]
    lang_id: int | None
    positions: tuple[int, ...]
    done: threading.Event = field(default_factory=threading.Event)
    result: ForwardResult | None = None
    error: BaseException | None = None


class ForwardCache(LRUBacked):
    """Body passes per input, shared by every view, in a byte-bounded LRU; concurrent requests batched.

    Identical inputs arriving together run the model once; inputs that are missing together run as padded
    batches of at most ``batch_size``. :meth:`get` gathers the requests that arrive for one model while it is
    busy (or within ``gather_ms``) into one padded batch, and computes their LM-head logits in one matmul.
    """

    def __init__(
        self, max_bytes: int = 1 << 30, batch_size: int = DEFAULT_BATCH_SIZE, gather_ms: float = DEFAULT_GATHER_MS
    ) -> None:
        self.lru: BoundedLRU[ForwardResult] = BoundedLRU(max_bytes, name="forward passes")
        self.batch_size = int(batch_size)
        self.gather_s = float(gather_ms) / 1000.0
        self.forward_calls = 0  # body runs (a batch counts once)
        self.head_calls = 0  # LM head runs
        self.batched_requests = 0  # requests answered by a batch of several
        self._waiting: dict[tuple[str, int], list[_Waiting]] = {}
        self._waiting_lock = threading.Lock()

    @staticmethod
    def key_for(loaded: "LoadedModel", input_ids: Sequence[int], lang_id: int | None) -> tuple:
        lang_key = int(lang_id) if (lang_id is not None and loaded.uses_lang_embeddings) else None
        return (loaded.key, loaded.instance_id, tuple(int(i) for i in input_ids), lang_key)

    def get(
        self, loaded: "LoadedModel", input_ids: Sequence[int], lang_id: int | None = None, positions: Sequence[int] = ()
    ) -> ForwardResult:
        """The body's output for ``input_ids`` (with logits at ``positions``), from cache or from a forward pass
        shared with the requests for the same model that arrive meanwhile."""
        entry = self.lru.get(self.key_for(loaded, input_ids, lang_id))
        if entry is not None and all(int(p) in entry.logits for p in positions):
            return entry
        if getattr(loaded.lock, "_is_owned", lambda: False)():  # called under the model's lock: no waiting on others
            result = self.get_many(loaded, [input_ids], [lang_id])[0]
            self._add_logits(loaded, [(result, int(p)) for p in positions])
            return result
        request = _Waiting(tuple(int(i) for i in input_ids), lang_id, tuple(int(p) for p in positions))
        slot = (loaded.key, loaded.instance_id)
        with self._waiting_lock:
            queue = self._waiting.setdefault(slot, [])
            queue.append(request)
            leader = len(queue) == 1
        if not leader:
            request.done.wait()
        else:
            if self.gather_s > 0:
                time.sleep(self.gather_s)  # let the requests arriving together join
            with loaded.lock:  # while another batch runs, more requests join this one
                with self._waiting_lock:
                    batch = self._waiting.pop(slot, [])
                self._run_waiting(loaded, batch)
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _run_waiting(self, loaded: "LoadedModel", batch: list[_Waiting]) -> None:
        """One padded body batch for the waiting requests, then one LM-head matmul for every missing position."""
        try:
            results = self.get_many(loaded, [r.input_ids for r in batch], [r.lang_id for r in batch])
            self._add_logits(loaded, [(result, p) for result, r in zip(results, batch) for p in r.positions])
            for request, result in zip(batch, results):
                request.result = result
            if len(batch) > 1:
                self.batched_requests += len(batch)
        except BaseException as error:  # every waiting request gets the error, none hangs
            for request in batch:
                request.error = error
        finally:
            for request in batch:
                request.done.set()

    def _add_logits(self, loaded: "LoadedModel", wanted: Sequence[tuple[ForwardResult, int]]) -> None:
        """LM-head logits at ``(result, position)`` pairs not computed yet, in one matmul (under the model lock)."""
        missing = list(dict.fromkeys((id(r), p) for r, p in wanted if p not in r.logits))
        if not missing:
            return
        by_id = {id(r): r for r, _ in wanted}
        with loaded.lock:
            hidden = torch.stack([by_id[rid].hidden_states[-1, p] for rid, p in missing])
            logits = lm_head_logits(loaded, hidden).cpu()
            self.head_calls += 1
        for (rid, p), row in zip(missing, logits):
            by_id[rid].logits[p] = row
        for rid in {rid for rid, _ in missing}:
            if by_id[rid].cache_key is not None:
                self.lru.resized(by_id[rid].cache_key)

    def get_many(
        self,
        loaded: "LoadedModel",
        inputs: Sequence[Sequence[int]],
        lang_ids: Sequence[int | None] | None = None,
        progress: Callable[[float, str], None] | None = None,
    ) -> list[ForwardResult]:
        """The body's output for each input; the missing ones run as length-sorted padded batches
        (``progress(fraction, message)`` after each)."""
        lang_ids = list(lang_ids) if lang_ids is not None else [None] * len(inputs)
        keys = [self.key_for(loaded, ids, lang) for ids, lang in zip(inputs, lang_ids)]
        found: dict[tuple, ForwardResult] = {}
        for key in dict.fromkeys(keys):
            entry = self.lru.get(key)
            if entry is not None:
                found[key] = entry
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            with loaded.lock:  # a request that waited here may find its input computed meanwhile
                for key in list(missing):
                    entry = self.lru.peek(key)
                    if entry is not None:
                        self.lru.hits += 1
                        found[key] = entry
                        missing.remove(key)
                by_key = {k: (ids, lang) for k, ids, lang in zip(keys, inputs, lang_ids)}
                order = sorted(missing, key=lambda k: len(by_key[k][0]))
                for start in range(0, len(order), self.batch_size):
                    chunk = order[start : start + self.batch_size]
                    batch_ids = [by_key[k][0] for k in chunk]
                    batch = run_batch(
                        loaded, batch_ids, lang_ids=[by_key[k][1] for k in chunk], hidden_states=True, attentions=True
                    )
                    self.forward_calls += 1
                    for key, result in zip(chunk, split_rows(loaded, batch, batch_ids)):
                        result.cache_key = key
                        found[key] = self.lru.put(key, result)
                    if progress is not None:
                        done = min(start + self.batch_size, len(order))
                        progress(done / len(order), f"{loaded.key}: forward pass {done:,} of {len(order):,}")
        return [found[key] for key in keys]

    def logits_at(self, loaded: "LoadedModel", result: ForwardResult, positions: Sequence[int]) -> torch.Tensor:
        """Vocabulary logits at ``positions``: (P, V) float32 on CPU, computed once per position."""
        self._add_logits(loaded, [(result, int(p)) for p in positions])
        if not positions:
            return torch.empty(0, loaded.vocab_size)
        return torch.stack([result.logits[int(p)] for p in positions])
