"""What a verification found: problems and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """One thing wrong with the export."""

    # modified | removed | inserted | reordered | broken_seal | broken_manifest | malformed
    kind: str
    message: str
    line: int | None = None
    receipt_id: str | None = None
    seal: int | None = None
    leaf: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    receipts: int = 0
    purged: int = 0
    seals: int = 0
    unsealed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    bundle: bool = False
    # The kid of the key that signed a bundle's manifest; None when it is not signed (a JSONL
    # export, a bundle of format 1) or its signature does not hold.
    manifest_kid: str | None = None
    exported_at: str | None = None  # from a bundle's manifest
    # Whose public keys checked the signatures: "pinned" (the auditor's own, --jwks) or
    # "bundle" (the ones inside the bundle, which whoever rewrote it could have replaced).
    keys: str = "pinned"
    key_ids: list[str] = field(default_factory=list)  # the kids of those keys
    workers: int = 0  # worker processes that did the work (0: this process alone)

    @property
    def ok(self) -> bool:
        """True when nothing was modified, removed, inserted, reordered or broken."""
        return not self.problems

    def by_kind(self, kind: str) -> list[Problem]:
        """The problems of one kind."""
        return [p for p in self.problems if p.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "receipts": self.receipts,
            "purged": self.purged,
            "seals": self.seals,
            "unsealed": self.unsealed,
            "manifest_signed_by": self.manifest_kid if self.bundle else None,
            "exported_at": self.exported_at,
            "keys": self.keys,
            "key_ids": self.key_ids,
            "problems": [p.as_dict() for p in self.problems],
        }

    def summary(self) -> str:
        """A readable report."""
        lines = [
            f"{self.receipts} receipts ({self.purged} purged) under {self.seals} seals; "
            f"{len(self.unsealed)} not yet sealed."
        ]
        order = (
            "broken_seal",
            "broken_manifest",
            "modified",
            "removed",
            "inserted",
            "reordered",
            "malformed",
        )
        for kind in order:
            found = self.by_kind(kind)
            if found:
                lines.append(f"{kind.replace('_', ' ').upper()}: {len(found)}")
                lines.extend(f"  - {p.message}" for p in found)
        if self.unsealed:
            lines.append(
                "Not yet sealed (cannot be proven; seal the log and export again): "
                + ", ".join(self.unsealed[:20])
                + (" ..." if len(self.unsealed) > 20 else "")
            )
        if self.manifest_kid:
            lines.append(
                f"The manifest is signed (key {self.manifest_kid}, exported {self.exported_at}): "
                "the export was checked against its seal range and counts."
            )
        elif self.bundle and not self.by_kind("broken_manifest"):
            lines.append(
                "The manifest is not signed: compare the last seal with the latest one the "
                "server publishes to be sure nothing was cut off the end."
            )
        kids = ", ".join(self.key_ids) or "none usable"
        if self.keys == "bundle":
            lines.append(
                f"Signatures were checked with the keys inside the bundle ({kids}), which prove "
                "nothing against whoever could rewrite it: pass the server's keys with --jwks "
                "(its /.well-known/jwks.json fetched over TLS, or from your own records)."
            )
        else:
            lines.append(f"Signatures were checked with the pinned keys (--jwks: {kids}).")
        if not self.ok:
            lines.append("FAILED: the export was altered.")
        elif self.unsealed:
            # Not "intact": nothing proves the unsealed lines, a forged one included.
            lines.append(
                f"OK: every sealed receipt is intact; {len(self.unsealed)} not yet sealed "
                "cannot be proven."
            )
        else:
            lines.append("OK: the export is intact.")
        return "\n".join(lines)


# A longer run of missing seals is one problem: a forged sequence number must not fill memory.
MAX_GAP_LISTED = 1000
