// TMA: the only script of the portal. No inline script is allowed by the CSP;
// everything here is progressive enhancement: every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Forms marked data-confirm ask before a destructive action.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  }
  // Prevent double submits: disable the button once a form is on its way,
  // but not when the user cancelled the confirmation above.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", (ev) => {
      if (ev.defaultPrevented) return;
      for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = true;
    });
  }
});
// A page restored from the back/forward cache must not keep disabled buttons.
window.addEventListener("pageshow", (ev) => {
  if (!ev.persisted) return;
  for (const b of document.querySelectorAll("form[method=post] button[type=submit]:disabled")) b.disabled = false;
});
