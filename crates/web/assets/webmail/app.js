// estafeta's webmail: one page over JMAP (RFC 8620/8621). No framework, no build step.
// Message bodies are never put into this page: they are shown in a sandboxed iframe
// from /mail/render/<id>, which the server sanitises. Everything else is written with
// textContent, never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="estafeta-token"]').content;
const USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
  "urn:ietf:params:jmap:submission", "urn:ietf:params:jmap:vacationresponse"];
const PAGE = 50;
const $ = (id) => document.getElementById(id);
let account = null;
let boxes = [];          // Mailbox objects
let current = null;      // { mailbox id } or { search text }
let position = 0;
let shown = 0;
let identity = null;

function status(text) { $("status").textContent = text; }

async function jmap(calls) {
  const r = await fetch("/jmap/api", {
    method: "POST",
    headers: { "Authorization": "Bearer " + TOKEN, "Content-Type": "application/json" },
    body: JSON.stringify({ using: USING, methodCalls: calls }),
  });
  if (r.status === 401) { location.href = "/mail"; throw new Error("signed out"); }
  if (!r.ok) throw new Error("the server answered " + r.status);
  const out = (await r.json()).methodResponses;
  for (const [name, args] of out) {
    if (name === "error") throw new Error(args.type + ": " + (args.description || ""));
  }
  return out;
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function show(section) {
  for (const id of ["list", "reader", "composer", "settings"]) $(id).hidden = id !== section;
}

function who(addresses) {
  if (!addresses || !addresses.length) return "";
  return addresses.map((a) => a.name || a.email).join(", ");
}

function when(utc) {
  const d = new Date(utc);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString();
}

const ORDER = { inbox: 0, drafts: 1, sent: 2, archive: 3, junk: 4, trash: 5 };

async function loadFolders() {
  const [[, got]] = await jmap([["Mailbox/get", { accountId: account,
    properties: ["name", "parentId", "role", "unreadEmails", "totalEmails"] }, "0"]]);
  boxes = got.list.sort((a, b) =>
    ((ORDER[a.role] ?? 9) - (ORDER[b.role] ?? 9)) || a.name.localeCompare(b.name));
  const ul = $("folders");
  ul.replaceChildren();
  for (const m of boxes) {
    const li = el("li");
    const b = el("button", m.name, { type: "button", "data-mailbox": m.id });
    if (m.unreadEmails) b.append(" ", el("span", String(m.unreadEmails), { class: "unread", "aria-label": m.unreadEmails + " unread" }));
    if (current && current.mailbox === m.id) b.setAttribute("aria-current", "true");
    b.addEventListener("click", () => openFolder(m.id));
    li.append(b);
    ul.append(li);
  }
}

function role(r) { const m = boxes.find((b) => b.role === r); return m && m.id; }

async function openFolder(id) {
  current = { mailbox: id };
  position = 0;
  await loadFolders();
  await loadList();
}

// `reveal`: switch to the list (a refresh from push leaves whatever is open alone)
async function loadList(reveal = true) {
  const filter = current.mailbox ? { inMailbox: current.mailbox } : { text: current.search };
  const out = await jmap([
    ["Email/query", { accountId: account, filter, sort: [{ property: "receivedAt", isAscending: false }],
      collapseThreads: true, position, limit: PAGE }, "q"],
    ["Email/get", { accountId: account, "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
      properties: ["threadId", "subject", "from", "to", "receivedAt", "keywords", "preview", "mailboxIds"] }, "g"],
    ["Thread/get", { accountId: account, "#ids": { resultOf: "g", name: "Email/get", path: "/list/*/threadId" } }, "t"],
  ]);
  // no total is asked for: it would make the server thread every message at once
  shown = out[0][1].ids.length;
  const sizes = {};
  for (const t of out[2][1].list) sizes[t.id] = t.emailIds;
  const title = current.mailbox ? (boxes.find((b) => b.id === current.mailbox) || {}).name : 'Search: "' + current.search + '"';
  $("list-title").textContent = title || "";
  const rows = $("rows");
  rows.replaceChildren();
  for (const e of out[1][1].list) {
    const tr = el("tr", null, { "data-email": e.id });
    if (!e.keywords.$seen) tr.classList.add("unseen");
    if (e.keywords.$flagged) tr.classList.add("flagged");
    const sent = current.mailbox && current.mailbox === role("sent");
    const count = (sizes[e.threadId] || []).length;
    const subject = el("a", e.subject || "(no subject)", { href: "#" + e.id });
    subject.addEventListener("click", (ev) => { ev.preventDefault(); openThread(e, sizes[e.threadId] || [e.id]); });
    const cell = el("td");
    cell.append(subject);
    if (count > 1) cell.append(" ", el("span", "(" + count + ")", { class: "count", "aria-label": count + " messages" }));
    cell.append(el("span", " — " + (e.preview || ""), { class: "preview" }));
    tr.append(el("td", sent ? "To: " + who(e.to) : who(e.from)), cell, el("td", when(e.receivedAt)));
    rows.append(tr);
  }
  $("range").textContent = shown ? (position + 1) + "–" + (position + shown) : "No messages";
  $("newer").disabled = position === 0;
  $("older").disabled = shown < PAGE;
  if (reveal) show("list");
}

async function openThread(first, emailIds) {
  const [[, got]] = await jmap([["Email/get", { accountId: account, ids: emailIds,
    properties: ["subject", "from", "to", "cc", "replyTo", "receivedAt", "keywords", "mailboxIds", "messageId",
      "references", "attachments", "textBody", "bodyValues"], fetchTextBodyValues: true, maxBodyValueBytes: 100000 }, "0"]]);
  const reader = $("reader");
  reader.replaceChildren();
  const back = el("button", "Back to the list", { type: "button", class: "back" });
  back.addEventListener("click", () => loadList());
  reader.append(back, el("h2", first.subject || "(no subject)"));
  const unseen = got.list.filter((e) => !e.keywords.$seen).map((e) => e.id);
  for (const e of got.list) reader.append(messageView(e));
  show("reader");
  if (unseen.length) {
    const update = {};
    for (const id of unseen) update[id] = { "keywords/$seen": true };
    await jmap([["Email/set", { accountId: account, update }, "0"]]);
    loadFolders();
  }
}

function messageView(e) {
  const art = el("article", null, { "data-email": e.id });
  const head = el("dl");
  for (const [k, v] of [["From", who(e.from)], ["To", who(e.to)], ["Cc", who(e.cc)], ["Date", new Date(e.receivedAt).toLocaleString()]]) {
    if (v) head.append(el("dt", k), el("dd", v));
  }
  const actions = el("p", null, { class: "actions" });
  const action = (label, fn) => {
    const b = el("button", label, { type: "button" });
    b.addEventListener("click", fn);
    actions.append(b, " ");
  };
  action("Reply", () => compose(replyTo(e, false)));
  action("Reply all", () => compose(replyTo(e, true)));
  action("Forward", () => compose(forward(e)));
  action(e.keywords.$flagged ? "Unflag" : "Flag", async () => {
    await jmap([["Email/set", { accountId: account, update: { [e.id]: { "keywords/$flagged": e.keywords.$flagged ? null : true } } }, "0"]]);
    status(e.keywords.$flagged ? "Unflagged." : "Flagged.");
    loadList();
  });
  action("Delete", () => remove(e));
  const move = el("select", null, { "aria-label": "Move to folder" });
  move.append(el("option", "Move to…", { value: "" }));
  for (const m of boxes) if (!e.mailboxIds[m.id]) move.append(el("option", m.name, { value: m.id }));
  move.addEventListener("change", async () => {
    if (!move.value) return;
    await jmap([["Email/set", { accountId: account, update: { [e.id]: { mailboxIds: { [move.value]: true } } } }, "0"]]);
    status("Moved.");
    await loadFolders();
    await loadList();
  });
  actions.append(move);
  const frame = el("iframe", null, { src: "/mail/render/" + encodeURIComponent(e.id), sandbox: "allow-popups allow-popups-to-escape-sandbox",
    title: "Message from " + who(e.from), class: "body", referrerpolicy: "no-referrer" });
  art.append(head, actions, frame);
  // remote images stay blocked until asked for: the page offers them, not the message
  fetch("/mail/render/" + encodeURIComponent(e.id) + "?count=1").then((r) => r.json()).then(({ blockedImages }) => {
    if (!blockedImages) return;
    const note = el("p", blockedImages + (blockedImages === 1 ? " remote image" : " remote images") + " blocked. ", { class: "blocked" });
    const b = el("button", "Show images", { type: "button" });
    b.addEventListener("click", () => { frame.src = "/mail/render/" + encodeURIComponent(e.id) + "?images=1"; note.remove(); });
    note.append(b);
    art.insertBefore(note, frame);
  }).catch(() => {});
  if (e.attachments && e.attachments.length) {
    const ul = el("ul", null, { class: "attachments", "aria-label": "Attachments" });
    for (const a of e.attachments) {
      const name = a.name || "attachment";
      const href = "/jmap/download/" + account + "/" + encodeURIComponent(a.blobId) + "/" + encodeURIComponent(name) + "?type=" + encodeURIComponent(a.type);
      const li = el("li");
      li.append(el("a", name + " (" + Math.ceil(a.size / 1024) + " KB)", { href, download: name }));
      ul.append(li);
    }
    art.append(ul);
  }
  return art;
}

async function remove(e) {
  const trash = role("trash");
  if (trash && !e.mailboxIds[trash]) {
    await jmap([["Email/set", { accountId: account, update: { [e.id]: { mailboxIds: { [trash]: true } } } }, "0"]]);
    status("Moved to Trash.");
  } else {
    await jmap([["Email/set", { accountId: account, destroy: [e.id] }, "0"]]);
    status("Deleted.");
  }
  await loadFolders();
  await loadList();
}

function bodyText(e) {
  return (e.textBody || []).map((p) => (e.bodyValues[p.partId] || {}).value || "").join("\n");
}

function quote(e) {
  return "\n\nOn " + new Date(e.receivedAt).toLocaleString() + ", " + who(e.from) + " wrote:\n" +
    bodyText(e).split("\n").map((l) => "> " + l).join("\n");
}

function list(addresses) { return (addresses || []).map((a) => a.email).join(", "); }

function replyTo(e, all) {
  const me = identity ? identity.email.toLowerCase() : "";
  const to = list(e.replyTo && e.replyTo.length ? e.replyTo : e.from);
  const cc = all ? [...(e.to || []), ...(e.cc || [])].map((a) => a.email).filter((a) => a.toLowerCase() !== me).join(", ") : "";
  const subject = /^re:/i.test(e.subject || "") ? e.subject : "Re: " + (e.subject || "");
  const refs = [...(e.references || []), ...(e.messageId || [])];
  return { to, cc, subject, body: quote(e), inReplyTo: e.messageId, references: refs, answered: e.id };
}

function forward(e) {
  return { to: "", cc: "", subject: "Fwd: " + (e.subject || ""), body: "\n\n---------- Forwarded message ----------\nFrom: " +
    who(e.from) + "\nSubject: " + (e.subject || "") + "\n\n" + bodyText(e), attachments: e.attachments || [] };
}

let draft = null;

function compose(d) {
  draft = d || { to: "", cc: "", subject: "", body: "" };
  $("to").value = draft.to;
  $("cc").value = draft.cc;
  $("subject").value = draft.subject;
  $("body").value = draft.body;
  $("files").value = "";
  show("composer");
  (draft.to ? $("body") : $("to")).focus();
  if (draft.to) $("body").setSelectionRange(0, 0);
}

function addresses(text) {
  return text.split(/[,;]/).map((s) => s.trim()).filter(Boolean).map((email) => ({ email }));
}

async function upload(file) {
  const r = await fetch("/jmap/upload/" + account + "/", { method: "POST",
    headers: { "Authorization": "Bearer " + TOKEN, "Content-Type": file.type || "application/octet-stream" }, body: file });
  if (!r.ok) throw new Error("the upload of " + file.name + " failed (" + r.status + ")");
  const b = await r.json();
  return { blobId: b.blobId, type: b.type, name: file.name };
}

async function send(ev) {
  ev.preventDefault();
  $("send").disabled = true;
  try {
    status("Sending…");
    const attachments = [...(draft.attachments || []).map((a) => ({ blobId: a.blobId, type: a.type, name: a.name }))];
    for (const f of $("files").files) attachments.push(await upload(f));
    const email = {
      mailboxIds: { [role("drafts")]: true },
      keywords: { $draft: true, $seen: true },
      from: [{ name: identity.name || "", email: identity.email }],
      to: addresses($("to").value),
      subject: $("subject").value,
      textBody: [{ partId: "t", type: "text/plain" }],
      bodyValues: { t: { value: $("body").value } },
    };
    const cc = addresses($("cc").value);
    if (cc.length) email.cc = cc;
    if (draft.inReplyTo) email.inReplyTo = draft.inReplyTo;
    if (draft.references && draft.references.length) email.references = draft.references;
    if (attachments.length) email.attachments = attachments;
    const onSuccess = { ["mailboxIds/" + role("drafts")]: null, "keywords/$draft": null };
    if (role("sent")) onSuccess["mailboxIds/" + role("sent")] = true;
    const out = await jmap([
      ["Email/set", { accountId: account, create: { d: email } }, "0"],
      ["EmailSubmission/set", { accountId: account, create: { s: { identityId: identity.id, emailId: "#d" } },
        onSuccessUpdateEmail: { "#s": onSuccess } }, "1"],
    ]);
    const made = out[0][1];
    if (made.notCreated && made.notCreated.d) throw new Error(made.notCreated.d.description || made.notCreated.d.type);
    const sub = out[1][1];
    if (sub.notCreated && sub.notCreated.s) throw new Error(sub.notCreated.s.description || sub.notCreated.s.type);
    if (draft.answered) await jmap([["Email/set", { accountId: account, update: { [draft.answered]: { "keywords/$answered": true } } }, "0"]]);
    status("Sent.");
    draft = null;
    await loadFolders();
    await loadList();
  } catch (e) {
    status("Not sent: " + e.message);
  } finally {
    $("send").disabled = false;
  }
}

async function openSettings() {
  const [[, got]] = await jmap([["VacationResponse/get", { accountId: account }, "0"]]);
  const v = got.list[0];
  $("vacation-on").checked = v.isEnabled;
  $("vacation-subject").value = v.subject || "";
  $("vacation-text").value = v.textBody || "";
  show("settings");
}

async function saveSettings(ev) {
  ev.preventDefault();
  const [[, r]] = await jmap([["VacationResponse/set", { accountId: account, update: { singleton: {
    isEnabled: $("vacation-on").checked, subject: $("vacation-subject").value, textBody: $("vacation-text").value } } }, "0"]]);
  status(r.updated && "singleton" in r.updated ? "Vacation reply saved." : "Not saved: " + JSON.stringify(r.notUpdated));
}

function listen() {
  // the session cookie authenticates the stream; states are compared by reloading
  const source = new EventSource("/jmap/eventsource?types=Email,Mailbox&closeafter=no&ping=60");
  source.addEventListener("state", async () => {
    await loadFolders();
    await loadList(false);
  });
}

async function start() {
  const r = await fetch("/jmap/session", { headers: { "Authorization": "Bearer " + TOKEN } });
  if (!r.ok) { status("Signing in failed: reload the page."); return; }
  const session = await r.json();
  account = session.primaryAccounts["urn:ietf:params:jmap:mail"];
  const [[, ids]] = await jmap([["Identity/get", { accountId: account }, "0"]]);
  identity = ids.list[0];
  await loadFolders();
  current = { mailbox: role("inbox") || (boxes[0] && boxes[0].id) };
  await loadFolders();
  await loadList();
  $("newer").addEventListener("click", () => { position = Math.max(0, position - PAGE); loadList(); });
  $("older").addEventListener("click", () => { position += PAGE; loadList(); });
  $("compose-button").addEventListener("click", () => compose(null));
  $("discard").addEventListener("click", () => { draft = null; loadList(); });
  $("compose").addEventListener("submit", send);
  $("settings-button").addEventListener("click", openSettings);
  $("vacation").addEventListener("submit", saveSettings);
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("q").value.trim();
    if (!q) return;
    current = { search: q };
    position = 0;
    loadFolders();
    loadList();
  });
  document.body.setAttribute("data-ready", "true");
  listen();
}

start().catch((e) => status("Error: " + e.message));
