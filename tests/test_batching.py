"""Request batching: concurrent requests for one model run as one padded batch, each answer identical to the
unbatched one (float32: max |dp| <= 1e-6), errors reach every request, and nothing waits forever."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from xlm_explorer.analysis.fill_mask import predict_masks
from xlm_explorer.forward import ForwardCache

TEXTS = [
    "The cat sat on the [MASK].",
    "A [MASK] is a small animal.",
    "She went to the [MASK] to buy some bread.",
    "The [MASK] said that he would be late because the train was cancelled.",
    "I [MASK] coffee.",
    "My favourite colour is [MASK] and my brother likes [MASK].",
    "Where is the [MASK]?",
    "Paris is the capital of [MASK].",
]


def probabilities(result) -> np.ndarray:
    return np.array([[p.probability for p in m.predictions] for m in result.masks])


def concurrently(fn, items: list) -> list:
    barrier = threading.Barrier(len(items))
    out: list = [None] * len(items)
    errors: list[BaseException] = []

    def run(i: int, item) -> None:
        barrier.wait()
        try:
            out[i] = fn(item)
        except BaseException as error:  # noqa: BLE001 - collected and re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, item)) for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request never returned"
    if errors:
        raise errors[0]
    return out


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_concurrent_requests_run_as_one_batch_with_the_same_answers(manager, key: str) -> None:
    loaded = manager.get(key)
    single = [predict_masks(loaded, ForwardCache(gather_ms=0), text, "en", 10) for text in TEXTS]
    cache = ForwardCache(gather_ms=50)
    batched = concurrently(lambda text: predict_masks(loaded, cache, text, "en", 10), TEXTS)
    assert cache.forward_calls < len(TEXTS) and cache.batched_requests >= 2  # requests shared passes
    assert cache.head_calls < len(TEXTS)  # and LM-head matmuls
    for one, many in zip(single, batched):
        assert [p.token_id for m in one.masks for p in m.predictions] == [p.token_id for m in many.masks for p in m.predictions]
        np.testing.assert_allclose(probabilities(many), probabilities(one), atol=1e-6, rtol=0)


def test_an_error_in_a_batch_reaches_every_request_and_the_next_batch_works(en_model, monkeypatch) -> None:
    cache = ForwardCache(gather_ms=50)
    import xlm_explorer.forward as forward

    real = forward.run_batch
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(forward, "run_batch", failing)
    outcomes = concurrently(
        lambda text: _outcome(lambda: predict_masks(en_model, cache, text, "en", 3)), TEXTS[:4]
    )
    assert any(isinstance(o, RuntimeError) for o in outcomes)
    assert predict_masks(en_model, cache, "The dog [MASK].", "en", 3).masks  # serving again


def _outcome(fn):
    try:
        return fn()
    except RuntimeError as error:
        return error


def test_patching_and_attribution_beside_other_requests_change_no_answer(manager) -> None:
    """Patching hooks the shared model; another user's forward must never run through those hooks (it once did:
    a patched fill-mask, or an IndexError when the batch shapes differed), and no one else's answer changes."""
    from xlm_explorer.analysis.attribution import attribute
    from xlm_explorer.analysis.patching import patch

    loaded = manager.get("en-2048")
    pair = ("The doctor said that [MASK] was tired.", "The lawyer said that [MASK] was tired.")
    alone_fill = [probabilities(predict_masks(loaded, ForwardCache(gather_ms=0), t, "en", 10)) for t in TEXTS]
    alone_patch = patch(loaded, ForwardCache(), *pair, "en", "", head_layer=1).effects
    alone_ig = np.array(attribute(loaded, ForwardCache(), pair[0], "en", 1, "").integrated_gradients)

    def job(i: int):
        if i % 4 == 0:
            return patch(loaded, ForwardCache(), *pair, "en", "", head_layer=1).effects
        if i % 4 == 1:
            return np.array(attribute(loaded, ForwardCache(), pair[0], "en", 1, "").integrated_gradients)
        return [probabilities(predict_masks(loaded, ForwardCache(gather_ms=0), t, "en", 10)) for t in TEXTS]

    for _ in range(3):
        for i, out in enumerate(concurrently(job, list(range(8)))):
            if i % 4 == 0:
                np.testing.assert_allclose(out, alone_patch, atol=1e-5, rtol=0)
            elif i % 4 == 1:
                np.testing.assert_allclose(out, alone_ig, atol=1e-5, rtol=0)
            else:
                for got, want in zip(out, alone_fill):
                    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def _numbers(value) -> list[float]:
    """Every number in a JSON-like payload, in order (strings and keys compared separately)."""
    if isinstance(value, dict):
        return [n for k in sorted(value) for n in _numbers(value[k])]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    return [float(value)]


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k in sorted(value) for s in [k, *_strings(value[k])]]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("endpoint", ["compare", "logit_lens"])
def test_compare_and_logit_lens_batched_answer_like_single(manager, endpoint: str) -> None:
    """The other endpoints that share the batched forward: concurrent calls answer exactly like lone calls."""
    from xlm_explorer import service
    from xlm_explorer.workspace import Workspace

    def call(ws, text):
        if endpoint == "compare":
            return service.compare(ws, text, "en", 10).payload
        return service.logit_lens(ws, text, "en", 1, 5).payload

    texts = [t for t in TEXTS if t.count("[MASK]") >= 1]
    single = [call(Workspace(manager), text) for text in texts]  # fresh caches, the session's loaded models
    shared = Workspace(manager)
    shared.forward_cache.gather_s = 0.05
    batched = concurrently(lambda text: call(shared, text), texts)
    assert shared.forward_cache.batched_requests >= 2, "the concurrent calls never shared a batch"
    for one, many in zip(single, batched):
        assert _strings(one) == _strings(many)
        np.testing.assert_allclose(_numbers(many), _numbers(one), atol=1e-6, rtol=0)
