"""Tiny random XLM checkpoints with real tokenizer files, for tests and ``--tiny-demo``.

Each checkpoint is what ``save_pretrained`` writes (config.json, model.safetensors, vocab.json,
merges.txt, tokenizer_config.json): a tiny ``XLMConfig`` and a real ``XLMTokenizer`` whose BPE merges are
learned here from a small multilingual corpus. Predictions of these models are meaningless; their
shapes, special tokens and code paths are those of the real models.
"""

from __future__ import annotations

import csv
import json
import os
import re
import unicodedata
from collections import Counter
from pathlib import Path

from .paths import DATA_DIR
from .specs import MODEL_SPECS

ASSETS_DATA = DATA_DIR
#: Where ``--tiny-demo`` and :meth:`Workspace.tiny` keep the tiny checkpoints unless told otherwise.
DEFAULT_TINY_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xlm-explorer" / "tiny"

SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<unk>"] + [f"<special{i}>" for i in range(10)]

#: Languages of the tiny multilingual model (a subset of xlm-mlm-100-1280's, in its alphabetical order).
TINY_LANGUAGES = ("ar", "de", "el", "en", "es", "fr", "he", "hi", "it", "ja", "ko", "pt", "ru", "th", "tr", "zh")

_BASE_CORPUS = """
The cat sat on the mat. The dog sleeps in the house. Paris is the capital of France.
The doctor said that he would be late. The nurse said that she would be late.
I drink coffee every morning. Where is the train station? My favourite colour is blue.
Le chat est sur le tapis. Paris est la capitale de la France. L'homme mange une pomme.
Die Katze schläft auf dem Sofa. Berlin ist die Hauptstadt von Deutschland.
El gato duerme en la casa. Madrid es la capital de España. Il gatto dorme sul divano.
Кошка спит на диване. Москва столица России. Η γάτα κοιμάται στον καναπέ.
القطة نائمة على الأريكة. החתול ישן על הספה. बिल्ली सोफे पर सो रही है।
猫在沙发上睡觉。 北京是中国的首都。 猫はソファで寝ています。 고양이가 소파에서 자고 있다.
Kedi kanepede uyuyor. O gato está dormindo no sofá. แมวนอนอยู่บนโซฟา
one two three four five six seven eight nine ten red blue green yellow black white
"""


def corpus_texts() -> list[str]:
    """Text to learn the tiny BPE from: a built-in corpus plus the shipped datasets when present."""
    texts = [line for line in _BASE_CORPUS.splitlines() if line.strip()]
    if ASSETS_DATA.is_dir():
        for path in sorted(ASSETS_DATA.glob("*.tsv")):
            try:
                with path.open(encoding="utf-8", newline="") as handle:
                    for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                        texts.extend(cell for cell in row[1:] if cell)
            except (OSError, UnicodeDecodeError):
                continue
    return texts


def _strip_accents_lower(text: str) -> str:
    text = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def learn_bpe(texts: list[str], n_merges: int, lowercase: bool) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn BPE merges in XLM's format (word-final symbols end in ``</w>``).

    Returns ``(vocab, merges)``; vocab ids 0..13 are XLM's special tokens in their usual order.
    """
    words: Counter[str] = Counter()
    for text in texts:
        if lowercase:
            text = _strip_accents_lower(text)
        words.update(re.findall(r"\w+|[^\w\s]", text))
    splits = {word: tuple(word[:-1]) + (word[-1] + "</w>",) for word in words}
    symbols: set[str] = set()
    for word in words:
        for ch in word:
            symbols.add(ch)
            symbols.add(ch + "</w>")
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, parts in splits.items():
            for a, b in zip(parts, parts[1:]):
                pairs[(a, b)] += words[word]
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: (item[1], item[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        symbols.add(joined)
        for word, parts in splits.items():
            out: list[str] = []
            i = 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            splits[word] = tuple(out)
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for symbol in sorted(symbols):
        vocab.setdefault(symbol, len(vocab))
    return vocab, merges


def save_tokenizer(
    directory: Path,
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    *,
    lowercase: bool,
    lang2id: dict[str, int] | None = None,
    id2lang: dict[int, str] | None = None,
) -> None:
    """Write vocab.json and merges.txt, then the real ``XLMTokenizer``'s own files (tokenizer_config.json …)."""
    from transformers import XLMTokenizer

    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    XLMTokenizer(
        vocab_file=str(directory / "vocab.json"),
        merges_file=str(directory / "merges.txt"),
        do_lowercase_and_remove_accent=lowercase,
        lang2id=lang2id,
        id2lang=id2lang,
    ).save_pretrained(directory)


def build_tiny_checkpoint(directory: str | Path, *, multilingual: bool, seed: int = 0, n_merges: int = 600) -> Path:
    """Write a tiny random XLM checkpoint with real tokenizer files into ``directory``.

    English-like (``multilingual=False``): n_langs 1, lowercasing, 2 layers.
    Multilingual: ``lang2id`` over :data:`TINY_LANGUAGES`, ``use_lang_emb`` false, keeps case, 3 layers.
    """
    import torch
    from transformers import XLMConfig, XLMWithLMHeadModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lowercase = not multilingual
    vocab, merges = learn_bpe(corpus_texts(), n_merges=n_merges, lowercase=lowercase)
    lang_kwargs: dict = {"n_langs": 1, "use_lang_emb": True}
    if multilingual:
        lang2id = {code: i for i, code in enumerate(TINY_LANGUAGES)}
        lang_kwargs = {
            "n_langs": len(lang2id),
            "use_lang_emb": False,
            "lang2id": lang2id,
            "id2lang": {i: code for code, i in lang2id.items()},
        }
    config = XLMConfig(
        vocab_size=len(vocab),
        emb_dim=32,
        n_layers=3 if multilingual else 2,
        n_heads=4,
        max_position_embeddings=512,
        dropout=0.0,
        attention_dropout=0.0,
        **lang_kwargs,
    )
    torch.manual_seed(seed)
    model = XLMWithLMHeadModel(config).eval()
    with torch.no_grad():  # spread the logits so predictions differ visibly between positions
        model.transformer.embeddings.weight.normal_(0.0, 0.15)
    model.save_pretrained(directory)
    save_tokenizer(
        directory, vocab, merges, lowercase=lowercase, lang2id=lang_kwargs.get("lang2id"), id2lang=lang_kwargs.get("id2lang")
    )
    return directory


def build_tiny_checkpoints(root: str | Path) -> dict[str, Path]:
    """Both tiny checkpoints under ``root``, keyed like the real models (built once, reused after)."""
    root = Path(root)
    paths = {}
    for key, spec in MODEL_SPECS.items():
        directory = root / f"tiny-{key}"
        if not (directory / "config.json").is_file() or not (directory / "merges.txt").is_file():
            build_tiny_checkpoint(directory, multilingual=spec.multilingual)
        paths[key] = directory
    return paths
