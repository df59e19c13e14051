// Unlabelled controls, unnamed buttons, and visible text whose contrast with its background is under 4.5:1
// (WCAG 2 AA); run in the page by tests/browser/test_accessibility.py.
(() => {
  const visible = (e) => e.offsetParent !== null || e.tagName === "DIALOG";
  const named = (e) =>
    (e.labels && e.labels.length) || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby");
  const unlabelled = [...document.querySelectorAll("input, select, textarea")]
    .filter((e) => visible(e) && e.type !== "hidden" && !named(e)).map((e) => e.outerHTML.slice(0, 80));
  const unnamed = [...document.querySelectorAll("button")]
    .filter((e) => visible(e) && !(e.textContent.trim() || e.getAttribute("aria-label"))).map((e) => e.outerHTML.slice(0, 80));
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return matchMedia("(prefers-color-scheme: dark)").matches ? [18, 18, 18] : [255, 255, 255];
  };
  const poor = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!visible(e) || ![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(rgb(getComputedStyle(e).color).slice(0, 3)), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) poor.push(e.tagName + " " + e.textContent.trim().slice(0, 40) + " " + ratio.toFixed(2));
  }
  return { unlabelled, unnamed, poor };
})
