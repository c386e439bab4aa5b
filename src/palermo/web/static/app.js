// Palermo web front end. It speaks only to /api/v1 and writes every value from the workspace
// into the page as text (textContent, SVG text nodes), never as HTML: data from sources is
// untrusted (an escort ad can carry <script>). No framework, no build step, nothing from a CDN.
"use strict";

const API = "/api/v1";
const main = document.getElementById("main");
let me = null;

// -- DOM helpers: strings become text nodes, never markup ---------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") { for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn); }
    else if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed under the CSP, unlike a style attribute
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}
function show(...children) { main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)); }
function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => c instanceof Node ? el("td", {}, c)
      : el("td", typeof c === "number" ? { class: "num" } : {}, c === null || c === undefined ? "" : c))))));
}
function entityLink(id, caption) { return el("a", { href: "#/entity/" + encodeURIComponent(id) }, caption || id); }
function fmt(x) { return typeof x === "number" ? x.toLocaleString(undefined, { maximumFractionDigits: 2 }) : x; }
function cookie(name) {
  const m = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return m ? decodeURIComponent(m.slice(name.length + 1)) : "";
}

async function api(path, options) {
  const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
  if (opts.method && opts.method !== "GET") {
    opts.headers["X-CSRF-Token"] = cookie("palermo_csrf");
    opts.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(API + path, opts);
  if (res.status === 401) { me = null; renderLogin(); throw new Error("not logged in"); }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail ? String(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : res.statusText);
  return body;
}
function failure(err) { show(el("p", { class: "error" }, "Error: " + err.message)); }

// -- session ------------------------------------------------------------------------------------
function renderLogin(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("searchform").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const name = el("input", { id: "login-name", name: "name", autocomplete: "username", required: true });
  const pw = el("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = el("p", { class: "error", id: "login-error" }, message || "");
  const form = el("form", { class: "login card", on: { submit: async (ev) => {
    ev.preventDefault();
    try {
      const res = await fetch(API + "/login", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: name.value, password: pw.value }) });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) { msg.textContent = body.detail || res.statusText; return; }
      await start();
    } catch (e) { msg.textContent = e.message; }
  } } }, el("h1", {}, "Log in"), el("label", { for: "login-name" }, "User"), name,
    el("label", { for: "login-password" }, "Password"), pw, el("p", {}, el("button", { type: "submit", id: "login-submit" }, "Log in")), msg);
  show(form);
}

async function start() {
  try { me = await api("/me"); } catch (e) { return; }
  document.getElementById("nav").hidden = false;
  document.getElementById("searchform").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("nav-audit").hidden = me.role !== "admin";
  document.getElementById("nav-victims").hidden = me.role === "partner";
  document.getElementById("who").textContent = me.user + " (" + me.role + ")";
  route();
}

document.getElementById("logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST", body: "{}" }).catch(() => null);
  me = null; renderLogin();
});
document.getElementById("searchform").addEventListener("submit", (ev) => {
  ev.preventDefault();
  location.hash = "#/search/" + encodeURIComponent(document.getElementById("q").value);
});
window.addEventListener("hashchange", () => { if (me) route(); });

function route() {
  const [, view, arg] = location.hash.split("/").map((p, i) => i === 2 ? decodeURIComponent(p || "") : p);
  const views = { overview, search, entity, network, trail, findings, audit, timeline, map, victims, sharing };
  (views[view] || overview)(arg).catch(failure);
}

// -- pages --------------------------------------------------------------------------------------
async function overview() {
  const s = await api("/overview");
  const t = s.totals;
  show(el("h1", {}, "Workspace"),
    el("div", { class: "cards" }, [["evidence files", t.evidence_files], ["entities", t.entities], ["statements", t.statements],
      ["payments", t.payments], ["calls", t.calls], ["quarantined rows", t.quarantine_open]].map(([k, v]) => el("div", { class: "stat" }, el("b", {}, fmt(v)), k))),
    me.role !== "partner" && me.compartments.length ? await uploadForm() : null,
    el("h2", {}, "Compartments"),
    table(["compartment", "entities by schema", "payments", "calls", "quarantined"], Object.entries(s.compartments).map(([c, v]) =>
      [c, Object.entries(v.entities).map(([k, n]) => k + " " + n).join(", "), v.payments || 0, v.calls || 0, v.quarantine_open || 0])),
    el("h2", {}, "Sources (ingest runs)"),
    table(["run", "file", "mapping", "compartment", "finished", "by", "read", "stored", "duplicate", "quarantined", "sha256"], s.sources.map((r) =>
      [r.run_id, r.file, r.mapping, r.compartment, r.finished_at, r.actor, r.rows_read, r.rows_stored, r.rows_duplicate, r.rows_quarantined, r.sha256.slice(0, 12)])),
    el("h2", {}, "Quarantine (open)"),
    s.quarantine.length ? table(["id", "file", "row", "field", "reason", "compartment"], s.quarantine.map((q) => [q.id, q.file, q.row, q.field, q.reason, q.compartment]))
      : el("p", { class: "muted" }, "No open quarantined rows."));
}

