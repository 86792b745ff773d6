"""Ed25519 signing keys kept as files outside the database, with rotation and a JWKS."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CURRENT_FILE = "current"
CURRENT_RECHECK_SECONDS = 1.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK of an Ed25519 public key, with its RFC 7638 thumbprint as kid."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = _b64url(raw)
    thumb = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = _b64url(hashlib.sha256(thumb.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def jwk_to_public_key(jwk: dict[str, Any]) -> Ed25519PublicKey:
    """Load an Ed25519 public key from its JWK."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("only Ed25519 (OKP) keys are supported")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


@lru_cache(maxsize=64)
def _jws_header(kid: str, typ: str) -> str:
    """The encoded protected header of a JWS signed with key `kid`."""
    header = json.dumps({"alg": "EdDSA", "kid": kid, "typ": typ}, separators=(",", ":"))
    return _b64url(header.encode())


@dataclass(frozen=True)
class SigningKey:
    """A private key with its kid."""

    kid: str
    private_key: Ed25519PrivateKey

    def sign(self, payload: dict[str, Any], typ: str) -> str:
        """Sign a JSON payload as a compact JWS (EdDSA) with kid in the header."""
        return jwt.encode(
            payload, self.private_key, algorithm="EdDSA", headers={"kid": self.kid, "typ": typ}
        )

    def sign_bytes(self, body: bytes, typ: str) -> str:
        """Sign JSON bytes as they are (a receipt's canonical record) as a compact JWS (EdDSA)."""
        # PyJWT would serialise the claims again; signing the canonical bytes themselves is
        # cheaper on the consent POST and makes the JWS payload exactly the hashed record.
        signing_input = f"{_jws_header(self.kid, typ)}.{_b64url(body)}"
        return f"{signing_input}.{_b64url(self.private_key.sign(signing_input.encode('ascii')))}"


class KeyStore:
    """A folder of PEM private keys (mode 0600) and a `current` file naming the active kid."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, Ed25519PrivateKey] = {}
        self._current: tuple[float, SigningKey] | None = None

    def _write_new_key(self) -> str:
        key = Ed25519PrivateKey.generate()
        kid = public_jwk(key.public_key())["kid"]
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Write to a private temporary file and link it into place, so a reader never sees
        # a half-written key and the key is never readable by others, even for a moment.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".new-")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / f"{kid}.pem")
        return kid

    def _set_current(self, kid: str, *, only_if_absent: bool) -> bool:
        """Make kid the current key; with only_if_absent only if none is yet. True if it is."""
        path = self.directory / CURRENT_FILE
        # The whole file is written first and then put in place in one step: a reader never
        # sees `current` empty or half-written (creating it with O_EXCL and then writing did
        # let workers that started at once read an empty kid).
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".current-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(kid + "\n")
            if not only_if_absent:
                os.replace(tmp, path)
                return True
            # Several workers may start at once: the first to link `current` into place wins.
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def ensure(self) -> str:
        """Create the first key if there is none; return the current kid."""
        path = self.directory / CURRENT_FILE
        if not path.exists():
            kid = self._write_new_key()
            if not self._set_current(kid, only_if_absent=True):
                # Another worker's first key won; ours never signed anything: do not publish it.
                (self.directory / f"{kid}.pem").unlink(missing_ok=True)
        return path.read_text().strip()

    def rotate(self) -> str:
        """Make a new current key; old public keys stay published so old signatures verify."""
        self.ensure()
        kid = self._write_new_key()
        self._set_current(kid, only_if_absent=False)
        self._current = None  # this process signs with the new key at once
        return kid

    def _load(self, kid: str) -> Ed25519PrivateKey:
        if kid not in self._cache:
            pem = (self.directory / f"{kid}.pem").read_bytes()
            key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"key {kid} is not an Ed25519 key")
            self._cache[kid] = key
        return self._cache[kid]

    def current(self) -> SigningKey:
        """The key that signs new receipts and seals."""
        # Looked up on disk at most once a second, not for every receipt: `keys rotate` in
        # another process takes effect within that second (old keys stay valid anyway).
        cached = self._current
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        kid = self.ensure()
        key = (
            cached[1]
            if cached is not None and cached[1].kid == kid
            else SigningKey(kid, self._load(kid))
        )
        self._current = (now + CURRENT_RECHECK_SECONDS, key)
        return key

    def kids(self) -> list[str]:
        """Every kid in the folder, oldest first."""
        found = []
        for path in self.directory.glob("*.pem"):
            try:
                found.append((path.stat().st_mtime_ns, path.stem))
            except FileNotFoundError:
                continue  # a worker's losing first key, being removed by `ensure`
        return [kid for _, kid in sorted(found)]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """All public keys, current first."""
        current = self.ensure()
        ordered = [current] + [k for k in reversed(self.kids()) if k != current]
        keys = []
        for kid in ordered:
            try:
                keys.append(public_jwk(self._load(kid).public_key()))
            except FileNotFoundError:
                if kid == current:
                    raise
        return {"keys": keys}
