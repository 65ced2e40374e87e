// The reviewers' queue: keyboard, live countdowns, bulk decisions and live updates (server-sent events).
// No framework and no build step: the page works without this file; this only makes it faster to use.
(function () {
  "use strict";
  const csrfMeta = document.querySelector('meta[name="csrf"]');
  if (!csrfMeta) return; // the sign-in page
  const csrf = csrfMeta.content;
  const list = document.getElementById("items");
  const bulk = document.getElementById("bulk");
  const help = document.getElementById("help");
  const live = document.getElementById("live");
  let current = null; // the item the keyboard acts on

  // -- small helpers ---------------------------------------------------------------------------------------
  const items = () => Array.from(document.querySelectorAll("#items .item"));
  const selected = () => Array.from(document.querySelectorAll("#items .item .select:checked"));

  function toast(message, level) {
    const box = document.createElement("div");
    box.className = "toast " + (level || "ok");
    box.setAttribute("role", level === "error" ? "alert" : "status");
    box.textContent = message;
    document.getElementById("toasts").appendChild(box);
    setTimeout(() => box.remove(), level === "error" ? 9000 : 4000);
  }

  function human(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad(Math.floor((s % 3600) / 60)) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-expires]").forEach((el) => {
      const left = (Date.parse(el.dataset.expires) - now) / 1000;
      el.textContent = left > 0 ? "expires in " + human(left) : "overdue";
      el.classList.toggle("soon", left > 0 && left < 60);
      el.classList.toggle("over", left <= 0);
    });
    document.querySelectorAll("[data-since]").forEach((el) => {
      el.textContent = human((now - Date.parse(el.dataset.since)) / 1000);
    });
  }

  // -- the current item and the selection ------------------------------------------------------------------
  function setCurrent(item, scroll) {
    if (current) current.classList.remove("current");
    current = item || null;
    if (!current) return;
    current.classList.add("current");
    if (scroll !== false) current.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(current);
    setCurrent(all[Math.min(all.length - 1, Math.max(0, at < 0 ? 0 : at + step))]);
  }

  function syncSelection() {
    if (!bulk) return;
    const count = selected().length;
    bulk.hidden = count === 0;
    document.getElementById("selected-count").textContent = count;
    items().forEach((item) => {
      const box = item.querySelector(".select");
      item.classList.toggle("picked", !!(box && box.checked));
    });
  }

  function syncCount() {
    const count = document.getElementById("count");
    if (count) count.textContent = items().length;
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = items().length > 0;
  }

  // -- talking to the gateway ------------------------------------------------------------------------------
  async function post(form, submitter) {
    const body = new FormData(form, submitter || undefined);
    if (form === bulk) selected().forEach((box) => body.append("ids", box.value));
    const response = await fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    let answer = { ok: false, message: "The gateway answered " + response.status + "." };
    try {
      answer = await response.json();
    } catch (e) {
      /* not JSON: keep the generic message */
    }
    toast(answer.message, answer.ok ? answer.level || "ok" : "error");
    if (response.status === 401) location.href = "/ui/login";
    (answer.results || []).forEach((r) => refresh(r.id));
    return answer;
  }

  async function refresh(id) {
    if (!list) return;
    const response = await fetch("/ui/items/" + encodeURIComponent(id) + location.search, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    });
    const old = document.getElementById("item-" + id);
    if (response.status === 204) {
      if (old) {
        if (old === current) move(1);
        if (old === current) move(-1);
        if (old === current) setCurrent(null);
        old.classList.add("leaving");
        setTimeout(() => {
          old.remove();
          syncCount();
          syncSelection();
        }, 250);
      }
      return;
    }
    if (!response.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await response.text(); // our own server-rendered, autoescaped fragment
    const fresh = holder.querySelector(".item");
    if (!fresh) return;
    if (old) {
      keepState(old, fresh);
      old.replaceWith(fresh);
      if (old === current) setCurrent(fresh, false);
    } else {
      insertInOrder(fresh);
      fresh.classList.add("arriving");
    }
    syncCount();
    syncSelection();
    tick();
  }

  function keepState(old, fresh) {
    // what the reviewer was doing in the row survives a re-render (a webhook update, another vote)
    ["select", "input[name=comment]", "select[name=reason]", "select[name=seconds]"].forEach((sel) => {
      const a = old.querySelector(sel === "select" ? ".select" : sel);
      const b = fresh.querySelector(sel === "select" ? ".select" : sel);
      if (!a || !b) return;
      if (a.type === "checkbox") b.checked = a.checked && !b.disabled;
      else b.value = a.value;
    });
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    if (focused && focused.name) {
      setTimeout(() => {
        const again = fresh.querySelector('[name="' + focused.name + '"]');
        if (again) again.focus();
      });
    }
  }

  function insertInOrder(fresh) {
    // pending first, oldest first (as the server orders them); others after, newest first
    const pending = fresh.dataset.status === "pending";
    const after = items().find((item) => {
      const other = item.dataset.status === "pending";
      if (pending !== other) return pending;
      return pending ? item.dataset.created > fresh.dataset.created : item.dataset.created < fresh.dataset.created;
    });
    list.insertBefore(fresh, after || null);
  }

  async function resync() {
    // after a dropped connection: changes made meanwhile were not heard, so take the list afresh
    if (!list) return;
    const response = await fetch(location.href, { credentials: "same-origin", redirect: "manual" });
    if (response.type === "opaqueredirect") return (location.href = "/ui/login"); // signed out
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("items");
    if (!fresh) return;
    const picked = new Set(selected().map((box) => box.value));
    const at = current && current.dataset.id;
    list.replaceChildren(...fresh.children);
    items().forEach((item) => {
      const box = item.querySelector(".select");
      if (box && !box.disabled) box.checked = picked.has(box.value);
    });
    setCurrent(document.getElementById("item-" + at) || items()[0], false);
    syncCount();
    syncSelection();
    tick();
  }

  function listen() {
    const source = new EventSource("/ui/events");
    let dropped = false;
    source.onopen = () => {
      live.textContent = "live";
      live.className = "live on";
      if (dropped) resync();
      dropped = false;
    };
    source.onerror = () => {
      dropped = true;
      live.textContent = "reconnecting…";
      live.className = "live off";
      if (source.readyState === EventSource.CLOSED) {
        // the browser gave up (signed out, or the gateway restarted): try again shortly
        source.close();
        setTimeout(() => resync().then(listen, listen), 5000);
      }
    };
    source.addEventListener("approval", (event) => {
      if (list) refresh(event.data);
      else {
        live.textContent = "new activity: reload";
        live.className = "live on stale";
      }
    });
  }

  // -- keyboard --------------------------------------------------------------------------------------------
  function act(key) {
    const picks = selected();
    if (key === "a") {
      if (picks.length) return post(bulk, bulk.querySelector('button[value="approve"]'));
      const form = current && current.querySelector('form[data-action="approve"]');
      if (form) post(form);
      else if (current) toast("You cannot approve this item.", "error");
    } else if (key === "r") {
      const scope = picks.length ? bulk : current && current.querySelector('form[data-action="reject"]');
      const reason = scope && scope.querySelector("select[name=reason]");
      if (reason) reason.focus();
    } else if (key === "e") {
      const form = current && current.querySelector('form[data-action="extend"]');
      if (form) post(form);
    } else if (key === "x") {
      const box = current && current.querySelector(".select");
      if (box && !box.disabled) {
        box.checked = !box.checked;
        syncSelection();
      }
    }
  }

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest && event.target.closest("input, select, textarea");
    if (event.key === "Escape") {
      if (help && help.open) help.close();
      if (typing) event.target.blur();
      return;
    }
    if (typing) {
      // Enter in a reject field submits that rejection
      const form = event.target.form;
      if (event.key === "Enter" && form && (form.dataset.action === "reject" || form === bulk)) {
        event.preventDefault();
        post(form, form === bulk ? bulk.querySelector('button[value="reject"]') : null);
        event.target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      if (help) help.open ? help.close() : help.showModal();
    } else if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if ("arex".includes(event.key) && event.key.length === 1) act(event.key);
    else return;
    event.preventDefault();
  });

  // -- wiring ----------------------------------------------------------------------------------------------
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form.dataset.action || form === bulk)) return; // filters, sign-out: a normal submit
    event.preventDefault();
    post(form, event.submitter);
  });
  document.addEventListener("change", (event) => {
    if (event.target.classList.contains("select")) syncSelection();
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-help]") && help) help.showModal();
    if (event.target.closest("[data-clear-selection]")) {
      selected().forEach((box) => (box.checked = false));
      syncSelection();
    }
    const item = event.target.closest(".item");
    if (item) setCurrent(item, false);
  });

  setCurrent(items()[0], false);
  syncSelection();
  tick();
  setInterval(tick, 1000);
  listen();
})();