async function uploadForm() {
  const m = await api("/mappings");
  const file = el("input", { type: "file", id: "upload-file", required: true });
  const mapping = el("select", { id: "upload-mapping" }, m.mappings.map((x) => el("option", { value: x.name, title: x.description }, x.name)));
  const comp = el("select", { id: "upload-compartment" }, me.compartments.map((c) => el("option", { value: c }, c)));
  const out = el("div", { id: "upload-result" });
  const form = el("form", { class: "card", on: { submit: async (ev) => {
    ev.preventDefault();
    if (!file.files.length) return;
    const data = new FormData();
    data.append("file", file.files[0]); data.append("mapping", mapping.value); data.append("compartment", comp.value);
    out.replaceChildren(el("p", {}, "ingesting…"));
    const res = await fetch(API + "/upload", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": cookie("palermo_csrf") }, body: data });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) { out.replaceChildren(el("p", { class: "error" }, "Refused: " + (body.detail || res.statusText))); return; }
    out.replaceChildren(el("p", {}, body.summary),
      body.quarantine && body.quarantine.length ? table(["row", "field", "reason"], body.quarantine.map((q) => [q.row, q.field, q.reason])) : null);
  } } }, el("h2", {}, "Add a source file"),
    el("p", { class: "muted" }, "The same ingestion as palermo ingest: the file is kept as evidence with its SHA-256; bad rows go to the quarantine with their row and field."),
    el("div", { class: "toolbar" }, file, mapping, comp, el("button", { type: "submit", id: "upload-submit" }, "Ingest")), out);
  return form;
}

async function search(q) {
  document.getElementById("q").value = q || "";
  if (!q) return show(el("p", {}, "Type a name, phone or account in the search box."));
  const r = await api("/search?q=" + encodeURIComponent(q));
  show(el("h1", {}, "Search: " + q),
    el("p", { class: "muted" }, r.hits.length + " hit(s); names matched word by word across alphabets (Jaro-Winkler ≥ " + r.threshold + " on transliterations), identifiers by substring"),
    table(["entity", "schema", "matched", "score"], r.hits.map((h) =>
      [el("span", {}, entityLink(h.id, h.caption), h.protected ? el("span", { class: "badge victim" }, "possible victim") : null), h.schema, h.matched || "(withheld)", h.score])));
}

async function entity(id) {
  const e = await api("/entities/" + encodeURIComponent(id));
  const ev = e.events;
  show(el("h1", { id: "entity-title" }, e.caption, " ", el("span", { class: "badge" }, e.schema), e.protected ? el("span", { class: "badge victim" }, "possible victim") : null),
    el("div", { class: "toolbar" },
      el("a", { href: "#/network/" + encodeURIComponent(e.id) }, "Network"), el("a", { href: "#/trail/" + encodeURIComponent(e.id) }, "Money trail"),
      el("a", { href: "#/timeline/" + encodeURIComponent(e.id) }, "Timeline"), el("span", { class: "muted" }, e.id)),
    e.withheld ? el("p", { class: "muted" }, e.withheld + " identifying value(s) withheld: your role sees possible victims by pseudonym only.") : null,
    el("h2", {}, "Values and their sources"),
    table(["property", "value", "as written", "file", "row", "compartment"], e.values.map((v) => [v.prop, v.value, v.original && v.original !== v.value ? v.original : "", v.file, v.row, v.compartment])),
    e.same_as.length ? [el("h2", {}, "Resolved as the same"), table(["entity", "decided by", "probability"], e.same_as.map((s) => [entityLink(s.id, s.caption), s.decided_by, s.probability]))] : null,
    e.links.length ? [el("h2", {}, "Links"), table(["entity", "schema", "how"], e.links.map((l) => [entityLink(l.id, l.caption), l.schema, l.direction === "in" ? "names this entity as " + l.prop : "named here"]))] : null,
    el("h2", {}, "Findings"), findingList(e.findings),
    el("h2", {}, "Payments (" + ev.payments.length + (ev.payments.length >= ev.limit ? "+, newest first" : "") + ")"),
    table(["time", "payer", "payee", "amount", "currency", "type", "reference", "file:row"], ev.payments.map((p) =>
      [p.at, p.payer ? entityLink(p.payer, p.payer_caption || p.payer_account) : (p.payer_account || ""), p.payee ? entityLink(p.payee, p.payee_caption || p.payee_account) : (p.payee_account || ""),
        p.amount, p.currency, p.type, p.reference, p.file + ":" + p.row])),
    el("h2", {}, "Calls (" + ev.calls.length + ")"),
    table(["time", "caller", "callee", "seconds", "type", "file:row"], ev.calls.map((c) => [c.at, c.caller, c.callee, c.duration_s, c.type, c.file + ":" + c.row])));
}

function findingList(list) {
  if (!list.length) return el("p", { class: "muted" }, "No findings.");
  return table(["kind", "subjects", "score", "explanation (rule)", "evidence rows", "code"], list.map((f) =>
    [f.kind === "network.cell" ? el("span", {}, f.kind, " ", el("a", { href: "#/timeline/cell:" + encodeURIComponent(f.id) }, "timeline")) : f.kind, el("span", {}, (f.subjects || f.subject_ids.map((s) => ({ id: s, caption: s }))).slice(0, 5).map((s) => [entityLink(s.id, s.caption), " "])),
      f.score === null ? "" : Math.round(f.score * 1000) / 1000, f.explanation,
      el("span", { class: "prov" }, (f.evidence || []).slice(0, 6).map(evidenceText).join("; ") + ((f.evidence || []).length > 6 ? " … (" + f.evidence.length + ")" : "")),
      f.code_version]));
}

function evidenceText(x) {
  if (typeof x !== "object" || x === null) return String(x);
  const where = x.file ? x.file + (x.row !== undefined ? ":" + x.row : "") : x.ref || "";
  const what = Object.entries(x).filter(([k]) => !["file", "row", "ref"].includes(k)).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
  return (where ? where + " " : "") + what;
}

async function findings() {
  const kind = new URLSearchParams(location.hash.split("?")[1] || "").get("kind") || "";
  const r = await api("/findings?kind=" + encodeURIComponent(kind));
  const kinds = [...new Set(r.findings.map((f) => f.kind.split(".").slice(0, 2).join(".")))];
  show(el("h1", {}, "Findings (" + r.total + ")"),
    el("div", { class: "toolbar" }, el("a", { href: "#/findings" }, "all"), kinds.map((k) => el("a", { href: "#/findings/?kind=" + encodeURIComponent(k) }, k))),
    findingList(r.findings));
}

async function audit() {
  const [log, check, people] = await Promise.all([api("/audit?limit=300"), api("/audit/verify"), api("/users")]);
  show(el("h1", {}, "Accounts"),
    table(["user", "role", "compartments", "disabled", "created", "by"], people.users.map((u) => [u.name, u.role, u.compartments.join(", "), u.disabled ? "yes" : "", u.created_at, u.created_by])),
    el("p", { class: "muted" }, "Accounts are managed by the workspace's owner: palermo user add | disable, palermo grant."),
    el("h1", {}, "Audit log"),
    el("p", { class: check.ok ? "" : "error", id: "audit-check" }, check.ok ? "Hash chain intact: " + check.records + " records." : "Chain broken at record " + check.first_bad_seq + ": " + check.problem),
    table(["seq", "at", "actor", "action", "target", "details"], log.records.map((r) => [r.seq, r.at, r.actor, r.action, r.target, JSON.stringify(r.details)])));
}

async function sharing() {
  const s = await api("/packages");
  const summary = (o) => Object.entries(o || {}).map(([k, v]) => v + " " + k).join(", ");
  const policy = (p) => ["victims " + p.victims, "persons " + p.persons, p.withhold_gradings && p.withhold_gradings.length ? "withheld gradings " + p.withhold_gradings.join(" ") : "",
    p.evidence_files ? "raw files" : "hashes only"].filter(Boolean).join("; ");
  const rows = (list) => list.map((p) => [p.package_id.slice(0, 8), p.partner, p.compartment, p.legal_basis, p.reference || "", policy(p.policy),
    summary(p.manifest.counts), summary(p.manifest.withheld) || "nothing", p.created_at, p.status + (p.closed_at ? " " + p.closed_at : "")]);
  const head = ["package", "partner", "compartment", "legal basis", "reference", "policy", "rows", "withheld", "created", "status"];
  show(el("h1", {}, "Sharing"),
    el("h2", {}, "Shared with us"),
    s.received.length ? table(head, rows(s.received)) : el("p", { class: "muted" }, "Nothing received in your compartments."),
    el("h2", {}, "What we shared"),
    s.sent.length ? table(head, rows(s.sent)) : el("p", { class: "muted" }, "Nothing sent from your compartments."),
    el("h2", {}, "Requests asked of us"),
    requests(s.requests.asked_of_us, "No requests from partners in your compartments."),
    el("h2", {}, "Requests we made"),
    requests(s.requests.asked_by_us, "No requests to partners from your compartments."),
    el("h2", {}, "Partners"),
    s.partners.length ? table(["partner", "key fingerprint", "imported"], s.partners.map((p) => [p.name, p.fingerprint, p.imported_at]))
      : el("p", { class: "muted" }, "No partner keys yet (palermo keys import)."),
    el("p", { class: "muted" }, "Packages are made, received and revoked with palermo share, receive and revoke; requests with palermo request, answered by palermo share --answers or palermo decline."));
}

function requests(list, none) {
  const pending = list.filter((r) => r.status === "pending").length;
  if (!list.length) return el("p", { class: "muted" }, none);
  return el("div", {}, el("p", { class: pending ? "" : "muted" }, pending + " pending"),
    table(["request", "partner", "compartment", "about", "legal basis", "reference", "made", "status", "answer"],
      list.map((r) => [r.request_id.slice(0, 8), r.partner, r.compartment, r.subject, r.legal_basis, r.reference || "", r.created_at,
        r.status + (r.closed_at ? " " + r.closed_at : ""), r.package_id ? "package " + r.package_id.slice(0, 8) : (r.answer || "")])));
}

async function timeline(id) {
  const cell = id && id.startsWith("cell:");
  const e = cell ? await api("/cells/" + encodeURIComponent(id.slice(5)) + "/timeline") : await api("/entities/" + encodeURIComponent(id));
  if (cell) { e.caption = "cell " + id.slice(5, 13) + " (" + e.members.length + " members)"; e.values = []; }
  const items = [
    ...(e.events.trips || []).map((t) => [t.at, "crossing", t.what || "", t.location || "", t.file + ":" + t.row]),
    ...e.events.payments.map((p) => [p.at, "payment", (p.payer_caption || p.payer_account || "?") + " → " + (p.payee_caption || p.payee_account || "?"), fmt(p.amount) + " " + p.currency, p.file + ":" + p.row]),
    ...e.events.calls.map((c) => [c.at, "call", c.caller + " → " + c.callee, (c.duration_s || 0) + " s", c.file + ":" + c.row]),
    ...e.values.filter((v) => /date|At$/i.test(v.prop)).map((v) => [v.value, v.prop, "", "", v.file + ":" + v.row]),
  ].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const times = items.map((i) => Date.parse(i[0])).filter((t) => !isNaN(t));
  const chart = svg("svg", { width: 1000, height: 60, role: "img" });
  if (times.length) {
    const lo = Math.min(...times), hi = Math.max(...times) || lo + 1;
    chart.append(svg("line", { x1: 10, x2: 990, y1: 30, y2: 30, stroke: "#999" }));
    items.forEach((i) => { const t = Date.parse(i[0]); if (isNaN(t)) return;
      chart.append(svg("circle", { cx: 10 + 980 * (t - lo) / Math.max(hi - lo, 1), cy: i[1] === "call" ? 20 : i[1] === "payment" ? 40 : 30, r: 3, fill: i[1] === "call" ? "#1f5fa8" : i[1] === "payment" ? "#2b8a3e" : "#a8321f" })); });
    chart.append(svg("text", { x: 10, y: 58 }, new Date(lo).toISOString().slice(0, 10)), svg("text", { x: 920, y: 58 }, new Date(hi).toISOString().slice(0, 10)));
  }
  show(el("h1", {}, "Timeline: " + e.caption), cell ? el("p", {}, e.members.map((m) => [entityLink(m.id, m.caption), " "]), el("br"), el("span", { class: "muted" }, e.explanation)) : null,
    el("p", { class: "muted" }, "calls above the line, payments below, crossings and dated facts on it (newest " + e.events.limit + " events of each kind)"), chart,
    table(["time", "what", "who", "amount / length", "file:row"], items));
}

// -- network explorer (Cytoscape.js) --------------------------------------------------------------
const ROLE_COLOURS = { organiser: "#7b1fa2", recruiter: "#d81b60", transporter: "#f57c00", exploiter: "#c62828", enforcer: "#5d4037",
  money_handler: "#2e7d32", facilitator: "#00838f", official: "#455a64", victim: "#fbc02d" };
const LAYERS = ["calls", "payments", "shared_address", "shared_phone", "vehicle", "co_travel", "ownership", "employment", "family", "associates", "ads"];
let cy = null;

async function network(id) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const layerBoxes = LAYERS.map((l) => el("label", {}, el("input", { type: "checkbox", value: l, checked: !params.get("layers") || params.get("layers").split(",").includes(l) }), l));
  const start = el("input", { id: "net-node", placeholder: "entity id", value: id || "" });
  const depth = el("select", { id: "net-depth" }, [1, 2, 3].map((d) => el("option", { value: d }, "depth " + d)));
  const since = el("input", { type: "date", id: "net-since" }), until = el("input", { type: "date", id: "net-until" });
  const pathTo = el("input", { id: "net-path-to", placeholder: "path to entity id" });
  const ordered = el("input", { type: "checkbox", id: "net-ordered" });
  const side = el("div", { class: "side", id: "net-side" }, el("p", { class: "muted" }, "Click a node: its details; double-click: expand its neighbours."));
  const status = el("span", { class: "muted", id: "net-status" });
  const box = el("div", { id: "cy" });
  const q = () => "&layers=" + layerBoxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value).join(",") +
    (since.value ? "&since=" + since.value : "") + (until.value ? "&until=" + until.value : "");
  async function load(node, merge) {
    if (!node) { status.textContent = "give an entity id (open an entity and follow its Network link)"; return; }
    status.textContent = "loading…";
    const g = await api("/graph?node=" + encodeURIComponent(node) + "&depth=" + depth.value + q());
    draw(g, merge);
    status.textContent = cy.nodes().length + " nodes, " + cy.edges().length + " ties" + (g.truncated ? " (cut at the nearest 5,000)" : "");
  }
  async function findPath() {
    const g = await api("/graph/path?a=" + encodeURIComponent(start.value) + "&b=" + encodeURIComponent(pathTo.value) + "&ordered=" + ordered.checked + q());
    if (!g.found) { status.textContent = "no " + (ordered.checked ? "time-ordered " : "") + "path"; return; }
    draw(g, true);
    cy.elements().removeClass("path");
    g.edges.forEach((e) => cy.getElementById(e.id).addClass("path"));
    g.nodes.forEach((n) => cy.getElementById(n.id).addClass("path"));
    status.textContent = "path of " + g.length + " tie(s)";
  }
  function draw(g, merge) {
    if (!merge || !cy) {
      // large graphs: a cached texture while panning and zooming, edges hidden meanwhile, one
      // pixel per CSS pixel (Cytoscape.js's own performance switches)
      cy = cytoscape({ container: box, elements: [], wheelSensitivity: 0.3, textureOnViewport: true,
        hideEdgesOnViewport: true, pixelRatio: 1, style: [
        // data mappers and selectors, no style functions: Cytoscape calls a function per node on
        // every style pass, which at 5,000 nodes is most of a zoom frame's time
        { selector: "node", style: { "background-color": "#90a4ae", label: "data(label)", "font-size": 9, "min-zoomed-font-size": 7, width: 14, height: 14, "border-width": 0 } },
        ...Object.entries(ROLE_COLOURS).map(([role, colour]) => ({ selector: 'node[role = "' + role + '"]', style: { "background-color": colour } })),
        { selector: "node[?key_player]", style: { width: 26, height: 26 } },
        { selector: "node[border]", style: { "border-width": 2, "border-color": "data(border)" } },
        { selector: "node[?focus]", style: { shape: "diamond" } },
        { selector: "edge", style: { width: 1, "line-color": "#c5cbd3", "curve-style": "haystack" } },
        { selector: ".path", style: { "line-color": "#d32f2f", "background-color": "#d32f2f", width: 3 } },
      ] });
      cy.on("tap", "node", (ev) => details(ev.target.data()));
      cy.on("dbltap", "node", (ev) => load(ev.target.id(), true).catch(failure));
      cy.on("tap", "edge", (ev) => edgeDetails(ev.target.data()));
    }
    // node labels reach Cytoscape as data and are drawn on a canvas: never parsed as HTML
    cy.add(g.nodes.filter((n) => cy.getElementById(n.id).empty()).map((n) => ({ group: "nodes", data: n.cell ? { ...n, border: cellColour(n.cell) } : n })));
    cy.add(g.edges.filter((e) => cy.getElementById(e.id).empty()).map((e) => ({ group: "edges", data: e })));
    const big = cy.nodes().length > 1500;
    cy.layout(big ? { name: "concentric", concentric: (n) => n.degree(), animate: false } : { name: "cose", animate: false, numIter: 300 }).run();
  }
  function details(d) {
    side.replaceChildren(el("h2", {}, d.label), el("p", {}, d.kind, d.role ? el("span", { class: "badge" }, d.role) : null, d.key_player ? el("span", { class: "badge" }, "key player") : null,
      d.cell ? el("span", { class: "badge" }, "cell " + d.cell) : null, d.protected ? el("span", { class: "badge victim" }, "possible victim") : null),
      el("p", {}, "ties: " + d.degree), d.entity ? el("p", {}, entityLink(d.entity, "open entity")) : null,
      el("p", {}, el("button", { type: "button", class: "secondary", on: { click: () => load(d.id, true).catch(failure) } }, "expand")));
  }
  function edgeDetails(d) {
    side.replaceChildren(el("h2", {}, d.layer), el("p", {}, d.n + " contact(s)" + (d.amount ? ", " + fmt(d.amount) : "")),
      el("p", {}, (d.first || "") + (d.last ? " – " + d.last : "")), el("p", { class: "prov" }, "evidence: " + (d.evidence || []).join("; ")));
  }
  show(el("h1", {}, "Network explorer"),
    el("div", { class: "toolbar" }, start, depth, since, until, el("button", { type: "button", id: "net-load", on: { click: () => load(start.value, false).catch(failure) } }, "Show"),
      pathTo, el("label", {}, ordered, "time-ordered"), el("button", { type: "button", class: "secondary", on: { click: () => findPath().catch(failure) } }, "Find path"), status),
    el("div", { class: "toolbar" }, layerBoxes),
    el("div", { class: "legend" }, Object.entries(ROLE_COLOURS).map(([r, c]) => el("span", {}, el("i", { style: "background:" + c }), r)), el("span", {}, "large: key player; ring: cell; diamond: start")),
    el("div", { class: "grid2" }, box, side));
  if (id) await load(id, false);
}
function cellColour(cell) {
  if (!cell) return "#fff";
  let h = 0; for (const ch of cell) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return "hsl(" + h + ",70%,45%)";
}

