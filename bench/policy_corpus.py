"""Policy analysis against the labelled corpus: precision, recall and F1 per label value.

    .venv/bin/python bench/policy_corpus.py            # a table, then every disagreement
    .venv/bin/python bench/policy_corpus.py --json     # the same figures for machines

The corpus is tests/data/policy_corpus/: policy texts written for the project, and
labels.yaml with what each text says (purposes, lifetimes, implied consent, the withdrawal
route, the problems). Each label value is scored as its own yes/no question over the texts
(a text that should have it and does is a true positive, ...); a label's figures add up the
counts of its values (micro average), and "overall" adds up every label.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scanner.policy import PolicyStatement, load_policy  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "policy_corpus"
LABELS = ("language", "purposes", "lifetimes", "implied_consent", "withdrawal", "problems")
SINGLE = ("language", "implied_consent", "withdrawal")  # one value per text


@dataclass
class Counts:
    """True positives, false positives and false negatives of one value (or a sum of them)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        """Add another value's counts (micro average)."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        """Share of the values given that are right (1.0 when none was given)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Share of the expected values that were given (1.0 when none was expected)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class Score:
    """The figures of a run over the corpus, and where it disagreed with the labels."""

    texts: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    values: dict[str, dict[str, Counts]] = field(default_factory=dict)  # label -> value -> counts
    errors: list[dict[str, Any]] = field(default_factory=list)

    def label(self, name: str) -> Counts:
        """One label's counts, all its values added up."""
        total = Counts()
        for counts in self.values.get(name, {}).values():
            total.add(counts)
        return total

    def overall(self) -> Counts:
        """Every label's counts added up."""
        total = Counts()
        for name in self.values:
            total.add(self.label(name))
        return total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "texts": self.texts,
            "languages": self.languages,
            "labels": {
                name: {
                    **self.label(name).to_dict(),
                    "values": {v: c.to_dict() for v, c in sorted(values.items())},
                }
                for name, values in self.values.items()
            },
            "overall": self.overall().to_dict(),
            "errors": self.errors,
        }


def read_labels(corpus: Path = CORPUS) -> dict[str, dict[str, Any]]:
    """labels.yaml: file name -> label -> value or list of values."""
    with (corpus / "labels.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def expected(labels: dict[str, Any]) -> dict[str, set[str]]:
    """A text's labels as sets of strings (YAML reads yes/no as booleans)."""
    out = {}
    for name in LABELS:
        value = labels[name]
        values = value if isinstance(value, list) else [value]
        out[name] = {("yes" if v else "no") if isinstance(v, bool) else str(v) for v in values}
    return out


def predicted(statement: PolicyStatement) -> dict[str, set[str]]:
    """What the analysis read, as the same labels."""
    return {
        "language": {statement.language},
        "purposes": set(statement.declared_purposes),
        "lifetimes": set(statement.declared_lifetimes),
        "implied_consent": {"yes" if statement.implied_consent else "no"},
        "withdrawal": {statement.withdrawal_route},
        "problems": {p.value for p in statement.problems},
    }


def score(corpus: Path = CORPUS, files: Iterable[str] | None = None) -> Score:
    """Analyse every labelled text of the corpus and count agreements per label value."""
    labels = read_labels(corpus)
    result = Score()
    for name in files if files is not None else sorted(labels):
        want = expected(labels[name])
        got = predicted(load_policy(corpus / name))
        result.texts += 1
        language = next(iter(want["language"]))
        result.languages[language] = result.languages.get(language, 0) + 1
        for label in LABELS:
            table = result.values.setdefault(label, {})
            for value in want[label] | got[label]:
                counts = table.setdefault(value, Counts())
                if value in want[label] and value in got[label]:
                    counts.tp += 1
                elif value in got[label]:
                    counts.fp += 1
                else:
                    counts.fn += 1
            if want[label] != got[label]:
                result.errors.append(
                    {
                        "file": name,
                        "label": label,
                        "missing": sorted(want[label] - got[label]),
                        "extra": sorted(got[label] - want[label]),
                    }
                )
    return result


def _row(name: str, counts: Counts) -> str:
    return (
        f"{name:<44} {counts.precision:>9.3f} {counts.recall:>7.3f} {counts.f1:>6.3f}"
        f" {counts.tp:>4} {counts.fp:>3} {counts.fn:>3}"
    )


def render(result: Score) -> str:
    """The figures as a table, then the disagreements."""
    languages = ", ".join(f"{n} {lang}" for lang, n in sorted(result.languages.items()))
    lines = [
        f"{result.texts} texts ({languages})",
        f"{'label / value':<44} {'precision':>9} {'recall':>7} {'F1':>6} {'tp':>4} {'fp':>3} {'fn':>3}",
    ]
    for label, values in result.values.items():
        lines.append(_row(label, result.label(label)))
        for value, counts in sorted(values.items()):
            lines.append(_row(f"  {value}", counts))
    lines.append(_row("overall", result.overall()))
    if result.errors:
        lines.append("")
        lines.append("disagreements:")
        for e in result.errors:
            lines.append(
                f"  {e['file']}: {e['label']} missing {e['missing'] or '-'}, extra {e['extra'] or '-'}"
            )
    return "\n".join(lines)


def list_scaling(small: int = 500, large: int = 4000) -> dict[str, float]:
    """CPU seconds to read a cookie list of `small` and of `large` entries, and their ratio.

    Every entry is a claim of its own; linear reading gives a ratio near large/small (8),
    a merge step that scans all earlier claims gives one near its square (64).
    """
    import time

    from scanner.policy import analyze_text

    def cpu(entries: int) -> float:
        text = "Cookies\n\nWe use cookies to:\n" + "\n".join(
            f"• entry {i} remembers your language settings" for i in range(entries)
        )
        started = time.process_time()
        analyze_text(text)
        return time.process_time() - started

    a, b = cpu(small), cpu(large)
    return {"small": small, "large": large, "small_s": a, "large_s": b, "ratio": b / a}


def main(argv: list[str] | None = None) -> int:
    """Print the figures (a table, or JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus directory")
    parser.add_argument(
        "--scaling", action="store_true", help="time a 500- and a 4,000-entry cookie list"
    )
    args = parser.parse_args(argv)
    if args.scaling:
        print(json.dumps(list_scaling(), indent=2))
        return 0
    result = score(args.corpus)
    print(json.dumps(result.to_dict(), indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
