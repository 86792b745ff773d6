"""Banner weight: our JS + CSS as served, gzip -9, against vanilla-cookieconsent 3.1.0.

.venv/bin/python bench/banner_size.py
"""

from __future__ import annotations

import gzip
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._vanilla import vanilla_dist
from consent_server.app import create_app

TARGET = 7700


def gz(data: bytes) -> int:
    """Size after gzip -9."""
    return len(gzip.compress(data, 9, mtime=0))


def main() -> int:
    """Print both sizes and the ratio; exit 1 when ours is over the target."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/x.db"})
        client = app.test_client()
        js = client.get("/banner/banner.js").data
        # The bundle names its content-hashed stylesheet; fetch that, as a browser would.
        css_name = re.search(rb"banner\.[0-9a-f]{10}\.css", js).group().decode()
        css = client.get(f"/banner/{css_name}").data
    dist = vanilla_dist()
    v_js = (dist / "cookieconsent.umd.js").read_bytes()
    v_css = (dist / "cookieconsent.css").read_bytes()
    ours = gz(js) + gz(css)
    theirs = gz(v_js) + gz(v_css)
    print(f"ours:    js {gz(js):>6} + css {gz(css):>5} = {ours:>6} bytes gzip -9")
    print(f"vanilla: js {gz(v_js):>6} + css {gz(v_css):>5} = {theirs:>6} bytes gzip -9")
    print(
        f"ratio ours/vanilla: {ours / theirs:.3f}  (target <= {TARGET} bytes: "
        f"{'PASS' if ours <= TARGET else 'FAIL'})"
    )
    return 0 if ours <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
