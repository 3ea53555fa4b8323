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
// Uploads (forms marked data-upload): files chosen or dropped are sent one
// request each, with a progress bar and the server's own message per file.
// The CSRF token travels in the X-CSRF-Token header (an upload's body is
// never read before authorization), taken from the form's hidden field.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-upload]")) {
    const input = form.querySelector("input[type=file]");
    const list = form.querySelector(".upload-status");
    const zone = form.querySelector("[data-dropzone]");
    const token = form.querySelector("input[name=_csrf]").value;
    let pending = 0, succeeded = 0;
    const refresh = () => {
      // Refresh the page's lists in place, keeping the messages above.
      fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then((r) => r.text())
        .then((html) => {
          const doc = new DOMParser().parseFromString(html, "text/html");
          for (const id of ["documents", "versions", "attachments"]) {
            const fresh = doc.getElementById(id), old = document.getElementById(id);
            if (fresh && old) old.replaceWith(document.importNode(fresh, true));
          }
        })
        .catch(() => {});
    };
    const send = (file) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = file.name;
      const bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      const status = document.createElement("span");
      status.className = "upload-message";
      status.textContent = form.dataset.msgUploading;
      item.append(name, bar, status);
      list.append(item);
      pending++;
      const data = new FormData();
      data.append("file", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round(100 * ev.loaded / ev.total); };
      const finish = (ok, text) => {
        status.textContent = text;
        item.classList.add(ok ? "ok" : "failed");
        if (ok) { bar.value = 100; succeeded++; }
        if (--pending === 0 && succeeded > 0) refresh();
      };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) finish(true, form.dataset.msgDone);
        else finish(false, form.dataset.msgFailed + " " + ((body && body.error && body.error.message) || xhr.status));
      };
      xhr.onerror = () => finish(false, form.dataset.msgNetwork);
      xhr.send(data);
    };
    const sendAll = (files) => {
      for (const f of files) send(f);
      input.value = "";
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sendAll(input.files);
      for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = false;
    });
    zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("over");
      if (ev.dataTransfer && ev.dataTransfer.files.length) sendAll(input.multiple ? ev.dataTransfer.files : [ev.dataTransfer.files[0]]);
    });
  }
});
// The wiki editor (form.wiki-editor): a toolbar and shortcuts for common
// Markdown (Ctrl+B, Ctrl+I, Ctrl+K; Ctrl+S saves), and a live preview that
// the server renders through the same engine as the page (POST with the
// CSRF token in the X-CSRF-Token header).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.wiki-editor");
  if (!form) return;
  const src = form.querySelector("textarea[name=body]");
  const out = document.getElementById("wiki-preview");
  const token = form.querySelector("input[name=_csrf]").value;
  const wrap = (before, after, placeholder) => {
    const s = src.selectionStart, e = src.selectionEnd;
    const sel = src.value.slice(s, e) || placeholder;
    src.setRangeText(before + sel + after, s, e, "end");
    src.focus();
    src.dispatchEvent(new Event("input"));
  };
  const line = (prefix) => {
    const s = src.selectionStart;
    const start = src.value.lastIndexOf("\n", s - 1) + 1;
    src.setRangeText(prefix, start, start, "end");
    src.focus();
    src.dispatchEvent(new Event("input"));
  };
  const actions = {
    bold: () => wrap("**", "**", "text"),
    italic: () => wrap("_", "_", "text"),
    heading: () => line("## "),
    link: () => wrap("[", "](https://)", "text"),
    wikilink: () => wrap("[[", "]]", "Page"),
    list: () => line("- "),
    task: () => line("- [ ] "),
  };
  for (const b of form.querySelectorAll("button[data-md]")) {
    b.addEventListener("click", () => actions[b.dataset.md]());
  }
  src.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey)) return;
    const key = { b: "bold", i: "italic", k: "link" }[ev.key.toLowerCase()];
    if (key) { ev.preventDefault(); actions[key](); }
    if (ev.key.toLowerCase() === "s") { ev.preventDefault(); form.requestSubmit(); }
  });
  let timer = 0, seq = 0;
  const preview = async () => {
    const mine = ++seq;
    const body = new URLSearchParams({ body: src.value, space: form.dataset.space || "", page: form.dataset.page || "" });
    try {
      const res = await fetch(form.dataset.preview, { method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded" } });
      if (mine !== seq || !res.ok) return;
      // The server's HTML is sanitized by the docs-engine (bluemonday).
      out.innerHTML = await res.text();
    } catch (e) { /* offline: keep the last preview */ }
  };
  src.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 250); });
  preview();
});
// Quick search in the header: a combobox (ARIA 1.2) whose list shows the
// first hits of /search/suggest as the user types. ArrowDown/ArrowUp move
// through them, Enter opens the chosen one (or, with none chosen, submits
// the form to the search page), Escape closes the list. Without the script
// the form simply submits to /search.
document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("quick-search");
  const list = document.getElementById("quick-search-list");
  const status = document.getElementById("quick-search-status");
  if (!input || !list) return;
  let items = [], active = -1, timer = 0, asked = 0, controller = null;
  const close = () => {
    list.hidden = true;
    list.replaceChildren();
    items = []; active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };
  const choose = (i) => {
    if (active >= 0 && list.children[active]) list.children[active].setAttribute("aria-selected", "false");
    active = i;
    if (i < 0) { input.removeAttribute("aria-activedescendant"); return; }
    const li = list.children[i];
    li.setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", li.id);
    li.scrollIntoView({ block: "nearest" });
  };
  const open = (url) => { window.location.assign(url); };
  const show = (hits) => {
    list.replaceChildren();
    items = hits; active = -1;
    input.removeAttribute("aria-activedescendant");
    if (hits.length === 0) {
      const li = document.createElement("li");
      li.className = "none";
      li.setAttribute("role", "option");
      li.setAttribute("aria-disabled", "true");
      li.id = "quick-search-none";
      li.textContent = input.dataset.msgNone;
      list.append(li);
    }
    hits.forEach((h, i) => {
      const li = document.createElement("li");
      li.id = "quick-search-option-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.url = h.url;
      const type = document.createElement("span");
      type.className = "type";
      type.textContent = h.label || h.type;
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = h.title;
      li.append(type, title);
      // mousedown, not click: the input keeps the focus until we navigate.
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); open(h.url); });
      list.append(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    if (status) status.textContent = hits.length === 0 ? input.dataset.msgNone : input.dataset.msgCount.replace("%d", String(hits.length));
  };
  const suggest = () => {
    const q = input.value.trim();
    if (q === "") { close(); return; }
    const mine = ++asked;
    if (controller) controller.abort();
    controller = new AbortController();
    fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), {
      headers: { Accept: "application/json" }, credentials: "same-origin", signal: controller.signal,
    })
      .then((r) => r.json())
      .then((body) => { if (mine === asked && document.activeElement === input) show((body && body.hits) || []); })
      .catch(() => {});
  };
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(suggest, 200);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (list.hidden) { if (input.value.trim() !== "") suggest(); ev.preventDefault(); return; }
      if (items.length === 0) return;
      ev.preventDefault();
      const step = ev.key === "ArrowDown" ? 1 : -1;
      let next = active + step;
      if (next >= items.length) next = 0;
      if (next < 0) next = items.length - 1;
      choose(next);
    } else if (ev.key === "Enter") {
      if (!list.hidden && active >= 0 && items[active]) {
        ev.preventDefault();
        open(items[active].url);
      }
    } else if (ev.key === "Escape") {
      if (!list.hidden) { ev.preventDefault(); close(); }
    }
  });
  // Enter on a chosen option opens it, however the browser turns the key
  // into a submission of the form.
  if (input.form) {
    input.form.addEventListener("submit", (ev) => {
      if (!list.hidden && active >= 0 && items[active]) {
        ev.preventDefault();
        open(items[active].url);
      }
    });
  }
  input.addEventListener("blur", () => { window.setTimeout(close, 100); });
});
// Assessment drafts (form[data-autosave]) save themselves: 1.5 s after the
// last change the whole form is sent URL-encoded (an instrument of 500
// items has some 2,000 fields, more than a multipart form may have) with
// the CSRF token in the X-CSRF-Token header, asking for JSON. The answer's
// revision goes into the hidden field, so the next save builds on it. A
// conflict (someone else saved meanwhile) stops the autosave and says so;
// the user's input stays on the page, and "Save draft" lists where the
// saved draft differs from it before a second save replaces it. Without
// the script the buttons work as plain form submissions.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosave]");
  if (!form) return;
  const token = form.querySelector("input[name=_csrf]").value;
  const revision = form.querySelector("input[name=revision]");
  const status = document.getElementById("autosave-status");
  let timer = 0, inflight = null, dirty = false, stopped = false;
  const say = (text) => { if (status) status.textContent = text; };
  const time = () => new Date().toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
  const save = async () => {
    if (stopped) return;
    if (inflight) { dirty = true; return; }
    dirty = false;
    say(form.dataset.msgSaving);
    const body = new URLSearchParams(new FormData(form));
    inflight = fetch(form.action, { method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRF-Token": token, Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" } })
      .then(async (res) => {
        let data = null;
        try { data = await res.json(); } catch (e) { data = null; }
        if (res.ok && data && data.revision) {
          revision.value = String(data.revision);
          say(form.dataset.msgSaved.replace("%s", time()));
        } else if (res.status === 409) {
          // Saved by someone else meanwhile, submitted, or the case closed:
          // the server's message says which.
          stopped = true;
          say((data && data.error && data.error.message) || form.dataset.msgConflict);
        } else {
          say(form.dataset.msgFailed + " " + ((data && data.error && data.error.message) || res.status));
        }
      })
      .catch(() => say(form.dataset.msgFailed))
      .finally(() => {
        inflight = null;
        if (dirty) save();
      });
    return inflight;
  };
  const changed = () => {
    if (stopped) return;
    window.clearTimeout(timer);
    timer = window.setTimeout(save, 1500);
  };
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  // A submission while a save is on its way waits for it, so that it
  // carries the revision that save produced.
  form.addEventListener("submit", (ev) => {
    window.clearTimeout(timer);
    if (!inflight) { stopped = true; return; }
    ev.preventDefault();
    for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = false;
    const submitter = ev.submitter;
    dirty = false;
    inflight.then(() => { stopped = true; form.requestSubmit(submitter); });
  });
});
