/* Accessible names that contain the visible label (WCAG 2.1, 2.5.3 "Label in Name"), which the
   theme and myst-nb miss; scripts/page_check.py checks every page with axe-core.
   jupyter-book adds every .js file under _static to every page, in <head>: it runs before the body
   exists, so it fixes the page once the theme's deferred scripts have run, and again whenever
   Font Awesome redraws the colour-mode button's icons.

   * myst-nb's "Show code cell source" / "Hide code cell output" toggles are named "Toggle hidden
     content": without the aria-label a screen reader says, and voice control matches, the shown text.
   * pydata-sphinx-theme's search field shows "Search Ctrl+K" but is named "Search": without the
     aria-label its name is what it shows.
   * The colour-mode button is named "Color mode"; its icons' tooltips ("Light", "Dark", "System
     Settings") count as text it shows. The icons are decoration: hidden from assistive technology,
     the button keeps its name and its visible tooltip. */
(() => {
  "use strict";

  const fixIcons = button => {
    for (const icon of button.querySelectorAll("svg, i")) {
      icon.removeAttribute("title");
      icon.removeAttribute("aria-labelledby");
      icon.removeAttribute("role");
      icon.setAttribute("aria-hidden", "true");
      for (const title of icon.querySelectorAll("title")) title.remove();
    }
  };

  const fix = () => {
    for (const toggle of document.querySelectorAll('summary[aria-label="Toggle hidden content"]'))
      toggle.removeAttribute("aria-label");
    for (const field of document.querySelectorAll(".search-button-field[aria-label]"))
      if (field.textContent.trim()) field.removeAttribute("aria-label");
    for (const button of document.querySelectorAll(".theme-switch-button")) {
      fixIcons(button);
      if (!button.dataset.peprIcons) {
        button.dataset.peprIcons = "fixed";
        new MutationObserver(() => fixIcons(button)).observe(button, {childList: true, subtree: true});
      }
    }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fix);
  else fix();
  window.addEventListener("load", fix);
})();
