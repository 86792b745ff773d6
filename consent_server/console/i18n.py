"""The console's texts in Swedish and English, and the choice between them."""

from __future__ import annotations

from flask import g, request

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
LANG_COOKIE = "console_lang"

TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "console": "Samtyckeskonsolen",
        "skip": "Hoppa till innehållet",
        "nav": "Huvudmeny",
        "nav.sites": "Webbplatser",
        "language": "Språk",
        "signin.title": "Logga in",
        "signin.intro": "Logga in med en API-nyckel för administratör eller granskare.",
        "signin.token": "API-nyckel",
        "signin.token_help": "Nyckeln börjar med cm_. Den sparas inte i sessionen.",
        "signin.submit": "Logga in",
        "signin.oidc": "Logga in med organisationens konto",
        "signin.or": "eller",
        "signin.refused": "Nyckeln är okänd eller återkallad.",
        "signin.expired": "Sessionen har gått ut. Logga in igen.",
        "signin.ended": "Du är utloggad.",
        "signin.oidc_refused": "Kontot har ingen behörighet till konsolen.",
        "signin.oidc_failed": "Inloggningen hos identitetsleverantören misslyckades. Försök igen.",
        "signout": "Logga ut",
        "signed_in_as": "Inloggad som",
        "role.admin": "administratör",
        "role.auditor": "granskare",
        "scope.all": "alla webbplatser",
        "sites.title": "Webbplatser",
        "sites.caption": "Webbplatser du har tillgång till",
        "sites.name": "Namn",
        "sites.key": "Nyckel",
        "sites.revision": "Aktuell version",
        "sites.scan": "Senaste skanning",
        "sites.actions": "Åtgärder",
        "sites.none": "Det finns inga webbplatser som du har tillgång till.",
        "sites.no_scan": "Ingen skanning",
        "sites.no_revision": "Ingen",
        "sites.scan_now": "Skanna nu",
        "sites.scan_now_label": "Skanna {name} nu",
        "sites.read_only": "Du har läsbehörighet och kan inte ändra något.",
        "scan.queued": "Kö",
        "scan.running": "Pågår",
        "scan.done": "Klar",
        "scan.failed": "Misslyckades",
        "scan.started": "Skanning {id} av {site} är köad.",
        "scan.no_settings": "{site} har inga skanningsinställningar (scan:).",
        "scan.busy": "{site} har redan en skanning i kö eller igång.",
        "scan.quota": "{site} har nått sin gräns för skanningar. Försök igen om {seconds} s.",
        "error.title": "Något gick fel",
        "error.400": "Formuläret kunde inte godtas: ladda om sidan och försök igen.",
        "error.401": "Du behöver logga in.",
        "error.403": "Du har inte behörighet till detta.",
        "error.404": "Sidan finns inte.",
        "error.405": "Metoden är inte tillåten här.",
        "error.other": "Begäran kunde inte utföras.",
        "error.back": "Till startsidan",
        "bounce.title": "Loggar in …",
        "bounce.continue": "Fortsätt",
    },
    "en": {
        "console": "Consent console",
        "skip": "Skip to content",
        "nav": "Main menu",
        "nav.sites": "Sites",
        "language": "Language",
        "signin.title": "Sign in",
        "signin.intro": "Sign in with an admin or auditor API token.",
        "signin.token": "API token",
        "signin.token_help": "The token starts with cm_. It is not kept in the session.",
        "signin.submit": "Sign in",
        "signin.oidc": "Sign in with your organisation's account",
        "signin.or": "or",
        "signin.refused": "The token is unknown or revoked.",
        "signin.expired": "Your session has expired. Please sign in again.",
        "signin.ended": "You are signed out.",
        "signin.oidc_refused": "This account has no access to the console.",
        "signin.oidc_failed": "Signing in with the identity provider failed. Please try again.",
        "signout": "Sign out",
        "signed_in_as": "Signed in as",
        "role.admin": "admin",
        "role.auditor": "auditor",
        "scope.all": "all sites",
        "sites.title": "Sites",
        "sites.caption": "Sites you have access to",
        "sites.name": "Name",
        "sites.key": "Key",
        "sites.revision": "Current revision",
        "sites.scan": "Last scan",
        "sites.actions": "Actions",
        "sites.none": "There are no sites you have access to.",
        "sites.no_scan": "No scan",
        "sites.no_revision": "None",
        "sites.scan_now": "Scan now",
        "sites.scan_now_label": "Scan {name} now",
        "sites.read_only": "You have read access and cannot change anything.",
        "scan.queued": "Queued",
        "scan.running": "Running",
        "scan.done": "Done",
        "scan.failed": "Failed",
        "scan.started": "Scan {id} of {site} is queued.",
        "scan.no_settings": "{site} has no scan settings (scan:).",
        "scan.busy": "{site} already has a scan queued or running.",
        "scan.quota": "{site} has used up its scan quota. Try again in {seconds} s.",
        "error.title": "Something went wrong",
        "error.400": "The form could not be accepted: reload the page and try again.",
        "error.401": "You need to sign in.",
        "error.403": "You are not allowed to do this.",
        "error.404": "The page does not exist.",
        "error.405": "This method is not allowed here.",
        "error.other": "The request could not be carried out.",
        "error.back": "To the start page",
        "bounce.title": "Signing in …",
        "bounce.continue": "Continue",
    },
}


def pick_language() -> str:
    """?lang=, else the language cookie, else Accept-Language, else Swedish."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    if kept in LANGUAGES:
        return kept
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def language() -> str:
    """The language of this request (chosen once)."""
    if "console_lang" not in g:
        g.console_lang = pick_language()
    return g.console_lang


def translate(key: str, **values: object) -> str:
    """The text for `key` in this request's language, with {placeholders} filled."""
    text = TEXTS[language()].get(key) or TEXTS["en"].get(key, key)
    return text.format(**values) if values else text
