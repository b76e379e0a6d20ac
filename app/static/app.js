/* Holdspace page behaviour: JSON requests for htmx, idempotency keys, and an honest live link. */
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.content : "";
  }

  // crypto.randomUUID needs a secure context; clinic tablets may reach the app over plain http.
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

  // Times are shown in the clinic's zone (HOLDSPACE_TIMEZONE), not the tablet's.
  function clockText(date) {
    var options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    var zone = meta("time-zone");
    if (zone) options.timeZone = zone;
    try {
      return date.toLocaleTimeString([], options);
    } catch (err) {
      delete options.timeZone;
      return date.toLocaleTimeString([], options);
    }
  }

  // Form names carry their type and shape: "bp.sbp:int" -> {"bp": {"sbp": 120}}, "touch[]" -> a list.
  function formToObject(formData) {
    var out = {};
    formData.forEach(function (raw, rawName) {
      if (raw === "") return;
      var parts = rawName.split(":");
      var name = parts[0];
      var type = parts[1];
      var value = raw;
      if (type === "int") value = parseInt(raw, 10);
      else if (type === "float") value = parseFloat(raw);
      else if (type === "bool") value = raw === "true" || raw === "on";
      var isList = name.slice(-2) === "[]";
      if (isList) name = name.slice(0, -2);
      var path = name.split(".");
      var target = out;
      for (var i = 0; i < path.length - 1; i++) {
        target = target[path[i]] = target[path[i]] || {};
      }
      var last = path[path.length - 1];
      if (isList) (target[last] = target[last] || []).push(value);
      else target[last] = value;
    });
    return out;
  }

  var api;
  htmx.defineExtension("hs-json", {
    init: function (apiRef) { api = apiRef; },
    onEvent: function (name, evt) {
      if (name === "htmx:configRequest") evt.detail.headers["Content-Type"] = "application/json";
      return true;
    },
    encodeParameters: function (xhr, parameters, elt) {
      xhr.overrideMimeType("text/json");
      var body = formToObject(parameters);
      // hx-vals keep their JSON types (numbers, booleans).
      var vals = api.getExpressionVars(elt);
      Object.keys(vals).forEach(function (k) { body[k] = vals[k]; });
      return JSON.stringify(body);
    }
  });

  // Short reconnect delays: an alarm screen must not wait for the extension's 64 s back-off.
  htmx.config.wsReconnectDelay = function (retry) { return Math.min(500 + retry * 750, 3000); };
  // The rest of htmx's settings (no eval, error answers never swapped in) are in base.html's
  // htmx-config meta tag.

  document.addEventListener("htmx:configRequest", function (e) {
    var d = e.detail;
    d.headers["X-CSRF-Token"] = meta("csrf-token");
    d.headers["X-Holdspace-Device"] = deviceId();
    if (d.verb !== "get") {
      // One key per intent: a retry after a lost answer reuses it; a new tap after an answer gets a new one.
      if (!d.elt._holdspaceKey) d.elt._holdspaceKey = randomId();
      d.headers["Idempotency-Key"] = d.elt._holdspaceKey;
    }
  });

  // ---- entry dialogs: forms live outside the live region, so a push never wipes what is typed ----
  function entryDialog() { return document.getElementById("entry-dialog"); }

  function list(text) { try { return JSON.parse(text || "[]"); } catch (err) { return []; } }

  // The entry forms live in the page; the opener (in the pushed fragment) says whose they are.
  function fillForm(fragment, button, who) {
    // What the form needs to know is on the button or on the participant's card around it.
    var card = button.closest("article");
    var opener = { dataset: Object.assign({}, card ? card.dataset : {}, button.dataset) };
    var base = opener.dataset.base || "";
    fragment.querySelectorAll("[hx-post], [hx-put], [hx-delete]").forEach(function (el) {
      ["hx-post", "hx-put", "hx-delete"].forEach(function (name) {
        var value = el.getAttribute(name);
        if (value && value.indexOf("{base}") >= 0) value = value.split("{base}").join(base);
        if (value && value.indexOf("{user}") >= 0) value = value.split("{user}").join(encodeURIComponent(opener.dataset.user || ""));
        if (value) el.setAttribute(name, value);
      });
    });
    fragment.querySelectorAll('[data-fill="user"]').forEach(function (el) { el.textContent = opener.dataset.user || ""; });
    fragment.querySelectorAll('[data-fill="name"]').forEach(function (el) {
      el.textContent = who ? who.textContent.trim() : "";
    });
    fragment.querySelectorAll("[data-unless-phase]").forEach(function (el) {
      if (el.dataset.unlessPhase === opener.dataset.phase) el.remove();
    });
    var altered = opener.dataset.altered === "true";
    if (altered) {
      fragment.querySelectorAll("option[data-select-if-altered]").forEach(function (el) { el.selected = true; });
    }
    var consent = (opener.dataset.consent || "").split(" ");
    fragment.querySelectorAll("[data-needs]").forEach(function (el) {
      if (consent.indexOf(el.dataset.needs) < 0) el.remove();
    });
    var live = document.getElementById("room-live");
    var session = live ? live.dataset : {};
    fragment.querySelectorAll("[data-if-altered]").forEach(function (el) { if (!altered) el.remove(); });
    var present = list(session.present);
    fragment.querySelectorAll("[data-if-me-present]").forEach(function (el) {
      if (present.indexOf(meta("holdspace-user")) < 0) el.remove();
    });
    fragment.querySelectorAll("[data-unless-away]").forEach(function (el) { if (opener.dataset.away === "true") el.remove(); });
    fragment.querySelectorAll("[data-if-dyad]").forEach(function (el) { if (session.kind !== "dyad_training") el.remove(); });
    function option(value, label) {
      var el = document.createElement("option");
      el.value = value;
      el.textContent = label;
      return el;
    }
    fragment.querySelectorAll('select[data-fill="present"]').forEach(function (select) {
      present.forEach(function (u) { select.appendChild(option(u, u)); });
    });
    fragment.querySelectorAll('select[data-fill="partners"]').forEach(function (select) {
      list(session.partners).forEach(function (q) { if (q.id !== opener.dataset.pid) select.appendChild(option(q.id, q.name)); });
    });
    fragment.querySelectorAll('ul[data-fill="support"]').forEach(function (ul) {
      list(opener.dataset.support).forEach(function (s) {
        var li = document.createElement("li");
        var remove = document.createElement("button");
        remove.className = "small";
        remove.setAttribute("hx-delete", base + "/support/" + encodeURIComponent(s.id));
        remove.setAttribute("hx-swap", "none");
        remove.textContent = "remove";
        li.append(s.name + " ", remove);
        ul.appendChild(li);
      });
    });
    return fragment;
  }

  // The start-session form is the same for everyone; the page ticks the one who is signed in.
  function checkMe(root) {
    var me = meta("holdspace-user");
    if (!me || !root || !root.querySelectorAll) return;
    root.querySelectorAll("input[data-check-if-me]").forEach(function (el) {
      if (el.value === me && !el.dataset.seen) el.checked = true;
      el.dataset.seen = "true";
    });
    root.querySelectorAll("[data-check-in]").forEach(function (el) {
      if (el.dataset.checkIn !== me || el.dataset.mine) return;
      el.dataset.mine = "true";
      el.textContent = "Check me in (" + me + ")";
      el.classList.remove("ghost");
      el.classList.add("primary");
      el.parentNode.insertBefore(el, el.parentNode.querySelector("[data-check-in]"));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { checkMe(document); updateTimes(); });
  document.addEventListener("htmx:oobAfterSwap", function (e) { checkMe(document); updateTimes(); });
  document.addEventListener("htmx:afterSwap", function () { checkMe(document); updateTimes(); });

  // Presence: your own check-in and step-out are one tap; anyone else's asks for their own PIN.
  function presenceTap(button, action, dialogId) {
    var who = button.dataset.user;
    if (who !== meta("holdspace-user")) { openDialog(button, dialogId); return; }
    if (action === "check-out" && !window.confirm("Check yourself out of the room?")) return;
    htmx.ajax("POST", button.dataset.base + "/facilitators/" + encodeURIComponent(who) + "/" + action,
      { source: button, swap: "none" });
  }

  document.addEventListener("click", function (e) {
    var closer = e.target.closest ? e.target.closest(".dialog-close") : null;
    if (closer) { entryDialog().close(); return; }
    var stepOut = e.target.closest ? e.target.closest("[data-step-out]") : null;
    if (stepOut) { presenceTap(stepOut, "check-out", "form-checkout"); return; }
    var checkIn = e.target.closest ? e.target.closest("[data-check-in]") : null;
    if (checkIn) { presenceTap(checkIn, "check-in", "form-checkin"); return; }
    var opener = e.target.closest ? e.target.closest("[data-dialog]") : null;
    if (!opener) return;
    openDialog(opener, opener.dataset.dialog);
  });

  function openDialog(opener, dialogId) {
    var template = document.getElementById(dialogId);
    var dialog = entryDialog();
    if (!template || !dialog) return;
    var card = opener.closest("article");
    var who = card ? card.querySelector("h2") : null;
    dialog.querySelector(".dialog-title").textContent = opener.textContent.trim() + (who ? " · " + who.textContent.trim() : "");
    dialog.querySelector(".dialog-error").hidden = true;
    var body = dialog.querySelector(".dialog-body");
    body.replaceChildren(fillForm(template.content.cloneNode(true), opener, who));
    htmx.process(body);
    dialog.showModal();
  }

  var notice = null;
  var noticeTimer = null;
  function showNotice(text, kind) {
    notice = notice || document.getElementById("notice");
    if (!notice) return;
    notice.textContent = text;
    notice.className = "notice " + (kind || "");
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, kind === "error" ? 15000 : 3000);
  }

  document.addEventListener("htmx:afterRequest", function (e) {
    var d = e.detail;
    var xhr = d.xhr;
    if (!xhr || d.requestConfig && d.requestConfig.verb === "get") return;
    if (xhr.status === 0) {
      showNotice("Not sent: the server cannot be reached. Nothing was recorded; try again.", "error");
      return;  // keep the idempotency key so a retry cannot record twice
    }
    if (xhr.status === 503) {
      showNotice("Not recorded: the database is not answering just now. Try again in a moment.", "error");
      return;  // 503 `unavailable`: the same key is safe to send again
    }
    delete d.elt._holdspaceKey;
    var dialog = entryDialog();
    var inDialog = dialog && dialog.open && dialog.contains(d.elt);
    if (xhr.status >= 400) {
      var message = "That was not recorded.";
      try {
        var body = JSON.parse(xhr.responseText);
        if (body && body.error) message = body.error.message;
      } catch (err) { /* keep the plain message */ }
      if (inDialog) {
        var error = dialog.querySelector(".dialog-error");
        error.textContent = message;
        error.hidden = false;
      } else {
        showNotice(message, "error");
      }
      return;
    }
    if (inDialog) dialog.close();
    if (!document.getElementById("room-socket")) { window.location.reload(); return; }
    if (!linkIsLive) refreshLive();
    showNotice("Recorded.", "ok");
  });

  // ---- the live link: never pretend to be live -------------------------------------------
  var linkIsLive = false;
  var lastMessageAt = null;
  var socket = null;
  var STALE_AFTER_MS = 25000;  // the server sends at least every 10 s

  function setLive(live) {
    linkIsLive = live;
    document.body.classList.toggle("offline", !live);
    var banner = document.getElementById("link-banner");
    if (banner) {
      banner.hidden = live;
      var last = document.getElementById("last-update");
      if (last) last.textContent = lastMessageAt ? clockText(lastMessageAt) : "not yet received";
    }
    if (!live) {
      var status = document.getElementById("live-status");
      if (status) { status.dataset.live = "false"; status.textContent = "Offline"; }
    }
  }

  function refreshLive() {
    var main = document.getElementById("room-socket");
    if (!main || !main.dataset.room) return;
    htmx.ajax("GET", "/rooms/" + main.dataset.room + "/live", { target: "#room-live", swap: "outerHTML" });
  }

  document.addEventListener("htmx:wsOpen", function (e) { socket = e.detail.socketWrapper; });
  // A fragment older than the one shown (a late delivery, another process behind) is ignored:
  // same session, lower seq. The link still counts as alive.
  var VERSION = /id="room-live" data-session="([^"]*)" data-seq="(\d+)"/;
  document.addEventListener("htmx:wsBeforeMessage", function (e) {
    var message = e.detail.message;
    if (typeof message !== "string") return;
    var found = VERSION.exec(message.slice(0, 300));
    var shown = document.getElementById("room-live");
    if (!found || !shown) return;
    if (found[1] === (shown.dataset.session || "") && parseInt(found[2], 10) < parseInt(shown.dataset.seq || "0", 10)) {
      e.preventDefault();
      lastMessageAt = new Date();
      setLive(true);
    }
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var status = document.getElementById("live-status");
    if (status && status.dataset.at) learnServerTime(status.dataset.at);
    updateTimes();
    lastMessageAt = new Date();
    setLive(true);
  });
  document.addEventListener("htmx:wsClose", function (e) {
    setLive(false);
    var code = e.detail.event ? e.detail.event.code : 1006;
    if (code === 4401) {
      // Signed out (here or elsewhere), or the sign-in ran out: the record leaves the screen.
      window.location.href = "/login?signed_out=1&next=" + encodeURIComponent(window.location.pathname);
      return;
    }
    if (code === 4429) { showNotice("Too many live screens are open for this sign-in. Close some, then reload.", "error"); return; }
    if (code === 4404) { showNotice("This room is no longer available to you.", "error"); return; }
    // The extension itself retries only after 1006, 1011, 1012 and 1013.
    if ([1006, 1011, 1012, 1013].indexOf(code) < 0 && e.detail.socketWrapper) {
      var wrapper = e.detail.socketWrapper;
      setTimeout(function () { wrapper.reconnect(); }, 1000);
    }
  });
  document.addEventListener("htmx:wsError", function () { setLive(false); });

  // A link can die without a close (a tablet leaving the Wi-Fi): silence past the heartbeat means offline.
  setInterval(function () {
    if (!document.getElementById("room-socket")) return;
    if (linkIsLive && lastMessageAt && Date.now() - lastMessageAt.getTime() > STALE_AFTER_MS) {
      setLive(false);
      if (socket) socket.reconnect();
    }
  }, 2000);

  // Each tablet names itself on its live link, so the lead's overview can say which one dropped off.
  var socketElt = document.querySelector("[ws-connect]");
  if (socketElt) {
    var url = socketElt.getAttribute("ws-connect");
    socketElt.setAttribute("ws-connect", url + (url.indexOf("?") < 0 ? "?" : "&") + "device=" + encodeURIComponent(deviceId()));
  }

  // ---- relative times, countdowns and the alarm sound ---------------------------------------
  // The server sends absolute times (<time datetime>); the page writes "12 min", "3 min ago".
  function sinceText(ms) {
    var minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min";
    var rest = minutes % 60;
    return Math.floor(minutes / 60) + " h " + (rest < 10 ? "0" : "") + rest + " min";
  }
  // Relative times count from the server's clock, not the tablet's: the page learns the offset
  // from the time the page was rendered and from every live message (`data-at`).
  var serverOffset = 0;
  function learnServerTime(iso) {
    var at = Date.parse((iso || "").replace(" ", "T"));
    if (!isNaN(at)) serverOffset = at - Date.now();
  }
  learnServerTime(meta("server-now"));
  function serverNow() { return Date.now() + serverOffset; }
  function updateTimes() {
    var now = serverNow();
    document.querySelectorAll("time[data-rel][datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime")).getTime();
      if (isNaN(at)) return;
      var text = sinceText(now - at);
      if (el.dataset.rel === "ago" && text !== "just now") text += " ago";
      if (el.textContent !== text) el.textContent = text;
    });
  }
  setInterval(updateTimes, 15000);

  function updateCountdowns() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var left = Math.round((new Date(el.dataset.deadline).getTime() - now) / 1000);
      var what = el.dataset.step === "3" ? "sounds again" : "climbs to every lead and medical";
      el.textContent = left > 0 ? what + " in " + left + " s" : what + " now";
    });
    document.querySelectorAll(".countdown-to[data-at]").forEach(function (el) {
      var minutes = Math.ceil((new Date(el.dataset.at).getTime() - now) / 60000);
      el.textContent = minutes > 0 ? "in " + minutes + " min" : "now";
    });
  }

  var audio = null;
  var soundOn = false;
  var lastBeep = 0;
  function beep(frequency) {
    if (!audio) return;
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.25, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  }
  function soundAlarms() {
    var sounding = document.querySelectorAll('.alarm[data-sounding="true"]');
    document.body.classList.toggle("alarm-sounding", sounding.length > 0);
    if (!soundOn || !sounding.length) return;
    var high = document.querySelector('.alarm[data-sounding="true"][data-priority="high"]');
    var every = high ? 1500 : 4000;
    if (Date.now() - lastBeep >= every) {
      lastBeep = Date.now();
      beep(high ? 880 : 660);
    }
  }
  var toggle = document.getElementById("sound-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      // Browsers allow sound only after a tap, so the lead turns it on once per visit.
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      audio.resume();
      soundOn = !soundOn;
      toggle.textContent = soundOn ? "Alarm sound on" : "Turn alarm sound on";
      toggle.classList.toggle("primary", soundOn);
      if (soundOn) beep(660);
    });
  }
  setInterval(function () { updateCountdowns(); soundAlarms(); }, 500);

  window.holdspace = {
    isLive: function () { return linkIsLive; },
    soundOn: function () { return soundOn; },
    updateTimes: updateTimes
  };
})();
