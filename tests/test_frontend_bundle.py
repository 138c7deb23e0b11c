"""The committed bundle in tb_callbacks_plugin/server/static is what frontend/ builds.

`pip install` ships the committed files and never runs Node, so a source
change without a rebuild would ship the old tab. The build is deterministic
(no timestamps, paths or source maps), so a fresh build must be byte-equal.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from needs import need

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
STATIC = ROOT / "tb_callbacks_plugin" / "server" / "static"


def _require_toolchain() -> None:
    need(shutil.which("node") is not None, "node is not installed: the bundle cannot be rebuilt here")
    need(
        (FRONTEND / "node_modules" / "esbuild").is_dir(),
        "frontend/node_modules is missing: run `npm ci` in frontend/",
    )


def test_committed_bundle_is_fresh(tmp_path):
    _require_toolchain()
    out = tmp_path / "static"
    build = ["node", "build.mjs", "--outdir", str(out)]
    subprocess.run(build, cwd=FRONTEND, check=True, capture_output=True, timeout=120)
    built = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in STATIC.iterdir() if p.is_file())
    assert built == committed, "static/ holds other files than the build writes"
    stale = [name for name in built if (out / name).read_bytes() != (STATIC / name).read_bytes()]
    assert not stale, f"stale bundle {stale}: run `node build.mjs` in frontend/ and commit the output"


def test_typescript_typechecks():
    _require_toolchain()
    need(
        (FRONTEND / "node_modules" / ".bin" / "tsc").exists(),
        "typescript is not installed in frontend/node_modules",
    )
    result = subprocess.run(
        [str(FRONTEND / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", "."],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
