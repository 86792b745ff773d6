"""Cookie classification accuracy on the Open Cookie Database (OCD).

    .venv/bin/python bench/cookie_classification.py --ocd open-cookie-database.csv \
        [--split dev|test|all] [--json] [--verbose]

The OCD CSV is measurement data only: it is not in this repository (get it from
github.com/jkwakman/Open-Cookie-Database, file open-cookie-database.csv; see
docs/benchmarks.md). Nothing of it is learnt from: the classifier sees (name, host) only.

Held-out protocol: every row belongs to a split by its Platform, so all the cookies of one
vendor fall on the same side: sha256(Platform) even is `dev`, odd is `test`. Rules and hints
are developed looking at `dev` rows only (`--split dev --verbose`); the `test` figure is the
honest one, and `--verbose` refuses to list test rows. `all` is every row (the default).

Rows are also split in two by what the knowledge base knows:

  unseen   the bundled knowledge base knows no entry for the name (exact or pattern, on any
           domain): what the classifier does with a cookie it has never seen.
  known    the knowledge base has an entry for the name; classified once on the OCD's own
           domain and once on a white-label host (partner.example.net, a host name that
           says nothing by itself), to show what a known name on an unexpected domain gets.

Each row runs the real `scanner.classify.classify` on (name, host) for a site whose own
domain is www.example-shop.se. The OCD Domain text becomes a host: the first alternative
("adform.net (3rd party) or ..." -> adform.net); "Advertiser's website domain (1st party)"
-> www.example-shop.se.

Category mapping (OCD -> ours): Marketing -> marketing, Analytics -> analytics, Security ->
necessary, Personalization -> preferences, Functional -> necessary OR preferences. OCD's
Functional mixes what a consent law calls strictly necessary (sessions, CSRF tokens, load
balancers, the consent record itself) with convenience settings (language, chat widget
state), so either of our two non-tracking purposes counts as right; analytics or marketing
for a Functional row counts as wrong. `unknown` always counts as wrong.

A second reading (`--second-reading`, default bench/data/ocd-second-reading.csv) gives
each OCD row, by its ID, the purpose a reviewer chose from the row's name, domain, description
and retention without seeing its Category. Its agreement with the OCD under the mapping above
is how far the OCD's labels themselves can be reproduced (`second_reading.agreement`), and
the classifier is also scored on the rows where both readings agree
(`second_reading.accuracy_where_readings_agree`).

An unknown cookie's best guess (`guess`: preferences for a first-party session cookie; a
row is a session cookie when its Retention period says "session") is scored apart, as
`guesses`, `guesses_right` and `accuracy_counting_guesses`: nothing in a scan acts on it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from declaration.constants import PURPOSES
from scanner.classify import classify
from scanner.knowledge import KnowledgeBase

SITE_HOST = "www.example-shop.se"
WHITE_LABEL_HOST = "partner.example.net"
ACCEPTED = {
    "marketing": {"marketing"},
    "analytics": {"analytics"},
    "security": {"necessary"},
    "personalization": {"preferences"},
    "functional": {"necessary", "preferences"},
}
SPLITS = ("dev", "test", "all")
SECOND_READING = Path(__file__).resolve().parent / "data" / "ocd-second-reading.csv"
PREDICTIONS = ("necessary", "preferences", "analytics", "marketing", "unknown")
_HOST = re.compile(r"^\.?([a-z0-9-]+(?:\.[a-z0-9-]+)+)\b", re.IGNORECASE)
_COUNT = re.compile(r"\s*\[x\d+\]$")
_PLACEHOLDER = re.compile(r"<[^<>]*>|%[A-Z]+%")


def host_of(domain_text: str) -> str:
    """The host a row's cookie is set on: the first alternative of the Domain text."""
    first = domain_text.strip().split(" or ")[0].strip()
    if "advertiser" in first.lower():
        return SITE_HOST
    match = _HOST.match(first)
    return match.group(1).lower() if match else SITE_HOST


def name_candidates(raw: str, wildcard: bool) -> list[str]:
    """Concrete cookie names for a row; a wildcard name is a prefix, so give a few tails."""
    name = _COUNT.sub("", raw.strip())
    name = _PLACEHOLDER.sub("123", name)
    if " " in name:  # "_dp Cookie": the name is the first word
        name = name.split()[0]
    if not wildcard:
        return [name]
    if name.endswith(("_", ".", "-", ":")):
        return [name + "ABC123", name + "abc123"]
    return [name + "_ABC123", name + ".1.abc123", name + "ABC123"]


def split_of(platform: str) -> str:
    """The row's split by its Platform: sha256 even is "dev", odd is "test"."""
    digest = hashlib.sha256(platform.strip().encode("utf-8")).digest()
    return "test" if digest[-1] % 2 else "dev"


