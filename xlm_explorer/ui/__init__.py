"""Gradio wiring only: each tab module builds its components and declares its views (``wiring.View``); the wiring
calls the service and draws its answers with the views."""
