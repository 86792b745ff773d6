"""Policy text as a document: normalisation, HTML to text, headings, paragraphs, sentences.

Every offset the analysis reports is an offset into the *normalized* text this module makes,
so a sentence can always be found again with `text[start:end]`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Spaces of every width (no-break, thin, ideographic, ...) become one plain space; invisible
# characters (zero-width, soft hyphen, BOM) go, since they split words the rules look for.
_SPACES = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_LINE_SEPARATORS = re.compile(r"\r\n|\r|\u2028|\u2029|\x85")

# Bullets (• · ▪ ◦ ‣ ∙ * and dashes) and "1." or "a)".
_BULLET = re.compile(
    r"^(?:[\u2022\u00b7\u25aa\u25e6\u2023\u2219*\-\u2013\u2014]|\d{1,2}[.)]|[a-z][.)])\s"
)
_TERMINAL = ".!;:,"
# A field of a record written as lines: "Cookie: gl_session", "Lagringstid: 13 månader".
_FIELD = re.compile(r"^[^\W\d][\w ]{0,29}: \S")
# A boundary after ., ! or ? (and a closing quote or bracket) followed by what starts a new
# sentence: a capital, a digit, an opening quote or bracket, a bullet, or a name such as
# "iKredit" or "i-Balans".
_BOUNDARY = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+"
    r"(?=[\"'\u201c\u201d\u2018(\[]?(?:[A-ZÅÄÖÜÉ0-9\u2022]|[a-zåäö]-?[A-ZÅÄÖ]))"
)
# Abbreviations that end in a full stop but do not end a sentence ("t.ex. Google", "e.g. Meta").
_ABBREVIATION = re.compile(
    r"(?:\b(?:t\.\s?ex|bl\.\s?a|m\.\s?m|m\.\s?fl|s\.\s?k|d\.\s?v\.\s?s|dvs|osv|etc|ca|nr|inkl|"
    r"exkl|resp|jfr|enl|kap|art|org|e\.g|i\.e|incl|approx|vs|no|mr|mrs|ms|dr|st|fig|ref|"
    r"f\.\s?d|p\.\s?g\.\s?a|pga|ang|tel|avd)\.|\b[A-ZÅÄÖ]\.)$",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return text.split()


_OPEN_ENDINGS = frozenset(
    _words("att och eller för som om av till med på i the and or to of for with that by in")
)
_SV_WORDS = frozenset(
    _words(
        "och att det som en är av för med till den har de inte om vi på du dina din vår våra "
        "eller kan när från uppgifter personuppgifter vilka också även samt sig oss ditt vårt "
        "hur används använder behandlar enligt denna detta dig"
    )
)
_EN_WORDS = frozenset(
    _words(
        "the and of to is we you your our for with that in are not or by this may data "
        "personal which use used how when from will be have it us can information these such "
        "any"
    )
)


@dataclass
class Sentence:
    """One sentence (or heading line) of the normalized text."""

    index: int
    start: int
    end: int
    text: str
    paragraph: int  # index of its paragraph; a heading is a paragraph of its own
    section: int | None  # index of the heading sentence it stands under, if any
    heading: bool = False


@dataclass
class Document:
    """The normalized text, its language and its sentences in reading order."""

    text: str
    language: str
    sentences: list[Sentence] = field(default_factory=list)

    def heading_of(self, sentence: Sentence) -> Sentence | None:
        """The heading a sentence stands under."""
        return None if sentence.section is None else self.sentences[sentence.section]

    def paragraph_of(self, sentence: Sentence) -> list[Sentence]:
        """Every sentence of the sentence's paragraph, in order."""
        out = []
        i = sentence.index
        while i > 0 and self.sentences[i - 1].paragraph == sentence.paragraph:
            i -= 1
        while i < len(self.sentences) and self.sentences[i].paragraph == sentence.paragraph:
            out.append(self.sentences[i])
            i += 1
        return out


