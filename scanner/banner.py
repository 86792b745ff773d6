"""Finding and operating consent banners: our own through its API, others by button texts."""

from __future__ import annotations

# Button texts, lower case, as FIND_JS normalises them (spaces collapsed, trailing "!", "."
# and "…" dropped, typographic apostrophes made straight). The first text found on the page
# wins, so each tuple lists "all" phrasings of every language before the single words. The
# languages are those of the markets the banner serves (its own labels are among them; a test
# keeps it so): sv, en, da, nb, fi, de, fr, es, nl, pl.
ACCEPT_TEXTS = (
    # sv
    "acceptera alla",
    "acceptera alla kakor",
    "acceptera alla cookies",
    "godkänn alla",
    "godkänn alla kakor",
    "godkänn alla cookies",
    "tillåt alla",
    "tillåt alla kakor",
    "tillåt alla cookies",
    # en
    "accept all",
    "accept all cookies",
    "allow all",
    "allow all cookies",
    # da
    "accepter alle",
    "accepter alle cookies",
    "tillad alle",
    "tillad alle cookies",
    # nb
    "godta alle",
    "godta alle informasjonskapsler",
    "godta alle cookies",
    "aksepter alle",
    "tillat alle",
    # fi
    "hyväksy kaikki",
    "hyväksy kaikki evästeet",
    "salli kaikki",
    "salli kaikki evästeet",
    # de
    "alle akzeptieren",
    "alle cookies akzeptieren",
    "alle zulassen",
    "alle cookies zulassen",
    "alle erlauben",
    "allen zustimmen",
    "alle annehmen",
    # fr
    "tout accepter",
    "accepter tout",
    "accepter tous les cookies",
    "tout autoriser",
    "autoriser tous les cookies",
    "accepter et fermer",
    "accepter & fermer",
    # es
    "aceptar todo",
    "aceptar todas",
    "aceptar todas las cookies",
    "permitir todas",
    "permitir todas las cookies",
    # nl
    "alles accepteren",
    "alle cookies accepteren",
    "accepteer alles",
    "accepteer alle cookies",
    "alles toestaan",
    "alle cookies toestaan",
    # pl
    "akceptuj wszystkie",
    "zaakceptuj wszystkie",
    "akceptuję wszystkie",
    "zezwól na wszystkie",
    "akceptuj wszystkie pliki cookie",
    # single words and consent phrases, every language
    "jag godkänner",
    "acceptera",
    "godkänn",
    "tillåt",
    "i agree",
    "agree and close",
    "accept and close",
    "agree",
    "accept",
    "allow",
    "jeg accepterer",
    "accepter",
    "tillad",
    "jeg godtar",
    "godta",
    "aksepter",
    "hyväksyn",
    "hyväksy",
    "akzeptieren",
    "zustimmen",
    "einverstanden",
    "ich stimme zu",
    "annehmen",
    "j'accepte",
    "aceptar",
    "acepto",
    "accepteren",
    "akkoord",
    "ik ga akkoord",
    "toestaan",
    "akceptuję",
    "akceptuj",
    "zaakceptuj",
    "zgadzam się",
    "ok",
    "got it",
)
REJECT_TEXTS = (
    # sv
    "neka alla",
    "neka alla kakor",
    "neka alla cookies",
    "avvisa alla",
    "avböj alla",
    "endast nödvändiga",
    "endast nödvändiga kakor",
    "endast nödvändiga cookies",
    "bara nödvändiga",
    "tillåt endast nödvändiga",
    # en
    "reject all",
    "reject all cookies",
    "decline all",
    "deny all",
    "refuse all",
    "only necessary",
    "only necessary cookies",
    "necessary only",
    "necessary cookies only",
    # da
    "afvis alle",
    "afvis alle cookies",
    "kun nødvendige",
    "kun nødvendige cookies",
    "tillad kun nødvendige",
    "tillad kun nødvendige cookies",
    # nb
    "avvis alle",
    "avslå alle",
    "bare nødvendige",
    "kun nødvendige informasjonskapsler",
    "godta kun nødvendige",
    "tillat kun nødvendige",
    # fi
    "hylkää kaikki",
    "hylkää kaikki evästeet",
    "kieltäydy kaikista",
    "vain välttämättömät",
    "vain välttämättömät evästeet",
    "hyväksy vain välttämättömät",
    "salli vain välttämättömät",
    # de
    "alle ablehnen",
    "alle cookies ablehnen",
    "alle verweigern",
    "nur notwendige",
    "nur notwendige cookies",
    "nur essenzielle",
    "nur essenzielle cookies",
    "nur erforderliche",
    "nur erforderliche cookies",
    "nur technisch notwendige cookies",
    # fr
    "tout refuser",
    "refuser tout",
    "refuser tous les cookies",
    "continuer sans accepter",
    "refuser et fermer",
    "refuser & fermer",
    "uniquement les cookies nécessaires",
    "cookies nécessaires uniquement",
    # es
    "rechazar todo",
    "rechazar todas",
    "rechazar todas las cookies",
    "solo necesarias",
    "solo cookies necesarias",
    "solo las necesarias",
    # nl
    "alles weigeren",
    "alle cookies weigeren",
    "weiger alles",
    "weiger alle cookies",
    "alles afwijzen",
    "alleen noodzakelijke",
    "alleen noodzakelijke cookies",
    "alleen functionele cookies",
    # pl
    "odrzuć wszystkie",
    "odrzuć wszystkie pliki cookie",
    "tylko niezbędne",
    "tylko niezbędne pliki cookie",
    "zezwól tylko na niezbędne",
    "disagree and close",
    "continue without accepting",
    # single words, every language
    "disagree",
    "avvisa",
    "avböj",
    "neka",
    "reject",
    "decline",
    "deny",
    "refuse",
    "afvis",
    "avvis",
    "avslå",
    "hylkää",
    "kieltäydy",
    "ablehnen",
    "verweigern",
    "nicht zustimmen",
    "refuser",
    "je refuse",
    "rechazar",
    "denegar",
    "no acepto",
    "weigeren",
    "afwijzen",
    "odrzuć",
    "odrzucam",
    "odmów",
)

