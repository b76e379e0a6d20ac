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
      if (d.elt._holdspaceQueued) { delete d.elt._holdspaceQueued; return; }  // kept in the outbox
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
    if (!document.getElementById("room-socket")) { if (!d.elt.closest("#alarm-strip-socket")) window.location.reload(); return; }
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

  // A page has one main live link (the room, the overview, or on other pages the alarm list);
  // the banner and the greyed-out page follow it. The alarm list beside a room's own link says
  // for itself when it is not live.
  function isMain(e) {
    var main = document.querySelector("[data-main-socket]");
    return !!main && (e.target === main || main.contains(e.target));
  }
  var stripSocket = null;
  var stripLastAt = null;
  function setStripLive(live) {
    var strip = document.getElementById("alarm-strip-socket");
    if (strip) strip.dataset.live = live ? "true" : "false";
  }
  document.addEventListener("htmx:wsOpen", function (e) {
    if (isMain(e)) socket = e.detail.socketWrapper; else stripSocket = e.detail.socketWrapper;
  });
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
  document.addEventListener("htmx:wsAfterMessage", function (e) {
    if (!isMain(e)) { stripLastAt = new Date(); setStripLive(true); updateTimes(); return; }
    var status = document.getElementById("live-status");
    if (status && status.dataset.at) learnServerTime(status.dataset.at);
    updateTimes();
    lastMessageAt = new Date();
    setLive(true);
  });
  var signingOut = false;
  document.addEventListener("submit", function (e) {
    if (e.target.matches && e.target.matches('form[action="/logout"]')) signingOut = true;
  }, true);
  document.addEventListener("htmx:wsClose", function (e) {
    if (isMain(e)) setLive(false); else setStripLive(false);
    var code = e.detail.event ? e.detail.event.code : 1006;
    if (code === 4401) {
      // Signed out (here or elsewhere), or the sign-in ran out: the record leaves the screen.
      if (signingOut) return;  // already on its way to the login page (its own sign-out, or the other socket)
      signingOut = true;
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
  document.addEventListener("htmx:wsError", function (e) { if (isMain(e)) setLive(false); else setStripLive(false); });

  // A link can die without a close (a tablet leaving the Wi-Fi): silence past the heartbeat means offline.
  setInterval(function () {
    if (!document.querySelector("[data-main-socket]")) return;
    if (linkIsLive && lastMessageAt && Date.now() - lastMessageAt.getTime() > STALE_AFTER_MS) {
      setLive(false);
      if (socket) socket.reconnect();
    }
    if (stripSocket && stripLastAt && Date.now() - stripLastAt.getTime() > STALE_AFTER_MS) {
      setStripLive(false);
      stripLastAt = null;
      stripSocket.reconnect();
    }
  }, 2000);

  // Each tablet names itself on its live links, so the lead's overview can say which one dropped off.
  document.querySelectorAll("[ws-connect]").forEach(function (socketElt) {
    var url = socketElt.getAttribute("ws-connect");
    socketElt.setAttribute("ws-connect", url + (url.indexOf("?") < 0 ? "?" : "&") + "device=" + encodeURIComponent(deviceId()));
  });

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

  // The lead's alarm sound: the choice is kept per device (localStorage), so a reload never turns
  // it off. Browsers start sound only after a tap on the page; until then the sound is "blocked"
  // and the overview says so, as it does while the sound is off.
  var SOUND_KEY = "holdspace-alarm-sound";
  var audio = null;
  var soundWanted = localStorage.getItem(SOUND_KEY) === "on";
  var lastBeep = 0;
  var toggle = document.getElementById("sound-toggle");
  var soundBanner = document.getElementById("sound-banner");

  function soundState() {
    if (!soundWanted) return "off";
    return audio && audio.state === "running" ? "on" : "blocked";
  }
  function startAudio() {
    try {
      if (!audio) {
        audio = new (window.AudioContext || window.webkitAudioContext)();
        audio.addEventListener("statechange", drawSound);
      }
      if (audio.state !== "running") audio.resume().then(drawSound, drawSound);
    } catch (err) { audio = null; }
    drawSound();
  }
  function drawSound() {
    if (!toggle) return;
    var state = soundState();
    toggle.textContent = state === "off" ? "Turn alarm sound on"
      : state === "blocked" ? "Alarm sound on, waiting for a tap · turn off" : "Alarm sound on · turn off";
    toggle.classList.toggle("primary", state === "on");
    toggle.setAttribute("aria-pressed", state === "off" ? "false" : "true");
    document.body.dataset.sound = state;
    if (soundBanner) {
      soundBanner.hidden = state === "on";
      soundBanner.textContent = state === "off"
        ? "Alarm sound is OFF — tap to turn on"
        : "Alarm sound is blocked by the browser — tap here to let it sound";
    }
    // A step-3 alarm (every lead and the medical on-call) that cannot sound here is itself a warning.
    document.querySelectorAll(".cannot-sound").forEach(function (el) { el.hidden = state === "on"; });
  }
  function beep(frequency) {
    if (!audio || audio.state !== "running") return;
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
    if (toggle) drawSound();
    if (soundState() !== "on" || !sounding.length) return;
    var high = document.querySelector('.alarm[data-sounding="true"][data-priority="high"]');
    var every = high ? 1500 : 4000;
    if (Date.now() - lastBeep >= every) {
      lastBeep = Date.now();
      beep(high ? 880 : 660);
    }
  }
  function setSound(on) {
    soundWanted = on;
    localStorage.setItem(SOUND_KEY, on ? "on" : "off");
    if (on) { startAudio(); beep(660); }
    drawSound();
  }
  if (toggle) {
    toggle.addEventListener("click", function () { setSound(soundState() === "off"); });
    if (soundBanner) soundBanner.addEventListener("click", function () { setSound(true); });
    // The first tap anywhere lets a sound the lead already chose start.
    document.addEventListener("pointerdown", function () { if (soundWanted) startAudio(); }, true);
    document.addEventListener("keydown", function () { if (soundWanted) startAudio(); }, true);
    if (soundWanted) startAudio();
    drawSound();
  }
  setInterval(function () { updateCountdowns(); soundAlarms(); }, 500);

  // ---- the outbox: nothing typed is lost when the link drops ---------------------------------
  // An entry about a participant (vitals, observation, note, checklist tick, check-in answer) that
  // cannot reach the server is kept on this device in IndexedDB with its idempotency key and the
  // time it was observed, shown as "waiting to send", and sent in order when the link returns.
  // The same key makes a resend land once; an entry the server refuses stays, with the reason,
  // until someone dismisses it. Queued entries are never drawn as if they were recorded.
  var QUEUEABLE = /^\/api\/v1\/sessions\/[^/]+\/participants\/([^/]+)\/(vitals|observations|notes|checklist\/[^/]+|consent\/checkin)$/;
  var WHAT = { vitals: "Vitals", observations: "Observation", notes: "Session note", "consent/checkin": "Check-in answer" };
  var outbox = { waiting: [], refused: [] };
  var serverDown = false;
  var flushing = false;
  var serverOffsetMs = 0;  // the server's clock minus this tablet's, from the last answer's Date header

  function openStore() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open("holdspace-outbox", 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore("entries", { keyPath: "order", autoIncrement: true });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }
  var storePromise = null;
  function store(mode, work) {
    storePromise = storePromise || openStore();
    return storePromise.then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("entries", mode);
        var result = work(tx.objectStore("entries"));
        tx.oncomplete = function () { resolve(result && "result" in result ? result.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  function loadOutbox() {
    return store("readonly", function (entries) { return entries.getAll(); }).then(function (all) {
      all = all || [];
      all.sort(function (a, b) { return a.order - b.order; });
      outbox.waiting = all.filter(function (e) { return e.state === "waiting"; });
      outbox.refused = all.filter(function (e) { return e.state === "refused"; });
      drawOutbox();
    });
  }
  function observedNow() { return new Date(Date.now() + serverOffsetMs).toISOString(); }

  function describe(path, participantId) {
    var tail = path.split("/participants/" + participantId + "/")[1] || "";
    var what = WHAT[tail] || (tail.indexOf("checklist/") === 0 ? "Checklist: " + tail.slice(10).replace(/_/g, " ") : tail);
    var card = document.getElementById("p-" + participantId);
    var name = card && card.querySelector("h2") ? card.querySelector("h2").textContent.trim() : "";
    return name ? what + " · " + name : what;
  }

  function enqueue(entry) {
    return store("readwrite", function (entries) { entries.add(entry); }).then(loadOutbox);
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var d = e.detail;
    if (d.verb !== "post") return;
    var match = QUEUEABLE.exec(d.path.split("?")[0]);
    if (!match) return;
    // What was typed or tapped, as it will be sent, and when: kept until the server has it.
    var body = formToObject(d.formData || new FormData());
    var vals = api ? api.getExpressionVars(d.elt) : {};
    Object.keys(vals).forEach(function (k) { body[k] = vals[k]; });
    if (!body.observed_at) body.observed_at = d.elt._holdspaceObservedAt || observedNow();
    d.elt._holdspaceObservedAt = body.observed_at;
    d.elt._holdspaceEntry = {
      key: d.headers["Idempotency-Key"], path: d.path, body: body, participant_id: match[1],
      what: describe(d.path, match[1]), state: "waiting", reason: null, queued_at: new Date().toISOString(),
      by: meta("holdspace-user")
    };
    // While the server is away, or entries are still waiting, a new one joins the queue (order is kept).
    if (serverDown || outbox.waiting.some(mine) || (navigator.onLine === false)) {
      e.preventDefault();
      keepOnDevice(d.elt);
    }
  });

  function keepOnDevice(elt) {
    var entry = elt._holdspaceEntry;
    delete elt._holdspaceEntry;
    delete elt._holdspaceKey;
    delete elt._holdspaceObservedAt;
    var dialog = entryDialog();
    if (dialog && dialog.open && dialog.contains(elt)) dialog.close();
    enqueue(entry).then(function () {
      if (!serverDown) flush();
      showNotice("Kept on this tablet — waiting to send. It goes out by itself when the link is back.", "");
    });
  }

  document.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail.xhr;
    var date = xhr && xhr.getResponseHeader ? xhr.getResponseHeader("Date") : null;
    if (date) serverOffsetMs = new Date(date).getTime() - Date.now();
    if (xhr && xhr.status === 0 && e.detail.elt._holdspaceEntry) {
      serverDown = true;
      e.detail.elt._holdspaceQueued = true;
      keepOnDevice(e.detail.elt);
      return;
    }
    if (xhr && xhr.status > 0) serverDown = false;
    delete e.detail.elt._holdspaceEntry;
    delete e.detail.elt._holdspaceObservedAt;
  }, true);

  // An entry goes out only under the sign-in of the person who made it (a shared tablet may
  // change hands while the link is down); the others wait, listed, until they sign in again.
  function mine(entry) { return !entry.by || entry.by === meta("holdspace-user"); }
  function flush() {
    var next = outbox.waiting.filter(mine)[0];
    if (flushing || !next) return;
    flushing = true;
    fetch(next.path, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": meta("csrf-token"),
        "X-Holdspace-Device": deviceId(),
        "Idempotency-Key": next.key
      },
      body: JSON.stringify(next.body)
    }).then(function (response) {
      serverDown = false;
      if (response.ok) {
        return store("readwrite", function (entries) { entries.delete(next.order); });
      }
      if (response.status === 401 || response.status === 408 || response.status === 429 || response.status >= 500) {
        throw new Error("not now");  // signed out, or busy: keep it waiting, same key
      }
      return response.json().catch(function () { return null; }).then(function (body) {
        if (response.status !== 403) return body;
        // A 403 from a page whose sign-in has just gone (no CSRF token any more) is not a refusal:
        // ask who is signed in, and keep the entry waiting unless it is still its author.
        return fetch("/api/v1/me", { credentials: "same-origin" }).then(function (me) {
          return me.ok ? me.json() : null;
        }).then(function (me) {
          if (!me || (next.by && me.username !== next.by)) throw new Error("not now");
          return body;
        });
      }).then(function (body) {
        next.state = "refused";
        next.reason = body && body.error ? body.error.message : "The server did not accept it (" + response.status + ").";
        return store("readwrite", function (entries) { entries.put(next); });
      });
    }).then(function () {
      flushing = false;
      return loadOutbox().then(flush);
    }, function () {
      flushing = false;
      serverDown = true;
    });
  }

  function dismiss(order) {
    store("readwrite", function (entries) { entries.delete(order); }).then(loadOutbox);
  }

  function drawOutbox() {
    var box = document.getElementById("outbox");
    if (box) {
      var list = box.querySelector("ul");
      list.replaceChildren();
      outbox.waiting.concat(outbox.refused).forEach(function (entry) {
        var li = document.createElement("li");
        li.dataset.state = entry.state;
        li.dataset.key = entry.key;
        var time = document.createElement("time");
        time.dateTime = entry.body.observed_at;
        time.textContent = clockText(new Date(entry.body.observed_at));
        li.append(time, " " + entry.what + " — ");
        var status = document.createElement("strong");
        status.textContent = entry.state === "refused" ? "not recorded: " + entry.reason
          : mine(entry) ? "waiting to send" : "waiting to send — " + entry.by + " signs in on this tablet to send it";
        li.append(status);
        if (entry.state === "refused") {
          var button = document.createElement("button");
          button.type = "button";
          button.className = "small";
          button.textContent = "Dismiss";
          button.addEventListener("click", function () { dismiss(entry.order); });
          li.append(" ", button);
        }
        list.append(li);
      });
      box.hidden = !(outbox.waiting.length || outbox.refused.length);
      var title = box.querySelector(".outbox-title");
      if (title) {
        title.textContent = outbox.waiting.length
          ? outbox.waiting.length + " entr" + (outbox.waiting.length === 1 ? "y" : "ies") + " kept on this tablet, waiting to send"
          : "Entries the server did not accept";
      }
    }
    markCards();
  }

  // The card of each person with entries waiting says so (re-drawn after every live update).
  function markCards() {
    document.querySelectorAll(".pending-entries").forEach(function (el) { el.remove(); });
    var per = {};
    outbox.waiting.concat(outbox.refused).forEach(function (entry) {
      (per[entry.participant_id] = per[entry.participant_id] || []).push(entry);
    });
    Object.keys(per).forEach(function (pid) {
      var card = document.getElementById("p-" + pid);
      if (!card) return;
      var note = document.createElement("p");
      note.className = "pending-entries";
      note.dataset.testid = "pending";
      var waiting = per[pid].filter(function (x) { return x.state === "waiting"; }).length;
      var refused = per[pid].length - waiting;
      note.textContent = (waiting ? waiting + " waiting to send" : "") + (waiting && refused ? " · " : "") +
        (refused ? refused + " not recorded (see the list at the top)" : "");
      var header = card.querySelector("header");
      header.after(note);
    });
  }
  document.addEventListener("htmx:afterSettle", markCards);
  document.addEventListener("htmx:wsAfterMessage", function () { setTimeout(markCards, 0); });
  document.addEventListener("htmx:wsOpen", function () { serverDown = false; flush(); });
  window.addEventListener("online", flush);
  setInterval(function () { if (outbox.waiting.some(mine)) flush(); }, 3000);
  if (window.indexedDB) loadOutbox().then(flush);

  window.holdspace = {
    isLive: function () { return linkIsLive; },
    soundOn: function () { return soundState() === "on"; },
    sound: soundState,
    outbox: function () { return outbox; },
    updateTimes: updateTimes
  };
})();
