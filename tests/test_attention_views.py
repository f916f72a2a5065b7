"""Attention views: the offline bertviz documents (no external URL, hostile tokens escaped, caps), heatmaps,
grids and tables."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from xlm_explorer.analysis.attention import AttentionResult, analyze_attention, head_statistics
from xlm_explorer.errors import UserInputError
from xlm_explorer.paths import VENDOR_DIR
from xlm_explorer.views.attention import (
    make_grid_table,
    make_head_heatmap,
    make_statistic_figure,
    make_statistics_table,
)
from xlm_explorer.views.attention_lines import LINE_MIN_WEIGHT, make_head_lines, picture_heads
from xlm_explorer.views.bertviz import (
    BERTVIZ_MAX_TOKENS,
    VENDOR_SCRIPTS,
    bertviz_for_result,
    bertviz_iframe,
    make_bertviz_document,
    plan_bertviz,
    safe_script_json,
)

HOSTILE = [
    "<s>",
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    "<!--<script>",
    "&amp;\u2028",
    "</s>",
]
EXTERNAL = re.compile(r"""(?:\bsrc|\bhref)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import|\b(?:d3|jquery)\s*:\s*['"]https?:""", re.IGNORECASE)


def random_attentions(layers: int, heads: int, tokens: int, seed: int = 0) -> np.ndarray:
    """(layers, heads, T, T) with rows summing to 1."""
    values = np.random.default_rng(seed).random((layers, heads, tokens, tokens)).astype(np.float32)
    return values / values.sum(-1, keepdims=True)


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def markup_tags(document: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element as the browser's tokenizer sees it (script bodies are text, not markup)."""
    collector = _TagCollector()
    collector.feed(document)
    return collector.tags


def script_params(document: str) -> dict:
    """The parameter object bertviz put in the view script (parsed back as JSON)."""
    match = re.search(r"const params = (\{.*?\}); //", document)
    assert match, "the view script's params were not found"
    return json.loads(match.group(1))


def fake_result(tokens: list[str], attentions: np.ndarray, b_start: int | None = None) -> AttentionResult:
    boundary = np.zeros(len(tokens), dtype=bool)
    boundary[[0, -1]] = True
    return AttentionResult(
        model="en-2048", lang="en", text=" ".join(tokens), tokens=tuple(tokens), display_tokens=tuple(tokens),
        input_ids=tuple(range(len(tokens))), attentions=attentions, boundary_positions=(0, len(tokens) - 1),
        statistics=head_statistics(attentions, boundary, b_start), sentence_b_start=b_start,
    )


@pytest.mark.parametrize("kind", ["head", "model"])
def test_bertviz_document_is_offline(kind: str) -> None:
    document = make_bertviz_document(HOSTILE, random_attentions(2, 3, len(HOSTILE)), kind=kind, sentence_b_start=3).html
    assert not EXTERNAL.search(document), EXTERNAL.search(document)
    view_script = re.findall(r"<script>(.*?)</script>", document, re.DOTALL)[-1]
    assert "cdnjs" not in document and "require.config" not in view_script and "paths" not in view_script
    tags = markup_tags(document)
    assert [tag for tag, attrs in tags if tag in ("link", "img", "iframe", "object", "embed", "base")] == []
    assert [attrs for _tag, attrs in tags if {"src", "href", "srcset", "action"} & set(attrs)] == []
    for name in VENDOR_SCRIPTS:  # every vendored library is inlined, byte for byte
        assert (VENDOR_DIR / name).read_text(encoding="utf-8") in document
    assert 'define("d3"' in document and 'define("jquery"' in document


@pytest.mark.parametrize("kind", ["head", "model"])
def test_hostile_tokens_cannot_leave_the_script(kind: str) -> None:
    document = make_bertviz_document(HOSTILE, random_attentions(1, 2, len(HOSTILE)), kind=kind, title="<b>title</b>").html
    scripts = re.findall(r"<script>(.*?)</script>", document, re.DOTALL)
    assert len(scripts) == len(VENDOR_SCRIPTS) + 2  # the view and the projector listener: no token opened or closed a script
    assert "<img src=x" not in document and "alert(2)</script>" not in document and "<!--" not in document
    assert "&lt;b&gt;title&lt;/b&gt;" in document
    params = script_params(document)
    assert params["attention"][0]["left_text"] == HOSTILE  # the JSON escapes decode to the exact tokens
    assert "\\u003c/script\\u003e" in scripts[-2]  # the view (the projector listener comes last)


def test_safe_script_json_round_trips() -> None:
    text = json.dumps({"t": "</script><!-- & \u2028 >"}, ensure_ascii=False)
    safe = safe_script_json(text)
    assert "<" not in safe and ">" not in safe and "&" not in safe and "\u2028" not in safe
    assert json.loads(safe) == json.loads(text)


def test_values_are_rounded_to_three_decimals() -> None:
    document = make_bertviz_document([f"t{i}" for i in range(5)], random_attentions(1, 2, 5), kind="head").html
    values = np.array(script_params(document)["attention"][0]["attn"]).ravel()
    np.testing.assert_array_equal(values, np.round(values, 3))
    assert len(re.findall(r"\d\.\d{4,}", document.split("const params = ")[1].split("; //")[0])) == 0


def test_pair_mode_has_the_sentence_filter() -> None:
    document = make_bertviz_document(HOSTILE, random_attentions(2, 2, len(HOSTILE)), kind="head", sentence_b_start=3).html
    params = script_params(document)
    names = [view["name"] for view in params["attention"]]
    assert names == ["All", "Sentence A -> Sentence A", "Sentence B -> Sentence B", "Sentence A -> Sentence B",
                     "Sentence B -> Sentence A"]
    assert params["attention"][3]["left_text"] == HOSTILE[:3] and params["attention"][3]["right_text"] == HOSTILE[3:]
    assert '<select id="filter">' in document


def test_token_cap_is_visible() -> None:
    n = BERTVIZ_MAX_TOKENS + 16
    tokens = [f"w{i}" for i in range(n)]
    view = make_bertviz_document(tokens, random_attentions(1, 1, n), kind="head", sentence_b_start=BERTVIZ_MAX_TOKENS + 4)
    assert view.n_tokens == BERTVIZ_MAX_TOKENS
    assert len(script_params(view.html)["attention"][0]["left_text"]) == BERTVIZ_MAX_TOKENS
    assert f"first {BERTVIZ_MAX_TOKENS} of {n} tokens" in view.html
    assert any("no sentence A/B filter" in notice for notice in view.notices)


def test_layers_are_dropped_to_fit_and_said_so() -> None:
    kept, layers, heads, notices = plan_bertviz("head", 16, 16, 64, pair=False)
    assert kept == 64 and heads == list(range(16))
    assert 16 * 64 * 64 * len(layers) <= 300_000 < 16 * 64 * 64 * (len(layers) + 1)
    assert layers == list(range(len(layers))) and any("shows layers 0-" in n for n in notices)
    # the model view carries only the chosen heads, so more layers fit
    _, model_layers, model_heads, model_notices = plan_bertviz("model", 16, 16, 64, pair=False, heads=[0, 5])
    assert model_heads == [0, 5] and model_layers == list(range(16)) and not model_notices
    # small inputs are not cut at all
    assert plan_bertviz("head", 12, 16, 20, pair=True)[3] == []
    with pytest.raises(UserInputError):
        plan_bertviz("head", 2, 4, 5, pair=False, layers=[7])


def test_model_view_carries_only_the_chosen_layers_and_heads() -> None:
    view = make_bertviz_document([f"t{i}" for i in range(4)], random_attentions(3, 4, 4), kind="model", layers=["2", "0"], heads=[1, 3])
    assert view.layers == (0, 2) and view.heads == (1, 3)
    attn = np.array(script_params(view.html)["attention"][0]["attn"])
    assert attn.shape == (2, 2, 4, 4)


def test_iframe_is_sandboxed_and_escaped() -> None:
    view = make_bertviz_document(HOSTILE, random_attentions(1, 1, len(HOSTILE)), kind="head")
    frame = bertviz_iframe(view, title='a "title"')
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame
    attribute = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert "<" not in attribute and html.unescape(attribute) == view.html
    assert frame.count("<iframe") == 1 and frame.endswith("</iframe>")


def test_bertviz_for_result_skips_indices_the_model_lacks(en_model, workspace) -> None:
    result = analyze_attention(en_model, workspace.forward_cache, "The cat sat.", "en")
    view = bertviz_for_result(result, "model", layers=["0", "15"], heads=["3", "12"])
    assert view.layers == (0,) and view.heads == (3,)


def test_head_heatmap_labels_every_token_apart() -> None:
    tokens = ["<s>", "the", "cat", "the", "<img src=x onerror=alert(1)>", "</s>"]
    result = fake_result(tokens, random_attentions(2, 2, len(tokens)), b_start=3)
    fig = make_head_heatmap(result, 1, 0)
    trace = fig.data[0]
    assert np.array(trace.z).shape == (6, 6)
    np.testing.assert_allclose(np.array(trace.z), np.round(result.attentions[1, 0], 4))
    assert len(set(trace.x)) == 6  # the two "the" stay apart
    assert trace.x[4] == "&lt;img src=x onerror=alert(1)&gt; ·4"
    assert len(fig.layout.shapes) == 2  # the segment boundary lines
    with pytest.raises(UserInputError):
        make_head_heatmap(result, 2, 0)


def test_heatmap_at_512_tokens_thins_its_labels() -> None:
    n = 512
    attentions = np.full((1, 1, n, n), 1 / n, dtype=np.float32)
    fig = make_head_heatmap(fake_result([f"w{i}" for i in range(n)], attentions), 0, 0)
    assert len(fig.data[0].x) == n and len(fig.layout.xaxis.tickvals) == 64


def test_statistic_figure_side_by_side_and_tables() -> None:
    small = fake_result(["<s>", "a", "</s>"], random_attentions(2, 4, 3))
    large = AttentionResult(**{**small.__dict__, "model": "100-1280", "attentions": random_attentions(3, 4, 3, seed=1),
                               "statistics": head_statistics(random_attentions(3, 4, 3, seed=1), [True, False, True])})
    fig = make_statistic_figure([small, large], "entropy")
    assert [np.array(t.z).shape for t in fig.data] == [(2, 4), (3, 4)]
    assert fig.data[0].zmin == fig.data[1].zmin and fig.data[0].zmax == fig.data[1].zmax  # one colour scale
    grid = make_grid_table(large.statistics, "same_share")
    assert list(grid.columns) == ["layer", "h0", "h1", "h2", "h3"] and len(grid) == 3
    assert grid.loc[2, "h1"] == round(large.statistics.same_share[2, 1], 3)
    table = make_statistics_table([small, large])
    assert len(table) == 2 * 4 + 3 * 4
    assert table["cross_share"].isna().all()
    row = table[(table["model"] == "100-1280") & (table["layer"] == 1) & (table["head"] == 2)].iloc[0]
    assert row["entropy"] == pytest.approx(large.statistics.entropy[1, 2], abs=1e-6)


def test_language_views_of_averaged_statistics() -> None:
    from xlm_explorer.analysis.attention import AveragedStatistics, LanguageStatistics
    from xlm_explorer.views.attention import (
        AVERAGE_COLUMNS,
        make_average_table,
        make_language_figure,
        make_language_profile,
    )

    n = 4
    uniform = head_statistics(np.full((2, 3, n, n), 1 / n), [True, False, False, True])
    identity = head_statistics(np.broadcast_to(np.eye(n), (2, 3, n, n)), [True, False, False, True])
    averaged = AveragedStatistics(
        model="100-1280", source="pasted",
        languages=(LanguageStatistics("en", 2, 9, uniform), LanguageStatistics("fr", 1, 4, identity)),
    )
    fig = make_language_figure(averaged, "entropy")
    assert [np.array(t.z).shape for t in fig.data] == [(2, 3), (2, 3)]
    assert (fig.data[0].zmin, fig.data[0].zmax) == (fig.data[1].zmin, fig.data[1].zmax) == (0.0, 2.0)
    assert [a.text for a in fig.layout.annotations] == ["en (n=2)", "fr (n=1)"]
    profile = make_language_profile([averaged], "same_share")
    assert [list(t.y) for t in profile.data] == [[0.25, 0.25], [1.0, 1.0]]
    table = make_average_table([averaged])
    assert list(table.columns) == AVERAGE_COLUMNS and len(table) == 2 * 2 * 3
    assert table[table["lang"] == "fr"]["entropy"].tolist() == [0.0] * 6


# ------------------------------------------------------------------------------------------------ heads as lines


def drawn_segments(fig) -> dict[tuple[int, int, int], float]:  # noqa: ANN001 - a plotly figure
    """(head, query, key) -> the opacity of its line, read back from the figure's traces."""
    segments = {}
    for trace in fig.data:
        if trace.mode != "lines" or trace.x[0] is None:
            continue
        head = int(trace.name.split()[-1])
        for start in range(0, len(trace.x), 3):
            assert (trace.x[start], trace.x[start + 1], trace.x[start + 2]) == (0.0, 1.0, None)
            segments[(head, int(trace.y[start]), int(trace.y[start + 1]))] = trace.opacity
    return segments


def test_head_lines_draw_every_weight_above_the_floor_at_its_opacity() -> None:
    tokens = ["<s>", "the", "cat", "sat", "</s>"]
    attentions = random_attentions(2, 3, len(tokens), seed=4)
    result = fake_result(tokens, attentions)
    fig = make_head_lines(result, 1, [2, 0, 2])
    segments = drawn_segments(fig)
    expected = {(h, q, k) for h in (0, 2) for q in range(5) for k in range(5) if attentions[1, h, q, k] >= LINE_MIN_WEIGHT}
    assert set(segments) == expected
    for (h, q, k), opacity in segments.items():  # as dark as its weight, at most one step of 0.1 darker
        assert attentions[1, h, q, k] <= opacity < attentions[1, h, q, k] + 0.1 + 1e-9
    legend = [t.name for t in fig.data if t.showlegend is not False and t.mode == "lines"]
    assert legend == ["head 0", "head 2"]
    texts = [t for t in fig.data if t.mode == "text"]
    shown = [html.escape(t, quote=False) for t in tokens]  # plotly reads a little HTML: tokens go escaped
    assert [list(t.text) for t in texts] == [shown, shown] and [t.x[0] for t in texts] == [0.0, 1.0]
    assert "layer 1, heads 0, 2" in fig.layout.title.text


def test_head_lines_hide_the_boundary_tokens_lines() -> None:
    tokens = ["<s>", "a", "b", "</s>"]
    attentions = random_attentions(1, 1, 4, seed=1)
    result = fake_result(tokens, attentions)
    result = AttentionResult(**{**result.__dict__, "boundary_positions": (0, 3)})
    kept = drawn_segments(make_head_lines(result, 0, [0], hide_boundaries=True))
    assert kept and all(q in (1, 2) and k in (1, 2) for _h, q, k in kept)
    assert "hidden" in make_head_lines(result, 0, [0], hide_boundaries=True).layout.title.text


def test_head_lines_escape_tokens_and_pick_heads() -> None:
    result = fake_result(HOSTILE, random_attentions(1, 2, len(HOSTILE)))
    texts = [t for t in make_head_lines(result, 0, [1]).data if t.mode == "text"][0].text
    assert "<img" not in "".join(texts) and "&lt;img" in "".join(texts)
    assert picture_heads([], 3, 16) == [3] and picture_heads(["5", "1", "20"], 3, 16) == [5, 1]
    assert picture_heads([], 15, 4) == [3]
