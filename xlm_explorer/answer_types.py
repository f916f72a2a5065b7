"""The typed dicts that declare each endpoint's answer: its ``request`` echo, one ``results`` item and its
``shared`` part (:mod:`xlm_explorer.schemas` assembles them into one JSON Schema per endpoint)."""

from __future__ import annotations

from typing import Optional

from typing_extensions import NotRequired, TypedDict

Grid = list[list[Optional[float]]]  # rows x columns; None where a value is undefined (NaN)


class Empty(TypedDict):
    pass


class Prediction(TypedDict):
    token: str
    piece: str
    token_id: int
    probability: float
    word_final: bool


class MaskPredictions(TypedDict):
    mask_number: int
    position: int
    predictions: list[Prediction]


class FillMaskRequest(TypedDict):
    text: str
    model: str
    lang: str
    top_k: int


class FillMaskItem(TypedDict):
    model: str
    lang: str
    text: str
    tokens: list[str]
    input_ids: list[int]
    masks: list[MaskPredictions]
    completed: str
    notices: list[str]


class FillWordRequest(TypedDict):
    text: str
    lang: str
    model: str
    max_pieces: int
    top_k: int  # answers of each length
    beam_width: int


class WordCandidate(TypedDict):
    rank: int  # by pll_word_l2r, 1 = best
    word: str
    pieces: list[str]
    piece_ids: list[int]
    n_pieces: int
    chain_log_prob: float  # sum of log P(piece_i | earlier pieces filled, later ones masked)
    pll: float
    pll_word_l2r: float
    canonical: bool  # the tokenizer writes the word with exactly these pieces


class FillWordItem(TypedDict):
    model: str
    lang: str
    text: str
    max_pieces: int
    beam_width: int
    candidates: list[WordCandidate]
    notices: list[str]


class HeadMatrix(TypedDict):
    layer: int
    head: int
    attention: list[list[float]]


class AttentionRequest(TypedDict):
    text: str
    text_pair: Optional[str]
    model: str
    lang: str
    lang_pair: Optional[str]
    heads: list[list[int]]


class AttentionItem(TypedDict):
    model: str
    lang: str
    text: str
    text_pair: Optional[str]
    lang_pair: Optional[str]
    tokens: list[str]
    pieces: list[str]
    input_ids: list[int]
    sentence_b_start: Optional[int]
    boundary_positions: list[int]
    n_layers: int
    n_heads: int
    statistics: dict[str, Grid]
    matrices: list[HeadMatrix]
    notices: list[str]


class AttentionShared(TypedDict):
    statistics_help: dict[str, str]


class AverageRequest(TypedDict):
    model: str
    source: str
    languages: list[str]
    per_language: float


class LanguageStatistics(TypedDict):
    lang: str
    n_sentences: int
    n_tokens: int
    statistics: dict[str, Grid]


class AverageItem(TypedDict):
    model: str
    source: str
    languages: list[LanguageStatistics]
    notices: list[str]


class AverageShared(TypedDict):
    n_sentences: int


class Point(TypedDict):
    index: int
    id: str
    lang: str
    text: str
    x: float
    y: float
    z: NotRequired[float]


class DirectionAxis(TypedDict):
    """A direction panel's x axis: mean(A) at -1/2, mean(B) at +1/2."""

    group_a: str
    group_b: str
    n_a: int
    n_b: int
    axis_length: float  # Euclidean distance between the two means
    own_side: Optional[float]  # share of A's and B's rows on their own side of an axis fitted without them (None: a group of one)


class Panel(TypedDict):
    layer: int
    method: str
    dims: int
    seed: int
    n_neighbors: Optional[int]
    points: list[Point]
    direction: NotRequired[DirectionAxis]


class AlignmentMetrics(TypedDict):
    model: str
    pooling: str
    centered: bool
    reference: Optional[str]
    layers: list[int]
    p_at_1: dict[str, list[Optional[float]]]
    mean_p_at_1_vs_reference: list[Optional[float]]
    mean_p_at_1_all_pairs: list[Optional[float]]
    language_separability: list[Optional[float]]
    chance_retrieval: Optional[float]
    chance_separability: Optional[float]
    notices: list[str]


