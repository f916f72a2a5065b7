"""Gradio wiring only: each tab module builds its components and calls models -> analysis -> views."""