// -- money trail ----------------------------------------------------------------------------------
async function trail(id) {
  show(el("p", {}, "Tracing the money… (follows every payment in time order)"));
  const t = await api("/trail?from=" + encodeURIComponent(id));
  show(el("h1", {}, "Money trail from " + (t.from || "a protected person")),
    el("p", {}, "Rule: " + t.rule + " attribution, " + t.direction + "; traced " + fmt(t.traced_eur) + " " + t.unit + " over " + fmt(t.traced_payments) + " payments; " + (t.conserved ? "money conserved (every unit traced ends somewhere)" : "NOT conserved")),
    el("h2", {}, "Where it ended, by country"), sankey(t),
    table(["ended as", "country", "amount " + t.unit, "share", "terminals"], t.by_country.map((c) => [c.kind, c.country, c.amount_eur, Math.round(c.share * 1000) / 10 + " %", c.terminals])),
    el("h2", {}, "Largest ends (" + t.terminals.length + " of " + t.terminals_total + ")"),
    table(["ended as", "account", "holder", "country", "payment", "time", "amount " + t.unit], t.terminals.map((x) =>
      [x.kind, x.account, x.holder_node ? entityLink(x.holder_node, x.holder) : (x.holder || ""), x.country, x.transaction, x.time, x.amount_eur])),
    el("h2", {}, "Paths (the " + (t.paths || []).length + " largest of " + (t.paths_total || 0) + " routes)"),
    table(["amount " + t.unit, "ended as", "country", "hops", "through (holders)", "payments", "first", "last", "evidence rows"], (t.paths || []).map((p) =>
      [p.amount_eur, p.kind, p.country, p.hops, p.holders || p.accounts, p.transactions, p.first, p.last, el("span", { class: "prov" }, p.evidence)])),
    el("p", { class: "muted" }, (t.notes || []).join(" · ")));
}

