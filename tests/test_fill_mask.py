"""Fill-mask: exact against transformers, properties of the ranking, mask aliases, bad input."""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

from xlm_explorer.analysis.fill_mask import MAX_MASKS, check_top_k, predict_masks
from xlm_explorer.errors import UserInputError
from xlm_explorer.forward import ForwardCache
from xlm_explorer.tokenization import display_piece, encode_text
from xlm_explorer.views.fill_mask import make_completion_html, make_fill_mask_figure, make_fill_mask_table


def direct_probabilities(loaded, input_ids, positions) -> torch.Tensor:
    """Softmax of ``XLMWithLMHeadModel(...).logits`` at ``positions``, computed the plain way."""
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([list(input_ids)])).logits[0]
    return torch.softmax(logits[list(positions)], dim=-1)


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
@pytest.mark.parametrize(
    "text", ["The cat sat on the [MASK].", "The [MASK] sat on the [MASK] in Paris.", "[MASK]"]
)
def test_probabilities_equal_the_direct_computation(manager, key: str, text: str) -> None:
    loaded = manager.get(key)
    result = predict_masks(loaded, ForwardCache(), text, "en", top_k=50)
    expected = direct_probabilities(loaded, result.input_ids, [m.position for m in result.masks])
    for mask, row in zip(result.masks, expected):
        assert [p.token_id for p in mask.predictions] == [
            i for i in row.argsort(descending=True).tolist() if i not in loaded.special_ids
        ][:50]
        for p in mask.predictions:
            assert p.probability == pytest.approx(row[p.token_id].item(), abs=1e-5)


@pytest.mark.parametrize("key", ["en-2048", "100-1280"])
def test_single_mask_matches_the_fill_mask_pipeline(manager, key: str) -> None:
    loaded = manager.get(key)
    text = "Paris is the capital of <special1>."
    result = predict_masks(loaded, ForwardCache(), text, "en", top_k=20)
    fill = pipeline("fill-mask", model=loaded.model, tokenizer=loaded.tokenizer, device=-1)
    scores = {d["token"]: d["score"] for d in fill(text, top_k=loaded.vocab_size)}
    for p in result.masks[0].predictions:
        assert p.probability == pytest.approx(scores[p.token_id], abs=1e-5)


def test_ranking_properties(multi_model) -> None:
    result = predict_masks(multi_model, ForwardCache(), "Le [MASK] est sur le [MASK].", "fr", top_k=25)
    assert len(result.masks) == 2
    for mask in result.masks:
        probs = [p.probability for p in mask.predictions]
        assert len(probs) == 25
        assert probs == sorted(probs, reverse=True)
        assert all(0 <= p <= 1 for p in probs) and sum(probs) <= 1 + 1e-6
        assert not {p.token_id for p in mask.predictions} & multi_model.special_ids
        assert not any(p.piece.startswith("<") and p.piece.endswith(">") for p in mask.predictions)


def test_special_tokens_are_never_offered_even_when_most_likely(en_model) -> None:
    # the tiny model's favourite at a mask is the mask token itself (tied embeddings)
    cache = ForwardCache()
    result = predict_masks(en_model, cache, "the [MASK]", top_k=5)
    position = result.masks[0].position
    row = direct_probabilities(en_model, result.input_ids, [position])[0]
    assert int(row.argmax()) in en_model.special_ids
    assert result.masks[0].predictions[0].token_id not in en_model.special_ids


def test_all_masks_predicted_in_one_forward_pass(multi_model) -> None:
    cache = ForwardCache()
    predict_masks(multi_model, cache, "The [MASK] sat on the [MASK] near the [MASK].", top_k=3)
    assert cache.forward_calls == 1 and cache.head_calls == 1


def test_repeated_request_is_answered_from_cache(multi_model) -> None:
    cache = ForwardCache()
    first = predict_masks(multi_model, cache, "The cat sat on the [MASK].", top_k=5)
    second = predict_masks(multi_model, cache, "The cat sat on the [MASK].", top_k=10)
    assert cache.forward_calls == 1 and cache.head_calls == 1 and cache.hits == 1
    assert second.masks[0].predictions[:5] == first.masks[0].predictions


@pytest.mark.parametrize("alias", ["[MASK]", "[mask]", "<mask>", "<MASK>", "<special1>"])
def test_mask_aliases_encode_to_the_native_mask(multi_model, alias: str) -> None:
    native = encode_text(multi_model, "The cat sat on the <special1>.")
    assert encode_text(multi_model, f"The cat sat on the {alias}.").input_ids == native.input_ids
    assert native.input_ids == tuple(multi_model.tokenizer("The cat sat on the <special1>.")["input_ids"])


