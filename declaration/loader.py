"""Reading a declaration from YAML or JSON into a validated Declaration."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from marshmallow import (
    ValidationError,
)

from declaration.constants import OPTIONAL_REVISION_FIELDS, REVISION_FIELDS
from declaration.schema import DeclarationSchema


class DeclarationError(ValueError):
    """A declaration that does not validate; `errors` maps field paths to messages."""

    def __init__(self, errors: dict[str, list[str]], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        lines = [f"{path}: {'; '.join(msgs)}" for path, msgs in errors.items()]
        where = f"{source}: " if source else ""
        super().__init__(where + "invalid declaration\n  " + "\n  ".join(lines))


# Mapping fields: marshmallow reports their errors under "<entry>.key" / "<entry>.value", which
# _flatten folds into the entry's own path ("texts.en.titel", not "texts.en.value.titel").
_MAPPING_FIELDS = {"texts", "title", "description", "purpose", "resolve"}


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        parts = prefix.split(".")
        in_mapping = len(parts) >= 2 and parts[-2] in _MAPPING_FIELDS
        for key, value in errors.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema" or (in_mapping and key in ("key", "value")):
                path = prefix or "(file)"
            for sub, msgs in _flatten(value, path).items():
                out.setdefault(sub, []).extend(msgs)
    elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        out[prefix or "(file)"] = list(errors)
    elif isinstance(errors, list):
        for i, value in enumerate(errors):
            out.update(_flatten(value, f"{prefix}.{i}"))
    else:
        out[prefix or "(file)"] = [str(errors)]
    return out


@dataclass(frozen=True)
class Declaration:
    """A validated declaration with its normalized content."""

    data: dict[str, Any]

    @property
    def site(self) -> str:
        """The site key."""
        return self.data["site"]

    def revision_content(self) -> dict[str, Any]:
        """The part shown to visitors, pinned by a revision."""
        return {
            k: self.data.get(k)
            for k in REVISION_FIELDS
            if k in self.data or k not in OPTIONAL_REVISION_FIELDS
        }

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the revision content."""
        return content_hash(self.revision_content())

    def category_keys(self) -> list[str]:
        """The category keys in declared order."""
        return [c["key"] for c in self.data["categories"]]


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 hex digest of canonical JSON (sorted keys, no whitespace, UTF-8)."""
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_declaration(data: Any, source: str | None = None) -> Declaration:
    """Validate a declaration given as a mapping; raise DeclarationError naming every bad field."""
    if not isinstance(data, dict):
        raise DeclarationError({"(file)": ["The declaration must be a mapping of fields."]}, source)
    try:
        loaded = DeclarationSchema().load(data)
    except ValidationError as exc:
        raise DeclarationError(_flatten(exc.messages), source) from exc
    return Declaration(loaded)


def parse_declaration_text(text: str | bytes, source: str | None = None) -> Declaration:
    """Parse YAML (or JSON, which is YAML) text into a validated Declaration."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DeclarationError({"(file)": [f"Not UTF-8 text: {exc}."]}, source) from exc
    try:
        data = yaml.load(text, Loader=_DeclarationLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DeclarationError({"(file)": [f"Not valid YAML{where}: {problem}."]}, source) from exc
    except RecursionError as exc:
        raise DeclarationError({"(file)": ["The YAML is nested too deeply."]}, source) from exc
    problem = _unloadable(data, MAX_NODES)
    if problem:
        raise DeclarationError(dict([problem]), source)
    return load_declaration(data, source)


MAX_NODES = 200_000


class _DeclarationLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: SafeLoader reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} appears twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _unloadable(data: Any, limit: int) -> tuple[str, list[str]] | None:
    """(path, [problem]) when loaded YAML cannot be taken as it is, else None.

    Aliases can make a small file expand into billions of values (or into a cycle), and a
    "\\ud800" escape makes a string no UTF-8 encoder (hashing, JSON, the database) accepts.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    count = 0
    while stack:
        path, item = stack.pop()
        count += 1
        if count > limit:
            return "(file)", [f"The declaration expands to more than {limit} values."]
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return path or "(file)", ["Not Unicode text: a lone surrogate such as \\ud800."]
        elif isinstance(item, dict):
            for key, value in item.items():
                sub = f"{path}.{key}" if path else str(key)
                stack.append((path or "(file)", key))
                stack.append((sub, value))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(item))
    return None


def read_declaration(path: str | Path) -> Declaration:
    """Read and validate a site.yaml file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DeclarationError(
            {"(file)": [f"Cannot read the file: {exc.strerror}."]}, str(path)
        ) from exc
    return parse_declaration_text(raw, str(path))
