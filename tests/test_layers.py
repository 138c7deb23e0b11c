"""Which package may import which (docs/architecture.md, "Layers").

Data flows one way: callbacks -> eventfiles writer -> event files ->
eventfiles readers, server and cli. A layer imports only the layers below it:

    core        tb_callbacks_plugin/{metadata,event_format,conventions}.py
    eventfiles  tb_callbacks_plugin/eventfiles/      core
    api         tb_callbacks_plugin/__init__.py      core, eventfiles
    server      tb_callbacks_plugin/server/          core, eventfiles, api
    cli         tb_callbacks_plugin/cli/             core, eventfiles, api
    callbacks   callbacks/                           core, eventfiles, api

(`callbacks/` is installed as `tb_callbacks_plugin.callbacks`: setup.py's
package_dir.) So nothing in tb_callbacks_plugin imports callbacks, and server and cli do
not know each other. Imports are read from the source with `ast`, lazy ones
inside functions and TYPE_CHECKING ones included.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tb_callbacks_plugin", "callbacks")

ALLOWED = {
    "core": {"core"},
    "eventfiles": {"core", "eventfiles"},
    "api": {"core", "eventfiles"},
    "server": {"core", "eventfiles", "api", "server"},
    "cli": {"core", "eventfiles", "api", "cli"},
    "callbacks": {"core", "eventfiles", "api", "callbacks"},
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] == "callbacks":  # the folder setup.py installs as tb_callbacks_plugin.callbacks
        parts.insert(0, "tb_callbacks_plugin")
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of a module of this project, None for anything else."""
    parts = module.split(".")
    if parts[0] != "tb_callbacks_plugin":
        return None
    if len(parts) == 1:
        return "api"
    return parts[1] if parts[1] in ("eventfiles", "server", "cli", "callbacks") else "core"


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, resolved to modules of `known` where possible."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in known else base))
    return found


def violations(root: Path = ROOT) -> list[str]:
    modules = project_modules(root)
    known = set(modules)
    out = []
    for name, path in modules.items():
        layer = layer_of(name)
        for line, imported in imports_of(path, name, known):
            target = layer_of(imported)
            if target is not None and target not in ALLOWED[layer]:
                out.append(f"{path.relative_to(root)}:{line}: {layer} imports {imported} ({target})")
    return out


def test_every_module_has_a_layer():
    layers = {layer_of(name) for name in project_modules()}
    assert layers == set(ALLOWED)


def test_no_layer_imports_a_layer_above_it():
    assert violations() == []


def test_the_checker_sees_upward_imports(tmp_path):
    # A small copy of the layout with one upward import of each form.
    files = {
        "tb_callbacks_plugin/__init__.py": "from tb_callbacks_plugin.eventfiles.writer import EventWriter\n",
        "tb_callbacks_plugin/event_format.py": (
            "def f():\n    from tb_callbacks_plugin.server import plugin\n"
        ),
        "tb_callbacks_plugin/eventfiles/__init__.py": "",
        "tb_callbacks_plugin/eventfiles/writer.py": "from tb_callbacks_plugin import event_format\n",
        "tb_callbacks_plugin/server/__init__.py": "",
        "tb_callbacks_plugin/server/plugin.py": "from ..cli import main\n",
        "tb_callbacks_plugin/cli/__init__.py": "",
        "tb_callbacks_plugin/cli/main.py": "import tb_callbacks_plugin.callbacks.tensorboard\n",
        "callbacks/__init__.py": "",
        "callbacks/tensorboard.py": (
            "from tb_callbacks_plugin import EventWriter\nfrom tb_callbacks_plugin.server import plugin\n"
        ),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = [v.split(": ", 1)[1] for v in violations(tmp_path)]
    assert sorted(found) == [
        "callbacks imports tb_callbacks_plugin.server.plugin (server)",
        "cli imports tb_callbacks_plugin.callbacks.tensorboard (callbacks)",
        "core imports tb_callbacks_plugin.server.plugin (server)",
        "server imports tb_callbacks_plugin.cli.main (cli)",
    ]


# What importing each layer loads, in a fresh interpreter: the static rules
# above, seen from Python's side (the package __init__ runs first).
_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tb_callbacks_plugin", "callbacks"))))
"""


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        ("tb_callbacks_plugin.conventions", ("server", "cli", "callbacks")),
        ("tb_callbacks_plugin", ("server", "cli", "callbacks")),
        ("tb_callbacks_plugin.eventfiles.scalar_reader", ("server", "cli", "callbacks")),
        ("tb_callbacks_plugin.server.plugin", ("cli", "callbacks")),
        ("tb_callbacks_plugin.cli.main", ("server", "callbacks")),
        ("tb_callbacks_plugin.callbacks", ("server", "cli")),
    ],
)
def test_importing_a_layer_loads_none_above_it(module, must_not_load):
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert module in loaded
    assert [m for m in loaded if layer_of(m) in must_not_load] == []


# ---------------------------------------------------------------- where comments point

_DOC_REF = re.compile(r'docs/([\w.-]+\.md)(?:, "([^"]+)")?')
_OUTSIDE = "DESIGN" + ".md"  # the design notes this project started from live outside it


def test_comments_point_into_the_project():
    sources = [
        p
        for folder in ("callbacks", "tb_callbacks_plugin", "frontend/src", "bench", "scripts", "tests")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.suffix in (".py", ".ts", ".mjs", ".sh") and "node_modules" not in p.parts
    ]
    bad, refs = [], 0
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if _OUTSIDE in text:
            bad.append(f"{path.relative_to(ROOT)}: points to {_OUTSIDE}")
        for doc, section in _DOC_REF.findall(text):
            refs += 1
            target = ROOT / "docs" / doc
            if not target.is_file():
                bad.append(f"{path.relative_to(ROOT)}: docs/{doc} does not exist")
            elif section and f"## {section}\n" not in target.read_text(encoding="utf-8"):
                bad.append(f"{path.relative_to(ROOT)}: docs/{doc} has no section {section!r}")
    assert refs >= 3
    assert bad == []
