"""The one place a model runs: :func:`run_with_hooks` (named hook points), :func:`run_batch`, the LM head, and the
shared per-input cache on top of them.

:func:`run_with_hooks` runs the transformer body on a right-padded batch (attention mask and lengths set, so padding
changes no real position) or on given word embeddings, in the manner of TransformerLens' ``run_with_hooks`` /
``run_with_cache``: the caller names **hook points** (:data:`HOOK_POINT_HELP`: the embedding output, each block's
attention pattern, head outputs, attention output, middle residual, FFN output and block output) to capture
(``cache=``) or to edit (``hooks=``). Hooks are registered only while the calling thread holds the model's lock and
are removed in ``finally``, so no other request ever runs through them. The LM head (``pred_layer``) is applied
here and only here (:func:`lm_head_logits`), and only at the ``(row, position)`` pairs asked for (the 200k-word head
is the most expensive layer of 100-1280). Language ids are handled here and only here (:func:`language_tensor`).

:class:`ForwardCache` keeps one body pass per (model instance, token ids, language id when the model uses one) in a
:class:`~xlm_explorer.cache.BoundedLRU`, holding **only the parts asked for**: the last layer's states always (for
the logits), every layer's hidden states and attentions only for the views that read them (a fill-mask stores
neither). :meth:`ForwardCache.get_many` runs the inputs it does not hold as padded batches; :meth:`ForwardCache.get`
gathers concurrent requests for one model into one batch.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .cache import BoundedLRU, LRUBacked

if TYPE_CHECKING:
    from .models import LoadedModel

#: Inputs per padded batch when the caller does not say.
DEFAULT_BATCH_SIZE = 16

#: ``hook(activation, name) -> replacement or None``: called with a hook point's value during the forward pass.
HookFn = Callable[[torch.Tensor, str], "torch.Tensor | None"]

#: The named hook points (``{i}`` is a block, 0-based) and what each holds, shapes for a (B, T) batch.
HOOK_POINT_HELP: dict[str, str] = {
    "embed": "word + position embeddings after the embedding layer norm (hidden state 0): (B, T, H)",
    "blocks.{i}.attn.pattern": "attention weights of block i, rows sum to 1 (read only): (B, heads, T, T)",
    "blocks.{i}.attn.heads": "the heads' outputs side by side, before the output projection: (B, T, heads * d_head)",
    "blocks.{i}.attn.out": "block i's attention output, before the residual: (B, T, H)",
    "blocks.{i}.resid_mid": "after attention, residual and the first layer norm: (B, T, H)",
    "blocks.{i}.ffn.out": "block i's feed-forward output, before the residual: (B, T, H)",
    "blocks.{i}.out": "block i's output (hidden state i + 1): (B, T, H)",
}
_BLOCK_POINT = re.compile(r"blocks\.(\d+)\.(attn\.pattern|attn\.heads|attn\.out|resid_mid|ffn\.out|out)")


def hidden_point(layer: int) -> str:
    """The hook point holding hidden state ``layer`` (0: the embedding output; l: the output of block l)."""
    return "embed" if layer == 0 else f"blocks.{layer - 1}.out"


def hook_points(n_layers: int) -> tuple[str, ...]:
    """Every hook point of a model with ``n_layers`` blocks, in the order the forward pass reaches them."""
    per_block = [p.split("}.", 1)[1] for p in HOOK_POINT_HELP if p.startswith("blocks.")]
    return ("embed", *(f"blocks.{i}.{part}" for i in range(n_layers) for part in per_block))


@dataclass(frozen=True)
class _Point:
    """Where a hook point lives: the module, whether its input (``pre``) or output is meant, and which element of
    a tuple output."""

    module: torch.nn.Module
    pre: bool = False
    index: int | None = None


def _locate(loaded: "LoadedModel", name: str) -> _Point:
    body = loaded.model.transformer
    if name == "embed":
        return _Point(body.layer_norm_emb)
    match = _BLOCK_POINT.fullmatch(name)
    if match is None or int(match.group(1)) >= loaded.n_layers:
        raise ValueError(f"unknown hook point {name!r} for {loaded.key} (blocks 0..{loaded.n_layers - 1})")
    block, part = int(match.group(1)), match.group(2)
    return {
        "attn.pattern": lambda: _Point(body.attentions[block], index=1),
        "attn.heads": lambda: _Point(body.attentions[block].out_lin, pre=True),
        "attn.out": lambda: _Point(body.attentions[block], index=0),
        "resid_mid": lambda: _Point(body.layer_norm1[block]),
        "ffn.out": lambda: _Point(body.ffns[block]),
        "out": lambda: _Point(body.layer_norm2[block]),
    }[part]()


def _register(point: _Point, name: str, hook: HookFn | None, store: dict[str, torch.Tensor] | None):
    """One torch hook at ``point`` that applies ``hook`` (its result replaces the value) and then stores the value."""

    def apply(value: torch.Tensor) -> torch.Tensor | None:
        replaced = hook(value, name) if hook is not None else None
        if store is not None:
            store[name] = (replaced if replaced is not None else value).detach()
        return replaced

    if point.pre:
        def pre_hook(_module, args):  # noqa: ANN001, ANN202
            replaced = apply(args[0])
            return None if replaced is None else (replaced, *args[1:])

        return point.module.register_forward_pre_hook(pre_hook)

    def post_hook(_module, _args, output):  # noqa: ANN001, ANN202
        if point.index is None:
            return apply(output)
        replaced = apply(output[point.index])
        if replaced is None:
            return None
        return (*output[: point.index], replaced, *output[point.index + 1 :])

    return point.module.register_forward_hook(post_hook)


@dataclass
class BatchOutput:
    """One padded batch through the body.

    input_ids, attention_mask: (B, T) on CPU (right padding; input_ids None when the batch was given as
    embeddings); lengths: (B,).
    last_hidden: (B, T, H) on the model's device and dtype.
    hidden_states: (n_layers + 1, B, T, H) (embedding output first) when asked for, else None.
    attentions: (n_layers, B, heads, T, T) float32 on CPU when asked for, else None; padded columns are 0.
    logits: (P, V) float32 (on CPU unless ``grad``) at the ``logits_at`` pairs, in their order, when asked for.
    activations: hook point name -> its value (see :data:`HOOK_POINT_HELP`), for the names in ``cache``.
    """

    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor
    lengths: torch.Tensor
    last_hidden: torch.Tensor
    hidden_states: torch.Tensor | None = None
    attentions: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
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


def lm_head_logits(loaded: "LoadedModel", hidden: torch.Tensor, grad: bool = False) -> torch.Tensor:
    """The model's LM head applied to hidden states: (..., H) -> (..., V) float32 (the one place it is applied).

    XLM's prediction layer is a single (tied) linear projection, so this equals
    ``XLMWithLMHeadModel(...).logits`` at those positions; it also serves the per-layer "logit lens".
    ``grad`` keeps the autograd graph (attribution).
    """
    with torch.enable_grad() if grad else torch.inference_mode():
        head = loaded.model.pred_layer
        return head(hidden.to(device=loaded.device, dtype=loaded.dtype))[0].float()


def word_embeddings(loaded: "LoadedModel", input_ids: torch.Tensor) -> torch.Tensor:
    """The word-embedding lookup alone (before positions and the layer norm): (B, T) ids -> (B, T, H), detached."""
    with torch.no_grad():
        return loaded.model.transformer.embeddings(input_ids.to(loaded.device)).detach()


def transformed_values(loaded: "LoadedModel", block: int, block_input: torch.Tensor) -> torch.Tensor:
    """Kobayashi et al. (2020)'s f(x): every token's value vector in each head of ``block``, through that head's
    slice of the output projection (its bias left out): (T, H) block input -> (heads, T, H), float32 on the CPU.
    The attention output at i is sum over heads h and tokens j of alpha[h, i, j] * f[h, j] plus the output bias."""
    with loaded.lock, torch.inference_mode():  # no other request's hooks fire while it reads the block
        attention = loaded.model.transformer.attentions[block]
        heads, d_head = attention.n_heads, attention.head_dim
        weight = attention.out_lin.weight  # a oneDNN-packed layer (packing.py) holds an opaque tensor: made dense
        weight = weight.to_dense() if weight.is_mkldnn or weight.layout != torch.strided else weight
        x = block_input.to(device=loaded.device, dtype=weight.dtype)
        values = attention.v_lin(x).reshape(x.shape[0], heads, d_head).transpose(0, 1)  # (heads, T, d_head)
        out_weight = weight.reshape(-1, heads, d_head)  # (H, heads, d_head)
        return torch.einsum("htd,Dhd->htD", values, out_weight).float().cpu()


def run_with_hooks(
    loaded: "LoadedModel",
    batch_ids: Sequence[Sequence[int]] | None = None,
    *,
    inputs_embeds: torch.Tensor | None = None,
    lang_ids: int | Sequence[int | None] | None = None,
    hooks: Mapping[str, HookFn] | None = None,
    cache: Iterable[str] = (),
    hidden_states: bool = False,
    attentions: bool = False,
    logits_at: Sequence[tuple[int, int]] | None = None,
    grad: bool = False,
) -> BatchOutput:
    """Run the body once under the model's lock, with ``hooks`` applied and the ``cache`` points captured.

    The input is ``batch_ids`` (token id lists of any lengths: right-padded and masked) or ``inputs_embeds``
    (B, T, H) word embeddings of full-length rows. ``logits_at`` lists ``(row, position)`` pairs where the LM head
    runs (never on the whole batch). ``grad`` runs with autograd (the caller differentiates; no inference mode).
    """
    hooks = dict(hooks or {})
    names = list(dict.fromkeys([*hooks, *cache]))
    if any(name.endswith("attn.pattern") for name in hooks):
        raise ValueError("attention patterns are read-only hook points (cache them; edit attn.heads instead)")
    if inputs_embeds is not None:
        batch, width = inputs_embeds.shape[:2]
        input_ids = None
        lengths = torch.full((batch,), width, dtype=torch.long)
        attention_mask = torch.ones((batch, width), dtype=torch.long)
        body_input = {"inputs_embeds": inputs_embeds}
    else:
        input_ids, attention_mask, lengths = pad_batch(loaded, batch_ids or [])
        body_input = {"input_ids": input_ids.to(loaded.device)}
    langs = language_tensor(loaded, lang_ids, tuple(attention_mask.shape))
    captured: dict[str, torch.Tensor] = {}
    keep = set(cache)
    started = time.perf_counter()
    with loaded.lock, (torch.enable_grad() if grad else torch.inference_mode()):  # hooks live only under the lock
        handles = [_register(_locate(loaded, name), name, hooks.get(name), captured if name in keep else None)
                   for name in names]
        try:
            out = loaded.model.transformer(
                **body_input,
                attention_mask=attention_mask.to(loaded.device),
                lengths=lengths.to(loaded.device),
                langs=langs,
                output_hidden_states=hidden_states,
                output_attentions=attentions or any(n.endswith("attn.pattern") for n in keep),
                return_dict=True,
            )
        finally:
            for handle in handles:
                handle.remove()
        last_hidden = out.last_hidden_state
        logits = None
        if logits_at is not None:
            rows = torch.tensor([r for r, _ in logits_at], dtype=torch.long, device=last_hidden.device)
            positions = torch.tensor([p for _, p in logits_at], dtype=torch.long, device=last_hidden.device)
            logits = lm_head_logits(loaded, last_hidden[rows, positions], grad=grad)
            logits = logits if grad else logits.cpu()
    return BatchOutput(
        input_ids=input_ids,
        attention_mask=attention_mask,
        lengths=lengths,
        last_hidden=last_hidden,
        hidden_states=torch.stack(out.hidden_states) if hidden_states else None,
        attentions=torch.stack(out.attentions).float().cpu() if attentions else None,
        logits=logits,
        activations=captured,
        seconds=time.perf_counter() - started,
    )


def run_from_layer(
    loaded: "LoadedModel",
    states: torch.Tensor,
    layer: int,
    *,
    lang_ids: int | Sequence[int | None] | None = None,
    logits_at: Sequence[tuple[int, int]] | None = None,
) -> BatchOutput:
    """The body's blocks after hidden state ``layer`` only, on (B, T, H) ``states`` given as that hidden state of
    full-length rows (what :func:`hidden_point` ``layer`` holds), then the LM head at ``logits_at``
    (TransformerLens's ``start_at_layer``).

    Blocks ``layer`` .. L-1 run one after the other exactly as the model's own forward runs them (attention, residual,
    first layer norm, feed-forward, residual, second layer norm, the padding mask: full-length rows have none), so a
    patched layer-``layer`` state continues exactly as in a full pass without recomputing the blocks below it
    (activation patching's sweeps). The shared model is never changed; the model's lock is held only so that no
    other request's hooks (registered under it) fire on these blocks. ``lang_ids`` is accepted for symmetry: a
    language embedding only enters below hidden state 0."""
    del lang_ids
    body = loaded.model.transformer
    started = time.perf_counter()
    with loaded.lock, torch.inference_mode():
        tensor = states.to(device=loaded.device, dtype=loaded.dtype)
        mask = torch.ones(tensor.shape[:2], dtype=torch.long, device=tensor.device)
        for block in range(layer, body.n_layers):
            attn = body.attentions[block](tensor, mask)[0]
            tensor = body.layer_norm1[block](tensor + attn)
            tensor = body.layer_norm2[block](tensor + body.ffns[block](tensor))
        logits = None
        if logits_at is not None:
            rows = torch.tensor([r for r, _ in logits_at], dtype=torch.long, device=tensor.device)
            positions = torch.tensor([q for _, q in logits_at], dtype=torch.long, device=tensor.device)
            logits = lm_head_logits(loaded, tensor[rows, positions]).cpu()
    batch, width = tensor.shape[:2]
    return BatchOutput(
        input_ids=None, attention_mask=torch.ones((batch, width), dtype=torch.long),
        lengths=torch.full((batch,), width, dtype=torch.long), last_hidden=tensor, hidden_states=None, attentions=None,
        logits=logits, activations={}, seconds=time.perf_counter() - started,
    )


def run_batch(
    loaded: "LoadedModel",
    batch_ids: Sequence[Sequence[int]],
    *,
    lang_ids: int | Sequence[int | None] | None = None,
    hidden_states: bool = False,
    attentions: bool = False,
    logits_at: Sequence[tuple[int, int]] | None = None,
) -> BatchOutput:
    """:func:`run_with_hooks` without hooks: the body once on ``batch_ids``, the LM head at ``logits_at``."""
    return run_with_hooks(loaded, batch_ids, lang_ids=lang_ids, hidden_states=hidden_states, attentions=attentions,
                          logits_at=logits_at)


#: What a forward pass may keep beyond the last layer (which is always kept, for the logits).
PARTS = ("hidden_states", "attentions")


def _parts(hidden_states: bool, attentions: bool) -> frozenset[str]:
    return frozenset(name for name, wanted in zip(PARTS, (hidden_states, attentions)) if wanted)


@dataclass
class ForwardResult:
    """The body's output for one input: what the caller asked for, nothing more.

    last_hidden: (T, H) the last layer's states, on the model's device and dtype (always kept: logits come from it).
    hidden_states: (n_layers + 1, T, H), embedding output first, same device and dtype, when asked for.
    attentions: (n_layers, heads, T, T) float32 on CPU (every row sums to 1), when asked for.
    """

    model_key: str
    input_ids: tuple[int, ...]
    last_hidden: torch.Tensor
    hidden_states: torch.Tensor | None
    attentions: torch.Tensor | None
    seconds: float
    #: position -> (V,) float32 logits, filled by ForwardCache.logits_at
    logits: dict[int, torch.Tensor] = field(default_factory=dict)
    #: the key this result is cached under (set by ForwardCache), so it can be re-measured when logits are added
    cache_key: tuple | None = field(default=None, repr=False)

    @property
    def parts(self) -> frozenset[str]:
        """Which of :data:`PARTS` this result holds."""
        return _parts(self.hidden_states is not None, self.attentions is not None)

    @property
    def nbytes(self) -> int:
        """Bytes held (the last layer counts once when it is a view of ``hidden_states``)."""
        tensors = [*self.logits.values()]
        tensors += [t for t in (self.hidden_states, self.attentions) if t is not None]
        if self.hidden_states is None:
            tensors.append(self.last_hidden)
        return sum(t.numel() * t.element_size() for t in tensors)


def split_rows(loaded: "LoadedModel", batch: BatchOutput, batch_ids: Sequence[Sequence[int]]) -> list[ForwardResult]:
    """One :class:`ForwardResult` per row of a batch (padding cut off), with the parts the batch was run with."""
    results = []
    share = batch.seconds / len(batch_ids)
    alone = len(batch_ids) == 1  # a batch of one has no padding: its rows are the whole tensors, no copy needed
    keep = (lambda t: t) if alone else (lambda t: t.clone())
    for row, ids in enumerate(batch_ids):
        n = len(ids)
        hidden = None if batch.hidden_states is None else keep(batch.hidden_states[:, row, :n])
        attentions = None if batch.attentions is None else keep(batch.attentions[:, row, :, :n, :n])
        results.append(
            ForwardResult(
                model_key=loaded.key,
                input_ids=tuple(int(i) for i in ids),
                last_hidden=hidden[-1] if hidden is not None else keep(batch.last_hidden[row, :n]),
                hidden_states=hidden,
                attentions=attentions,
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
    """A request waiting for the next batch of its model: input, language, where it needs logits, which parts."""

    input_ids: tuple[int, ...]
    lang_id: int | None
    positions: tuple[int, ...]
    parts: frozenset[str] = frozenset()
    done: threading.Event = field(default_factory=threading.Event)
    result: ForwardResult | None = None
    error: BaseException | None = None


class ForwardCache(LRUBacked):
    """Body passes per input, shared by every view (each keeping the parts asked for), in a byte-bounded LRU;
    concurrent requests batched.

    Each entry holds only the parts some request asked for (:data:`PARTS`; the last layer always). A request that
    needs a part its input's entry lacks runs the input again with the union and replaces the entry. Identical
    inputs arriving together run the model once; inputs that are missing together run as padded batches of at most
    ``batch_size``. :meth:`get` gathers the requests that arrive for one model while it is busy (or within
    ``gather_ms``) into one padded batch, and computes their LM-head logits in one matmul.
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
        self,
        loaded: "LoadedModel",
        input_ids: Sequence[int],
        lang_id: int | None = None,
        positions: Sequence[int] = (),
        *,
        hidden_states: bool = False,
        attentions: bool = False,
    ) -> ForwardResult:
        """The body's output for ``input_ids`` (with logits at ``positions``, and every layer's hidden states or
        attentions when asked for), from cache or from a forward pass shared with the requests for the same model
        that arrive meanwhile."""
        parts = _parts(hidden_states, attentions)
        entry = self.lru.get(self.key_for(loaded, input_ids, lang_id))
        if entry is not None and parts <= entry.parts and all(int(p) in entry.logits for p in positions):
            return entry
        if getattr(loaded.lock, "_is_owned", lambda: False)():  # called under the model's lock: no waiting on others
            result = self._get_parts(loaded, [input_ids], [lang_id], parts)[0]
            self._add_logits(loaded, [(result, int(p)) for p in positions])
            return result
        request = _Waiting(tuple(int(i) for i in input_ids), lang_id, tuple(int(p) for p in positions), parts)
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
            parts = frozenset().union(*(r.parts for r in batch))
            results = self._get_parts(loaded, [r.input_ids for r in batch], [r.lang_id for r in batch], parts)
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
            hidden = torch.stack([by_id[rid].last_hidden[p] for rid, p in missing])
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
        *,
        hidden_states: bool = False,
        attentions: bool = False,
    ) -> list[ForwardResult]:
        """The body's output for each input (with the parts asked for); the missing ones run as length-sorted
        padded batches (``progress(fraction, message)`` after each)."""
        return self._get_parts(loaded, inputs, lang_ids, _parts(hidden_states, attentions), progress)

    def _get_parts(
        self,
        loaded: "LoadedModel",
        inputs: Sequence[Sequence[int]],
        lang_ids: Sequence[int | None] | None,
        parts: frozenset[str],
        progress: Callable[[float, str], None] | None = None,
    ) -> list[ForwardResult]:
        lang_ids = list(lang_ids) if lang_ids is not None else [None] * len(inputs)
        keys = [self.key_for(loaded, ids, lang) for ids, lang in zip(inputs, lang_ids)]
        found: dict[tuple, ForwardResult] = {}
        for key in dict.fromkeys(keys):
            entry = self.lru.get(key)
            if entry is not None and parts <= entry.parts:
                found[key] = entry
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            by_key = {k: (ids, lang) for k, ids, lang in zip(keys, inputs, lang_ids)}
            order = sorted(missing, key=lambda k: len(by_key[k][0]))
            for start in range(0, len(order), self.batch_size):
                with loaded.lock:  # per batch: a request waiting for the model runs between two batches of a long set
                    self._run_batch_of(loaded, order[start : start + self.batch_size], by_key, parts, found)
                if progress is not None:  # outside the lock: a progress that pauses (a warm-up) never holds the model
                    done = min(start + self.batch_size, len(order))
                    progress(done / len(order), f"{loaded.key}: forward pass {done:,} of {len(order):,}")
        return [found[key] for key in keys]

    def _run_batch_of(
        self, loaded: "LoadedModel", chunk: Sequence[tuple], by_key: dict[tuple, tuple[Sequence[int], int | None]],
        parts: frozenset[str], found: dict[tuple, ForwardResult],
    ) -> None:
        """The keys of ``chunk`` still missing (a request that waited for the lock may find some computed meanwhile)
        as one padded batch, stored and put in ``found``; an entry holding less than asked runs again with the union
        of the parts and keeps its logits. Called under the model's lock."""
        older: dict[tuple, ForwardResult] = {}
        todo = []
        for key in chunk:
            entry = self.lru.peek(key)
            if entry is not None and parts <= entry.parts:
                self.lru.hits += 1
                found[key] = entry
                continue
            if entry is not None:
                older[key] = entry
            todo.append(key)
        if not todo:
            return
        wanted = parts.union(*(older[k].parts for k in older))
        batch_ids = [by_key[k][0] for k in todo]
        batch = run_batch(loaded, batch_ids, lang_ids=[by_key[k][1] for k in todo],
                          hidden_states="hidden_states" in wanted, attentions="attentions" in wanted)
        self.forward_calls += 1
        for key, result in zip(todo, split_rows(loaded, batch, batch_ids)):
            result.cache_key = key
            if key in older:
                result.logits.update(older[key].logits)
            found[key] = self.lru.put(key, result)

    def logits_at(self, loaded: "LoadedModel", result: ForwardResult, positions: Sequence[int]) -> torch.Tensor:
        """Vocabulary logits at ``positions``: (P, V) float32 on CPU, computed once per position."""
        self._add_logits(loaded, [(result, int(p)) for p in positions])
        if not positions:
            return torch.empty(0, loaded.vocab_size)
        return torch.stack([result.logits[int(p)] for p in positions])
