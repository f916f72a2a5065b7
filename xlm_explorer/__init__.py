"""XLM Explorer: look inside the XLM masked language models (Lample & Conneau, 2019).

Layers, one direction only (docs/architecture.md; tests/test_architecture.py enforces them): facts and tools ->
``models`` (load) -> ``forward`` (the one place a model runs: batches, hook points, the cache) -> ``analysis``
(torch/numpy in, dataclasses out) -> ``workspace`` -> ``service`` (one function per public endpoint) -> ``views``
(figures, tables, HTML) -> ``ui`` (gradio wiring).
"""

__version__ = "0.2.0"
