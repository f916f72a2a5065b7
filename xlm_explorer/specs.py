"""Static facts about the two XLM checkpoints the explorer knows about.

Nothing here loads a model: these are the model-card facts and the per-model tokenizer settings that
must be set explicitly (transformers no longer carries the old per-checkpoint table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAPER = "Lample & Conneau (2019), Cross-lingual Language Model Pretraining, arXiv:1901.07291"
LICENSE = "CC-BY-NC-4.0"

#: Language codes of xlm-mlm-100-1280, in id order (the model's ``lang2id`` maps code -> index here).
XLM_100_LANGUAGES: tuple[str, ...] = (
    "af", "als", "am", "an", "ang", "ar", "arz", "ast", "az", "bar", "be", "bg", "bn", "br", "bs", "ca",
    "ceb", "ckb", "cs", "cy", "da", "de", "el", "en", "eo", "es", "et", "eu", "fa", "fi", "fr", "fy", "ga",
    "gan", "gl", "gu", "he", "hi", "hr", "hu", "hy", "ia", "id", "is", "it", "ja", "jv", "ka", "kk", "kn",
    "ko", "ku", "la", "lb", "lt", "lv", "mk", "ml", "mn", "mr", "ms", "my", "nds", "ne", "nl", "nn", "no",
    "oc", "pl", "pt", "ro", "ru", "scn", "sco", "sh", "si", "simple", "sk", "sl", "sq", "sr", "sv", "sw",
    "ta", "te", "th", "tl", "tr", "tt", "uk", "ur", "uz", "vi", "war", "wuu", "yi", "zh", "zh_classical",
    "zh_min_nan", "zh_yue",
)


@dataclass(frozen=True)
class ModelSpec:
    """What the explorer knows about a model before loading it.

    ``config_overrides`` are the architecture values of the real checkpoint: the benchmark builds
    full-size random-weight models from them (same compute, same bytes).
    """

    key: str
    hub_id: str
    title: str
    description: str
    do_lowercase_and_remove_accent: bool
    multilingual: bool
    config_overrides: dict = field(default_factory=dict)
    paper: str = PAPER
    license: str = LICENSE

    def reads(self, lang: str) -> str:
        """The language this model tokenizes ``lang`` in: itself for a multilingual model, English otherwise.
        The one rule for "which language a model reads" (``LoadedModel.reads`` and the notices use it)."""
        return lang if self.multilingual else "en"

    @property
    def default_languages(self) -> tuple[str, ...]:
        """Language codes before the model is loaded (the loaded config's ``lang2id`` wins)."""
        return XLM_100_LANGUAGES if self.multilingual else ("en",)


MODEL_SPECS: dict[str, ModelSpec] = {
    "en-2048": ModelSpec(
        key="en-2048",
        hub_id="FacebookAI/xlm-mlm-en-2048",
        title="XLM MLM English 2048",
        description="English-only masked LM: 12 layers, hidden 2048, 16 heads, 30,145 BPE pieces; "
        "lowercases and strips accents.",
        do_lowercase_and_remove_accent=True,
        multilingual=False,
        config_overrides=dict(
            vocab_size=30145, emb_dim=2048, n_layers=12, n_heads=16, n_langs=1, use_lang_emb=True,
            max_position_embeddings=512,
        ),
    ),
    "100-1280": ModelSpec(
        key="100-1280",
        hub_id="FacebookAI/xlm-mlm-100-1280",
        title="XLM MLM 100 languages 1280",
        description="Masked LM trained on Wikipedia in 100 languages: 16 layers, hidden 1280, 16 heads, "
        "200,000 BPE pieces; keeps case and accents; no language embeddings.",
        do_lowercase_and_remove_accent=False,
        multilingual=True,
        config_overrides=dict(
            vocab_size=200000, emb_dim=1280, n_layers=16, n_heads=16, n_langs=100, use_lang_emb=False,
            max_position_embeddings=512,
            lang2id={code: i for i, code in enumerate(XLM_100_LANGUAGES)},
            id2lang={i: code for i, code in enumerate(XLM_100_LANGUAGES)},
        ),
    ),
}

MODEL_KEYS: tuple[str, ...] = tuple(MODEL_SPECS)

#: English names of the languages people pick most often (the rest show their code).
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

#: The most layers and positions of any model here: the declared limits of a layer or a position (each model then
#: checks its own).
MAX_LAYERS = max(spec.config_overrides["n_layers"] for spec in MODEL_SPECS.values())
MAX_POSITIONS = max(spec.config_overrides["max_position_embeddings"] for spec in MODEL_SPECS.values())