function sankey(t) {
  // Three columns: the source, the countries, what the money became; band widths ∝ amounts.
  // Drawn by hand in SVG: a fixed three-level flow needs no layout library.
  const W = 900, H = 320, total = t.by_country.reduce((s, c) => s + c.amount_eur, 0) || 1;
  const s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", id: "sankey" });
  const countries = {}, kinds = {};
  t.by_country.forEach((c) => { countries[c.country || "?"] = (countries[c.country || "?"] || 0) + c.amount_eur; kinds[c.kind] = (kinds[c.kind] || 0) + c.amount_eur; });
  const gap = 8, scale = (H - 20 - gap * Math.max(Object.keys(countries).length, Object.keys(kinds).length)) / total;
  const place = (obj) => { let y = 10; const out = {}; for (const [k, v] of Object.entries(obj).sort((a, b) => b[1] - a[1])) { out[k] = { y, h: Math.max(v * scale, 1), used: 0, usedIn: 0 }; y += v * scale + gap; } return out; };
  const pc = place(countries), pk = place(kinds), x0 = 120, x1 = 430, x2 = 740, w = 14;
  s.append(svg("rect", { x: x0, y: 10, width: w, height: total * scale, fill: "#1f5fa8" }), svg("text", { x: 0, y: 24 }, "source"));
  let ys = 10;
  const band = (xa, ya, xb, yb, h, colour) => s.append(svg("path", { d: "M" + xa + "," + (ya + h / 2) + " C" + (xa + xb) / 2 + "," + (ya + h / 2) + " " + (xa + xb) / 2 + "," + (yb + h / 2) + " " + xb + "," + (yb + h / 2), stroke: colour, "stroke-width": Math.max(h, 1), fill: "none", "stroke-opacity": 0.35 }));
  for (const [c, p] of Object.entries(pc)) { band(x0 + w, ys, x1, p.y, p.h, "#1f5fa8"); ys += p.h; s.append(svg("rect", { x: x1, y: p.y, width: w, height: p.h, fill: "#546e7a" }), svg("text", { x: x1 + w + 4, y: p.y + 10 }, c + " " + fmt(Math.round(countries[c])))); }
  for (const c of t.by_country) {
    const p = pc[c.country || "?"], k = pk[c.kind], h = c.amount_eur * scale;
    band(x1 + w, p.y + p.used, x2, k.y + k.usedIn, h, "#2b8a3e"); p.used += h; k.usedIn += h;
  }
  for (const [k, p] of Object.entries(pk)) s.append(svg("rect", { x: x2, y: p.y, width: w, height: p.h, fill: "#2b8a3e" }), svg("text", { x: x2 + w + 4, y: p.y + 10 }, k + " " + fmt(Math.round(kinds[k]))));
  return s;
}

