"""Helpers shared by the tabs: error handling, progress while loading, model choices, concurrency."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from ..errors import ModelLoadError, UserInputError
from ..models import LoadedModel, ModelManager

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

BOTH = "both"
MODEL_CHOICES = [("en-2048 (English)", "en-2048"), ("100-1280 (100 languages)", "100-1280"), ("Both, side by side", BOTH)]

#: How long a session keeps its last results (for redraws, cell picks, neighbours); gradio_client sessions
#: are never closed by a browser, so without a bound their results would stay until 10,000 sessions pile up.
RESULT_STATE_SECONDS = 1800

#: Events that run a model share one slot: on 2 cores two forward passes at once only thrash.
COMPUTE = {"concurrency_id": "model", "concurrency_limit": 1}


def toast_text(message: str) -> str:
    """Gradio draws toast messages (gr.Error/Warning/Info) as HTML: escape text that may quote user input."""
    return html.escape(message, quote=False)


def user_errors(fn: F) -> F:
    """Turn every failure into a clear ``gr.Error`` message; never a stack trace in the UI or the API.

    :class:`UserInputError` and :class:`ModelLoadError` carry their own message (escaped: it may quote
    what the user typed); anything else is logged with its traceback on the server and answered with a
    generic message. ``gr.Error`` passes through.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (UserInputError, ModelLoadError) as error:
            raise gr.Error(toast_text(str(error)), print_exception=False) from None
        except Exception as error:  # the server keeps serving; details go to the log only
            log.exception("internal error in %s", getattr(fn, "__name__", "handler"))
            raise gr.Error(
                f"Something went wrong on the server ({type(error).__name__}); the error was logged. "
                "Try a shorter or simpler input.",
                print_exception=False,
            ) from None

    return wrapper  # type: ignore[return-value]


def selected_keys(manager: ModelManager, choice: str) -> list[str]:
    """Model keys for a model choice (``en-2048``, ``100-1280`` or ``both``)."""
    if choice == BOTH:
        return list(manager.keys)
    return [manager.check_key(choice)]


def get_model(manager: ModelManager, key: str, progress: Any = None) -> LoadedModel:
    """The loaded model, showing a progress message while a first load runs."""

    def on_load(message: str) -> None:
        gr.Info(toast_text(message))
        if progress is not None:
            progress(0.05, desc=message)

    return manager.get(key, on_load=on_load)


def load_models(manager: ModelManager, keys: list[str], progress: Any = None) -> tuple[list[LoadedModel], dict[str, str]]:
    """The loaded models for ``keys`` and a load-error message per key that failed.

    With several keys (side by side), a model that cannot be loaded is reported in the errors and the
    others still answer; when no model can be loaded, the first :class:`ModelLoadError` is raised.
    """
    loaded: list[LoadedModel] = []
    errors: dict[str, str] = {}
    first_error: ModelLoadError | None = None
    for key in keys:
        try:
            loaded.append(get_model(manager, key, progress))
        except ModelLoadError as error:
            first_error = first_error or error
            errors[key] = str(error)
    if not loaded and first_error is not None:  # nothing can answer: say why instead of an empty result
        raise first_error
    return loaded, errors


def check_language_choice(manager: ModelManager, lang: object, what: str = "language") -> str:
    """A language code the multilingual model knows (en-2048 tokenizes every text as English)."""
    if not isinstance(lang, str) or lang not in manager.languages("100-1280"):
        raise UserInputError(f"Unknown {what} {str(lang)[:40]!r}; pick one from the list (e.g. en, fr, de).")
    return lang


def show_notices(notices: list[str] | tuple[str, ...]) -> None:
    """Each distinct notice as a warning toast (escaped)."""
    for notice in dict.fromkeys(notices):
        gr.Warning(toast_text(notice))


LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "is": "Icelandic",
    "it": "Italian", "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "la": "Latin",
    "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam", "mr": "Marathi", "ms": "Malay",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian",
    "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese", "cy": "Welsh", "eo": "Esperanto", "gl": "Galician",
}


def language_label(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f"{code} — {name}" if name else code


def language_choices(codes: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, code)``, English first, then by code."""
    ordered = sorted(codes, key=lambda code: (code != "en", code))
    return [(language_label(code), code) for code in ordered]


#: Set by Hugging Face on ZeroGPU Spaces; only there are model events run inside ``spaces.GPU``.
ENV_ZERO_GPU = "SPACES_ZERO_GPU"


def zero_gpu_decorator(environ: dict[str, str] | None = None) -> Callable[..., Any] | None:
    """``spaces.GPU`` on a ZeroGPU Space (``SPACES_ZERO_GPU`` set and the ``spaces`` package importable); None elsewhere."""
    import os

    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if ENV_ZERO_GPU not in environ:
        return None
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        log.warning("%s is set but the 'spaces' package is missing: running on CPU", ENV_ZERO_GPU)
        return None
    return spaces.GPU


def wrap_model_events_for_gpu(demo: gr.Blocks, gpu: Callable[..., Any] | None = None) -> list[str]:
    """Run every event of the shared ``model`` slot (see :data:`COMPUTE`) inside ``gpu`` (default:
    :func:`zero_gpu_decorator`). A no-op on CPU machines and ordinary GPUs; returns the wrapped API names."""
    gpu = gpu if gpu is not None else zero_gpu_decorator()
    if gpu is None:
        return []
    wrapped: list[str] = []
    for block_fn in demo.fns.values():
        if block_fn.concurrency_id == COMPUTE["concurrency_id"] and block_fn.fn is not None:
            block_fn.fn = gpu(block_fn.fn)
            wrapped.append(str(block_fn.api_name or block_fn.name))
    return wrapped


def model_status_markdown(manager: ModelManager) -> str:
    """One line saying which models are in memory and which load on first use (shown at the top of the page)."""
    parts = []
    for key in manager.keys:
        if manager.is_loaded(key):
            parts.append(f"**{key}** ready")
        elif manager.last_error(key) is not None:
            parts.append(f"**{key}** failed to load (see the Models tab)")
        else:
            parts.append(f"**{key}** loads on first use (a progress message shows while it loads)")
    return "Models: " + " · ".join(parts)