# Marks the element to click with data-cm-scan-target and describes what it found. Runs in one
# frame; the engine tries the main frame, then each iframe (many banners live in an iframe).
# Playwright's selectors reach into open shadow roots; Selenium's do not, so it takes the
# marked element from TARGET_JS.
FIND_JS = r"""
([action, acceptTexts, rejectTexts, selector]) => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const norm = (t) => (t || '').replace(/\s+/g, ' ').trim().toLowerCase().replace(/[!.…]+$/, '')
    .replace(/[\u2018\u2019]/g, "'");
  // Elements of the document and of every open shadow root in it (some banners, such as
  // Usercentrics', draw their buttons inside one).
  const deep = (sel) => {
    const found = [];
    const walk = (root) => {
      found.push(...root.querySelectorAll(sel));
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
    };
    walk(document);
    return found;
  };
  deep('[data-cm-scan-target]').forEach((el) => el.removeAttribute('data-cm-scan-target'));
  const out = {found: false, kind: null, reject_on_first_layer: null, clicked: null};
  const ours = document.querySelector('#cm-banner');
  if (window.ConsentManager && ours) {
    out.found = true;
    out.kind = 'consent-manager';
    const first = ours.querySelector('.cm-l1');
    const reject = first && first.querySelector('[data-cm-action="reject-all"]');
    out.reject_on_first_layer = !!(reject && visible(reject));
    const target = first && first.querySelector(`[data-cm-action="${action}-all"]`);
    if (target && visible(target)) {
      target.setAttribute('data-cm-scan-target', '1');
      out.clicked = `[data-cm-action="${action}-all"]`;
    }
    return out;
  }
  if (selector) {
    const el = document.querySelector(selector);
    if (el && visible(el)) {
      el.setAttribute('data-cm-scan-target', '1');
      return {found: true, kind: 'selector', reject_on_first_layer: null, clicked: selector};
    }
  }
  const candidates = deep('button, [role=button], a, input[type=button], input[type=submit]')
    .filter(visible)
    .map((el) => ({el, text: norm(el.innerText || el.value || el.getAttribute('aria-label'))}))
    .filter((c) => c.text && c.text.length <= 60);
  const pick = (texts) => {
    for (const t of texts) {
      const hit = candidates.find((c) => c.text === t);
      if (hit) return hit;
    }
    return null;
  };
  const accept = pick(acceptTexts);
  const reject = pick(rejectTexts);
  if (!accept && !reject) return out;
  out.found = true;
  out.kind = 'generic';
  out.reject_on_first_layer = !!reject;
  const target = action === 'accept' ? accept : reject;
  if (target) {
    target.el.setAttribute('data-cm-scan-target', '1');
    out.clicked = target.text;
  }
  return out;
}
"""

OWN_BANNER_READY_JS = (
    "() => !window.ConsentManager || !window.ConsentManager.ready"
    " ? null : window.ConsentManager.ready.then(() => !!document.querySelector('#cm-banner'))"
)

# The element FIND_JS marked, in the document or an open shadow root (null when none).
TARGET_JS = r"""
return (function find(root) {
  const hit = root.querySelector('[data-cm-scan-target]');
  if (hit) return hit;
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) { const inner = find(el.shadowRoot); if (inner) return inner; }
  }
  return null;
})(document);
"""
