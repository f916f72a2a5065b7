"""XLM Explorer: look inside the XLM masked language models (Lample & Conneau, 2019).

Layers, one direction only: ``models`` (load and cache) -> ``analysis`` (torch/numpy in, dataclasses out)
-> ``views`` (plotly figures / HTML) -> ``ui`` (gradio wiring).
"""

__version__ = "0.1.0"