class EmbeddingsRequest(TypedDict):
    source: str
    model: str
    layers: list[str]
    pooling: str
    center: bool
    method: str
    dims: int
    seed: int
    group_a: NotRequired[str]
    group_b: NotRequired[str]


class EmbeddingsItem(TypedDict):
    model: str
    n_layers: int
    hidden_size: int
    n_rows: int
    n_tokens: int
    pooling: str
    centered: bool
    panels: list[Panel]
    metrics: AlignmentMetrics
    notices: list[str]


class DatasetInfo(TypedDict):
    source: str
    name: str
    n_rows: int
    n_items: int
    languages: list[str]


class EmbeddingsShared(TypedDict):
    dataset: DatasetInfo


class Tokenization(TypedDict):
    model: str
    lang: str
    tokens: list[str]
    input_ids: list[int]
    n_pieces: int
    n_words: int
    pieces_per_word: float
    n_masks: int
    n_unknown: int
    unknown_share: float
    split_words: list[list[str]]
    notices: list[str]


class PrecisionCheck(TypedDict):
    """A model loaded in bfloat16 against float32 on the same weights, at the shipped fill-mask examples' masks."""

    dtype: str
    n_masks: int
    top1_agreement: float
    max_abs_dlogp: float
    summary: str


class ModelFacts(TypedDict):
    model: str
    source: str
    n_layers: int
    hidden_size: int
    n_heads: int
    ffn_size: int
    vocab_size: int
    n_parameters: int
    max_positions: int
    n_languages: int
    language_embeddings: bool
    lowercases: bool
    device: str
    dtype: str
    #: None in float32
    precision_check: Optional[PrecisionCheck]
    load_seconds: float
    paper: str
    license: str


class CompareRequest(TypedDict):
    text: str
    lang: str
    top_k: int


class CompareItem(TypedDict):
    model: str
    tokenization: Tokenization
    fill_mask: Optional[FillMaskItem]  # None when the text has no [MASK]
    facts: ModelFacts


class Overlap(TypedDict):
    mask_number: int
    k: int
    overlap: float
    shared: list[str]


class CompareShared(TypedDict):
    overlap: list[Overlap]


class TopPrediction(TypedDict):
    token: str
    piece: str
    probability: float


class LensLayer(TypedDict):
    layer: int
    relative_depth: float
    top: list[TopPrediction]


class LogitLensRequest(TypedDict):
    text: str
    lang: str
    mask_number: int
    top_k: int
    candidates: list[str]


class CandidateDepth(TypedDict):
    """One candidate over depth: rank (1 = top) and probability at every layer (embeddings first); the first layer
    from which it stays top-1 / in the top 5 through the last (None: it does not end there)."""

    token: str
    piece: str
    token_id: int
    ranks: list[int]
    probabilities: list[float]
    commits_top1: Optional[int]
    commits_top5: Optional[int]
    commits_top1_depth: Optional[float]
    commits_top5_depth: Optional[float]


class LogitLensItem(TypedDict):
    model: str
    lang: str
    text: str
    mask_number: int
    position: int
    n_layers: int
    columns: list[str]
    column_pieces: list[str]
    probabilities: list[list[float]]
    layers: list[LensLayer]
    candidates: list[CandidateDepth]
    notices: list[str]


class LogitLensShared(TypedDict):
    depth_alignment: list[list[int]]


class SimilarityRequest(TypedDict):
    languages: list[str]
    sentence_set: str


class SimilarityItem(TypedDict):
    model: str
    layers: list[int]


class SimilarityShared(TypedDict):
    n_sentences: int
    cka: list[list[float]]  # layers of the first result x layers of the second


class GridRequest(TypedDict):
    n_templates: int
    top_k: int


class GridRow(TypedDict):
    template_id: str
    lang: str
    text: str
    predictions: list[TopPrediction]
    notices: list[str]


class GridItem(TypedDict):
    model: str
    rows: list[GridRow]


class TargetScores(TypedDict):
    target: str
    log_prob: float
    pieces: list[str]
    piece_log_probs: list[float]
    unknown: bool
    multi_piece: bool
    pll: float
    pll_word_l2r: float
    aul: float
    aula: float


