"""Finding and operating consent banners: our own through its API, others by button texts."""

from __future__ import annotations

ACCEPT_TEXTS = (
    "acceptera alla",
    "acceptera alla kakor",
    "acceptera alla cookies",
    "godkänn alla",
    "godkänn alla kakor",
    "godkänn alla cookies",
    "tillåt alla",
    "tillåt alla kakor",
    "tillåt alla cookies",
    "jag godkänner",
    "acceptera",
    "godkänn",
    "tillåt",
    "accept all",
    "accept all cookies",
    "allow all",
    "allow all cookies",
    "i agree",
    "agree",
    "accept",
    "allow",
    "ok",
    "got it",
)
REJECT_TEXTS = (
    "neka alla",
    "neka alla kakor",
    "neka alla cookies",
    "avvisa alla",
    "avvisa",
    "avböj alla",
    "avböj",
    "endast nödvändiga",
    "endast nödvändiga kakor",
    "endast nödvändiga cookies",
    "bara nödvändiga",
    "tillåt endast nödvändiga",
    "neka",
    "reject all",
    "reject all cookies",
    "reject",
    "decline all",
    "decline",
    "deny all",
    "deny",
    "only necessary",
    "only necessary cookies",
    "necessary only",
    "necessary cookies only",
    "refuse all",
    "refuse",
)

# Marks the element to click with data-cm-scan-target and describes what it found. Runs in one
# frame; the engine tries the main frame, then each iframe (many banners live in an iframe).
FIND_JS = r"""
([action, acceptTexts, rejectTexts, selector]) => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const norm = (t) => (t || '').replace(/\s+/g, ' ').trim().toLowerCase().replace(/[!.…]+$/, '');
  document.querySelectorAll('[data-cm-scan-target]').forEach((el) => el.removeAttribute('data-cm-scan-target'));
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
  const candidates = [...document.querySelectorAll('button, [role=button], a, input[type=button], input[type=submit]')]
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
