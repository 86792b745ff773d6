"""Packaging: every imported distribution is declared in the extra of the part that imports it,
an auditor's `log verify` runs with the [verify] extra alone, and the layout keeps its rules
(no import cycles, scanner never imports consent_server, the consent log loads without Flask)."""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("declaration", "consent_server", "scanner")


def _requirements() -> dict[str, set[str]]:
    """setup.cfg's distributions: {"": base, extra: that extra's}, names normalised."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")

    def names(block: str) -> set[str]:
        return {
            _norm(re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0])
            for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")
        }

    out = {"": names(cfg["options"]["install_requires"])}
    for extra, block in cfg["options.extras_require"].items():
        out[extra] = names(block)
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports of a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# Which extras a module may rely on, by the role that runs it (first matching prefix wins).
ROLES = [
    ("consent_server.cli.verify", ("", "verify")),
    ("consent_server.cli.common", ("",)),
    ("consent_server.cli", ("", "verify", "server")),
    ("consent_server.consent_log.verify", ("", "verify")),
    ("consent_server.consent_log.merkle", ("",)),
    ("consent_server.consent_log.keys", ("", "verify")),
    ("consent_server.scans.tasks", ("", "server", "celery")),
    ("consent_server", ("", "server")),
    ("declaration", ("",)),
    ("scanner", ("", "scanner")),
]


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_imported_distribution_is_declared_in_the_extra_of_its_role() -> None:
    reqs = _requirements()
    dists = packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    missing = []
    for path in _modules():
        module = _module(path)
        allowed = next(extras for prefix, extras in ROLES if module.startswith(prefix))
        declared = set().union(*(reqs[e] for e in allowed))
        for name in _imports(path) - stdlib - set(PACKAGES):
            candidates = {_norm(d) for d in dists.get(name, [name])}
            if not candidates & declared:
                missing.append(f"{module} imports {name} ({', '.join(sorted(candidates))})")
    assert missing == []


def test_the_extras_hold_what_their_roles_run() -> None:
    reqs = _requirements()
    assert {"verify", "server", "scanner", "celery"} <= reqs.keys()
    assert {"playwright", "selenium", "celery", "flask"}.isdisjoint(reqs[""] | reqs["verify"])
    assert "gunicorn" in reqs["server"]
    assert {"playwright", "selenium"} <= reqs["scanner"]
    assert "celery" in reqs["celery"]


def test_installed_requirements_match_setup_cfg() -> None:
    # The editable install the tests run on was made from this setup.cfg.
    installed = {
        _norm(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in requires("consent-manager") or []
    }
    declared = set().union(*_requirements().values())
    assert declared == installed


def _import_graph(load_time_only: bool = False) -> dict[str, set[str]]:
    """Module -> the project modules it imports (only those run at load time, if asked)."""
    graph: dict[str, set[str]] = {}
    known = {_module(p) for p in _modules()}
    for path in _modules():
        tree = ast.parse(path.read_text())
        deps = set()
        for node in tree.body if load_time_only else ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in known else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[_module(path)] = {d for d in deps if d in known and d != _module(path)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph.get(node, ()):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_at_load_time() -> None:
    assert _cycles(_import_graph(load_time_only=True)) == []


def test_the_scanner_and_the_declaration_never_import_the_server() -> None:
    graph = _import_graph()
    upward = [
        f"{m} -> {d}"
        for m, deps in graph.items()
        if m.startswith(("scanner", "declaration"))
        for d in deps
        if d.startswith("consent_server")
    ]
    assert upward == []
    # The server reaches the scanner through its package entry only.
    deep = [
        f"{m} -> {d}"
        for m, deps in graph.items()
        if m.startswith("consent_server")
        for d in deps
        if d.startswith("scanner.")
    ]
    assert deep == []


BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed", name=name)
        return None
sys.meta_path.insert(0, Block())
sys.argv = ["consent-server", *sys.argv[2:]]
from consent_server.cli import main
main()
"""


@pytest.fixture
def bundle(app: Flask, runner: FlaskCliRunner, demo_site: str, tmp_path: Path) -> Path:
    """A sealed audit bundle of the demo site with one receipt."""
    from tests.support.consent import consent_body

    assert (
        app.test_client()
        .post(f"/api/v1/sites/{demo_site}/consents", json=consent_body())
        .status_code
        == 201
    )
    assert runner.invoke(args=["log", "seal"]).exit_code == 0
    path = tmp_path / "audit.zip"
    result = runner.invoke(args=["log", "export", "--site", demo_site, "--bundle", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_log_verify_runs_with_the_verify_extra_alone(bundle: Path) -> None:
    # Everything outside the base and [verify] is made unimportable, as in an auditor's venv.
    reqs = _requirements()
    allowed = reqs[""] | reqs["verify"]
    blocked = {
        name
        for name, dists in packages_distributions().items()
        if not {_norm(d) for d in dists} & allowed
        and name not in sys.stdlib_module_names
        and not name.startswith("_")
        and name
        not in ("pip", "setuptools", "pkg_resources", "consent_server", "scanner", "declaration")
    }
    assert {"flask", "sqlalchemy", "playwright", "selenium", "celery"} <= blocked
    args = [sys.executable, "-c", BLOCKER, ",".join(sorted(blocked))]
    ok = subprocess.run(
        [*args, "log", "verify", str(bundle)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "1 receipt" in ok.stdout or "receipts" in ok.stdout
    other = subprocess.run([*args, "sites", "list"], capture_output=True, text=True, check=False)
    assert other.returncode == 2
    assert "consent-manager[server]" in other.stderr


def test_importing_the_consent_log_verifier_loads_no_flask() -> None:
    code = (
        "import sys, consent_server.consent_log.verify, consent_server.cli.verify;"
        "print(','.join(m for m in ('flask','sqlalchemy','werkzeug','playwright') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
