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
I18N_PLACEHOLDER = "__I18N__"


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


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, 9, mtime=0))


def build(out: Path) -> dict[str, object]:
    """Build into `out` and return the manifest."""
    css = _esbuild("src/banner.css", "--loader:.css=css")
    css_name = f"banner.{_digest(css)}.css"
    # Languages: minified, content-hashed, outside the bundle; the bundle gets their names.
    i18n: dict[str, bytes] = {}
    for path in sorted((HERE / "src" / "i18n").glob("*.json")):
        texts = json.loads(path.read_text(encoding="utf-8"))
        data = json.dumps(texts, ensure_ascii=False, separators=(",", ":")).encode()
        i18n[f"{path.stem}.{_digest(data)}"] = data
    names = ",".join(i18n).encode()

    def fill(code: bytes) -> bytes:
        return code.replace(CSS_PLACEHOLDER.encode(), css_name.encode()).replace(
            I18N_PLACEHOLDER.encode(), names
        )

    js = fill(_esbuild("src/index.js", "--bundle", "--format=iife", "--target=es2019"))
    js_name = f"banner.{_digest(js)}.js"
    esm = fill(_esbuild("src/esm.js", "--bundle", "--format=esm", "--target=es2019"))
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("banner.*"), *out.glob("i18n/*.json")]:
        old.unlink()
    (out / "i18n").mkdir(exist_ok=True)
    files = {"banner.js": js, js_name: js, "banner.mjs": esm, "banner.css": css, css_name: css}
    files.update({f"i18n/{name}.json": data for name, data in i18n.items()})
    for name, data in files.items():
        (out / name).write_bytes(data)
    # Sizes as served compressed: what the visitor downloads (one language file of them).
    gz_js, gz_css = _gz(js), _gz(css)
    manifest = {
        "js": js_name,
        "css": css_name,
        "esm": "banner.mjs",
        "i18n": {name.split(".")[0]: f"i18n/{name}.json" for name in i18n},
        "bytes": {"js": len(js), "css": len(css)},
        "gzip9": {"js": gz_js, "css": gz_css, "total": gz_js + gz_css},
        "gzip9_i18n": {name.split(".")[0]: _gz(data) for name, data in i18n.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def main() -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when dist/ is stale")
    parser.add_argument("--out", type=Path, default=HERE / "dist")
    args = parser.parse_args()
    if not args.check:
        manifest = build(args.out)
        print(json.dumps({**manifest["gzip9"], "i18n": manifest["gzip9_i18n"]}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        fresh = _files(Path(tmp))
    current = _files(args.out) if args.out.exists() else {}
    if fresh != current:
        print("static/banner/dist is stale: run python3 static/banner/build.py", file=sys.stderr)
        return 1
    print("dist is up to date")
    return 0


if __name__ == "__main__":
    shutil.which("node") or sys.exit("node is needed to build the banner")
    sys.exit(main())
