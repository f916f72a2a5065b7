"""XLM Explorer: run ``python app.py`` (see ``--help``). Nothing heavy happens at import time."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from xlm_explorer.specs import MODEL_KEYS
from xlm_explorer.tiny import DEFAULT_TINY_DIR  # light: no torch, no transformers at import



def on_spaces() -> bool:
    return os.environ.get("SYSTEM") == "spaces" or "SPACE_ID" in os.environ


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="XLM Explorer: look inside the XLM masked language models.")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="KEY=PATH_OR_REPO_ID",
        help=f"where to load a model from (repeatable; keys: {', '.join(MODEL_KEYS)}); "
        "overrides XLM_EXPLORER_MODELS",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto picks CUDA when present")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--preload", action="store_true", help="load both models at start instead of on first use")
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_spaces() else "127.0.0.1"),
        help="address to listen on (default 127.0.0.1; 0.0.0.0 on Hugging Face Spaces)",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--cache-mb", type=int, default=None, help="memory bound of the shared forward cache (MiB)")
    parser.add_argument("--corpus-index", default=None, metavar="DIR|datasets/OWNER/NAME",
                        help="a token-search index written by python -m xlm_explorer.index, or a hub dataset holding one "
                        "(searched instead of the shipped set)")
    parser.add_argument("--lesson", action="append", default=[], type=Path, metavar="FILE_OR_DIR",
                        help="a lesson file (.yaml; a folder: every lesson in it) that links open as ?lesson=<file name>; "
                        "the first one opens for every visitor (repeatable; see docs/lessons.md)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="do not compute the page's defaults in the background after start-up "
                        "(also XLM_EXPLORER_WARM_UP=0; see docs/performance.md)")
    parser.add_argument(
        "--tiny-demo",
        action="store_true",
        help="build tiny random checkpoints and use them (no download; predictions are meaningless)",
    )
    parser.add_argument("--tiny-dir", type=Path, default=DEFAULT_TINY_DIR, help="where --tiny-demo writes its checkpoints")
    return parser.parse_args(argv)


def make_workspace(args: argparse.Namespace):
    """The workspace (models and caches) for these arguments: defaults < XLM_EXPLORER_MODELS < --model;
    --tiny-demo replaces the defaults and the environment with tiny random checkpoints (--model still wins)."""
    from xlm_explorer.models import ModelManager, parse_model_overrides, resolve_sources
    from xlm_explorer.workspace import Workspace

    sources = resolve_sources(args.model)
    if args.tiny_demo:
        from xlm_explorer.tiny import build_tiny_checkpoints

        tiny = {key: str(path) for key, path in build_tiny_checkpoints(args.tiny_dir).items()}
        sources = {**tiny, **parse_model_overrides(args.model)}
    manager = ModelManager(sources, device=args.device, dtype=args.dtype, tiny_demo=args.tiny_demo)
    return Workspace(manager, cache_mb=args.cache_mb, corpus_index=args.corpus_index)


def load_lessons(args: argparse.Namespace):
    """The shipped lessons and the ``--lesson`` ones; a file it cannot use stops the start with its message."""
    from xlm_explorer.errors import UserInputError
    from xlm_explorer.lessons import LessonLibrary

    try:
        return LessonLibrary.build(args.lesson)
    except UserInputError as error:
        raise SystemExit(f"app.py: --lesson: {error}") from None


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.corpus_index is not None:
        from xlm_explorer.analysis.token_search import index_folder
        from xlm_explorer.errors import UserInputError

        try:
            args.corpus_index = index_folder(args.corpus_index)
        except UserInputError as error:
            raise SystemExit(f"app.py: --corpus-index: {error}") from None
    lessons = load_lessons(args)
    workspace = make_workspace(args)
    if args.preload:
        for key, message in workspace.manager.preload().items():
            logging.getLogger("xlm_explorer").error("preload of %s failed: %s", key, message)

    from xlm_explorer.memory import start_trimming
    from xlm_explorer.ui.app import build_demo, launch_kwargs

    start_trimming()  # freed memory goes back to the OS: the resident size follows what is in use
    from xlm_explorer.errors import UserInputError

    try:
        demo = build_demo(workspace, lessons=lessons)  # checks that every lesson's links name views of this page
    except UserInputError as error:
        raise SystemExit(f"app.py: --lesson: {error}") from None
    from xlm_explorer.service.warmup import warm_up_wanted

    if not args.no_warm_up and warm_up_wanted():
        from xlm_explorer.ui.app import start_warm_up

        start_warm_up(demo)  # a daemon thread that gives way to every visitor's run
    demo.launch(**launch_kwargs(args.host, args.port, args.share))


if __name__ == "__main__":
    main()