// -- victims: possible victims found in the data, cases, and the interview form ----------------
async function victims() {
  const [leads, cases, cat] = await Promise.all([api("/victims/leads"), api("/victims/cases"), api("/victims/indicators?form=labour")]);
  const formSel = el("select", { id: "iv-form" }, ["labour", "child-labour"].map((f) => el("option", { value: f }, f)));
  const person = el("input", { id: "iv-person", placeholder: "entity id of the person interviewed (optional)" });
  const boxes = el("div", { id: "iv-boxes" });
  const result = el("div", { id: "iv-result" });
  async function fill() {
    const c = formSel.value === "labour" ? cat : await api("/victims/indicators?form=" + formSel.value);
    const dims = {};
    c.indicators.forEach((i) => { (dims[i.dimension_label] = dims[i.dimension_label] || []).push(i); });
    boxes.replaceChildren(...Object.entries(dims).map(([d, list]) => el("fieldset", { class: "card" }, el("legend", {}, d),
      list.map((i) => el("label", { class: "indicator" }, el("input", { type: "checkbox", value: i.code }), " ", el("span", { class: "badge" }, i.strength), i.label)))));
  }
  formSel.addEventListener("change", () => fill().catch(failure));
  await fill();
  const form = el("form", { id: "interview", on: { submit: async (ev) => {
    ev.preventDefault();
    const codes = [...boxes.querySelectorAll("input:checked")].map((b) => b.value);
    const r = await api("/victims/screen", { method: "POST", body: JSON.stringify({ form: formSel.value, indicators: codes, person: person.value || null }) }).catch((e) => ({ error: e.message }));
    if (r.error) { result.replaceChildren(el("p", { class: "error" }, r.error)); return; }
    result.replaceChildren(
      el("h2", { id: "iv-decision" }, "Decision: " + r.decision), el("p", {}, r.why), r.missing.length ? el("p", { class: "muted" }, "Missing: " + r.missing.join("; ")) : null,
      table(["dimension", "positive", "clause that decided", "strong", "medium", "weak"], Object.values(r.dimensions).map((d) =>
        [d.name, d.positive ? "yes" : "no", d.clause || "", d.strong.map((i) => i.label).join("; "), d.medium.map((i) => i.label).join("; "), d.weak.map((i) => i.label).join("; ")])),
      el("p", {}, "Rule: a dimension is positive when " + r.rule.dimension + "; overall: " + r.rule.overall),
      el("h2", {}, "ILO forced-labour indicators shown"), table(["#", "indicator", "from"], r.ilo_forced_labour.present.map((x) => [x.number, x.name, x.from.join(", ")])),
      el("p", { class: "muted" }, r.caveat));
  } } }, el("div", { class: "toolbar" }, formSel, person, el("button", { type: "submit", id: "iv-submit" }, "Screen")), boxes);
  show(el("h1", {}, "Victims"),
    el("h2", {}, "Possible victims found in the data (" + leads.leads.length + ")"),
    el("p", { class: "muted" }, me.sees_victim_names ? "Your role sees names; every showing is audited." : "Your role sees possible victims by pseudonym only."),
    table(["person", "score", "signals and evidence (rule)"], leads.leads.map((f) => [entityLink(f.subject_ids[0], f.caption), Math.round((f.score || 0) * 100) / 100, f.explanation])),
    el("h2", {}, "Cases along the National Referral Mechanism (" + cases.cases.length + ")"),
    cases.cases.length ? table(["case", "person", "stage", "consent", "next step", "deadlines"], cases.cases.map((c) => [c.case_id, c.label, c.stage, c.consent, c.next_step, c.deadlines.map((d) => d.what + " " + (d.due || d.until)).join("; ")]))
      : el("p", { class: "muted" }, "No cases (palermo victims case open)."),
    el("h2", {}, "Interview: screen with the ILO/EC operational indicators"),
    el("p", { class: "muted" }, "Tick what the interview established; the combination rule gives the decision per dimension and overall, with the clause behind each. Indicators present, not a legal finding."),
    form, result);
}

