"""The statement for a person at a terminal: conclusions first, each with its sentences."""

from __future__ import annotations

import textwrap

from scanner.policy.model import Claim, Evidence, PolicyStatement

LANGUAGES = {"sv": "Swedish", "en": "English"}
WIDTH = 100
QUOTE_CHARS = 240


def _quote(e: Evidence) -> list[str]:
    text = " ".join(e.text.split())
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    lines = textwrap.wrap(f"“{text}”", WIDTH - 8) or [""]
    where = f"[{e.start}-{e.end}]"
    return [f"      {where} {lines[0]}"] + [
        f"      {' ' * len(where)} {line}" for line in lines[1:]
    ]


def _claims(title: str, claims: list[Claim], values: list[str] | None = None) -> list[str]:
    values = values if values is not None else list(dict.fromkeys(c.value for c in claims))
    if not values:
        return [f"{title}: none"]
    out = [f"{title}: {', '.join(values)}"]
    for value in values:
        cited = [c for c in claims if c.value == value]
        evidence = sorted(set(e for c in cited for e in c.evidence), key=lambda e: e.start)
        terms = list(dict.fromkeys(t for c in cited for t in c.terms))
        rules = list(dict.fromkeys(c.rule for c in cited))
        out.append(f"  {value}  ({', '.join(rules)}; {', '.join(repr(t) for t in terms[:6])})")
        for e in evidence:
            out.extend(_quote(e))
    return out


def render_text(statement: PolicyStatement) -> str:
    """A readable report of the statement, every conclusion followed by its sentences."""
    st = statement
    lines = [
        f"Policy: {st.source or '(text)'}",
        f"Language: {LANGUAGES.get(st.language, st.language)}, {len(st.text)} characters (offsets refer "
        "to the normalized text, see --json)",
        "",
    ]
    if st.mentions_cookies:
        techs = sorted({c.value for c in st.technologies})
        lines.append(f"Mentions cookies or similar technologies: yes ({', '.join(techs)})")
    else:
        lines.append("Mentions cookies or similar technologies: no")
    if st.cookie_denials:
        lines += _claims("Says no cookies are used", st.cookie_denials)
    lines += _claims("Lifetimes declared", st.lifetimes, st.declared_lifetimes)
    if st.durations:
        lines += _claims("Durations stated", st.durations)
    lines += _claims("Purposes declared for cookies", st.purposes, st.declared_purposes)
    if st.purposes_denied:
        lines += _claims("Purposes denied for cookies", st.purposes_denied, st.denied_purposes)
    lines += _claims("Third parties named", st.third_parties)
    if st.partner_sharing:
        lines += _claims("Shares data with partners", st.partner_sharing)
    lines += _claims("Transfers outside the EU/EEA", st.transfers)
    lines += _claims("Consent obtained by", st.consent)
    lines += _claims("Withdrawal", st.withdrawal)
    lines.append(f"Withdrawal route: {st.withdrawal_route}")
    lines.append("")
    if not st.problems:
        lines.append("Problems: none found")
    else:
        lines.append("Problems:")
        for p in st.problems:
            lines.append(
                f"  [{p.detail.get('severity', '?')}] {p.value}: {p.detail.get('message', '')}"
            )
            for e in p.evidence:
                lines.extend(_quote(e))
    return "\n".join(lines)
