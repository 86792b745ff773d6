"""Secrets the server keeps for itself: made once, private, the same for every process."""

from __future__ import annotations

import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from consent_server.keyfiles import kept_secret


def test_processes_starting_at_once_agree_on_one_private_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "some.secret"
    with ProcessPoolExecutor(max_workers=6) as pool:
        got = set(pool.map(kept_secret, [path] * 24))
    assert len(got) == 1 and len(got.pop()) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Nothing half-written is left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["some.secret"]
