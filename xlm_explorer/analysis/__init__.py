"""Analyses: torch/numpy in, plain dataclasses and arrays out. No gradio, no plotly here."""
