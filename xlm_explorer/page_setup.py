"""What the page builds its controls from and reads besides the endpoints: shipped data (probe sets, pairs,
templates), uploads read under the upload policy, and the results browser's reading and filtering. No gradio here;
:mod:`xlm_explorer.service` lists these in ``PAGE_SETUP``."""

from __future__ import annotations

import importlib.util
from typing import Any

from .analysis.across_languages import shipped_rows
from .analysis.fill_mask import shipped_examples
from .analysis.bias import browse as bias_browse
from .analysis.bias import data as bias_data
from .analysis.grid import format_grid_templates, load_grid_templates
from .analysis.token_search import describe_index
from .errors import UserInputError
from .uploads import MAX_RESULTS_BYTES, read_upload


def fill_mask_examples() -> list[tuple[str, str]]:
    """The shipped fill-mask examples ``(lang, text)`` the Fill-mask tab offers (the precision check reads them too)."""
    return shipped_examples()


def corpus_index_line(directory: Any) -> str:
    """What token search searches besides the shipped sentences (Markdown, one line; empty without ``--corpus-index``):
    the index's corpus, its size, and the model and layers indexed. An index without layers says so."""
    if directory is None:
        return ""
    layers = describe_index(directory)
    if not layers:
        return f"`--corpus-index {directory}` holds no index: searches use the shipped sentences."
    by_model: dict[str, list[int]] = {}
    for item in layers:
        by_model.setdefault(item.model, []).append(item.layer)
    where = "; ".join(f"{model} at layer{'s' * (len(found) > 1)} {', '.join(map(str, found))}"
                      for model, found in by_model.items())
    first = layers[0]
    name = first.corpus.replace("`", "'")  # a file name cannot close the code span it is shown in
    line = (f"**Searching your index** `{name}`: {first.n_sentences:,} sentences, {first.n_tokens:,} tokens, "
            f"indexed for {where}. Other models and layers search the shipped sentences.")
    approximate = [str(item.layer) for item in layers if item.approximate]
    if approximate:
        faiss_here = importlib.util.find_spec("faiss") is not None
        line += (f" Layer{'s' * (len(approximate) > 1)} {', '.join(approximate)}: "
                 + ("faiss picks the candidates, each scored again exactly." if faiss_here
                    else "a faiss index is there but faiss is not installed, so the search is exact."))
    return line


def read_pairs_upload(upload: Any) -> tuple[str, int]:
    """An uploaded pairs table read and checked under the upload policy: ``(its text, how many pairs)``."""
    _name, text = read_upload(upload)
    return text, len(bias_data.parse_pairs_table(text))


def read_probe_upload(upload: Any) -> list[dict[str, Any]]:
    """Uploaded probe sets (JSON in the shipped file's format), checked: one dict per set."""
    _name, text = read_upload(upload)
    return [probe.to_dict() for probe in bias_data.parse_probe_sets(text)]


def read_results_upload(upload: Any) -> bias_browse.PairResults:
    """A results file of the batch command (or a /pll_pairs answer) to browse: read and checked."""
    _name, text = read_upload(upload, "Upload a results file first.", MAX_RESULTS_BYTES,
                              expected="the JSON file that python -m xlm_explorer.score writes")
    return bias_browse.read_results(text)


def select_result_rows(
    results: bias_browse.PairResults, model: str, bias_type: str, direction: str, metric: str, order: str
) -> list[dict[str, Any]]:
    """The browsed rows that match, sorted, each with its ``margin`` and the words it contrasts (``contrast``)."""
    rows = bias_browse.select_rows(results, model, bias_type, direction, metric, bias_browse.check_order(order))
    return [row | {"contrast": bias_browse.contrast(row["sent_more"], row["sent_less"])} for row in rows]


def result_choices(results: bias_browse.PairResults) -> list[list[str]]:
    """The browser's choices for a results file: models, bias types, directions (each with "all" first), metrics."""
    return [["all", *results.models], ["all", *results.bias_types], ["all", *bias_browse.directions(results)],
            bias_browse.metric_choices(results)]


def shipped_probe_sets() -> dict[str, dict[str, Any]]:
    """The shipped probe sets by id (empty when the file is missing)."""
    try:
        return {p.id: p.to_dict() for p in bias_data.load_probe_sets()}
    except (OSError, UserInputError):
        return {}


def shipped_pairs_text() -> str:
    """The shipped sentence pairs as the table the page edits."""
    try:
        return bias_data.PAIRS_FILE.read_text(encoding="utf-8")
    except OSError:
        return "sent_more\tsent_less\n"


def crosslingual_probe_notes() -> tuple[list[str], list[str]]:
    """``(languages, one note per language)`` of the shipped cross-lingual probe."""
    try:
        probe = bias_data.load_crosslingual_probe()
    except (OSError, ValueError, KeyError):
        return ["en"], []
    return list(probe.languages), [f"{lang}: {probe.probes[lang].note}" for lang in probe.languages]


def shipped_grid_templates() -> dict[str, str]:
    """The shipped cross-lingual templates by set, as the text the page edits."""
    try:
        return {key: format_grid_templates(templates) for key, templates in load_grid_templates().items()}
    except OSError:
        return {}


def probe_concepts() -> list[str]:
    """The shipped cross-lingual probe's concepts (English names), the words the 'across languages' view offers."""
    try:
        return list(bias_data.load_crosslingual_probe().concepts)
    except (OSError, ValueError, KeyError):
        return []


def probe_rows(word_a: str, word_b: str, languages: list[str] | str | None) -> str:
    """The rows of the shipped probe for two of its concepts in ``languages`` (the text the page edits); a word that
    is not a concept or no language picked gives no rows."""
    codes = [languages] if isinstance(languages, str) else list(languages or [])
    try:
        probe = bias_data.load_crosslingual_probe()
        return shipped_rows(probe, word_a, word_b, [c for c in codes if c in probe.probes])
    except (OSError, ValueError, KeyError):
        return ""
