"""The typed dicts that declare the Explain endpoints' answers (attribution, attention vs attribution, patching, one
probe across languages), as :mod:`xlm_explorer.answer_types` declares the others."""

from __future__ import annotations

from typing import Optional

from typing_extensions import NotRequired, TypedDict


class IntegratedGradients(TypedDict):
    attributions: list[float]
    target_logit: float
    baseline_logit: float
    baseline_token_id: int
    n_steps: int
    completeness_gap: float


class GradientXInput(TypedDict):
    attributions: list[float]


class AttributionMethods(TypedDict):
    integrated_gradients: IntegratedGradients
    gradient_x_input: GradientXInput


class AttributionRequest(TypedDict):
    text: str
    model: str
    lang: str
    mask_number: int
    target: str
    foil: str


class AttributionItem(TypedDict):
    model: str
    lang: str
    text: str
    input_ids: list[int]
    tokens: list[str]
    mask_number: int
    position: int
    target_id: int
    target_token: str
    foil_id: Optional[int]  # contrastive attribution: the attributed score is log P(target) - log P(foil)
    foil_token: str
    attributed: str  # what the attributions explain, in words
    methods: AttributionMethods
    notices: list[str]


class FlowRequest(TypedDict):
    text: str
    model: str
    lang: str
    mask_number: int
    target: str
    hide_special: bool


class FlowMeasure(TypedDict):
    label: str
    mask_rows: list[list[float]]  # per layer: the measure's row at the mask over the tokens (sums to 1)
    spearman_with_ig: list[Optional[float]]  # per layer: rank correlation of that row with |IG| (None: undefined)


class FlowMeasures(TypedDict):
    raw: FlowMeasure
    rollout: FlowMeasure
    norm: FlowMeasure


class FlowItem(TypedDict):
    model: str
    text: str
    lang: str
    tokens: list[str]
    mask_number: int
    position: int
    target_token: str
    n_layers: int
    hide: bool
    hidden_positions: list[int]  # special tokens and punctuation left out (with hide_special)
    integrated_gradients: list[float]
    measures: FlowMeasures
    notices: list[str]


class PatchingRequest(TypedDict):
    text_a: str
    text_b: str
    model: str
    lang: str
    target: str
    head_layer: int
    foil: str


class PatchingItem(TypedDict):
    model: str
    lang: str
    text_a: str
    text_b: str
    tokens_a: list[str]
    tokens_b: list[str]
    input_ids_a: list[int]
    input_ids_b: list[int]
    position: int
    target_id: int
    target_token: str
    foil_id: Optional[int]  # contrastive patching: every score is log P(target) - log P(foil)
    foil_token: str
    scored: str  # what each cell measures, in words
    summary: str  # one line: where the difference between A and B enters
    log_prob_a: float
    log_prob_b: float
    effects: list[list[float]]  # (layers + 1) x tokens: log P(target) with that state patched
    notices: list[str]
    head_layer: NotRequired[int]
    head_effects: NotRequired[list[list[float]]]  # heads x tokens, when head_layer was asked for


class LanguagesExplainedRequest(TypedDict):
    rows: str  # lang | template | word A | word B | target | foil, one per line (the shipped rows when none given)
    model: str


class RowAttribution(TypedDict):
    tokens: list[str]
    position: int
    target_token: str
    foil_token: str
    attributed: str
    methods: AttributionMethods


class RowPatching(TypedDict):
    tokens_b: list[str]
    log_prob_a: float
    log_prob_b: float
    effects: list[list[float]]  # (layers + 1) x tokens
    scored: str
    summary: str


class LanguageExplained(TypedDict):
    lang: str
    template: str
    word_a: str
    word_b: str
    target: str
    foil: str
    text_a: str
    text_b: str
    n_layers: int
    relative_depth: list[float]  # layer / n_layers, layer 0 (the embeddings) to n_layers
    word_positions: list[int]  # A's tokens that differ from B's
    attribution: RowAttribution  # contrastive: log P(target) - log P(foil) in sentence A
    word_attribution: float  # integrated gradients summed over the word's tokens
    word_attribution_share: float  # the word's share of the total |integrated gradients|
    patching: Optional[RowPatching]  # None when A and B differ in token length
    patching_note: str  # why there is no patching
    word_share: Optional[list[float]]  # per layer: the largest share of the way from A to B over the word's positions
    mask_share: Optional[list[float]]  # per layer: the share at the mask
    handover_layer: Optional[int]  # the first layer at which the mask carries at least as much as the word
    summary: str


class LanguagesExplainedItem(TypedDict):
    model: str
    languages: list[LanguageExplained]
