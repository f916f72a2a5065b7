"""Model manager: which models may be loaded, from where, and the loaded models themselves.

A model loads lazily on first use, exactly once even when requests for it arrive together, and then
stays in memory in eval mode. Only the keys of :data:`MODEL_SPECS` can ever be loaded; a request can
choose a key, never a source. ``trust_remote_code`` is never used.

Sources follow nnsight's "module or id" idea: a source is a hub id, a local directory written by
``save_pretrained``, or an already-built ``(model, tokenizer)`` pair (tests inject tiny models this way).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .errors import ModelLoadError, UserInputError
from .specs import MODEL_KEYS, MODEL_SPECS, ModelSpec

if TYPE_CHECKING:  # heavy imports stay out of import time
    import torch
    from transformers import XLMTokenizer, XLMWithLMHeadModel

log = logging.getLogger(__name__)

#: Loads run one at a time in the process, whatever the manager: transformers' lazy imports and model construction
#: (it switches torch's default device while it builds a model) are not thread-safe. Two first requests for the two
#: models at once broke both loads, and every later one, before this lock.
LOAD_LOCK = threading.Lock()

ENV_MODELS = "XLM_EXPLORER_MODELS"

Source = Union[str, os.PathLike, tuple[Any, Any]]
_instance_ids = itertools.count(1)


def parse_model_overrides(items: Iterable[str] | str | None) -> dict[str, str]:
    """Parse ``KEY=PATH_OR_REPO_ID`` items (a comma-separated string, or a list of such strings).

    >>> parse_model_overrides("en-2048=/models/en,100-1280=FacebookAI/xlm-mlm-100-1280")
    {'en-2048': '/models/en', '100-1280': 'FacebookAI/xlm-mlm-100-1280'}
    """
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    result: dict[str, str] = {}
    for chunk in items:
        for item in str(chunk).split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not value:
                raise ValueError(f"Model override '{item}' is not of the form KEY=PATH_OR_REPO_ID")
            if key not in MODEL_SPECS:
                raise ValueError(f"Unknown model key '{key}' in override '{item}'; known keys: {', '.join(MODEL_KEYS)}")
            result[key] = value
    return result


def resolve_sources(cli_items: Iterable[str] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Sources per key: defaults (hub ids) < ``XLM_EXPLORER_MODELS`` < ``--model`` flags."""
    environ = os.environ if environ is None else environ
    sources = {key: spec.hub_id for key, spec in MODEL_SPECS.items()}
    sources.update(parse_model_overrides(environ.get(ENV_MODELS)))
    sources.update(parse_model_overrides(list(cli_items or [])))
    return sources