def normalize(text: str) -> str:
    """NFC, one kind of space and line break, trimmed lines, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _LINE_SEPARATORS.sub("\n", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def detect_language(text: str) -> str:
    """'sv' or 'en', by counting frequent function words (and å, ä, ö)."""
    words = re.findall(r"[a-zåäöé]+", text.lower())
    sv = sum(1 for w in words if w in _SV_WORDS) + 0.2 * sum(
        1 for w in words if re.search("[åäö]", w)
    )
    en = sum(1 for w in words if w in _EN_WORDS)
    return "sv" if sv > en else "en"


def _is_heading_line(line: str, previous: str, following: str, known: frozenset[str]) -> bool:
    # A heading is a short line of its own that does not read as (part of) a sentence.
    if line in known:
        return True
    if not line or len(line) > 90 or _BULLET.match(line):
        return False
    words = line.split()
    if line[-1] in _TERMINAL or len(words) > 12 or words[-1].lower() in _OPEN_ENDINGS:
        return False  # "Du har rätt att" introduces a list, it does not name a section
    if previous and previous[-1] not in ".!?:" and previous not in known and len(previous) > 90:
        return False  # the tail of a sentence broken over lines
    if following and following[0].islower():
        return False  # continues on the next line
    if "@" in line or "www." in line or "://" in line or CELL_SEPARATOR in line:
        return False
    if _FIELD.match(line) and (_FIELD.match(previous) or _FIELD.match(following)):
        return False  # "Duration: Session" among other fields of a record
    return bool(re.search(r"[A-Za-zÅÄÖåäöÉé]{3}", line))


def segment(
    text: str, *, language: str | None = None, headings: frozenset[str] = frozenset()
) -> Document:
    """Split normalized text into headings, paragraphs and sentences with offsets."""
    doc = Document(text=text, language=language or detect_language(text))
    lines: list[tuple[int, str]] = []
    pos = 0
    for raw in text.split("\n"):
        lines.append((pos, raw))
        pos += len(raw) + 1
    paragraph = -1
    section: int | None = None
    i = 0
    while i < len(lines):
        start, line = lines[i]
        if not line:
            i += 1
            continue
        previous = lines[i - 1][1] if i > 0 else ""
        following = lines[i + 1][1] if i + 1 < len(lines) else ""
        paragraph += 1
        if _is_heading_line(line, previous, following, headings):
            sentence = Sentence(
                len(doc.sentences), start, start + len(line), line, paragraph, section, True
            )
            doc.sentences.append(sentence)
            section = sentence.index
            i += 1
            continue
        # A paragraph is one line plus the lines that continue it (a lower-case start).
        end = start + len(line)
        i += 1
        while (
            i < len(lines)
            and lines[i][1]
            and lines[i][1][0].islower()
            and not _BULLET.match(lines[i][1])
        ):
            end = lines[i][0] + len(lines[i][1])
            i += 1
        for s_start, s_end in _sentences(text, start, end):
            doc.sentences.append(
                Sentence(
                    len(doc.sentences), s_start, s_end, text[s_start:s_end], paragraph, section
                )
            )
    return doc


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    chunk = text[start:end]
    spans: list[tuple[int, int]] = []
    begin = 0
    for match in _BOUNDARY.finditer(chunk):
        stop = match.start() + len(match.group().rstrip())
        if _ABBREVIATION.search(chunk[begin:stop]):
            continue
        spans.append((begin, stop))
        begin = match.end()
    spans.append((begin, len(chunk)))
    out = []
    for a, b in spans:
        piece = chunk[a:b]
        a += len(piece) - len(piece.lstrip())
        b -= len(piece) - len(piece.rstrip())
        if b > a:
            out.append((start + a, start + b))
    return out


# -- HTML ---------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    _words(
        "p div section article header main aside blockquote pre table tr ul ol dl form "
        "fieldset figure figcaption address details summary hr body html"
    )
)
_LINE_TAGS = frozenset(["br", "li", "dt", "dd", "option", "caption"])
_CELL_TAGS = frozenset(["td", "th"])
# A table row is one line, its cells joined by this: a row is read as one sentence (its name,
# category and lifetime together), never as a heading.
CELL_SEPARATOR = " | "
_HEADING_TAGS = frozenset(f"h{n}" for n in range(1, 7))
_SKIP_TAGS = frozenset(
    _words(
        "script style noscript template svg head title iframe object canvas nav footer select "
        "button"
    )
)
_VOID_TAGS = frozenset(_words("area base br col embed hr img input link meta source track wbr"))
# Consent banners on the policy page (ours and the common platforms'): their texts are not the
# policy and would otherwise declare purposes of their own.
_BANNER_ATTR = re.compile(
    r"^cm-banner$|cookie-?(?:banner|consent|notice|bar|law)|cookiebot|onetrust|cmplz|cc-window|"
    r"cky-consent|consent-?(?:banner|manager)|usercentrics|didomi|iubenda",
    re.IGNORECASE,
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[str, bool]] = []  # (text, inside <main>/<article>)
        self.headings: list[str] = []
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.main_depth = 0
        self.heading_buffer: list[str] | None = None
        self.pre = 0
        self.cells = 0  # cells of the current table row so far

    def _emit(self, text: str) -> None:
        self.parts.append((text, self.main_depth > 0))
        if self.heading_buffer is not None:
            self.heading_buffer.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            if not (self.skip_tag == "head" and tag == "body"):
                return
            self.skip_tag, self.skip_depth = None, 0  # </head> is optional in HTML
        values = dict(attrs)
        marker = " ".join(v for k, v in attrs if k in ("id", "class") and v)
        hidden = "hidden" in values or values.get("aria-hidden") == "true"
        if tag in _SKIP_TAGS or (tag not in _VOID_TAGS and (hidden or _BANNER_ATTR.search(marker))):
            if tag not in _VOID_TAGS:
                self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "main" or values.get("role") == "main":
            self.main_depth += 1
        if tag == "pre":
            self.pre += 1
        if tag in _HEADING_TAGS:
            self._emit("\n\n")
            self.heading_buffer = []
        elif tag in _CELL_TAGS:
            self._emit(CELL_SEPARATOR if self.cells else "\n")
            self.cells += 1
        elif tag == "tr":
            self.cells = 0
            self._emit("\n\n")
        elif tag in _BLOCK_TAGS:
            self._emit("\n\n")
        elif tag in _LINE_TAGS:
            self._emit("\n• " if tag == "li" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "main" and self.main_depth:
            self.main_depth -= 1
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in _HEADING_TAGS and self.heading_buffer is not None:
            heading = " ".join("".join(self.heading_buffer).split())
            if heading:
                self.headings.append(heading)
            self.heading_buffer = None
            self._emit("\n\n")
        elif tag in _BLOCK_TAGS:
            self._emit("\n\n")
        elif tag in ("li", "dt", "dd", "tr"):
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self.skip_tag is not None:
            return
        self._emit(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> tuple[str, frozenset[str]]:
    """Readable text of an HTML page (its <main> when it has one) and its heading texts."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    main = "".join(t for t, inside in parser.parts if inside)
    chosen = main if len(main.strip()) >= 200 else "".join(t for t, _ in parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", chosen)
    return normalize(text), frozenset(normalize(h) for h in parser.headings)