// -- map of cross-border movements -----------------------------------------------------------------
let world = null;
async function map() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const since = el("input", { type: "date", id: "map-since", value: params.get("since") || "" });
  const until = el("input", { type: "date", id: "map-until", value: params.get("until") || "" });
  const q = (since.value ? "&since=" + since.value : "") + (until.value ? "&until=" + until.value : "");
  const [m, topo] = await Promise.all([api("/map?" + q.slice(1)),
    world ? Promise.resolve(world) : fetch("/static/vendor/world-atlas-2.0.2-countries-110m.json").then((r) => r.json())]);
  world = topo;
  // equirectangular projection, drawn by hand: a flat world map needs no projection library
  const W = 1000, H = 500, px = (lon) => (lon + 180) / 360 * W, py = (lat) => (90 - lat) / 180 * H;
  const features = topojson.feature(topo, topo.objects.countries).features;
  const s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, id: "worldmap", role: "img" });
  s.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#eef3f8" }));
  const centre = {};
  for (const f of features) {
    const polys = f.geometry ? (f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates) : [];
    let d = "", best = null;
    for (const poly of polys) {
      for (const ring of poly) d += "M" + ring.map(([lon, lat]) => px(lon).toFixed(1) + "," + py(lat).toFixed(1)).join("L") + "Z";
      if (!best || poly[0].length > best.length) best = poly[0];
    }
    const path = svg("path", { d, fill: "#d5dbe3", stroke: "#fff", "stroke-width": 0.5 });
    path.append(svg("title", {}, f.properties.name));
    s.append(path);
    if (best) { const xs = best.map((c) => c[0]), ys = best.map((c) => c[1]); centre[f.id] = [px((Math.min(...xs) + Math.max(...xs)) / 2), py((Math.min(...ys) + Math.max(...ys)) / 2)]; }
  }
  const at = (code) => centre[m.numeric[code]];
  const maxEur = Math.max(1, ...m.money.map((f) => f.amount_eur)), maxTrips = Math.max(1, ...m.travel.map((t) => t.journeys));
  const arc = (a, b, width, colour, dash, label) => {
    const [x1, y1] = a, [x2, y2] = b, mx = (x1 + x2) / 2, my = (y1 + y2) / 2 - Math.hypot(x2 - x1, y2 - y1) / 4;
    const p = svg("path", { d: "M" + x1 + "," + y1 + " Q" + mx + "," + my + " " + x2 + "," + y2, fill: "none", stroke: colour, "stroke-width": width, "stroke-opacity": 0.7, "stroke-dasharray": dash, class: "flow" });
    p.append(svg("title", {}, label));
    s.append(p, svg("circle", { cx: x2, cy: y2, r: 2.5, fill: colour }));
  };
  for (const t of m.travel) if (at(t.from) && at(t.to)) arc(at(t.from), at(t.to), 1 + 5 * Math.sqrt(t.journeys / maxTrips), "#1f5fa8", "4 3", t.from + " → " + t.to + ": " + t.journeys + " journeys");
  for (const f of m.money) if (at(f.from) && at(f.to) && f.from !== f.to) arc(at(f.from), at(f.to), 1 + 7 * Math.sqrt(f.amount_eur / maxEur), "#2b8a3e", "", f.from + " → " + f.to + ": " + fmt(Math.round(f.amount_eur)) + " EUR in " + f.payments + " payments");
  show(el("h1", {}, "Cross-border movements and money"),
    el("div", { class: "toolbar" }, since, until, el("button", { type: "button", on: { click: () => { location.hash = "#/map/?" + q.slice(1); map().catch(failure); } } }, "Show")),
    el("p", { class: "muted" }, "Green: payments between the payer's and the payee's bank country (width ∝ √EUR); blue dashed: journeys in border records (width ∝ √journeys). World boundaries: Natural Earth 1:110m, shipped with Palermo."),
    s,
    el("h2", {}, "Money between countries"),
    table(["from", "to", "payments", "EUR", "by currency", "files"], m.money.filter((f) => f.from !== f.to).map((f) => [f.from, f.to, f.payments, Math.round(f.amount_eur), Object.entries(f.by_currency).map(([c, v]) => fmt(v) + " " + c).join(", "), f.files.join(", ")])),
    m.unconverted_currencies.length ? el("p", { class: "muted" }, "Not in EUR (no rate given to palermo serve --rates): " + m.unconverted_currencies.join(", ")) : null,
    el("h2", {}, "Journeys between countries"),
    table(["from", "to", "journeys", "files"], m.travel.map((t) => [t.from, t.to, t.journeys, t.files.join(", ")])));
}

start().catch(() => renderLogin());