def resolve_device(device: str) -> "torch.device":
    """``auto`` picks CUDA when present, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return torch.device(device)


def resolve_dtype(dtype: str) -> "torch.dtype":
    import torch

    table = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise ValueError(f"dtype must be one of {', '.join(table)}, not {dtype!r}")
    return table[dtype]


@dataclass
class LoadedModel:
    """A model in memory, ready for inference, with the facts every analysis needs."""

    key: str
    spec: ModelSpec
    source: str
    model: "XLMWithLMHeadModel"
    tokenizer: "XLMTokenizer"
    device: "torch.device"
    dtype: "torch.dtype"
    load_seconds: float = 0.0
    #: bfloat16 against float32 on the same weights, measured at load (``analysis.precision``); None in float32
    precision: Any = None
    #: serialises forward passes on this model (two users of one model queue instead of thrashing)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    instance_id: int = field(default_factory=lambda: next(_instance_ids))

    def __post_init__(self) -> None:
        config = self.model.config
        lang2id = getattr(config, "lang2id", None) or {}
        self.lang2id: dict[str, int] = {str(k): int(v) for k, v in lang2id.items()}
        if not self.lang2id and not self.spec.multilingual:
            self.lang2id = {"en": 0}
        self.id2lang: dict[int, str] = {v: k for k, v in self.lang2id.items()}
        self.tokenizer.lang2id = dict(self.lang2id) if self.spec.multilingual else None
        self.tokenizer.id2lang = dict(self.id2lang) if self.spec.multilingual else None
        self.tokenizer.do_lowercase_and_remove_accent = self.spec.do_lowercase_and_remove_accent
        self.special_ids: frozenset[int] = frozenset(int(i) for i in self.tokenizer.all_special_ids)
        self.mask_token_id: int = int(self.tokenizer.mask_token_id)
        self.max_positions: int = int(config.max_position_embeddings)
        self.n_layers: int = int(config.n_layers)
        self.n_heads: int = int(config.n_heads)
        self.hidden_size: int = int(config.emb_dim)
        self.vocab_size: int = int(config.vocab_size)
        self.n_parameters: int = sum(p.numel() for p in self.model.parameters())
        #: ``langs`` only changes the output when both hold (neither real model: see stack-facts)
        self.uses_lang_embeddings: bool = bool(config.use_lang_emb and config.n_langs > 1)

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes the model was trained on, in id order."""
        return tuple(sorted(self.lang2id, key=self.lang2id.__getitem__))

    def reads(self, lang: str) -> str:
        """The language this model tokenizes ``lang`` in: itself for the multilingual model, English for en-2048."""
        return self.spec.reads(lang)

    def read_language(self, lang: str) -> str:
        """The language this model reads ``lang`` in (:meth:`reads`), checked against the languages it knows."""
        return self.check_language(self.reads(lang))

    def check_language(self, lang: str) -> str:
        """Return ``lang`` if the model knows it; English-only models accept only ``en``."""
        if not isinstance(lang, str) or lang not in self.lang2id:
            shown = ", ".join(self.languages[:12]) + (" …" if len(self.languages) > 12 else "")
            raise UserInputError(f"Unknown language {str(lang)[:40]!r} for model {self.key}; choose one of: {shown}")
        return lang

    def facts(self) -> dict[str, Any]:
        """Facts read from the loaded config, next to the model-card facts."""
        return {
            "model": self.key,
            "source": public_source(self.source),
            "n_layers": self.n_layers,
            "hidden_size": self.hidden_size,
            "n_heads": self.n_heads,
            "ffn_size": 4 * self.hidden_size,
            "vocab_size": self.vocab_size,
            "n_parameters": self.n_parameters,
            "max_positions": self.max_positions,
            "n_languages": len(self.lang2id),
            "language_embeddings": self.uses_lang_embeddings,
            "lowercases": self.spec.do_lowercase_and_remove_accent,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "precision_check": self.precision.to_dict() if self.precision is not None else None,
            "load_seconds": round(self.load_seconds, 2),
            "paper": self.spec.paper,
            "license": self.spec.license,
        }


def is_hub_id(source: str) -> bool:
    """The one rule for "is this source a hub id?": not an existing path, not path-like (``.``, ``/``, ``~``
    first), and exactly one ``/`` (``owner/name``)."""
    return not Path(source).expanduser().exists() and not source.startswith((".", "/", "~")) and source.count("/") == 1


def public_source(source: Source) -> str:
    """A source as the page and the API may show it: the hub id, or "a local copy" for a directory on the
    server (a server path is never shown), or "an injected model"."""
    if isinstance(source, tuple):
        return "an injected model"
    text = str(source)
    return text if is_hub_id(text) else "a local copy"


def _fix_hint(key: str, source: str) -> str:
    spec = MODEL_SPECS[key]
    return (
        f"download a copy where the hub is reachable (huggingface-cli download {spec.hub_id} "
        f"config.json vocab.json merges.txt tokenizer_config.json pytorch_model.bin --local-dir ./models/{key}) "
        f"and point the app at it with {ENV_MODELS}={key}=./models/{key} or --model {key}=./models/{key}"
    )


