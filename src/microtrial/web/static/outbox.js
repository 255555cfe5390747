// The offline outbox: Today's diary (with side effects, blood pressure and the capsule check-in),
// the period guess on Today, the mood and anxiety questionnaires and the headache-attack log,
// saved while offline, wait on this phone (IndexedDB) and are sent when the connection returns.
// Each keeps its form's submission id, from which the server makes the idempotency keys
// (web-<id>-<instrument>, web-<id>-dose, web-<id>-guess, web-<id>-attack), so a repeated send
// lands once; and the day it was filled in for. The server applies every safety rule when it arrives.
// Loaded by the patient pages and, through importScripts, by the service worker (sw.js), which
// uses only the storage half.
(function (scope) {
  "use strict";
  // The forms kept offline (by where they are sent), with their names in the list of what waits.
  var FORMS = {
    "/today": "Today's diary",
    "/guess": "My guess",
    "/questionnaires/phq9": "Mood questionnaire",
    "/questionnaires/gad7": "Anxiety questionnaire",
    "/attacks": "Headache attack"
  };
  // The pages the worker keeps a copy of (each holds some of the forms above), and for a form
  // sent from another page, the page the patient comes back to.
  var PAGES = ["/today", "/questionnaires/phq9", "/questionnaires/gad7", "/attacks"];
  var PAGE_OF = { "/guess": "/today" };
  var WORDS = {
    heading: "Saved on this phone",
    offline: "You are offline. What you save now stays on this phone and is sent when you are back online.",
    waiting: "Waiting to be sent",
    sent: "Sent",
    problem: "Not accepted",
    signIn: "Sign in again to send what is waiting.",
    onlineOnly: "You are offline. This form can only be sent when you are back online.",
    forDay: "for",
    savedAt: "saved at"
  };
  // The page's language: the server puts the words in #mt-words (English above is the default).
  (function () {
    var block = scope.document && scope.document.getElementById("mt-words");
    if (!block) { return; }
    try {
      var words = JSON.parse(block.textContent || "{}");
      Object.keys(words).forEach(function (key) {
        if (key.indexOf("form:") === 0) { FORMS[key.slice(5)] = words[key]; }
        else if (Object.prototype.hasOwnProperty.call(WORDS, key)) { WORDS[key] = words[key]; }
      });
      if (scope.localStorage && scope.document.documentElement.lang) {
        scope.localStorage.setItem("mt-lang", scope.document.documentElement.lang);
      }
    } catch (ignored) { /* keep English */ }
  })();
  var KEEP_SENT_MS = 3 * 24 * 3600 * 1000;

  function open() {
    return new Promise(function (resolve, reject) {
      var request = scope.indexedDB.open("microtrial-outbox", 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore("items", { keyPath: "id", autoIncrement: true });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function run(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("items", mode);
        var result = work(tx.objectStore("items"));
        tx.oncomplete = function () { db.close(); resolve(result && result.result !== undefined ? result.result : result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function all() { return run("readonly", function (store) { return store.getAll(); }); }
  function put(item) { return run("readwrite", function (store) { return store.put(item); }); }
  function remove(id) { return run("readwrite", function (store) { return store.delete(id); }); }

  function field(fields, name) {
    for (var i = 0; i < fields.length; i += 1) { if (fields[i][0] === name) { return fields[i][1]; } }
    return "";
  }

  function setField(fields, name, value) {
    var kept = fields.filter(function (pair) { return pair[0] !== name; });
    kept.push([name, value]);
    return kept;
  }

  function newId() {
    var bytes = new Uint8Array(16);
    scope.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function sameAnswers(a, b) {
    function text(fields) {
      return JSON.stringify(fields.filter(function (p) { return p[0] !== "csrf_token"; }).sort());
    }
    return text(a) === text(b);
  }

  // Keep a submission. The same form sent twice (a double tap) is kept once; another form that
  // carries a submission id already kept (a page shown again from the offline copy) gets its own.
  function keep(action, fields, user) {
    return all().then(function (items) {
      var sid = field(fields, "submission_id");
      var twin = items.filter(function (it) {
        return it.action === action && field(it.fields, "submission_id") === sid;
      })[0];
      if (twin && sameAnswers(twin.fields, fields)) { return twin; }
      if (twin || !sid) { fields = setField(fields, "submission_id", newId()); }
      var item = {
        action: action, fields: fields, user: user, status: "waiting", message: "",
        local_date: field(fields, "local_date") || field(fields, "started").slice(0, 10),
        made_at: Date.now(), sent_at: null
      };
      return put(item).then(function (id) { item.id = id; return item; });
    });
  }

  scope.MicroTrialOutbox = {
    FORMS: FORMS, PAGES: PAGES, PAGE_OF: PAGE_OF, keep: keep, all: all, put: put, remove: remove
  };
  if (typeof scope.document === "undefined") { return; }

  // ---- the page: register the worker, keep offline submissions, send them, say what happened
  var document = scope.document;
  var main = document.getElementById("main");
  var meta = document.querySelector('meta[name="mt-user"]');
  var user = meta ? meta.getAttribute("content") : null;
  var dirty = false;
  var sending = false;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").catch(function () { /* the pages work without it */ });
  }
  if (!user || !main) { return; }

  function isoDay(date) {
    return date.getFullYear() + "-" + ("0" + (date.getMonth() + 1)).slice(-2) + "-" + ("0" + date.getDate()).slice(-2);
  }
  function dayNumber(iso) { var p = iso.split("-"); return Date.UTC(+p[0], +p[1] - 1, +p[2]) / 86400000; }
  function fromDayNumber(n) { return new Date(n * 86400000).toISOString().slice(0, 10); }

  // The page's diary day comes from the server (the patient's time zone, the server's clock).
  // An offline copy of the page shown on a later day moves it on by the days this phone has seen
  // pass since the server first gave that day.
  var DAYS = "mt-days-" + user;
  function daysSeen() { try { return JSON.parse(localStorage.getItem(DAYS) || "{}"); } catch (e) { return {}; } }
  function noteDay(serverDay) {
    var seen = daysSeen();
    if (!serverDay || seen[serverDay]) { return; }
    seen[serverDay] = isoDay(new Date());
    var keys = Object.keys(seen).sort();
    while (keys.length > 30) { delete seen[keys.shift()]; }
    localStorage.setItem(DAYS, JSON.stringify(seen));
  }
  function dayNow(serverDay) {
    var first = daysSeen()[serverDay];
    if (!first) { return serverDay; }
    var passed = dayNumber(isoDay(new Date())) - dayNumber(first);
    return passed > 0 ? fromDayNumber(dayNumber(serverDay) + passed) : serverDay;
  }

  // The pages' language; English is written as the server writes it ("Monday 2 March 2026").
  var LANG = (document.documentElement.lang || "en").replace(/^en$/, "en-GB");
  function longDay(iso) {
    var format = new Intl.DateTimeFormat(LANG, {
      weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC"
    });
    return format.formatToParts(new Date(iso + "T12:00:00Z"))
      .filter(function (part) { return part.type !== "literal"; })
      .map(function (part) { return part.value; }).join(" ");
  }
  function clock(ms) {
    return new Date(ms).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit" });
  }

  function box() {
    var section = document.getElementById("outbox");
    if (section) { return section; }
    section = document.createElement("section");
    section.id = "outbox";
    section.className = "card outbox";
    section.setAttribute("aria-labelledby", "outbox-h");
    section.hidden = true;
    var heading = document.createElement("h2");
    heading.id = "outbox-h";
    heading.tabIndex = -1;
    heading.textContent = WORDS.heading;
    var live = document.createElement("div");
    live.id = "outbox-status";
    live.setAttribute("role", "status");
    section.appendChild(heading);
    section.appendChild(live);
    var title = main.querySelector("h1");
    if (title) { title.insertAdjacentElement("afterend", section); } else { main.prepend(section); }
    return section;
  }

  function line(list, className, text) {
    var li = document.createElement("li");
    li.className = className;
    li.textContent = text;
    list.appendChild(li);
  }

  function describe(item) {
    var what = FORMS[item.action] || item.action;
    if (/^\d{4}-\d{2}-\d{2}$/.test(item.local_date || "")) {
      what += " " + WORDS.forDay + " " + longDay(item.local_date);
    }
    return what + " (" + WORDS.savedAt + " " + clock(item.made_at) + ")";
  }

  function show(extra) {
    return all().then(function (items) {
      var now = Date.now();
      var mine = items.filter(function (it) { return it.user === user; });
      mine.filter(function (it) { return it.status === "sent" && now - it.sent_at > KEEP_SENT_MS; })
        .forEach(function (it) { remove(it.id); });
      var shown = mine.filter(function (it) { return it.status !== "sent" || now - it.sent_at <= KEEP_SENT_MS; });
      var section = box();
      var live = document.getElementById("outbox-status");
      live.textContent = "";
      var lines = [];
      if (!navigator.onLine) { lines.push(WORDS.offline); }
      if (extra) { lines.push(extra); }
      lines.forEach(function (text) { var p = document.createElement("p"); p.textContent = text; live.appendChild(p); });
      var list = document.createElement("ul");
      shown.forEach(function (it) {
        if (it.status === "waiting") { line(list, "waiting", WORDS.waiting + ": " + describe(it)); }
        else if (it.status === "problem") { line(list, "problem", WORDS.problem + ": " + describe(it) + ". " + it.message); }
        else { line(list, "sent", WORDS.sent + ": " + describe(it) + (it.message ? ". " + it.message : "")); }
      });
      if (list.children.length) { live.appendChild(list); }
      section.hidden = live.children.length === 0;
      return shown;
    });
  }

  function formOf(form) {
    var action = new URL(form.action, location.href).pathname;
    return FORMS[action] ? action : null;
  }

  function onSubmit(event) {
    var form = event.target;
    var action = formOf(form);
    if (!action) {
      if (!navigator.onLine) { event.preventDefault(); show(WORDS.onlineOnly); }
      return;
    }
    var day = form.querySelector('input[name="local_date"]');
    if (day) { day.value = dayNow(day.value); }
    if (navigator.onLine) { return; }  // sent as usual; the worker keeps it if the network fails
    event.preventDefault();
    var fields = Array.from(new FormData(form).entries()).filter(function (p) { return typeof p[1] === "string"; });
    keep(action, fields, user).then(function () {
      form.reset();
      var sid = form.querySelector('input[name="submission_id"]');
      if (sid) { sid.value = newId(); }
      dirty = false;
      return show();
    }).then(function () {
      var heading = document.getElementById("outbox-h");
      if (heading) { heading.focus(); }
    });
  }

  function page(html) { return new DOMParser().parseFromString(html, "text/html"); }

  // The page's refusal without its bold lead ("Please check:" in the page's language).
  function refusal(doc) {
    var error = doc.querySelector(".error");
    if (!error) { return ""; }
    var copy = error.cloneNode(true);
    var lead = copy.querySelector("strong");
    if (lead) { lead.remove(); }
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  // Send one kept submission; answers "sent", "problem", "sign-in" or "later".
  function sendOne(item, token) {
    var body = new URLSearchParams();
    item.fields.forEach(function (pair) { if (pair[0] !== "csrf_token") { body.append(pair[0], pair[1]); } });
    body.append("csrf_token", token);
    body.append("saved_ago_s", String(Math.max(0, Math.round((Date.now() - item.made_at) / 1000))));
    return fetch(item.action, { method: "POST", body: body, credentials: "same-origin" }).then(function (response) {
      var landed = new URL(response.url, location.href).pathname;
      if (response.redirected && landed === "/login") { return "sign-in"; }
      if (response.status === 403) { return "sign-in"; }
      if (response.redirected || response.ok) { return "sent"; }
      if (response.status >= 500) { return "later"; }
      return response.text().then(function (html) {
        var doc = page(html);
        item.message = refusal(doc);
        // A refused capsule check-in after a saved diary: the diary was sent (the notice's
        // catalog id says so in every language).
        var flash = doc.querySelector(".notice[data-flash]");
        return flash && /saved/i.test(flash.getAttribute("data-flash")) ? "sent" : "problem";
      });
    }, function () { return "later"; });
  }

  // What the server says now on Today (a hold, crisis lines, an ended trial), shown on this page.
  var NOTICES = ["hold-notice", "crisis", "ended-notice"];
  function showNotices(doc) {
    var after = box();
    NOTICES.forEach(function (id) {
      var fresh = doc.getElementById(id);
      var here = document.getElementById(id);
      if (!fresh || fresh.hidden) { return; }
      var copy = document.importNode(fresh, true);
      if (here) { here.replaceWith(copy); } else { after.insertAdjacentElement("afterend", copy); after = copy; }
    });
  }

  // The parts of this page that show what was saved (marked data-refresh, with an id), fetched
  // again once what waited is sent (the attack log's list of attacks).
  function refreshParts() {
    var parts = document.querySelectorAll("main [data-refresh][id]");
    if (!parts.length || location.pathname === "/today") { return Promise.resolve(); }
    var headers = { "X-Outbox": "1" };
    return fetch(location.pathname, { credentials: "same-origin", headers: headers, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
        if (!html) { return; }
        var doc = page(html);
        parts.forEach(function (part) {
          var fresh = doc.getElementById(part.id);
          if (fresh) { part.replaceWith(document.importNode(fresh, true)); }
        });
      }, function () { /* kept as it was */ });
  }

  function fetchToday() {
    return fetch("/today", { credentials: "same-origin", headers: { "X-Outbox": "1" }, cache: "no-store" });
  }

  function flush() {
    if (sending || !navigator.onLine) { return Promise.resolve(); }
    sending = true;
    var count = 0;
    return all().then(function (items) {
      var waiting = items.filter(function (it) { return it.status === "waiting" && (it.user === user || it.user === null); });
      if (!waiting.length) { return null; }
      return fetchToday().then(function (response) {
        if (response.redirected && new URL(response.url).pathname === "/login") { return WORDS.signIn; }
        return response.text().then(function (html) {
          var doc = page(html);
          var now = doc.querySelector('meta[name="mt-user"]');
          var token = doc.querySelector('input[name="csrf_token"]');
          if (!now || now.getAttribute("content") !== user || !token) { return WORDS.signIn; }
          var chain = Promise.resolve(null);
          waiting.sort(function (a, b) { return a.made_at - b.made_at; }).forEach(function (item) {
            chain = chain.then(function (stop) {
              if (stop) { return stop; }
              return sendOne(item, token.value).then(function (outcome) {
                if (outcome === "sign-in") { return WORDS.signIn; }
                if (outcome === "later") { return ""; }
                item.user = user;
                item.status = outcome;
                item.sent_at = Date.now();
                count += 1;
                return put(item).then(function () { return null; });
              });
            });
          });
          return chain;
        });
      }, function () { return null; });
    }).then(function (stop) {
      sending = false;
      if (!count) { return show(stop || null); }
      if (location.pathname === "/today" && !dirty) { location.replace("/today"); return null; }
      return refreshParts().then(fetchToday).then(function (r) { return r.text(); }).then(function (html) {
        showNotices(page(html));
        return show(stop || null);
      }, function () { return show(stop || null); });
    }, function () { sending = false; });
  }

  document.querySelectorAll("main form").forEach(function (form) {
    var day = form.querySelector('input[name="local_date"]');
    if (day && formOf(form) && navigator.onLine) { noteDay(day.value); }
    form.addEventListener("submit", onSubmit);
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
  });
  scope.addEventListener("online", function () { show().then(flush); });
  scope.addEventListener("offline", function () { show(); });
  show().then(flush);
})(self);
