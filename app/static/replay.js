/* Replay: moving the scrubber goes to that event at once; the arrow keys step one event. */
(function () {
  "use strict";
  document.querySelectorAll("input[data-autosubmit]").forEach(function (input) {
    input.addEventListener("change", function () { input.form.submit(); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    var link = null;
    if (e.key === "ArrowLeft") link = document.querySelector("[data-testid=previous]");
    if (e.key === "ArrowRight") link = document.querySelector("[data-testid=next]");
    if (link) { e.preventDefault(); link.click(); }
  });
})();