def known_by_name(kb: KnowledgeBase, names: list[str]) -> str | None:
    """The first candidate name some knowledge-base entry claims on any domain."""
    for name in names:
        if any(entry.matches_name(name) for entry in kb.entries):
            return name
    return None


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The rows with a name and a category we can score."""
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            raw = (row.get("Cookie / Data Key name") or "").strip()
            category = (row.get("Category") or "").strip().lower()
            if not raw or raw.upper() == "N/A" or category not in ACCEPTED:
                continue
            rows.append(
                {
                    "id": (row.get("ID") or "").strip(),
                    "name": raw,
                    "platform": (row.get("Platform") or "").strip(),
                    "split": split_of(row.get("Platform") or ""),
                    "category": category,
                    "domain": (row.get("Domain") or "").strip(),
                    "wildcard": (row.get("Wildcard match") or "").strip() == "1",
                    # "session", "Session", "End of session (browser)": set without an expiry.
                    "session": "session" in (row.get("Retention period") or "").lower(),
                }
            )
    return rows


class Tally:
    """Accuracy, coverage and a confusion table over scored rows."""

    def __init__(self) -> None:
        self.total = 0
        self.right = 0
        self.unknown = 0
        self.per: dict[str, Counter[str]] = defaultdict(Counter)
        self.confusion: dict[str, Counter[str]] = defaultdict(Counter)
        self.sources: Counter[str] = Counter()
        self.wrong: list[tuple[str, str, str, str]] = []
        self.guesses = 0
        self.guesses_right = 0
        # Against the second reading: rows it labels, rows it agrees with the OCD on, and
        # the rows of those that the classifier gets right.
        self.read = 0
        self.readings_agree = 0
        self.right_where_agree = 0

    def add(
        self,
        name: str,
        host: str,
        truth: str,
        predicted: str,
        source: str,
        guess: str | None,
        second: str | None = None,
    ) -> None:
        ok = predicted in ACCEPTED[truth]
        if second is not None:
            self.read += 1
            if second in ACCEPTED[truth]:
                self.readings_agree += 1
                self.right_where_agree += ok
        self.total += 1
        self.right += ok
        self.unknown += predicted == "unknown"
        if predicted == "unknown" and guess is not None:
            self.guesses += 1
            self.guesses_right += guess in ACCEPTED[truth]
        self.per[truth]["total"] += 1
        self.per[truth]["right"] += ok
        self.confusion[truth][predicted] += 1
        self.sources[source] += 1
        if not ok:
            self.wrong.append((name, host, truth, predicted))

    def summary(self) -> dict[str, Any]:
        covered = self.total - self.unknown
        return {
            "rows": self.total,
            "accuracy": round(self.right / self.total, 4) if self.total else None,
            "unknown": self.unknown,
            "coverage": round(covered / self.total, 4) if self.total else None,
            "accuracy_when_classified": round(self.right / covered, 4) if covered else None,
            # An unknown cookie's best guess is never acted on: scored apart, not as accuracy.
            "guesses": self.guesses,
            "guesses_right": self.guesses_right,
            "accuracy_counting_guesses": (
                round((self.right + self.guesses_right) / self.total, 4) if self.total else None
            ),
            "second_reading": {
                "rows": self.read,
                "agreement": round(self.readings_agree / self.read, 4) if self.read else None,
                "rows_where_readings_agree": self.readings_agree,
                "accuracy_where_readings_agree": (
                    round(self.right_where_agree / self.readings_agree, 4)
                    if self.readings_agree
                    else None
                ),
            },
            "per_category": {
                k: {"rows": v["total"], "accuracy": round(v["right"] / v["total"], 4)}
                for k, v in sorted(self.per.items())
            },
            "confusion": {k: dict(v) for k, v in sorted(self.confusion.items())},
            "sources": dict(self.sources),
        }


def load_second_reading(path: Path | None) -> dict[str, str]:
    """OCD row ID -> the purpose a second reader gave it (empty without a file)."""
    if path is None:
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        reading = {row["id"].strip(): row["purpose"].strip() for row in csv.DictReader(fh)}
    unexpected = set(reading.values()) - set(PURPOSES)
    if unexpected:
        raise ValueError(f"{path}: purposes must be our four, not {sorted(unexpected)}")
    return reading


def run(path: Path, split: str = "all", second_reading: Path | None = None) -> dict[str, Any]:
    kb = KnowledgeBase.load_default()
    reading = load_second_reading(second_reading)
    unseen, known_own, known_moved = Tally(), Tally(), Tally()
    rows = [r for r in load_rows(path) if split == "all" or r["split"] == split]
    platforms = set()
    for row in rows:
        platforms.add(row["platform"])
        candidates = name_candidates(row["name"], row["wildcard"])
        host = host_of(row["domain"])
        known = known_by_name(kb, candidates)
        truth = row["category"]
        session = row["session"]
        second = reading.get(row["id"])
        if known is None:
            name = candidates[0]
            c = classify(name, host, knowledge=kb, site_domains=(SITE_HOST,), session=session)
            unseen.add(name, host, truth, c.category, c.source, c.guess, second)
            continue
        c = classify(known, host, knowledge=kb, site_domains=(SITE_HOST,), session=session)
        known_own.add(known, host, truth, c.category, c.source, c.guess, second)
        c = classify(
            known, WHITE_LABEL_HOST, knowledge=kb, site_domains=(SITE_HOST,), session=session
        )
        known_moved.add(known, WHITE_LABEL_HOST, truth, c.category, c.source, c.guess, second)
    return {
        "ocd": str(path),
        "site": SITE_HOST,
        "split": split,
        "platforms": len(platforms),
        "unseen": unseen.summary(),
        "known_on_ocd_domain": known_own.summary(),
        "known_on_unexpected_domain": known_moved.summary(),
        "_wrong_unseen": unseen.wrong,
        "_wrong_moved": known_moved.wrong,
    }


def _print(result: dict[str, Any], verbose: bool) -> None:
    print(f"Split {result['split']}: {result['platforms']} platforms")
    for key, title in (
        ("unseen", "Names the knowledge base does not know"),
        ("known_on_ocd_domain", "Known names, on the OCD's domain"),
        ("known_on_unexpected_domain", f"Known names, on {WHITE_LABEL_HOST}"),
    ):
        s = result[key]
        print(f"\n{title}: {s['rows']} rows")
        if not s["rows"]:
            continue
        print(
            f"  accuracy {s['accuracy']:.1%}, unknown {s['unknown']} "
            f"(coverage {s['coverage']:.1%}), accuracy when classified "
            f"{(s['accuracy_when_classified'] or 0):.1%}; by source {s['sources']}"
        )
        if s["guesses"]:
            print(
                f"  best guesses for unknown cookies: {s['guesses_right']} of {s['guesses']} "
                f"right; accuracy counting them {s['accuracy_counting_guesses']:.1%}"
            )
        second = s["second_reading"]
        if second["rows"]:
            print(
                f"  second reading agrees with the OCD on {second['agreement']:.1%} of "
                f"{second['rows']} rows; accuracy on the {second['rows_where_readings_agree']} "
                f"rows where both agree {second['accuracy_where_readings_agree']:.1%}"
            )
        for cat, v in s["per_category"].items():
            print(f"  {cat:<16} {v['rows']:>4} rows  {v['accuracy']:.1%}")
        print("  confusion (OCD category -> predicted):")
        print("    " + " " * 16 + "".join(f"{p:>12}" for p in PREDICTIONS))
        for cat, counts in s["confusion"].items():
            print(f"    {cat:<16}" + "".join(f"{counts.get(p, 0):>12}" for p in PREDICTIONS))
    if verbose:
        print("\nWrong (unseen):")
        for w in result["_wrong_unseen"]:
            print("  ", *w)
        print("\nWrong (known, unexpected domain):")
        for w in result["_wrong_moved"]:
            print("  ", *w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ocd", required=True, type=Path, help="open-cookie-database.csv")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--verbose", action="store_true", help="list the misclassified rows")
    parser.add_argument(
        "--split", choices=SPLITS, default="all", help="rows by Platform: dev, test or all"
    )
    parser.add_argument(
        "--second-reading",
        type=Path,
        default=SECOND_READING,
        help="CSV of id,purpose: a second labelling of the OCD rows (default: %(default)s)",
    )
    parser.add_argument(
        "--no-second-reading", action="store_true", help="leave the second reading out"
    )
    args = parser.parse_args(argv)
    if not args.ocd.is_file():
        parser.error(f"{args.ocd}: no such file")
    if args.verbose and args.split != "dev":
        # Listing held-out rows would let them steer the rules: only dev rows are shown.
        parser.error("--verbose lists rows of the dev split only (use --split dev)")
    second = None if args.no_second_reading else args.second_reading
    if second is not None and not second.is_file():
        parser.error(f"{second}: no such file (or use --no-second-reading)")
    result = run(args.ocd, args.split, second)
    if args.json:
        out = {k: v for k, v in result.items() if not k.startswith("_")}
        print(json.dumps(out, indent=2))
    else:
        _print(result, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
