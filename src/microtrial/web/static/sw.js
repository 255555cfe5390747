// The service worker (served as /sw.js, scope "/"). It keeps for offline use:
// - the static files (SHELL, one cache per release),
// - the signed-in patient's own form pages (MicroTrialOutbox.PAGES: Today, with the period guess
//   when one is due, the mood and anxiety questionnaires and the headache-attack log) in the
//   PAGES cache, refreshed on every visit online and served only when the network fails.
// Nothing else is kept: no clinic page, no API answer, no history or report, so no arm and no
// other patient's data is ever stored here. Signing in or out empties PAGES; so does a visit
// that the server sends to the sign-in page (the session has ended).
// A form sent while the network fails (the phone thinks it is online) is kept in the outbox
// (static/outbox.js, IndexedDB) and the patient comes back to the page, which sends it later.
"use strict";
importScripts("/static/outbox.js");

var VERSION = "__VERSION__";
var SHELL = "mt-shell-" + VERSION;
var PAGES = "mt-pages";
var SHELL_FILES = __SHELL_FILES__;
var OFFLINE_PAGE = "/static/offline.html";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_FILES); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("mt-shell-") === 0 && name !== SHELL;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function forgetPages() { return caches.delete(PAGES); }

// Network first; a good answer replaces the page's offline copy (kept without its query).
function formPage(request, path) {
  return fetch(request).then(function (response) {
    var landed = new URL(response.url || request.url).pathname;
    if (response.redirected && landed === "/login") {
      return forgetPages().then(function () { return response; });
    }
    if (response.ok && response.type === "basic" && landed === path) {
      var copy = response.clone();
      caches.open(PAGES).then(function (cache) { return cache.put(path, copy); });
    }
    return response;
  }, function () {
    return caches.open(PAGES).then(function (cache) { return cache.match(path); })
      .then(function (kept) { return kept || caches.match(OFFLINE_PAGE); });
  });
}

// A form POST that cannot reach the server goes to the outbox instead of being lost.
function sendOrKeep(request, path) {
  var copy = request.clone();
  return fetch(request).catch(function () {
    return copy.formData().then(function (form) {
      return self.MicroTrialOutbox.keep(path, Array.from(form.entries()), null);
    }).then(function () {
      var back = self.MicroTrialOutbox.PAGE_OF[path] || path;
      return Response.redirect(back + "?kept=1", 303);
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var path = url.pathname;
  if (request.method === "POST") {
    if (path === "/login" || path === "/logout") { event.waitUntil(forgetPages()); return; }
    if (self.MicroTrialOutbox.FORMS[path] && request.mode === "navigate") {
      event.respondWith(sendOrKeep(request, path));
    }
    return;
  }
  if (request.method !== "GET") { return; }
  if (self.MicroTrialOutbox.PAGES.indexOf(path) >= 0) {
    if (request.mode === "navigate" || request.headers.get("X-Outbox") === "1") {
      event.respondWith(formPage(request, path));
    }
    return;
  }
  if (SHELL_FILES.indexOf(path) >= 0) {
    event.respondWith(caches.match(path).then(function (kept) { return kept || fetch(request); }));
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () { return caches.match(OFFLINE_PAGE); }));
  }
});