def test_word_final_and_word_internal_pieces_are_distinguishable(multi_model) -> None:
    vocab = multi_model.tokenizer.get_vocab()
    internal = next(p for p in vocab if not p.endswith("</w>") and not p.startswith("<") and f"{p}</w>" in vocab)
    assert display_piece(internal) != display_piece(internal + "</w>")
    assert display_piece(internal + "</w>") == internal and display_piece(internal) == internal + "@@"
    result = predict_masks(multi_model, ForwardCache(), "a [MASK]", top_k=50)
    shown = [p.token for p in result.masks[0].predictions]
    assert len(set(shown)) == len(shown)


def test_language_aware_tokenization_is_applied(multi_model) -> None:
    french = encode_text(multi_model, "L'homme mange une [MASK].", "fr").tokens
    english = encode_text(multi_model, "L'homme mange une [MASK].", "en").tokens
    assert french != english  # Moses splits French elision differently
    assert "L" in french and "'</w>" in french


def test_completion_and_views(en_model) -> None:
    result = predict_masks(en_model, ForwardCache(), "The <b>cat</b> sat on the [MASK] and [MASK].", top_k=4)
    best = [m.predictions[0].token for m in result.masks]
    assert result.completed == f"The <b>cat</b> sat on the {best[0]} and {best[1]}."
    html = make_completion_html(result)
    assert "<b>cat</b>" not in html and "&lt;b&gt;cat&lt;/b&gt;" in html
    fig = make_fill_mask_figure(result)
    assert len(fig.data) == 2 and list(fig.data[0].x) == sorted(fig.data[0].x)
    table = make_fill_mask_table(result)
    assert list(table.columns) == ["mask", "rank", "token", "probability", "piece", "token id"] and len(table) == 8
    assert all(str(p).endswith("%") for p in table["probability"])  # formatted for its range, not 0.000003


def test_to_dict_is_json_ready(multi_model) -> None:
    import json

    data = predict_masks(multi_model, ForwardCache(), "A [MASK].", top_k=2).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data["masks"][0]["predictions"][0]) == {"token", "piece", "token_id", "probability", "word_final"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("No mask in this sentence.", "No mask found"),
        (" ".join(["[MASK]"] * (MAX_MASKS + 1)), f"at most {MAX_MASKS}"),
        ("word " * 600 + "[MASK]", "at most 512 positions"),
    ],
)
def test_bad_text_gets_a_clear_message(en_model, text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        predict_masks(en_model, ForwardCache(), text)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 25_000, "characters long"), (None, "text is required"), (["a [MASK]"], "text must be text, not a list")],
)
def test_the_service_checks_the_text_once_before_any_model_loads(text: object, message: str) -> None:
    from xlm_explorer import service
    from xlm_explorer.workspace import Workspace

    ws = Workspace.from_sources({"en-2048": "/nonexistent/never-loaded", "100-1280": "/nonexistent/never-loaded"})
    with pytest.raises(UserInputError, match=message):
        service.fill_mask(ws, text, "both", "en", 5)  # refused before loading: the sources do not exist
    assert not ws.manager.is_loaded("en-2048") and ws.manager.last_error("en-2048") is None


def test_too_long_message_gives_count_and_limit(en_model) -> None:
    n_tokens = len(en_model.tokenizer("word " * 600 + "<special1>")["input_ids"])
    with pytest.raises(UserInputError) as info:
        predict_masks(en_model, ForwardCache(), "word " * 600 + "[MASK]")
    assert f"{n_tokens:,} tokens" in str(info.value) and "at most 512" in str(info.value)


@pytest.mark.parametrize("top_k", [0, 51, -3, 2.5, "ten", None, float("nan")])
def test_top_k_out_of_range(top_k) -> None:
    with pytest.raises(UserInputError, match="top-k"):
        check_top_k(top_k)


@pytest.mark.parametrize("top_k", [1, 50, 10.0, "7"])
def test_top_k_in_range(top_k) -> None:
    assert 1 <= check_top_k(top_k) <= 50


def test_unknown_language(multi_model) -> None:
    with pytest.raises(UserInputError, match="Unknown language"):
        predict_masks(multi_model, ForwardCache(), "A [MASK].", lang="xx")


@pytest.mark.parametrize(
    "text",
    [
        "Control\x00chars\x07 and \x1b[31m [MASK] here",
        "Emoji 😀🎉 and a [MASK] 👍",
        "القطة نائمة على [MASK] الأريكة",
        "\u202eRTL override [MASK] \u200f\u200b zero width",
        "中文 [MASK] 日本語",
    ],
)
def test_odd_characters_still_get_predictions(manager, text: str) -> None:
    for key in manager.keys:
        result = predict_masks(manager.get(key), ForwardCache(), text, top_k=3)
        assert len(result.masks) == 1 and len(result.masks[0].predictions) == 3
