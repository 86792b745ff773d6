// Stands in for an analytics tag: runs only after analytics consent.
window.demoRuns = (window.demoRuns || []).concat("analytics-src");
document.cookie = "_ga_DEMO42=GS1.1.1700000000.1.0; Max-Age=63072000; Path=/; SameSite=Lax";
document.dispatchEvent(new Event("demo:ran"));
