"""The service layer: one declaration per public endpoint (:class:`~.endpoint.Endpoint`), named after its ``api_name``,
in one module per tab (``fill_mask``, ``attention``, ``embeddings``, ``compare``, ``bias``, ``explain``, ``models``);
this package collects them in :data:`ENDPOINTS` and re-exports what the page reads (:data:`PAGE_SETUP`).

Each takes the :class:`~xlm_explorer.workspace.Workspace` and the endpoint's plain arguments (the API's
parameter names), validates them with the shared :mod:`~xlm_explorer.checks`, loads the models it needs,
computes, and returns an :class:`Answer`: the JSON payload the API returns, the result objects the page's
views draw, and the notices to show beside them. No gradio here: Python callers, ``gradio_client`` and the
page all go through these functions and get the same answers and the same messages.

Endpoints that read several models degrade the same way: a model that cannot be loaded is reported in the
payload's ``errors`` and the others still answer; when none can, the load error is raised.
"""

from __future__ import annotations

from ..analysis import multi_piece
from ..analysis.attention import MAX_SET_PER_LANGUAGE, STATISTIC_LABELS, STATISTIC_NAMES, AttentionResult, check_head, parallel_languages
from ..analysis.bias import browse as bias_browse
from ..analysis.bias import data as bias_data
from ..analysis.datasets import MAX_ROWS, SHIPPED_DATASETS, shipped_languages
from ..analysis.embeddings import LAYER_ALIASES, MAX_PANEL_LAYERS
from ..analysis.fill_mask import DEFAULT_TOP_K, MAX_MASKS, MAX_TOP_K, MIN_TOP_K
from ..analysis.projection import start_umap_warmup
from ..page_setup import (  # re-exported: the page reads them here (PAGE_SETUP)
    corpus_index_line,
    crosslingual_probe_notes,
    fill_mask_examples,
    probe_concepts,
    probe_rows,
    read_pairs_upload,
    read_probe_upload,
    read_results_upload,
    result_choices,
    select_result_rows,
    shipped_grid_templates,
    shipped_pairs_text,
    shipped_probe_sets,
)
from .answers import Answer, Progress, load_models
from .attention import ATTENTION_SOURCES, attention, attention_average
from .bias import bias_languages, bias_probe, pll_pairs, seat
from .compare import compare, crosslingual_grid, fill_word, layer_similarity, logit_lens
from .embeddings import DIRECTION_GROUPS, EMBEDDING_SOURCES, embeddings, explore_embeddings, neighbours, reproject
from .endpoint import Endpoint, Param
from .explain import DEFAULT_LANGUAGES, DEFAULT_WORDS, attention_flow, attribution, explain_languages, patching, token_search
from .fill_mask import fill_mask
from .models import model_info

#: api_name -> its declaration: what the UI registers, what every client calls and what docs/api.md lists.
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (fill_mask, fill_word, attention, attention_average, embeddings, compare, logit_lens, layer_similarity,
              crosslingual_grid, bias_probe, pll_pairs, bias_languages, seat, attribution, patching, attention_flow,
              explain_languages, token_search, model_info)
}

#: What the UI may read besides the endpoints: limits, choices, shipped data, helpers of the page's own events (the
#: page builds its controls from these, never from analysis).
PAGE_SETUP = [
    "AttentionResult", "DIRECTION_GROUPS", "DEFAULT_LANGUAGES", "DEFAULT_TOP_K", "DEFAULT_WORDS", "LAYER_ALIASES", "MAX_MASKS", "MAX_PAIRS", "MAX_PANEL_LAYERS", "MAX_PIECES", "MAX_BEAM", "MAX_PER_LENGTH", "MAX_ROWS",
    "MAX_SET_PER_LANGUAGE", "MAX_TOP_K", "MIN_TOP_K", "SHIPPED_DATASETS", "STATISTIC_LABELS", "STATISTIC_NAMES",
    "RESULT_ORDERS", "check_head", "corpus_index_line", "crosslingual_probe_notes", "fill_mask_examples", "neighbours", "parallel_languages", "probe_concepts", "probe_rows", "read_pairs_upload",
    "read_probe_upload", "read_results_upload", "reproject", "result_choices", "select_result_rows", "shipped_grid_templates", "shipped_languages", "shipped_pairs_text",
    "shipped_probe_sets", "start_umap_warmup",
]
MAX_PAIRS = bias_data.MAX_PAIRS
MAX_PIECES, MAX_BEAM, MAX_PER_LENGTH = multi_piece.MAX_PIECES, multi_piece.MAX_BEAM, multi_piece.MAX_PER_LENGTH
RESULT_ORDERS = bias_browse.ORDERS

__all__ = ["ENDPOINTS", "Answer", "Endpoint", "Param", "Progress", "load_models", *ENDPOINTS, *PAGE_SETUP]