def _describe_failure(source: str, error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    exists = Path(source).expanduser().exists()
    if not exists and not is_hub_id(source):
        return "that directory does not exist"
    if not exists and _offline_env():
        return f"HF_HUB_OFFLINE is set and the model is not in the local Hugging Face cache ({type(error).__name__})"
    text = text.replace(str(Path(source).expanduser().resolve()), "the local copy").replace(source, "the local copy")
    return f"{type(error).__name__}: {text[:300]}"


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint opens within ``timeout`` seconds.

    Without it, huggingface_hub retries every file with back-off for minutes on a machine with no network.
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


PrecisionCheck = Callable[["LoadedModel"], Callable[["LoadedModel"], Any]]


def load_model(key: str, source: Source, device: "torch.device", dtype: "torch.dtype",
               precision_check: PrecisionCheck | None = None) -> LoadedModel:
    """Load one model (or wrap an injected ``(model, tokenizer)`` pair); raises :class:`ModelLoadError`.

    In a dtype other than float32, with ``precision_check``, the weights are loaded in float32 first,
    ``precision_check(float32 model)`` measures them, and its answer measures the cast model (``precision``)."""
    import torch
    from transformers import XLMTokenizer, XLMWithLMHeadModel

    spec = MODEL_SPECS[key]
    started = time.perf_counter()
    checked = precision_check is not None and dtype != torch.float32 and not isinstance(source, tuple)
    load_dtype = torch.float32 if checked else dtype
    if isinstance(source, tuple):
        model, tokenizer = source
        source_name = f"<injected {type(model).__name__}>"
    else:
        source_name = str(source)
        # A hub id on a machine that cannot reach the hub: use the local cache only, and fail fast if the
        # files are not there (instead of minutes of retries per file).
        local_only = is_hub_id(source_name) and not _offline_env() and not hub_reachable()
        try:
            tokenizer = XLMTokenizer.from_pretrained(
                source_name,
                do_lowercase_and_remove_accent=spec.do_lowercase_and_remove_accent,
                local_files_only=local_only,
            )
            model = XLMWithLMHeadModel.from_pretrained(
                source_name, dtype=load_dtype, trust_remote_code=False, local_files_only=local_only
            )
        except Exception as error:  # any failure becomes a clear, user-facing message
            log.warning("loading %s from %s failed", key, source_name, exc_info=True)
            reason = _describe_failure(source_name, error)
            if local_only and reason.startswith(type(error).__name__):
                reason = "the Hugging Face Hub is not reachable (no network?) and the model is not in the local cache"
            raise ModelLoadError(key, source_name, reason, _fix_hint(key, source_name), public_source(source_name)) from error
    measure = None
    if checked:
        model = model.to(device=device).eval()
        measure = precision_check(LoadedModel(key, spec, source_name, model, tokenizer, device, torch.float32))
    model = model.to(device=device, dtype=dtype).eval()
    if not isinstance(source, tuple):  # injected models stay exactly as given
        from .packing import maybe_pack_linear_layers

        n_packed = maybe_pack_linear_layers(model, device, dtype)
        if n_packed:
            log.info("%s: %d linear layers repacked for oneDNN", key, n_packed)
    loaded = LoadedModel(key=key, spec=spec, source=source_name, model=model, tokenizer=tokenizer, device=device,
                         dtype=dtype)
    if measure is not None:
        loaded.precision = measure(loaded)
        log.info("%s: %s", key, loaded.precision.line())
    loaded.load_seconds = time.perf_counter() - started
    return loaded


class ModelManager:
    """Loads the configured models on first use and shares them with every view (caches live in
    :class:`~xlm_explorer.workspace.Workspace`).

    ``sources`` maps model keys to a hub id, a local directory, or a ``(model, tokenizer)`` pair.
    Keys outside :data:`MODEL_SPECS` are refused.
    """

    def __init__(
        self,
        sources: Mapping[str, Source] | None = None,
        *,
        device: str = "auto",
        dtype: str = "float32",
        tiny_demo: bool = False,
        precision_check: PrecisionCheck | None = None,
    ) -> None:
        self.sources: dict[str, Source] = {key: spec.hub_id for key, spec in MODEL_SPECS.items()}
        for key, source in (sources or {}).items():
            if key not in MODEL_SPECS:
                raise ValueError(f"Unknown model key {key!r}; known keys: {', '.join(MODEL_KEYS)}")
            self.sources[key] = source
        self.device_name = device
        self.dtype_name = dtype
        self._device = resolve_device(device)
        self._dtype = resolve_dtype(dtype)
        self.tiny_demo = tiny_demo
        #: measures a model loaded in another dtype than float32 against float32 (the workspace sets it)
        self.precision_check = precision_check
        self._models: dict[str, LoadedModel] = {}
        self._locks = {key: threading.Lock() for key in MODEL_SPECS}
        self._last_error: dict[str, ModelLoadError] = {}
        self.load_count: dict[str, int] = {key: 0 for key in MODEL_SPECS}

    @classmethod
    def from_settings(cls, cli_models: Iterable[str] | None = None, **kwargs: Any) -> "ModelManager":
        """Sources from defaults, ``XLM_EXPLORER_MODELS`` and ``--model`` flags (CLI wins)."""
        return cls(resolve_sources(cli_models), **kwargs)

    @property
    def keys(self) -> tuple[str, ...]:
        return MODEL_KEYS

    def spec(self, key: str) -> ModelSpec:
        return MODEL_SPECS[self.check_key(key)]

    def check_key(self, key: str) -> str:
        """Return ``key`` if it names a configured model; otherwise a clear :class:`UserInputError`."""
        if not isinstance(key, str) or key not in MODEL_SPECS:
            raise UserInputError(f"Unknown model {str(key)[:40]!r}; choose one of: {', '.join(MODEL_KEYS)}")
        return key

    def public_source(self, key: str) -> str:
        """Where ``key`` loads from, as the page and the API may show it (:func:`public_source`)."""
        return public_source(self.sources[self.check_key(key)])

    def source_name(self, key: str) -> str:
        source = self.sources[self.check_key(key)]
        return f"<injected {type(source[0]).__name__}>" if isinstance(source, tuple) else str(source)

    def is_loaded(self, key: str) -> bool:
        return key in self._models

    def loaded_models(self) -> list[LoadedModel]:
        """The models loaded so far (none is loaded by asking)."""
        return [self._models[key] for key in self.keys if key in self._models]

    def last_error(self, key: str) -> ModelLoadError | None:
        return self._last_error.get(key)

    def get(self, key: str, on_load: Callable[[str], None] | None = None) -> LoadedModel:
        """The loaded model for ``key``, loading it on first use (once, under a lock).

        ``on_load`` is called with a message before a (slow) load starts, e.g. to drive a progress bar.
        A failed load is not remembered as a model: the next request tries again.
        """
        key = self.check_key(key)
        loaded = self._models.get(key)
        if loaded is not None:
            return loaded
        with self._locks[key]:
            loaded = self._models.get(key)
            if loaded is not None:
                return loaded
            if on_load is not None:
                on_load(f"Loading {key} from {public_source(self.sources[key])} (first use; this can take a minute)…")
            self.load_count[key] += 1
            try:
                with LOAD_LOCK:
                    loaded = load_model(key, self.sources[key], self._device, self._dtype, self.precision_check)
            except ModelLoadError as error:
                self._last_error[key] = error
                raise
            self._last_error.pop(key, None)
            self._models[key] = loaded
            log.info("loaded %s from %s in %.1f s", key, loaded.source, loaded.load_seconds)
            return loaded

    def preload(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """Load the given (default: all) models now; returns an error message per key that failed."""
        failures: dict[str, str] = {}
        for key in keys or self.keys:
            try:
                self.get(key)
            except ModelLoadError as error:
                failures[key] = str(error)
        return failures

    def shape(self, key: str) -> dict[str, int]:
        """``n_layers`` and ``n_heads`` of a model, without loading its weights: the loaded config, else the
        source's config.json, else the model card's."""
        key = self.check_key(key)
        if key in self._models:
            loaded = self._models[key]
            return {"n_layers": loaded.n_layers, "n_heads": loaded.n_heads}
        source = self.sources[key]
        config = dict(vars(source[0].config)) if isinstance(source, tuple) else _read_config(str(source))
        card = MODEL_SPECS[key].config_overrides
        return {name: int(config.get(name) or card[name]) for name in ("n_layers", "n_heads")}

    def languages(self, key: str) -> tuple[str, ...]:
        """Language codes of a model, without loading its weights when it is not loaded yet.

        Reads ``lang2id`` from the source's config.json when that is at hand (local directory or
        hub cache); falls back to the model card's list.
        """
        key = self.check_key(key)
        if key in self._models:
            return self._models[key].languages
        spec = MODEL_SPECS[key]
        source = self.sources[key]
        if not spec.multilingual:
            return ("en",)
        if isinstance(source, tuple):
            lang2id = getattr(source[0].config, "lang2id", None) or {}
        else:
            lang2id = _read_lang2id(str(source))
        if lang2id:
            return tuple(sorted(lang2id, key=lambda code: int(lang2id[code])))
        return spec.default_languages


def _read_config(source: str) -> dict[str, Any]:
    """A local config.json or the hub cache's; empty when not at hand (never downloads)."""
    import json

    path = Path(source).expanduser() / "config.json"
    try:
        if not path.is_file():
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "config.json")
            if not isinstance(cached, str):
                return {}
            path = Path(cached)
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # a malformed or unreadable config only costs the facts read from it
        log.debug("could not read config.json from %s", source, exc_info=True)
        return {}


def _read_lang2id(source: str) -> dict[str, int]:
    """``lang2id`` from a local config.json or the hub cache; empty when not at hand (never downloads)."""
    return dict(_read_config(source).get("lang2id") or {})
