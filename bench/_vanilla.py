"""Fetch vanilla-cookieconsent from the npm registry into a cache folder (never committed)."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / "results" / "npm"
VERSION = "3.1.0"


def vanilla_dist(version: str = VERSION) -> Path:
    """The dist/ folder of vanilla-cookieconsent at `version`, downloaded once with npm pack."""
    target = CACHE / f"vanilla-cookieconsent-{version}"
    dist = target / "package" / "dist"
    if dist.exists():
        return dist
    target.mkdir(parents=True, exist_ok=True)
    out = (
        subprocess.run(
            ["npm", "pack", f"vanilla-cookieconsent@{version}", "--silent"],
            cwd=target,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    with tarfile.open(target / out) as tar:
        tar.extractall(target, filter="data")
    return dist
