"""Swedish and English lexicons of the policy rules: each entry is a readable regular expression.

Patterns are matched case-insensitively against one sentence at a time (with URLs and e-mail
addresses blanked out), so `\\b` and short windows like `[^.]{0,80}` stay inside the sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FLAGS = re.IGNORECASE | re.UNICODE


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, FLAGS)


@dataclass(frozen=True)
class Lexicon:
    """The words and phrases of one language."""

    language: str
    # Sentences that mention cookies or a similar technology: (technology, pattern).
    technologies: tuple[tuple[str, re.Pattern[str]], ...]
    # A tool on the site that records behaviour, without saying "cookie" (similar technology).
    tracking_service: re.Pattern[str]
    # "A cookie is a small text file": says what cookies are, not what the site does.
    definition: re.Pattern[str]
    glossary_heading: re.Pattern[str]
    first_person: re.Pattern[str]
    # "This can also include information from cookies": refers back to the sentences before.
    refers_back: re.Pattern[str]
    also: re.Pattern[str]
    # A sentence that continues the one before ("Such information", "They", "These").
    continues: re.Pattern[str]
    negation: re.Pattern[str]
    lifetime_negation: re.Pattern[str]  # also "lacks an expiry date"
    clause_break: re.Pattern[str]  # "but", "only", ";": the end of a negation's reach
    negated_use: re.Pattern[str]  # "we do not use ..."
    denial: re.Pattern[str]  # a negation at most two words before a purpose: "inte för"
    purposes: tuple[tuple[str, re.Pattern[str]], ...]
    # A category named on its own: a heading "Nödvändiga", a table cell "Targeting", a list
    # entry "Statistik: ...". (purpose, pattern matched against the whole label)
    category_names: tuple[tuple[str, re.Pattern[str]], ...]
    lifetimes: tuple[tuple[str, re.Pattern[str]], ...]
    duration: re.Pattern[str]
    numbers: dict[str, float]
    units: tuple[tuple[str, int], ...]  # (prefix of the unit word, seconds)
    implied_consent: re.Pattern[str]
    terms_consent: re.Pattern[str]
    browser: re.Pattern[str]
    browser_refusal: re.Pattern[str]
    browser_consent: re.Pattern[str]
    cookie_removal: re.Pattern[str]
    deletion: re.Pattern[str]  # "radera", "delete": withdrawal by deleting cookies
    privacy_title: re.Pattern[str]  # a title about personal data, not only cookies
    manual: re.Pattern[str]
    site_consent: re.Pattern[str]
    conditional_consent: re.Pattern[str]
    withdrawal: re.Pattern[str]
    via_site: re.Pattern[str]
    via_contact: re.Pattern[str]
    transfer: re.Pattern[str]
    partner: re.Pattern[str]
    share: re.Pattern[str]
    complaint: re.Pattern[str]


# -- shared ---------------------------------------------------------------------------------------

# Cookies under any name: "cookies", "sessionscookie", "cookieinställningar", "kakor", ...
COOKIE_WORD = (
    r"\b\w*cookie\w*|\b\w*kak(?:a|an|or|orna)\b|"
    r"\bkak(?:inställning|val|banner|ruta|rutan|policy)\w*"
)

# URLs, bare domains and e-mail addresses: blanked before matching, so that
# "www.minacookies.se" is no mention of cookies and "info@datainspektionen.se" no authority.
URL = re.compile(
    r"\bhttps?://\S+|\bwww\.\S+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+|"
    r"\b[\w-]+(?:\.[\w-]+)*\.(?:se|com|nu|org|net|eu|io|info|dk|no|fi|de|uk)\b(?:/\S*)?",
    FLAGS,
)

# Services a policy names: (name, pattern, category of their usual cookies or None).
SERVICES: tuple[tuple[str, re.Pattern[str], str | None], ...] = tuple(
    (name, re.compile(pattern, flags), category)
    for name, pattern, flags, category in (
        (
            "Google Analytics",
            r"\bGoogle\s+Analytics\b|\bGA4\b|\bUniversal Analytics\b",
            FLAGS,
            "analytics",
        ),
        ("Google Tag Manager", r"\bGoogle\s+Tag\s+Manager\b", FLAGS, None),
        (
            "Google Ads",
            r"\bGoogle\s+Ads\b|\bAdWords\b|\bDoubleClick\b|\bGoogle Marketing Platform\b",
            FLAGS,
            "marketing",
        ),
        ("Google reCAPTCHA", r"\breCAPTCHA\b", FLAGS, "necessary"),
        ("Google Maps", r"\bGoogle\s+Maps\b", FLAGS, "preferences"),
        ("YouTube", r"\bYouTube\b", FLAGS, "marketing"),
        ("Google", r"\bGoogle\b", FLAGS, None),
        (
            "Meta",
            r"\bMeta(?:\s+Platforms)?\b(?!-?data)|\bFacebook\b|\bInstagram\b",
            re.UNICODE,
            "marketing",
        ),
        ("LinkedIn", r"\bLinkedIn\b", FLAGS, "marketing"),
        ("Microsoft Clarity", r"\bMicrosoft\s+Clarity\b", FLAGS, "analytics"),
        (
            "Microsoft Advertising",
            r"\bMicrosoft\s+Advertising\b|\bBing\s+Ads\b",
            FLAGS,
            "marketing",
        ),
        ("TikTok", r"\bTikTok\b", FLAGS, "marketing"),
        ("Snapchat", r"\bSnapchat\b|\bSnap\s+Pixel\b", FLAGS, "marketing"),
        ("Pinterest", r"\bPinterest\b", FLAGS, "marketing"),
        ("X (Twitter)", r"\bTwitter\b", FLAGS, "marketing"),
        ("Hotjar", r"\bHotjar\b", FLAGS, "analytics"),
        ("Matomo", r"\bMatomo\b|\bPiwik\b", FLAGS, "analytics"),
        ("Adobe Analytics", r"\bAdobe\s+Analytics\b", FLAGS, "analytics"),
        ("Siteimprove", r"\bSiteimprove\b", FLAGS, "analytics"),
        ("Yandex Metrica", r"\bYandex\b", FLAGS, "analytics"),
        ("HubSpot", r"\bHubSpot\b", FLAGS, "marketing"),
        ("Mailchimp", r"\bMailchimp\b", FLAGS, "marketing"),
        ("Criteo", r"\bCriteo\b", FLAGS, "marketing"),
        ("Adform", r"\bAdform\b", FLAGS, "marketing"),
        ("Vimeo", r"\bVimeo\b", FLAGS, None),
        ("Cloudflare", r"\bCloudflare\b", FLAGS, "necessary"),
        ("Klarna", r"\bKlarna\b", FLAGS, "necessary"),
        ("Qliro", r"\bQliro\b", FLAGS, None),
        ("Stripe", r"\bStripe\b", re.UNICODE, "necessary"),
        ("Cookiebot", r"\bCookiebot\b", FLAGS, "necessary"),
        ("OneTrust", r"\bOneTrust\b", FLAGS, "necessary"),
        ("Intercom", r"\bIntercom\b", re.UNICODE, "preferences"),
        ("Zendesk", r"\bZendesk\b", FLAGS, "preferences"),
    )
)

# References to repealed or renamed law and authorities: (kind, pattern, message).
OUTDATED: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "personuppgiftslagen",
        re.compile(r"\bpersonuppgiftslag(?:en)?\b|\bPuL\b|\b1998:204\b", re.UNICODE),
        "personuppgiftslagen (PuL, 1998:204) was repealed on 25 May 2018; the GDPR and "
        "dataskyddslagen (2018:218) apply",
    ),
    (
        "personuppgiftsombud",
        _re(r"\bpersonuppgiftsombud\w*"),
        "'personuppgiftsombud' is an office of the repealed PuL; under the GDPR it is a "
        "dataskyddsombud (data protection officer)",
    ),
    (
        "directive_95_46",
        _re(
            r"\b95/46\b|\bdataskyddsdirektiv\w*|\bpersonuppgiftsdirektiv\w*|"
            r"\bData\s+Protection\s+Directive\b"
        ),
        "the Data Protection Directive 95/46/EC was repealed by the GDPR on 25 May 2018",
    ),
    (
        "data_protection_act_1998",
        _re(r"\bData\s+Protection\s+Act\s+1998\b"),
        "the UK Data Protection Act 1998 was replaced by the Data Protection Act 2018",
    ),
    (
        "lek_2003",
        _re(r"\b2003:389\b"),
        "lagen (2003:389) om elektronisk kommunikation was replaced by lagen (2022:482) on "
        "22 March 2022",
    ),
)
DATAINSPEKTIONEN = _re(
    r"\bDatainspektion(?:en|ens)?\b|\bSwedish\s+Data\s+(?:Protection|Inspection)\s+(?:Authority|Board)\b"
)
DATAINSPEKTIONEN_MESSAGE = (
    "Datainspektionen was renamed Integritetsskyddsmyndigheten (IMY) on 1 January 2021"
)
# Sentences that already know: "Datainspektionen (numera IMY)", "formerly Datainspektionen".
AUTHORITY_RENAMED = _re(
    r"\bIMY\b|\bIntegritetsskyddsmyndighet\w*|\bnumera\b|\btidigare\b|\bf\.\s?d\.|\bformerly\b|"
    r"\bnow\s+(?:called|named|known)\b|\brenamed\b|\bbytt\w* namn\b"
)
DIRECTIVE_2016_680 = _re(r"\b2016/680\b|\bbrottsdata\w*")

_SIMILAR_SV_EN = (
    (
        "local_storage",
        _re(
            r"\blocal\s*storage\b|\bsession\s*storage\b|\blokal(?:a)?\s+lagring\w*|"
            r"\bwebbläsarens\s+lagring\b|\bweb\s+storage\b"
        ),
    ),
    ("pixels", _re(r"\b\w*pixl(?:ar|arna)\b|\b\w*pixel(?:s|n)?\b")),
    (
        "web_beacons",
        _re(
            r"\bweb\s*beacons?\b|\bwebbsignal\w*|\bwebbfyr\w*|\bclear\s+gifs?\b|\bgif-filer\b|\bspårningsbild\w*"
        ),
    ),
    (
        "similar_technologies",
        _re(
            r"\bliknande\s+tekni\w*|\bsimilar\s+technolog\w*|\b\w*spårningstekni\w*|"
            r"\btracking\s+technolog\w*|\bfingerprint\w*"
        ),
    ),
)

_NUMBERS_SV = {
    "en": 1, "ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7, "åtta": 8,
    "nio": 9, "tio": 10, "elva": 11, "tolv": 12, "tretton": 13, "fjorton": 14, "femton": 15,
    "sexton": 16, "sjutton": 17, "arton": 18, "nitton": 19, "tjugo": 20, "tjugofyra": 24,
    "trettio": 30, "sextio": 60, "nittio": 90,
}  # fmt: skip
_NUMBERS_EN = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "eighteen": 18, "twenty": 20,
    "twenty-four": 24, "thirty": 30, "sixty": 60, "ninety": 90,
}  # fmt: skip
DAY = 86400
_UNITS_SV = (
    ("sekund", 1), ("minut", 60), ("timm", 3600), ("tim", 3600), ("dygn", DAY), ("dag", DAY),
    ("veck", 7 * DAY), ("mån", 30 * DAY), ("år", 365 * DAY),
)  # fmt: skip
_UNITS_EN = (
    ("second", 1), ("minute", 60), ("hour", 3600), ("day", DAY), ("week", 7 * DAY),
    ("month", 30 * DAY), ("year", 365 * DAY),
)  # fmt: skip


def _alternatives(words: dict[str, float]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


# -- Swedish --------------------------------------------------------------------------------------

SV = Lexicon(
    language="sv",
    technologies=(("cookies", _re(COOKIE_WORD)), *_SIMILAR_SV_EN),
    tracking_service=_re(
        r"\b\w*(?:tjänst|verktyg|skript|script|program)\w*\b[^.]{0,80}?"
        r"\b(?:samla[rt]?\s+in|samlar\s+in|mäta|mäter|spåra[rt]?|registrera[rt]?)\b[^.]{0,80}?"
        r"\b(?:\w*beteende\w*|\w*klick\w*|besökstid\w*|sidvisning\w*|"
        r"hur\s+(?:du|besökare|användare)\s+(?:använder|navigerar|rör\s+sig))"
    ),
    definition=_re(
        r"\b(?:en|ett)\s+(?:cookie|kaka)\s+är\s+(?:en|ett|små|liten)\b|"
        r"^\W*(?:cookies|kakor)\s+är\s+(?:små|en|ett|\w*textfil)|"
        r"\bbetecknas\s+som\s+(?:en\s+)?\W?(?:cookie|kaka)|"
        r"\bkallas\s+(?:för\s+)?(?:en\s+)?\W?(?:cookie|kaka)\b"
    ),
    glossary_heading=_re(r"^\W*(?:ordlista|ordförklaring\w*|definitioner|begrepp\w*|termer)\b"),
    first_person=_re(r"\b(?:vi|oss|vår|vårt|våra)\b"),
    refers_back=_re(r"^\W*(?:detta|det|dessa|denna|den|sådan|sådana|de)\b"),
    also=_re(r"\b(?:även|också|likaså)\b"),
    continues=_re(
        r"^\W*(?:de|dessa|denna|detta|sådana|sådan)\b|"
        r"\b(?:den|denna|sådan)\s+information(?:en)?\b|\bdessa\s+uppgifter\b"
    ),
    negation=_re(r"\b(?:inte|ej|aldrig|inga|inget|ingen|icke)\b|\butan\s+att\b"),
    lifetime_negation=_re(r"\b(?:inte|ej|aldrig|inga|inget|ingen|icke|saknar|utan)\b"),
    clause_break=_re(
        r"[;:]|\b(?:men|utan(?!\s+att\b)|endast|bara|förutom|däremot|istället|medan|dock)\b"
    ),
    negated_use=_re(
        r"\b(?:vi|webbplatsen|sajten|hemsidan)\s+(?:använder|sätter|placerar|nyttjar|lagrar)\s+"
        r"(?:\w+\s+)?(?:inte|inga|ej|aldrig)\b|"
        r"\b(?:inga|inte\s+några)\s+(?:\w+\s+)?(?:cookies|kakor)\s+(?:används|sätts|lagras)\b"
    ),
    denial=_re(r"\b(?:inte|ej|aldrig|inga|inget|ingen)(?:\s+[\w-]+){0,2}\s+$"),
    purposes=(
        (
            "necessary",
            _re(
                r"\blogga[rt]?\s+in\b|\binloggning\w*|\binloggad\w*|\bkom\s+ihåg\s+mig\b|"
                r"\bstrikt\s+nödvändig\w*|\btekniskt\s+nödvändig\w*|(?<!icke-)(?<!icke\s)\bnödvändiga\s+(?:cookies|kakor)\b|"
                r"\bför\s+att\s+(?:webbplatsen|sajten|hemsidan|tjänsten|e-tjänsterna|\w+en|\w+na)\s+ska\s+fungera\b|"
                r"\bgrundläggande\s+funktion\w*|\bvarukorg\w*|\bkundvagn\w*|"
                r"\bsäkerhet(?:en|sskäl)?\b|\bbedrägeri\w*|\blastbalans\w*|"
                r"\bspara[rs]?\s+(?:ditt|dina)\s+(?:(?:cookie|kak|samtyckes)val|samtycke)\b|"
                r"\bspara[rs]?\s+(?:ditt|dina)\s+val\s+(?:om|av)\s+(?:cookies|kakor)\b"
            ),
        ),
        (
            "preferences",
            _re(
                r"\bfunktion(?:er|erna|en|alitet|aliteten)?\b|\bfunktionella\s+(?:cookies|kakor)\b|"
                r"\bpersonliga\s+inställningar\b|\bdina\s+(?:eventuella\s+)?(?:personliga\s+)?inställningar\b|"
                r"\bspråk(?:val|inställning)\w*|\bönskemål\b|"
                r"\banpassa\w*(?!(?:\W+\w+){0,6}?\W+(?:annons|reklam|marknadsf|erbjudand))|"
                r"\bpersonaliser\w*|\bpersonliggjord\w*\s+upplevelse\w*|\brekommendation\w*|"
                r"\bkomma\s+ihåg\s+(?:dina|ditt)\s+(?:val|inställningar|språk)\b|\bslipper\s+göra\s+om\b|"
                r"\bspara[rs]?\s+(?:dina|ditt)\s+val\s+(?:om|av|för)\s+(?!cookies|kakor)\w+|"
                # What a functional cookie does: "kommer ihåg din varukorg till nästa besök"
                # (the cart inside it is then no necessary cookie: the longest reading wins).
                r"\bkom(?:ma|mer)?\s+ihåg\b(?!\s+mig\b)[^.]{0,40}?\b(?:\w*språk\w*|valuta\w*|land|region\w*|"
                r"tema\w*|layout\w*|tidszon\w*|\w*inställning\w*|sökning\w*|apotek\w*|textstorlek\w*|kontrast\w*|"
                r"butik\w*|varuhus\w*|ort\w*|stad\w*)|"
                # The cart kept from one visit to the next is a convenience; within a visit it
                # is necessary ("för att komma ihåg vad du lagt i varukorgen").
                r"\bkom(?:ma|mer)?\s+ihåg\b[^.]{0,30}?\bvarukorg\w*[^.]{0,20}?"
                r"\b(?:till\s+nästa|mellan|nästa\s+gång|när\s+du\s+kommer\s+tillbaka)\b"
            ),
        ),
        (
            "analytics",
            _re(
                r"\b\w*statistik\w*|\b\w*analy(?:s|ser|sera)\w*|\bmäta\b|\bmäter\b|\bmätning\w*|"
                r"\b(?:besökar|användar)(?:e|es|nas)\s+beteende\w*|"
                r"\bhur\s+(?:du|besökare|användare|våra\s+besökare)\s+(?:använder|navigerar|rör\s+sig)\b|"
                r"\bantal(?:et)?\s+(?:besökare|besök|användare)\b|"
                r"\bmusklick\w*|\bklick(?:en)?\b|\bbesökstid\w*|\bsidvisning\w*|\btrafik(?:en)?\b|"
                r"\banonym\w*(?:\s+\w+){0,2}\s+profilering\w*|"
                r"\bvilka\s+(?:sidor|delar|funktioner|artiklar|produkter|tjänster)\b[^.]{0,40}?"
                r"\b(?:används|besöks|läses|visas)\s+(?:mest|oftast)\b|\bhur\s+många\s+som\s+(?:besöker|läser|använder)\b"
            ),
        ),
        (
            "marketing",
            _re(
                r"\b\w*marknadsföring\w*|\b\w*annons\w*|\breklam\w*|\berbjudande\w*|"
                r"\bretargeting\b|\bremarketing\b|\bprofilering\w*|\bintressebaserad\w*|"
                r"\b(?:dina|era)\s+intressen\b|\briktad\w*\s+(?:annonser|reklam|marknadsföring|erbjudanden)\b"
            ),
        ),
    ),
    category_names=(
        ("necessary", _re(r"(?:strikt\s+|tekniskt\s+)?nödvändig\w*(?:\s+(?:cookies|kakor))?")),
        (
            "preferences",
            _re(
                r"(?:funktionella|funktion|preferens|inställnings)\w*(?:\s+(?:cookies|kakor))?|preferenser"
            ),
        ),
        ("analytics", _re(r"(?:statistik|analys|mätnings|prestanda)\w*(?:\s+(?:cookies|kakor))?")),
        (
            "marketing",
            _re(
                r"(?:marknadsföring|annonsering|reklam|annons|riktad\s+reklam)\w*(?:\s+(?:cookies|kakor))?"
            ),
        ),
    ),
    lifetimes=(
        (
            "session",
            _re(
                r"\bsessions(?:cookie|kak)\w*|\bsession\s*cookies?\b|\bsessionsbaserad\w*|"
                r"\b(?:försvinner|raderas|tas\s+bort|upphör)\b[^.]{0,60}?\b(?:stänger|stängs|avslutar|lämnar)\b|"
                r"\blagras\s+tillfälligt\b|\btillfällig\w*\s+(?:cookie|kak)\w*|"
                # "Session" as a value in a table or list, and ranges: "Session - 12 månader",
                # "mellan en session och 24 månader".
                r"(?:^|[|:])\s*session\s*(?=$|[|\u2013\u2014-]|till\b|och\b)|"
                r"\b(?:från|mellan)\s+(?:en\s+)?session\s+(?:till|och)\b"
            ),
        ),
        (
            "persistent",
            _re(
                r"\bpermanent(?:a)?\s*(?:cookie|kak)\w*|\bbeständig\w*\s+(?:cookie|kak)\w*|"
                r"\bvaraktig\w*\s+(?:cookie|kak)\w*|\blångvarig\w*|"
                r"\b(?:under|för)\s+(?:en\s+)?(?:längre|bestämd|viss|begränsad)\s+tid\b|"
                r"\butgångsdatum\w*|\b(?:ligger|finns|sparas|lagras)\s+kvar\b"
            ),
        ),
    ),
    duration=_re(
        rf"\b(?:(?P<number>\d+(?:[.,]\d+)?)\s*|(?P<word>{_alternatives(_NUMBERS_SV)})\s+)(?:-\s*)?"
        r"(?P<unit>sekund(?:er)?|minut(?:er)?|timm(?:e|ar)|tim|dygn|dag(?:ar)?|veck(?:a|or)|månad(?:er)?|mån|år)\b"
    ),
    numbers=_NUMBERS_SV,
    units=_UNITS_SV,
    implied_consent=_re(
        r"\bgenom\s+att\s+(?:fortsätta\s+(?:att\s+)?)?(?:använda|besöka|surfa|navigera|nyttja|stanna)\b"
        r"[^.]{0,150}?\b(?:samtycker|godkänner|accepterar|medger|går\s+med\s+på)\b|"
        r"\b(?:om|när)\s+du\s+fortsätter\s+(?:att\s+)?(?:använda|surfa|besöka|navigera)\b[^.]{0,120}?"
        r"\b(?:samtycker|godkänner|accepterar|medger|innebär|anses)\b|"
        r"\bfortsatt\s+(?:användning|surfning|besök)\b[^.]{0,100}?\b(?:samtycke|godkänn\w*|accepter\w*|innebär)\b|"
        r"\b(?:samtycker|godkänner|accepterar)\s+du\b[^.]{0,60}?\bgenom\s+att\s+(?:fortsätta|använda|besöka|surfa)\b"
    ),
    terms_consent=_re(
        r"\bgenom\s+att\s+(?:godkänna|acceptera)\s+[^.]{0,60}?\w*(?:villkor|policy)\w*"
        r"[^.]{0,150}?\b(?:samtycker|godkänner|accepterar)\b"
    ),
    browser=_re(r"\bwebbläsar\w*"),
    browser_refusal=_re(
        r"\bom\s+du\s+inte\s+(?:vill|accepterar|godkänner|samtycker|önskar)\b|"
        r"\bom\s+du\s+vill\s+(?:undvika|neka|blockera|slippa|förhindra)\b|"
        r"\b(?:stänga|stäng)\s+av\s+(?:\w+\s+){0,2}?(?:cookies|kakor)\b|"
        r"\b(?:blockera|neka|avaktivera|inaktivera|vägra)\w*\s+(?:\w+\s+){0,2}?(?:cookies|kakor)\b"
    ),
    browser_consent=_re(
        r"\b(?:samtycker|godkänner|accepterar|medger)\b[^.]{0,100}?\b(?:genom|via|med)\s+(?:\w+\s+)?webbläsar\w*|"
        r"\bwebbläsar\w*[^.]{0,100}?\b(?:innebär|betyder|anses)\b[^.]{0,40}?(?:samtycke|godkänn|accepter)|"
        r"\bom\s+(?:din\s+)?webbläsar\w*\s+(?:är\s+inställd|tillåter|accepterar)[^.]{0,80}?"
        r"\b(?:samtycker|godkänner|accepterar)\b|"
        # "Om du inte ändrar inställningarna i din webbläsare godkänner du ..."
        r"\bom\s+du\s+inte\s+(?:ändrar|stänger\s+av|blockerar)\b[^.]{0,60}?\bwebbläsar\w*[^.]{0,60}?"
        r"\b(?:samtycker|godkänner|accepterar|medger)\b"
    ),
    # What the visitor can do ("du kan radera cookies", "cookies kan raderas"), not what
    # happens by itself ("sådana cookies raderas efter utgångsdatumet").
    cookie_removal=_re(
        r"\b(?:kan|går\s+att|möjligt\s+att)\b[^.]{0,80}?"
        r"\b(?:radera\w*|ta\s+bort|tas\s+bort|rensa\w*|töm\w*|blockera\w*|neka|vägra|stänga\s+av|stängas\s+av)\b"
        r"[^.]{0,40}?\b(?:cookies|kakor)\b|"
        r"\b(?:cookies|kakor)\b[^.]{0,60}?\b(?:kan|går\s+att)\s+(?:du\s+)?(?:\w+\s+){0,2}?"
        r"(?:radera|ta\s+bort|rensa|blockera|stänga\s+av)\b|"
        r"\b(?:kan|går\s+att)\b[^.]{0,40}?\b(?:cookies|kakor)\b[^.]{0,40}?"
        r"\b(?:raderas|tas\s+bort|rensas|blockeras|stängas\s+av)\b"
    ),
    deletion=_re(r"\b(?:radera\w*|ta\s+bort|tas\s+bort|rensa\w*|töm\w*)"),
    privacy_title=_re(r"\bintegritet\w*|\bpersonuppgift\w*|\bdataskydd\w*|\bsekretess\w*"),
    manual=_re(r"\bmanuellt\b|\bhårddisk\w*|\bwebbläsar\w*"),
    site_consent=_re(
        r"\b(?:cookie|samtyckes)-?(?:banner\w*|ruta\w*|rutan|verktyg\w*|inställning\w*|hantera\w*|panel\w*|dialog\w*)|"
        r"\b(?:ber|frågar)\s+(?:dig\s+)?(?:om|efter)\s+(?:ditt\s+)?samtycke\b|\bmed\s+(?:ditt|ert)\s+samtycke\b|"
        r"\binnan\s+(?:du|vi)\b[^.]{0,40}?\bsamtycke\b|\bkräver\s+(?:ditt\s+)?samtycke\b|"
        r"\bendast\s+(?:om|efter|med)\b[^.]{0,40}?\b(?:samtyck\w*|godkänn\w*|accepter\w*)"
    ),
    conditional_consent=_re(r"\bom\s+du\s+(?:godkänner|accepterar|samtycker)\b"),
    withdrawal=_re(
        r"\båterkalla\w*|\bta\s+tillbaka\s+(?:ditt\s+|sitt\s+|ett\s+)?(?:lämnat\s+)?samtycke\b|"
        r"\bdra\s+tillbaka\s+(?:ditt\s+)?samtycke\b|"
        r"\b(?:ändra|hantera|uppdatera)[rs]?\s+(?:eller\s+återkalla\s+)?"
        r"(?:ditt\s+samtycke|ditt\s+val|dina\s+\w*(?:val|inställningar))\b"
    ),
    via_site=_re(
        r"\bcookie-?inställning\w*|\bsamtyckes\w*|\blänk\w*|\bbanner\w*|\bikon\w*|\bknapp\w*|\bsidfot\w*"
    ),
    via_contact=_re(r"\bkontakta\w*|\be-?post\w*|\bmejl\w*|\bmail\w*|\bskriftligen\b|\bskriv\w*"),
    transfer=_re(
        r"\butanför\s+(?:\w+\s+){0,2}?(?:EU|EES|EU/EES|EU-|EU:s|Europa|Europeiska\s+(?:unionen|ekonomiska))|"
        r"\btredje\s*land\w*|\btredjeländer\w*|\bi\s+hela\s+världen\b|\bUSA\b|\bFörenta\s+staterna\b"
    ),
    partner=_re(r"\b\w*partner\w*|\btredje\s*part\w*|\btredjepart\w*|\bannonsör\w*"),
    share=_re(
        r"\b(?:dela[rs]?|delas|delning|lämna[rs]?\s+ut|lämnas\s+ut|överför\w*|sälj\w*|säljs|"
        r"ge[rs]?\s+tillgång)\b"
    ),
    complaint=_re(
        r"\b(?:kontakt\w*|klago\w*|klaga\w*|anmäl\w*|vänd\w*\s+dig|lämnas\s+till|lämna\w*\s+in|"
        r"tillsyn\w*|ansvarig\s+myndighet)\b"
    ),
)

# -- English --------------------------------------------------------------------------------------

EN = Lexicon(
    language="en",
    technologies=(("cookies", _re(COOKIE_WORD)), *_SIMILAR_SV_EN),
    tracking_service=_re(
        r"\b(?:service|tool|script|software|technolog(?:y|ies)|session\s+recording)\w*\b[^.]{0,80}?"
        r"\b(?:collect|measure|track|record)\w*\b[^.]{0,80}?"
        r"\b(?:behaviou?r|clicks?|mouse\s+movements|visit\s+(?:times?|duration)|page\s*views|"
        r"how\s+(?:you|visitors|users)\s+(?:use|navigate|interact))"
    ),
    definition=_re(
        r"\b(?:a|an)\s+cookie\s+is\s+(?:a|an|small|little)\b|"
        r"^\W*cookies\s+are\s+(?:small|little|a|an|\w*text)|"
        r"\b(?:is|are)\s+(?:called|known\s+as)\s+\W?cookies?\b|\bthe\s+term\s+\W?cookies?\W?\s+(?:means|refers)"
    ),
    glossary_heading=_re(r"^\W*(?:glossary|definitions|terms\s+used|key\s+terms)\b"),
    first_person=_re(r"\b(?:we|us|our|ours)\b"),
    refers_back=_re(r"^\W*(?:this|that|these|those|such|it|they)\b"),
    also=_re(r"\b(?:also|as\s+well|too|likewise)\b"),
    continues=_re(
        r"^\W*(?:they|these|this|such|those)\b|\b(?:this|that|such)\s+information\b|\bthis\s+data\b"
    ),
    negation=_re(r"\b(?:not|never|no|none|neither|nor|without)\b|n't\b"),
    lifetime_negation=_re(r"\b(?:not|never|no|none|neither|nor|without|lacks?)\b|n't\b"),
    clause_break=_re(r"[;:]|\b(?:but|only|except|however|instead|whereas|while|although)\b"),
    negated_use=_re(
        r"\bwe\s+(?:do\s+not|don't|never|will\s+not|won't|are\s+not\s+using)\s+(?:\w+\s+)?(?:use|set|place|store)\b|"
        r"\b(?:this\s+(?:web)?site|the\s+(?:web)?site)\s+(?:does\s+not|doesn't|never)\s+(?:use|set)\b|"
        r"\bno\s+(?:\w+\s+)?cookies\s+are\s+(?:used|set|placed|stored)\b"
    ),
    denial=_re(r"(?:\b(?:not|never|no|nor)|n't)(?:\s+[\w-]+){0,2}\s+$"),
    purposes=(
        (
            "necessary",
            _re(
                r"\blog(?:ged)?[ -]?in(?:to)?\b|\blogin\b|\bsign(?:ed)?[ -]in\b|\bauthenticat\w+|"
                r"\bstrictly\s+necessary\b|(?<!non-)(?<!non\s)\b(?:essential|necessary)\s+(?:cookies|for)\b|"
                r"\bshopping\s+(?:cart|basket)\b|\b(?:your\s+)?basket\b|\bcheck[ -]?out\b|\bsecur(?:e|ely|ity)\b|"
                r"\bfraud\w*|\bload[ -]balanc\w+|\bbalance\s+the\s+load\b|\bpaywall\b|"
                r"\bremember\w*\s+your\s+(?:cookie\s+|consent\s+)(?:choices?|consent|preferences)\b|"
                r"\bfor\s+the\s+(?:website|site)\s+to\s+(?:work|function)\b|"
                r"\bmake\s+the\s+[\w -]{1,40}?\s+work\b"
            ),
        ),
        (
            "preferences",
            _re(
                r"\bfunctionalit(?:y|ies)\b|\bfunctional\s+cookies\b|\bpreference\s+cookies\b|"
                r"\b(?:remember|store|save)\w*\s+your\s+(?!cookie|consent)(?:\w+\s+)?(?:settings|preferences|choices)\b|"
                r"\blanguage\s+(?:settings|preferences)\b|\bpreferred\s+language\b|"
                r"\bpersonali[sz]\w*(?!\s+(?:ads|advert\w*|offers|marketing))|\bcustomi[sz]\w*|"
                r"\brecommendations?\b|\btailor\w*(?!(?:\W+\w+){0,4}?\W+(?:ads|advert|marketing|offers))|"
                # What a functional cookie does: "remember your currency and delivery country".
                r"\bremember\w*\s+(?:your|the|which|what)\b(?!\s+(?:cookie|consent))[^.]{0,40}?\b(?:language|currency|"
                r"country|region|theme|layout|time\s*zone|font|volume|location|store|dates|searches|search|room)\b"
            ),
        ),
        (
            "analytics",
            _re(
                r"\banalytic\w*|\banaly[sz]\w*|\bstatistic\w*|\bmeasur\w+|"
                r"\bhow\s+(?:visitors|users|you|people|customers|listeners|readers)\s+(?:use|interact|navigate|find|move)\b|"
                r"\bwhich\s+(?:pages|articles|features|recipes|boards|products|sections)\b[^.]{0,40}?"
                r"\b(?:are|is)\s+(?:used|read|visited|viewed|popular|busiest|most)\b|\bcounts?\s+visits\b|"
                r"\bnumber\s+of\s+(?:visitors|visits|users)\b|"
                r"\bpage\s*views?\b|\b(?:visitor|user)\s+behaviou?r\b|\baudience\s+measurement\b|"
                r"\banonymous(?:\s+\w+){0,2}\s+profiling\b|\bperformance\s+cookies\b|\bclicks?\b|\btraffic\b"
            ),
        ),
        (
            "marketing",
            _re(
                r"\bmarketing\b|\badvertis\w+|\badverts?\b|\bads\b|\bretargeting\b|\bremarketing\b|\btargeted\b|"
                r"\bprofiling\b|\binterest[- ]based\b|\byour\s+interests\b|\boffers\b|"
                r"\btargeting\s+cookies\b"
            ),
        ),
    ),
    category_names=(
        ("necessary", _re(r"(?:strictly\s+)?(?:necessary|essential)(?:\s+cookies)?")),
        (
            "preferences",
            _re(r"(?:functional|functionality|preferences?|personali[sz]ation)(?:\s+cookies)?"),
        ),
        ("analytics", _re(r"(?:analytics?|statistics|performance|measurement)(?:\s+cookies)?")),
        ("marketing", _re(r"(?:marketing|advertising|targeting|social\s+media)(?:\s+cookies)?")),
    ),
    lifetimes=(
        (
            "session",
            _re(
                r"\bsession\s*cookies?\b|\btemporary\s+cookies?\b|"
                # "Session" as a value in a table or list, and ranges: "Session - 12 months",
                # "from session to 90 days", "between one session and two years".
                r"(?:^|[|:])\s*session\s*(?=$|[|\u2013\u2014-]|to\b|and\b)|"
                r"\b(?:from|between)\s+(?:a\s+|one\s+|the\s+)?(?:browser\s+)?session\s+(?:to|and)\b|"
                r"\b(?:deleted|removed|erased|expire\w*|disappear\w*)\b[^.]{0,40}?\bwhen\s+you\s+(?:close|quit|leave)\b|"
                r"\bend\s+of\s+(?:your|the)\s+(?:browser\s+|browsing\s+)?session\b"
            ),
        ),
        (
            "persistent",
            _re(
                r"\bpersistent\s+cookies?\b|\bpermanent\s+cookies?\b|"
                r"\b(?:remain|stay|stored|kept|saved)\w*\b[^.]{0,40}?\b(?:for|until)\s+(?:a\s+)?"
                r"(?:set|fixed|certain|longer|specified|defined)\s+(?:period|time)\b|"
                r"\bexpir(?:y|ation)\s+date\b"
            ),
        ),
    ),
    duration=_re(
        rf"\b(?:(?P<number>\d+(?:\.\d+)?)\s*|(?P<word>{_alternatives(_NUMBERS_EN)})\s+)(?:-\s*)?"
        r"(?P<unit>seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b"
    ),
    numbers=_NUMBERS_EN,
    units=_UNITS_EN,
    implied_consent=_re(
        r"\bby\s+(?:continuing\s+to\s+|further\s+)?(?:use|using|brows\w+|visit\w*|navigat\w+|access\w*|stay\w*\s+on)\b"
        r"[^.]{0,150}?\b(?:you\s+(?:agree|consent|accept)|you\s+are\s+(?:agreeing|consenting|accepting)|"
        r"you\s+give\s+(?:your\s+)?consent|constitutes)\b|"
        r"\b(?:if|when)\s+you\s+continue\s+(?:to\s+)?(?:use|using|brows\w+|visit\w*)\b[^.]{0,120}?"
        r"\b(?:agree|consent|accept|assume)\w*|"
        r"\bcontinued\s+(?:use|browsing)\b[^.]{0,100}?\b(?:consent|agree\w*|accept\w*|constitutes)\b"
    ),
    terms_consent=_re(
        r"\bby\s+accepting\s+(?:our|the|these)\s+(?:terms|policy|privacy\s+policy)\b[^.]{0,150}?"
        r"\b(?:consent|agree|accept)\w*"
    ),
    browser=_re(r"\bbrowser\w*"),
    browser_refusal=_re(
        r"\bif\s+you\s+(?:do\s+not|don't)\s+(?:want|accept|agree|wish|consent)\b|"
        r"\b(?:disable|block|refuse|reject|turn\s+off|opt\s+out\s+of)\w*\s+(?:\w+\s+){0,2}?cookies\b"
    ),
    browser_consent=_re(
        r"\b(?:consent|agree|accept)\w*\b[^.]{0,100}?\b(?:through|via|by|with)\s+(?:your\s+|the\s+)?browser\w*|"
        r"\bbrowser\w*[^.]{0,100}?\b(?:constitutes|means|deemed|implies)\b[^.]{0,40}?(?:consent|agree|accept)|"
        r"\b(?:if|when)\s+your\s+browser\s+(?:is\s+set\s+to|accepts)\b[^.]{0,80}?\b(?:consent|agree|accept)\w*|"
        # "Unless you change your browser settings, you agree ..."
        r"\b(?:unless\s+you|if\s+you\s+(?:do\s+not|don't))\s+(?:change|adjust|disable|block)\b[^.]{0,60}?"
        r"\bbrowser\w*[^.]{0,60}?\b(?:consent|agree|accept)\w*"
    ),
    cookie_removal=_re(
        r"\b(?:can|may|able\s+to|possible\s+to)\b[^.]{0,60}?\b(?:delete|remove|clear|empty|block|disable|refuse|reject)\b"
        r"[^.]{0,40}?\bcookies\b|"
        r"\bcookies\b[^.]{0,40}?\b(?:can|may)\s+be\s+(?:deleted|removed|cleared|blocked|disabled)\b|"
        r"\bcookies\b[^.]{0,60}?\b(?:you\s+)?(?:can|may)\s+(?:\w+\s+){0,2}?(?:delete|remove|clear|block|disable)\b|"
        r"\b(?:delete|remove|clear|block|disable)\s+(?:the\s+|all\s+|your\s+)?cookies\b"
    ),
    deletion=_re(r"\b(?:delet\w+|remov\w+|clear\w*|eras\w+)"),
    privacy_title=_re(r"\bprivacy\b|\bpersonal\s+data\b|\bdata\s+protection\b"),
    manual=_re(r"\bmanually\b|\bbrowser\w*|\bdevice\s+settings\b"),
    site_consent=_re(
        r"\bcookie\s+(?:banner|settings|preferences|consent\s+(?:tool|manager|banner)|notice|pop-?up|dialog)\b|"
        r"\bconsent\s+(?:banner|tool|manager|management\s+platform)\b|"
        r"\bwe\s+(?:will\s+)?ask\s+(?:for\s+)?your\s+consent\b|\basks?\s+for\s+your\s+consent\b|"
        r"\bwith\s+your\s+(?:prior\s+)?consent\b|\bsubject\s+to\s+your\s+consent\b|"
        r"\bonly\s+(?:if|after|when)\s+you\s+(?:have\s+)?(?:consent\w*|accept\w*|agree\w*)"
    ),
    conditional_consent=_re(r"\bif\s+you\s+(?:consent|accept|agree)\b"),
    withdrawal=_re(
        r"\bwithdraw\w*|\brevok\w+|\bchange\s+your\s+(?:mind|consent|cookie\s+(?:settings|preferences|choices))\b|"
        r"\bopt[- ]out\b|\bchange\s+(?:or\s+withdraw\s+)?your\s+(?:consent|choice)\b|"
        r"\b(?:update|revisit|review|adjust|manage)\s+your\s+(?:cookie\s+)?(?:consent|choices?)\b"
    ),
    via_site=_re(
        r"\bcookie\s+(?:settings|preferences)\b|\bconsent\s+(?:tool|settings|manager)\b|\blink\w*|"
        r"\bbanner\w*|\bicon\w*|\bbutton\w*|\bfooter\b|\bpreference\s+cent(?:re|er)\b"
    ),
    via_contact=_re(r"\bcontact\w*|\be-?mail\w*|\bwrit\w+\s+to\b|\bsend\s+(?:us|a)\b"),
    transfer=re.compile(
        r"\boutside\s+(?:of\s+)?(?:the\s+)?(?:EU|EEA|EU/EEA|European\s+(?:Union|Economic\s+Area))\b|"
        r"\bthird\s+countr(?:y|ies)\b|\bUnited\s+States\b|(?-i:\b(?:the\s+)?US\b|\bUSA\b|\bU\.S\.)|"
        r"\bworldwide\b|\baround\s+the\s+world\b",
        FLAGS,
    ),
    partner=_re(r"\bpartners?\b|\bthird[- ]part(?:y|ies)\b|\badvertisers?\b"),
    share=_re(r"\b(?:shar(?:e|es|ed|ing)|disclos\w+|sell\w*|sold|transfer\w*)\b"),
    complaint=_re(r"\b(?:complain\w*|contact\w*|lodge|supervisory|authority|report)\b"),
)

LEXICONS = {"sv": SV, "en": EN}


def duration_seconds(lexicon: Lexicon, number: str, unit: str) -> float | None:
    """Seconds of '13' 'månader', 'two' 'years'; None when the number is not understood."""
    key = number.lower()
    value = lexicon.numbers.get(key)
    if value is None:
        try:
            value = float(key.replace(",", "."))
        except ValueError:
            return None
    unit = unit.lower()
    for prefix, seconds in lexicon.units:
        if unit.startswith(prefix):
            return value * seconds
    return None
