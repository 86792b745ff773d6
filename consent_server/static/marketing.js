// Stands in for an advertising pixel: runs only after marketing consent.
window.demoRuns = (window.demoRuns || []).concat("marketing-src");
document.cookie = "_fbp=fb.1.1700000000.42; Max-Age=7776000; Path=/; SameSite=Lax";
document.dispatchEvent(new Event("demo:ran"));
