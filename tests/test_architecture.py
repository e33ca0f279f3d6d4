"""House rules from STYLE.md that a reviewer would otherwise have to remember."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lower apps never import higher ones (STYLE.md); demo sits on top of everything.
LAYERS = ["tenants", "documents", "connections", "messaging", "partners", "notifications", "demo"]
APPS = [app for app in LAYERS if (ROOT / app).is_dir()]
APPS_WITH_MODELS = [app for app in APPS if (ROOT / app / "models.py").exists()]


def _python_files(app):
    return [path for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts]


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("app", APPS)
def test_imports_flow_one_way(app):
    higher = set(LAYERS[LAYERS.index(app) + 1 :])
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _python_files(app)
        for module in _imported_modules(path)
        if module.split(".")[0] in higher
    ]
    assert not offending, offending


@pytest.mark.parametrize("app", APPS)
def test_views_never_reach_a_manager_directly(app):
    """Views read through selectors that take the organization; a bare Model.objects in a view leaks."""
    views = [p for p in _python_files(app) if p.name == "views.py" or "views" in p.parent.name]
    offending = []
    for path in views:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"objects", "_default_manager"}:
                offending.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offending, f"Use a selector instead: {offending}"


@pytest.mark.parametrize("app", APPS_WITH_MODELS)
def test_models_keep_business_rules_out_of_save(app):
    path = ROOT / app / "models.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            assert node.name != "save", f"{app}/models.py overrides save(): use a service"
