// The activity console's live feed: new audit events (server-sent events from /ui/activity/events, under the
// page's filters) added on top of the list as they are written. Pause holds them back; resume shows them.
// No framework and no build step; the page works without this file (the search and pages are plain links).
(function () {
  "use strict";
  const button = document.getElementById("pause");
  const body = document.getElementById("lines");
  const live = document.getElementById("live");
  if (!button || !body) return;
  const columns = ["ts", "agent", "kind", "target", "outcome", "pii", "injection", "tokens", "cost", "latency", "reasons"];
  let paused = false;
  let waiting = [];
  let source = null;
  let current = null; // the line the keyboard is on

  function cell(row, name) {
    const td = document.createElement("td");
    if (name === "ts") {
      const a = document.createElement("a");
      a.href = "/ui/calls/" + encodeURIComponent(row.call_id);
      a.textContent = row.ts;
      td.appendChild(a);
    } else if (name === "outcome") {
      td.className = "outcomes";
      const pill = document.createElement("span");
      pill.className = "pill outcome-" + row.outcome;
      pill.textContent = row.outcome;
      td.appendChild(pill);
      row.outcomes.filter((o) => o !== row.outcome).forEach((o) => {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = o;
        td.append(" ", tag);
      });
    } else {
      td.textContent = name === "agent" && row.team ? row.agent + " (" + row.team + ")" : row[name];
      if (["tokens", "cost", "latency", "injection"].includes(name)) td.className = "num";
    }
    return td;
  }

  // a call's line is sent again each time it has a new event: it replaces the line shown, on top
  function show(row) {
    const tr = document.createElement("tr");
    body.querySelectorAll("tr").forEach((old) => {
      if (old.dataset.call === row.call_id) {
        if (old === current) current = tr;
        old.remove();
      }
    });
    tr.dataset.seq = row.seq;
    tr.dataset.call = row.call_id;
    tr.dataset.outcomes = row.outcomes.join(",");
    tr.className = current === tr ? "new current" : "new";
    columns.forEach((name) => tr.appendChild(cell(row, name)));
    body.insertBefore(tr, body.firstChild);
    const empty = document.getElementById("no-lines");
    if (empty) empty.remove();
  }

  function status(state, text) {
    if (!live) return;
    live.className = "live " + state;
    live.textContent = text;
  }

  function listen() {
    const url = new URL(button.dataset.feed, location.href);
    url.searchParams.set("after", button.dataset.after);
    source = new EventSource(url);
    source.addEventListener("open", () => status("on", paused ? "paused" : "live"));
    source.addEventListener("error", () => status("off", "reconnecting…"));
    source.addEventListener("call", (event) => {
      const row = JSON.parse(event.data);
      button.dataset.after = row.seq;
      if (paused) {
        waiting = waiting.filter((w) => w.call_id !== row.call_id);
        waiting.push(row);
        document.getElementById("held-back").textContent = waiting.length + " new";
      } else show(row);
    });
  }

  button.addEventListener("click", () => {
    paused = !paused;
    button.textContent = paused ? "Resume" : "Pause";
    status("on", paused ? "paused" : "live");
    if (!paused) {
      waiting.forEach(show);
      waiting = [];
      document.getElementById("held-back").textContent = "";
    }
  });
  // the keyboard, as in the queue: j / k move, Enter opens the call, p or space pause and resume
  function move(step) {
    const rows = Array.from(body.querySelectorAll("tr"));
    if (!rows.length) return;
    const at = current ? rows.indexOf(current) : -1;
    const next = rows[Math.min(rows.length - 1, Math.max(0, at + step))];
    if (current) current.classList.remove("current");
    current = next;
    current.classList.add("current");
    current.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === " " || event.key === "p") button.click();
    else if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (event.key === "Enter" && current) location.href = current.querySelector("a").href;
    else return;
    event.preventDefault();
  });
  listen();
})();
