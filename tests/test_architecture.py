"""The architecture as a specification: layers import in one direction only, no import cycle, the service layer
has no gradio, the UI is made of small functions, and every public endpoint is a service function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xlm_explorer"

#: Layers bottom-up; a module may import its own layer and the layers below, never above.
LAYERS = [
    {"specs", "errors", "notices", "paths", "uploads", "cache", "checks", "tiny", "packing", "memory"},
    {"models", "tokenization"},
    {"forward"},
    {"analysis"},
    {"workspace", "downloads"},
    {"answer_types", "explain_types", "contract", "schemas", "page_setup", "service", "score", "index", "index_job", "index_ray", "lessons"},
    {"views"},
    {"ui"},
]
MAX_UI_FUNCTION_LINES = 60
#: Elsewhere a function may be longer (a computation with its docstring), but not without bound; nor may a module.
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 650
#: What the UI may import: the service (its endpoints and page setup), the views, and the facts below them.
UI_MAY_NOT_IMPORT = {"analysis", "forward", "models", "tokenization", "cache", "packing", "tiny"}
#: The only modules that touch a model's modules: forward runs it; tiny builds checkpoints; packing repacks at load.
MODEL_INTERNALS = {"transformer", "pred_layer", "layer_norm_emb", "layer_norm1", "layer_norm2", "ffns", "out_lin"}
MAY_TOUCH_MODEL = {"xlm_explorer.forward", "xlm_explorer.tiny", "xlm_explorer.packing"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def layer_of(module: str) -> int:
    top = module.split(".")[1] if module.count(".") >= 1 else module
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module}: not in any layer (add it to LAYERS)")


def imports(path: Path) -> set[str]:
    """Package modules ``path`` imports (anywhere in the file, except under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if not target.startswith("xlm_explorer"):
                continue
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {n for n in names if (ROOT / Path(*n.split("."))).with_suffix(".py").exists()} or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("xlm_explorer")}
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_layers_import_downwards_only(graph: dict[str, set[str]]) -> None:
    upward = [
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if module != "xlm_explorer" and target != "xlm_explorer" and layer_of(target) > layer_of(module)
    ]
    assert not upward, f"imports that go up the layers: {upward}"


def test_every_module_is_in_a_layer(graph: dict[str, set[str]]) -> None:
    for module in graph:
        if module != "xlm_explorer":
            layer_of(module)  # raises for a module in no layer


def test_the_ui_talks_to_the_service_not_to_analysis_or_models(graph: dict[str, set[str]]) -> None:
    reaching_down = sorted(
        (module, target)
        for module, targets in graph.items()
        if module.startswith("xlm_explorer.ui")
        for target in targets
        if target.count(".") >= 1 and target.split(".")[1] in UI_MAY_NOT_IMPORT
    )
    assert not reaching_down, f"ui modules importing below the service: {reaching_down}"


def test_only_the_forward_module_runs_a_model() -> None:
    """No ``<x>.model(...)`` call and no model submodule (``transformer``, ``pred_layer``, ...) outside forward."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if module_name(path) in MAY_TOUCH_MODEL:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in MODEL_INTERNALS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "model":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)[:60]}")
    assert not found, found


def test_there_is_no_import_cycle(graph: dict[str, set[str]]) -> None:
    def resolve(name: str) -> str:
        return name if name in graph else name.rsplit(".", 1)[0]

    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(resolve(t) for t in graph.get(module, ())):
            if target == module or target not in graph or target == "xlm_explorer":
                continue
            if state.get(target) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(path + [target])}")
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_service_layer_imports_no_gradio_and_no_plotting() -> None:
    code = "import sys, xlm_explorer.service; print(sorted(m for m in ('gradio', 'plotly', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_functions_and_modules_are_small_everywhere() -> None:
    """UI functions at most 60 lines, other functions 80, every module 650 (the size rule applies everywhere)."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
        limit = MAX_UI_FUNCTION_LINES if module_name(path).startswith("xlm_explorer.ui") else MAX_FUNCTION_LINES
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_every_public_endpoint_is_a_service_function(manager) -> None:
    from xlm_explorer import service
    from xlm_explorer.ui.app import build_demo

    demo = build_demo(manager)
    public = {fn.api_name for fn in demo.fns.values() if fn.api_name and str(fn.api_visibility) == "public"}
    assert public == set(service.ENDPOINTS)  # the Models tab included: the API list is the service list
    for name, fn in service.ENDPOINTS.items():
        assert fn.__name__ == name, f"service function {fn.__name__} serves /{name}"
