/* Every figure of the book opens at full size when tapped or clicked: on a phone a figure
   scaled to the text column has small text, and the full-size image can be zoomed. The link's
   name is the figure's alt text, so a screen reader says what it opens. */
(() => {
  "use strict";

  const link = () => {
    for (const img of document.querySelectorAll("main figure img")) {
      if (img.closest("a")) continue;
      const anchor = document.createElement("a");
      anchor.href = img.currentSrc || img.src;
      anchor.className = "pepr-figure-link";
      anchor.title = "Open the figure at full size";
      img.replaceWith(anchor);
      anchor.appendChild(img);
    }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", link);
  else link();
})();
