"""Build the banner bundle: esbuild-minified JS and CSS with content-hashed names.

python3 static/banner/build.py            # write dist/
python3 static/banner/build.py --check    # exit 1 when dist/ is stale
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ESBUILD = HERE / "node_modules" / ".bin" / "esbuild"
CSS_PLACEHOLDER = "__CSS__"


def _esbuild(*args: str) -> bytes:
    if not ESBUILD.exists():
        # npm ci installs the pinned esbuild from package-lock.json.
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return subprocess.run(
        [
            str(ESBUILD),
            *args,
            "--minify",
            "--charset=utf8",
            "--legal-comments=none",
            "--log-level=warning",
        ],
        cwd=HERE,
        check=True,
        capture_output=True,
    ).stdout


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:10]


def build(out: Path) -> dict[str, object]:
    """Build into `out` and return the manifest."""
    css = _esbuild("src/banner.css", "--loader:.css=css")
    css_name = f"banner.{_digest(css)}.css"
    js = _esbuild("src/index.js", "--bundle", "--format=iife", "--target=es2019")
    js = js.replace(CSS_PLACEHOLDER.encode(), css_name.encode())
    js_name = f"banner.{_digest(js)}.js"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("banner.*"):
        old.unlink()
    files = {"banner.js": js, js_name: js, "banner.css": css, css_name: css}
    for name, data in files.items():
        (out / name).write_bytes(data)
    # Sizes as served compressed: what the visitor downloads.
    gz_js = len(gzip.compress(js, 9, mtime=0))
    gz_css = len(gzip.compress(css, 9, mtime=0))
    manifest = {
        "js": js_name,
        "css": css_name,
        "bytes": {"js": len(js), "css": len(css)},
        "gzip9": {"js": gz_js, "css": gz_css, "total": gz_js + gz_css},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when dist/ is stale")
    parser.add_argument("--out", type=Path, default=HERE / "dist")
    args = parser.parse_args()
    if not args.check:
        manifest = build(args.out)
        print(json.dumps(manifest["gzip9"]))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        fresh = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    current = {p.name: p.read_bytes() for p in args.out.iterdir()} if args.out.exists() else {}
    if fresh != current:
        print("static/banner/dist is stale: run python3 static/banner/build.py", file=sys.stderr)
        return 1
    print("dist is up to date")
    return 0


if __name__ == "__main__":
    shutil.which("node") or sys.exit("node is needed to build the banner")
    sys.exit(main())
