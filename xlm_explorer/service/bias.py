"""The Bias tab's endpoints: template probes, sentence pairs, one probe across languages, SEAT."""

from __future__ import annotations


from .. import checks
from ..contract import by_model
from ..analysis.bias import crosslingual as bias_crosslingual
from ..analysis.bias import data as bias_data
from ..analysis.bias import pairs as bias_pairs
from ..analysis.bias import probes as bias_probes
from ..analysis.bias import seat as bias_seat
from ..errors import UserInputError
from ..workspace import Workspace
from .. import answer_types as declared
from .answers import Answer, Progress, load_models, make_answer, per_model, report_part
from .endpoint import Language, Languages, ModelChoice, Text, Words, endpoint


@endpoint(answer=(declared.ProbeRequest, declared.ProbeItem, declared.MetricsShared), heavy=True, kept=True)
def bias_probe(
    ws: Workspace,
    template: Text,
    targets: Words,
    fillers: Words,
    lang: Language = "en",
    model: ModelChoice = checks.BOTH,
    progress: Progress | None = None,
) -> Answer:
    """Template bias probe: every target's score at the mask per filler and model, by every metric."""
    keys = checks.model_keys(ws.manager, model)
    target_words = bias_data.split_words(targets, r"[,/\n;]")
    filler_words = bias_data.split_words(fillers, r"[,\n]")
    bias_probes.check_probe(template, target_words, filler_words)  # clear messages before any model loads
    models, errors = load_models(ws, keys, progress)
    result = bias_probes.run_probe(models, template, target_words, filler_words, lang, progress=progress)
    data = result.to_dict()
    request = {"template": template, "targets": data["targets"], "fillers": data["fillers"], "lang": lang, "model": model}
    return make_answer("bias_probe", request, by_model(data["rows"], data["models"]), result, errors, result.notices,
                   {"metrics": data["metrics"]})


@endpoint(answer=(declared.PairsRequest, declared.PairsItem, declared.MetricsShared), heavy=True, kept=True)
def pll_pairs(ws: Workspace, table: Text, model: ModelChoice = checks.BOTH, progress: Progress | None = None) -> Answer:
    """CrowS-Pairs-style sentence pairs scored by every metric per model, with a summary per model and metric."""
    keys = checks.model_keys(ws.manager, model)
    pairs = bias_data.parse_pairs_table(table)
    models, errors = load_models(ws, keys, progress)
    result = bias_pairs.score_pairs(models, pairs, progress=progress)
    data = result.to_dict()
    items = [item | {"summary": data["summary"][item["model"]]} for item in by_model(data["rows"], data["models"])]
    return make_answer("pll_pairs", {"n_pairs": len(pairs), "model": model}, items, result, errors, result.notices,
                   {"metrics": data["metrics"]})


@endpoint(answer=(declared.LanguagesRequest, declared.LanguagesItem, declared.LanguagesShared), heavy=True, kept=True)
def bias_languages(
    ws: Workspace, languages: Languages = ("en", "fr", "de", "es", "ru", "ar", "hi"), progress: Progress | None = None,
) -> Answer:
    """The shipped occupation probe in several languages: log P(masculine) - log P(feminine) per occupation and
    language for 100-1280, with en-2048 on English as the reference."""
    probe = bias_data.load_crosslingual_probe()
    codes = [languages] if isinstance(languages, str) else list(languages or [])
    unknown = [str(c)[:12] for c in codes if c not in probe.languages]
    if unknown or not codes:
        raise UserInputError(f"Pick languages of the probe ({', '.join(probe.languages)}); not available: {', '.join(unknown) or 'none picked'}.")
    keys = [key for key in ws.manager.keys if any(ws.manager.spec(key).reads(code) == code for code in codes)]
    models, errors = load_models(ws, keys, progress)
    by_key = {m.key: m for m in models}
    result = bias_crosslingual.run_crosslingual_probe(by_key.get("100-1280"), by_key.get("en-2048"), probe, codes, progress)
    data = result.to_dict()
    items = []
    for key in dict.fromkeys(c["model"] for c in data["columns"]):
        picked = [i for i, c in enumerate(data["columns"]) if c["model"] == key]
        items.append({"model": key, "columns": [{k: v for k, v in data["columns"][i].items() if k != "model"} for i in picked],
                      "log_ratio": [[row[i] for i in picked] for row in data["log_ratio"]]})
    shared = {"probe": data["probe"], "concepts": data["concepts"], "notes": data["notes"]}
    return make_answer("bias_languages", {"languages": codes}, items, result, errors, result.notices, shared)


@endpoint(answer=(declared.SeatRequest, declared.SeatItem, declared.Empty), heavy=True, kept=True)
def seat(
    ws: Workspace, targets_x: Text, targets_y: Text, attributes_a: Text, attributes_b: Text, model: ModelChoice = checks.BOTH,
    lang: Language = "en", progress: Progress | None = None,
) -> Answer:
    """SEAT (May et al., 2019) at every layer: the effect size and permutation p-value of targets X and Y (as many
    sentences each) against attributes A and B (one sentence per line each), and every sentence's position on the
    direction mean(A) - mean(B) at the last layer."""
    keys = checks.model_keys(ws.manager, model)
    groups = {g: bias_seat.parse_group(text, g) for g, text in zip(bias_seat.GROUPS, (targets_x, targets_y, attributes_a, attributes_b))}
    models, errors = load_models(ws, keys, progress)
    results = [bias_seat.seat(loaded, groups, lang, progress=report_part(progress, i / len(models), (i + 1) / len(models)))
               for i, loaded in enumerate(models)]
    request = {"targets_x": targets_x, "targets_y": targets_y, "attributes_a": attributes_a, "attributes_b": attributes_b,
               "model": model, "lang": lang}
    return per_model("seat", request, results, errors)
