// klachtradar triage: live queue over server-sent events, SLA timers, actions.
// Served as a file (the Content-Security-Policy forbids inline script). The server
// renders and escapes every card; this script only swaps those fragments in and
// never builds HTML from post data (textContent only).
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const live = $("#live");
  const filters = $("#filters");
  const agent = $("#agent");
  const conn = $("#conn");
  const toast = $("#toast");
  // The one time zone of the app ([triage] timezone), whatever the browser's is.
  const TZ = document.body.dataset.tz || "Europe/Amsterdam";
  const state = {
    inflight: false, dirty: false,
    serverNowMs: 0, receivedAtMs: 0, amber: 0.75,
    firstSeen: new Map(), known: new Set(), initial: true, selected: null,
    fetchedMs: 0, lastFetchedMs: 0,
  };

  // -- the agent's name, remembered in this browser ---------------------------------------
  if (agent) {
    agent.value = localStorage.getItem("klachtradar.agent") || "";
    agent.addEventListener("input", () => {
      localStorage.setItem("klachtradar.agent", agent.value.trim());
      agent.classList.remove("missing");
    });
  }

  function notify(message, isError = false) {
    toast.textContent = message;
    toast.classList.toggle("error", isError);
    toast.hidden = false;
    clearTimeout(notify.timer);
    notify.timer = setTimeout(() => { toast.hidden = true; }, isError ? 5000 : 2200);
  }

  // -- clock and timers ----------------------------------------------------------------------
  function nowMs() { return state.serverNowMs + (Date.now() - state.receivedAtMs); }

  function formatDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? `${h} u ${String(m % 60).padStart(2, "0")} min` : `${h} u`;
    return h % 24 ? `${Math.floor(h / 24)} d ${h % 24} u` : `${Math.floor(h / 24)} d`;
  }

  function tick() {
    const now = nowMs();
    for (const card of $$(".card")) {
      const created = Number(card.dataset.createdMs);
      const end = card.dataset.respondedMs ? Number(card.dataset.respondedMs) : now;
      const waited = end - created;
      const target = Number(card.dataset.slaMs);
      let sla = "none";
      if (target > 0) sla = waited >= target ? "red" : waited >= target * state.amber ? "amber" : "ok";
      card.classList.remove("sla-none", "sla-ok", "sla-amber", "sla-red");
      card.classList.add(`sla-${sla}`);
      const waiting = $(".waiting", card);
      if (waiting) waiting.textContent = formatDuration(waited);
    }
    const clock = $("#clock");
    if (clock && state.serverNowMs) {
      const d = new Date(now);
      clock.textContent = d.toLocaleString("nl-NL", { timeZone: TZ, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }
  }

  // -- the live fragment -------------------------------------------------------------------
  function queryString() {
    const params = new URLSearchParams(new FormData(filters));
    for (const [key, value] of Array.from(params.entries())) if (!value) params.delete(key);
    return params.toString();
  }

  async function refresh() {
    if (state.inflight) { state.dirty = true; return; }
    state.inflight = true;
    const started = Date.now();
    try {
      const response = await fetch(`/fragments/live?${queryString()}`, { headers: { Accept: "text/html" } });
      if (response.status === 401) { location.href = "/login"; return; }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      state.lastFetchedMs = state.fetchedMs;
      state.fetchedMs = started;
      swap(await response.text());
    } catch (error) {
      conn.textContent = "fout bij verversen";
      conn.className = "conn down";
    } finally {
      state.inflight = false;
      if (state.dirty) { state.dirty = false; refresh(); }
    }
  }

  function swap(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const root = $("#live-root", doc);
    if (!root) return;
    state.serverNowMs = Number(root.dataset.nowMs);
    state.receivedAtMs = Date.now();
    state.amber = Number(root.dataset.amber) || 0.75;
    const current = $("#live-root", live);
    current.dataset.nowMs = root.dataset.nowMs;
    $("#stats", current).replaceWith($("#stats", root));
    badge();
    $("#incidents", current).replaceWith($("#incidents", root));
    patchQueue($("#queue", current), $("#queue", root));
    stampCards();
    tick();
  }

  // Keyed update: a card whose content did not change keeps its DOM node, so a button
  // under the agent's pointer is not swapped away mid-click, and a card with an open
  // form keeps it (and its typing) whatever arrives meanwhile.
  function patchQueue(current, incoming) {
    const old = new Map($$(":scope > .card", current).map((c) => [c.dataset.docId, c]));
    const next = Array.from(incoming.children).map((node) => {
      const prev = node.dataset ? old.get(node.dataset.docId) : undefined;
      if (!prev) return node;
      const keep = prev.dataset.sig === node.dataset.sig || $(".card-form form", prev);
      if (keep && prev.dataset.reasonsSig !== node.dataset.reasonsSig) {
        // only the words of time ("wacht al 3 uur") changed: swap them, keep the card
        $(".reasons", prev).replaceWith($(".reasons", node));
        prev.dataset.reasonsSig = node.dataset.reasonsSig;
      }
      if (!keep && $("details.thread[open]", prev)) {
        const thread = $("details.thread", node);
        if (thread) thread.open = true; // an agent reading the thread keeps it open
      }
      return keep ? prev : node;
    });
    let ref = current.firstElementChild;
    for (const node of next) {
      if (node === ref) { ref = ref.nextElementSibling; continue; }
      current.insertBefore(node, ref);
    }
    while (ref) { const after = ref.nextElementSibling; ref.remove(); ref = after; }
  }

  // The tab title carries the open P1 count, so a background tab still tells the agent.
  function badge() {
    const p1 = $("#stats .prio-p1 b", live);
    const count = p1 ? Number(p1.textContent) : 0;
    document.title = count ? `(${count} P1) Triage · klachtradar` : "Triage · klachtradar";
  }

  function stampCards() {
    const now = Date.now();
    for (const card of $$(".card", live)) {
      const id = card.dataset.docId;
      if (!state.firstSeen.has(id)) state.firstSeen.set(id, now);
      card.dataset.renderedAt = String(state.firstSeen.get(id));
      // "New" means a post written since this page last fetched the queue, not a card
      // that moved into view after an action (the next post of a conversation, a
      // re-scored one): those arrived long before.
      const arrived = Number(card.dataset.arrivedAt || 0);
      if (!state.initial && !state.known.has(id) && arrived > 0 && arrived >= state.lastFetchedMs) {
        card.classList.add("fresh"); // one flash, then it is an ordinary card
        card.addEventListener("animationend", () => card.classList.remove("fresh"), { once: true });
      }
      state.known.add(id);
      if (id === state.selected) card.classList.add("selected");
    }
    state.initial = false;
  }

  // -- server-sent events --------------------------------------------------------------------
  function connect() {
    const source = new EventSource("/events");
    source.addEventListener("hello", () => { conn.textContent = "live"; conn.className = "conn live"; refresh(); });
    source.addEventListener("change", () => refresh());
    source.onerror = () => { conn.textContent = "verbinding weg — opnieuw…"; conn.className = "conn down"; };
  }

  // -- actions -------------------------------------------------------------------------------
  function who() {
    const name = agent ? agent.value.trim() : "";
    if (!name) {
      agent.classList.add("missing");
      agent.focus();
      notify("Vul eerst je naam in (rechtsboven).", true);
    }
    return name;
  }

  async function post(path, body) {
    const name = who();
    if (!name) return null;
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Klachtradar-Request": "1",
                 "X-Klachtradar-User": encodeURIComponent(name) },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      notify(data.error || data.detail || `Mislukt (HTTP ${response.status})`, true);
      return null;
    }
    return data;
  }

  const DONE = { claim: "Opgepakt", release: "Vrijgegeven", resolve: "Afgehandeld", snooze: "Gesnoozed",
                 not_complaint: "Gemarkeerd als geen klacht", reopen: "Heropend" };

  async function act(card, action, extra = {}) {
    const result = await post(`/api/actions/${action}`, { doc_id: card.dataset.docId, ...extra });
    if (result) { notify(DONE[action] || "Klaar"); closeForm(card); refresh(); }
  }

  function closeForm(card) {
    $(".card-form", card).replaceChildren();
    refresh();
  }

  // A datetime-local value in the app's time zone; the server reads it in that zone.
  function localInput(ms) {
    const parts = {};
    const format = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    for (const part of format.formatToParts(new Date(ms))) parts[part.type] = part.value;
    return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  }

  function openForm(card, templateId) {
    for (const other of $$(".card-form", live)) other.replaceChildren();
    const form = $(templateId).content.firstElementChild.cloneNode(true);
    $(".card-form", card).replaceChildren(form);
    $("[data-cancel]", form).addEventListener("click", () => closeForm(card));
    return form;
  }

  function openResolve(card) {
    const form = openForm(card, "#resolve-form");
    const input = form.elements.responded_at;
    input.value = localInput(nowMs());
    input.min = localInput(Number(card.dataset.createdMs));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(card, "resolve", { responded_at: input.value, note: form.elements.note.value });
    });
    form.elements.note.focus();
  }

  function openLabel(card) {
    const form = openForm(card, "#label-form");
    form.elements.sentiment.value = card.dataset.sentiment || "neutraal";
    form.elements.intent.value = card.dataset.intent || "overig";
    const cues = (card.dataset.cues || "").split(",");
    for (const box of $$("input[name=cues]", form)) box.checked = cues.includes(box.value);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        doc_id: card.dataset.docId,
        sentiment: form.elements.sentiment.value,
        intent: form.elements.intent.value,
        cues: $$("input[name=cues]:checked", form).map((box) => box.value),
      };
      if (await post("/api/feedback", body)) { notify("Label opgeslagen"); closeForm(card); refresh(); }
    });
    form.elements.sentiment.focus();
  }

  function run(card, action) {
    if (!card || document.body.classList.contains("read-only")) return;
    select(card);
    if (action === "resolve") openResolve(card);
    else if (action === "label") openLabel(card);
    else if (action !== "snooze") act(card, action);
  }

  live.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) run(button.closest(".card"), button.dataset.action);
  });
  live.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-action=snooze]");
    if (select && select.value) act(select.closest(".card"), "snooze", { minutes: Number(select.value) });
  });

  // -- filters -------------------------------------------------------------------------------
  filters.addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  filters.addEventListener("change", () => applyFilters());
  let typing;
  $("#q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 250); });
  function applyFilters() {
    const qs = queryString();
    history.replaceState(null, "", qs ? `/?${qs}` : "/");
    state.known.clear();
    state.initial = true;
    refresh();
  }

  // -- keyboard ------------------------------------------------------------------------------
  function select(card) {
    for (const c of $$(".card.selected", live)) c.classList.remove("selected");
    if (!card) return;
    card.classList.add("selected");
    state.selected = card.dataset.docId;
  }
  function move(step) {
    const cards = $$(".card", live);
    if (!cards.length) return;
    const index = cards.findIndex((c) => c.dataset.docId === state.selected);
    const next = cards[Math.min(cards.length - 1, Math.max(0, index + step))];
    select(next);
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { // closes an open label or resolve form, even from its fields
      const open = $(".card-form form", live);
      if (open) { event.preventDefault(); closeForm(open.closest(".card")); }
      return;
    }
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const card = state.selected ? $$(".card", live).find((c) => c.dataset.docId === state.selected) : null;
    const keys = { c: "claim", r: "resolve", n: "not_complaint", l: "label" };
    if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (event.key === "/") { event.preventDefault(); $("#q").focus(); }
    else if (event.key === "s" && card) { const s = $("select.snooze", card); if (s) s.focus(); }
    else if (keys[event.key] && card) run(card, keys[event.key]);
    else return;
    event.preventDefault();
  });

  // -- start ---------------------------------------------------------------------------------
  const root = $("#live-root", live);
  state.serverNowMs = Number(root.dataset.nowMs);
  state.receivedAtMs = Date.now();
  state.amber = Number(root.dataset.amber) || 0.75;
  stampCards();
  badge();
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, 60000); // reasons in words ("wacht al 3 uur") are worded by the server
  connect();
})();
