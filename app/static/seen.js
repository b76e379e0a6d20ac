/* Seen is a fact: while this page is visible (document.visibilityState, not merely an open socket),
   report the open alarms on screen, so the first time each person saw each alarm, and on which
   device, goes on the session's record. Repeats record nothing on the server; this page also stops
   reporting an alarm once the server has answered for it. A hidden tab reports nothing. */
(function () {
  "use strict";
  var answered = {};   // escalation id -> true once the server has recorded (or already had) it
  var pending = {};    // session id + ids -> Idempotency-Key, reused only when a request got no answer
  var inFlight = {};

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function deviceId() {
    var id = localStorage.getItem("holdspace-device");
    if (!id) {
      id = "tablet-" + randomId().slice(0, 8);
      localStorage.setItem("holdspace-device", id);
    }
    return id;
  }

  function onScreen(el) {
    if (!el.getClientRects().length) return false;
    var box = el.getBoundingClientRect();
    return box.bottom > 0 && box.top < (window.innerHeight || document.documentElement.clientHeight);
  }

  function send(sessionId, ids) {
    var intent = sessionId + "|" + ids.join(",");
    if (inFlight[intent]) return;
    var key = pending[intent] || (pending[intent] = randomId());
    inFlight[intent] = true;
    fetch("/api/v1/sessions/" + encodeURIComponent(sessionId) + "/seen", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": meta("csrf-token"),
        "X-Holdspace-Device": deviceId(),
        "Idempotency-Key": key
      },
      body: JSON.stringify({ escalation_ids: ids })
    }).then(function (response) {
      delete inFlight[intent];
      if (response.status < 500) {
        delete pending[intent];
        // Recorded, already on record, or not ours to report: in each case, stop asking.
        ids.forEach(function (id) { answered[id] = true; });
      }
    }, function () {
      delete inFlight[intent];  // no answer: the same key goes again with the next report
    });
  }

  function report() {
    if (document.visibilityState !== "visible") return;
    var bySession = {};
    document.querySelectorAll("[data-escalation-id][data-session-id]").forEach(function (el) {
      var id = el.getAttribute("data-escalation-id");
      if (answered[id] || !onScreen(el)) return;
      var sid = el.getAttribute("data-session-id");
      (bySession[sid] = bySession[sid] || []).push(id);
    });
    Object.keys(bySession).forEach(function (sid) { send(sid, bySession[sid].sort()); });
  }

  document.addEventListener("visibilitychange", report);
  document.addEventListener("htmx:afterSettle", report);
  document.addEventListener("htmx:wsAfterMessage", function () { setTimeout(report, 50); });
  window.addEventListener("scroll", report, { passive: true });
  window.addEventListener("load", report);
  setInterval(report, 2000);
})();
