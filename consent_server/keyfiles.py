"""Secrets the server makes for itself once and keeps in the key folder (mode 0600)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def kept_secret(path: Path) -> str:
    """The random secret in `path`, created there on first use; every process gets the same."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written in full under a private name, then linked into place: link() fails when another
    # process won, and no reader ever sees a file that is still being written.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    return path.read_text().strip()