class ProbeRow(TypedDict):
    filler: str
    sentence: str
    log_ratio: float
    preferred: str
    preferred_by: dict[str, str]
    metrics_disagree: bool
    targets: list[TargetScores]


class ProbeRequest(TypedDict):
    template: str
    targets: list[str]
    fillers: list[str]
    lang: str
    model: str


class ProbeItem(TypedDict):
    model: str
    rows: list[ProbeRow]


class MetricsShared(TypedDict):
    metrics: list[str]


class PairRow(TypedDict):
    """One pair; ``<metric>_more`` / ``<metric>_less`` for every metric of ``shared.metrics``."""

    id: str
    lang: str
    bias_type: str
    direction: str  # CrowS-Pairs' stereo_antistereo: stereo | antistereo
    sent_more: str
    sent_less: str
    pll_more: float
    pll_less: float
    tokens_more: int
    tokens_less: int
    difference: float
    mean_difference: float
    preferred: str
    pll_word_l2r_more: float
    pll_word_l2r_less: float
    aul_more: float
    aul_less: float
    aula_more: float
    aula_less: float
    pll_unmodified_more: float
    pll_unmodified_less: float
    metrics_disagree: bool
    token_counts_differ: bool


class MetricShare(TypedDict):
    n: int
    share: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    ties: int


class CrowsScores(TypedDict):
    """CrowS-Pairs' metric.py numbers, in percent (None where a direction has no pair)."""

    n_pairs: int
    metric_score: Optional[float]
    stereotype_score: Optional[float]
    antistereotype_score: Optional[float]
    neutral_share: Optional[float]
    n_neutral: int
    n_stereo: int
    n_antistereo: int


class CrowsSummary(TypedDict):
    metric: str  # the metric CrowS-Pairs' metric.py computes: pll_unmodified
    decimals: int  # metric.py rounds both scores to 3 decimals; equal pairs are neutral
    rounded: CrowsScores
    unrounded: CrowsScores
    by_bias_type: dict[str, CrowsScores]


class PairsSummary(TypedDict):
    n_pairs: int
    share_preferring_more: Optional[float]  # by pll
    metrics: dict[str, MetricShare]
    metrics_disagree: int
    token_counts_differ: int
    crows: CrowsSummary


class PairsRequest(TypedDict):
    n_pairs: int
    model: str


class PairsItem(TypedDict):
    model: str
    rows: list[PairRow]
    summary: PairsSummary


class LanguagesRequest(TypedDict):
    languages: list[str]


class ProbeColumn(TypedDict):
    lang: str
    targets: list[str]
    fillers: list[str]


class LanguagesItem(TypedDict):
    model: str
    columns: list[ProbeColumn]
    log_ratio: Grid  # concepts x this model's columns


class LanguagesShared(TypedDict):
    probe: str
    concepts: list[str]
    notes: dict[str, str]


class SeatRequest(TypedDict):
    targets_x: str
    targets_y: str
    attributes_a: str
    attributes_b: str
    model: str
    lang: str


class SeatLayer(TypedDict):
    layer: int  # 0: the embedding output
    effect_size: Optional[float]  # None when s(w, A, B) is the same for every target
    p_value: float


class SeatSentence(TypedDict):
    group: str  # x, y, a or b
    text: str
    projection_last_layer: float  # on mean(A) - mean(B): A's mean at +0.5, B's at -0.5


class SeatItem(TypedDict):
    model: str
    n_layers: int
    layers: list[SeatLayer]
    p_exact: bool  # every split counted (else n_samples random splits)
    n_samples: int
    sentences: list[SeatSentence]
    notices: list[str]


class SearchRequest(TypedDict):
    text: str
    model: str
    lang: str
    token_index: int
    layer: int
    top_k: int


class Match(TypedDict):
    text: str
    lang: str
    token: str
    token_index: int
    cosine: float


class SearchItem(TypedDict):
    model: str
    lang: str
    text: str
    tokens: list[str]
    token_index: int
    query_token: str
    layer: int
    matches: list[Match]


class SearchShared(TypedDict):
    corpus: str
    n_corpus_tokens: int


class ModelRequest(TypedDict):
    model: str
