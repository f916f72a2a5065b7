"""Embeddings tab (placeholder until its issue lands)."""

from __future__ import annotations

import gradio as gr

from ..models import ModelManager


def build_embeddings_tab(manager: ModelManager) -> None:
    gr.Markdown("This tab is being built.")
