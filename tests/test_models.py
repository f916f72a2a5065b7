"""Model manager: sources and overrides, lazy single loading, failures, per-model tokenizer settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from transformers import XLMTokenizer, XLMWithLMHeadModel

from xlm_explorer.errors import ModelLoadError, UserInputError
from xlm_explorer.models import ENV_MODELS, ModelManager, parse_model_overrides, resolve_sources
from xlm_explorer.specs import MODEL_SPECS, XLM_100_LANGUAGES
from xlm_explorer.tokenization import tokenize_words


def test_default_sources_are_the_hub_ids() -> None:
    assert resolve_sources(environ={}) == {
        "en-2048": "FacebookAI/xlm-mlm-en-2048",
        "100-1280": "FacebookAI/xlm-mlm-100-1280",
    }


def test_env_overrides_one_key_and_cli_wins() -> None:
    environ = {ENV_MODELS: "en-2048=/env/en,100-1280=/env/multi"}
    assert resolve_sources(environ={ENV_MODELS: "100-1280=/env/multi"})["en-2048"] == "FacebookAI/xlm-mlm-en-2048"
    sources = resolve_sources(["100-1280=/cli/multi"], environ=environ)
    assert sources == {"en-2048": "/env/en", "100-1280": "/cli/multi"}


@pytest.mark.parametrize("bad", ["gpt2=/x", "en-2048", "en-2048=", "=x"])
def test_malformed_or_unknown_overrides_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_model_overrides(bad)


def test_only_configured_keys_can_be_loaded(fresh_manager: ModelManager) -> None:
    for key in ["gpt2", "FacebookAI/xlm-mlm-en-2048", "../../etc/passwd", "", None, 3]:
        with pytest.raises(UserInputError, match="Unknown model"):
            fresh_manager.get(key)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ModelManager({"gpt2": "gpt2"})


def test_lazy_loading_happens_once_on_first_use(fresh_manager: ModelManager) -> None:
    assert not fresh_manager.is_loaded("en-2048")
    first = fresh_manager.get("en-2048")
    assert fresh_manager.is_loaded("en-2048") and not fresh_manager.is_loaded("100-1280")
    assert fresh_manager.get("en-2048") is first
    assert fresh_manager.load_count == {"en-2048": 1, "100-1280": 0}
    assert not first.model.training


def test_concurrent_first_requests_load_once(fresh_manager: ModelManager) -> None:
    barrier = threading.Barrier(8)
    results = []

    def request() -> None:
        barrier.wait()
        results.append(fresh_manager.get("100-1280"))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert fresh_manager.load_count["100-1280"] == 1


def test_first_requests_for_both_models_at_once_load_both(fresh_manager: ModelManager) -> None:
    """Two models loading at once in one process broke both loads (transformers builds a model under a
    process-wide default device) and every later one; loads now run one at a time."""
    keys = ["en-2048", "100-1280"] * 4
    barrier = threading.Barrier(len(keys))
    results: dict[str, list] = {"en-2048": [], "100-1280": []}
    errors: list[BaseException] = []

    def request(key: str) -> None:
        barrier.wait()
        try:
            results[key].append(fresh_manager.get(key))
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=request, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:2]
    for key, loaded in results.items():
        assert len(loaded) == 4 and all(m is loaded[0] for m in loaded) and fresh_manager.load_count[key] == 1
        assert not any(p.is_meta for p in loaded[0].model.parameters()), f"{key} has weights left on the meta device"


def test_failing_model_has_clear_message_other_keeps_working_and_retry_succeeds(
    tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    missing = tmp_path / "no-such-model"
    manager = ModelManager({"en-2048": str(missing), "100-1280": str(tiny_dirs["100-1280"])}, device="cpu")
    with pytest.raises(ModelLoadError) as info:
        manager.get("en-2048")
    message = str(info.value)
    assert "en-2048" in message and info.value.source == str(missing)  # the path stays on the server (logs, Python)
    assert str(tmp_path) not in message and "a local copy" in message  # the message (page, API) shows no server path
    assert "does not exist" in message and ENV_MODELS in message
    assert manager.get("100-1280").key == "100-1280"  # the other model is unaffected
    assert manager.last_error("en-2048") is info.value
    # the user fixes the problem (the directory appears); the next request retries and succeeds
    import shutil

    shutil.copytree(tiny_dirs["en-2048"], missing)
    assert manager.get("en-2048").key == "en-2048"
    assert manager.load_count["en-2048"] == 2 and manager.last_error("en-2048") is None


def test_bad_files_give_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{ not json", encoding="utf-8")
    manager = ModelManager({"100-1280": str(tmp_path)}, device="cpu")
    with pytest.raises(ModelLoadError, match="100-1280"):
        manager.get("100-1280")


def test_hub_id_offline_fails_fast_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    manager = ModelManager(resolve_sources(environ={}), device="cpu")
    started = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        manager.get("en-2048")
    assert time.perf_counter() - started < 30
    assert "FacebookAI/xlm-mlm-en-2048" in str(info.value) and ENV_MODELS in str(info.value)


def test_unreachable_hub_fails_fast_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import xlm_explorer.models as models

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "hub_reachable", lambda timeout=3.0: False)  # no real network in tests
    manager = ModelManager(resolve_sources(environ={}), device="cpu")
    started = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        manager.get("100-1280")
    assert time.perf_counter() - started < 30
    message = str(info.value)
    assert "not reachable" in message and "FacebookAI/xlm-mlm-100-1280" in message and ENV_MODELS in message


def test_injected_model_and_tokenizer(tiny_dirs: dict[str, Path]) -> None:
    model = XLMWithLMHeadModel.from_pretrained(tiny_dirs["en-2048"])
    tokenizer = XLMTokenizer.from_pretrained(tiny_dirs["en-2048"])
    manager = ModelManager({"en-2048": (model, tokenizer)}, device="cpu")
    assert manager.get("en-2048").model is model


def test_tokenizer_settings_are_explicit_per_model(en_model, multi_model) -> None:
    assert en_model.tokenizer.do_lowercase_and_remove_accent is True
    assert multi_model.tokenizer.do_lowercase_and_remove_accent is False
    assert tokenize_words(en_model, "Élan", "en")[0] == tokenize_words(en_model, "elan", "en")[0]
    assert tokenize_words(multi_model, "Paris", "en")[0] != tokenize_words(multi_model, "paris", "en")[0]


def test_tokenizer_setting_ignores_what_the_saved_config_says(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    import json
    import shutil

    copy = tmp_path / "multi"
    shutil.copytree(tiny_dirs["100-1280"], copy)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config["do_lowercase_and_remove_accent"] = True  # a wrong local copy
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    loaded = ModelManager({"100-1280": str(copy)}, device="cpu").get("100-1280")
    assert loaded.tokenizer.do_lowercase_and_remove_accent is False


def test_languages_come_from_the_config(multi_model, en_model, fresh_manager: ModelManager) -> None:
    assert multi_model.languages[:3] == ("ar", "de", "el") and "fr" in multi_model.lang2id
    assert multi_model.tokenizer.lang2id == multi_model.lang2id
    assert all(isinstance(k, int) for k in multi_model.id2lang)
    assert en_model.languages == ("en",)
    # before loading, read from config.json without loading weights
    assert fresh_manager.languages("100-1280") == multi_model.languages
    assert not fresh_manager.is_loaded("100-1280")
    # model-card fallback for an unreachable source
    assert ModelManager(resolve_sources(environ={})).languages("100-1280") == XLM_100_LANGUAGES


def test_model_facts_are_read_from_the_loaded_config(multi_model) -> None:
    facts = multi_model.facts()
    config = multi_model.model.config
    assert facts["n_layers"] == config.n_layers == 3
    assert facts["hidden_size"] == config.emb_dim and facts["n_heads"] == config.n_heads
    assert facts["vocab_size"] == config.vocab_size
    assert facts["n_parameters"] == sum(p.numel() for p in multi_model.model.parameters())
    assert facts["n_languages"] == len(config.lang2id)
    assert facts["license"] == MODEL_SPECS["100-1280"].license == "CC-BY-NC-4.0"
    assert not facts["language_embeddings"]
