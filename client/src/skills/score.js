// The skill score sheet on a tablet: tap a descriptor to take its points, or use − / ＋ / type; each criterion is
// checked against its range and step as it changes and the total adds only valid values. The server checks again.
(function () {
  "use strict";
  function setup(box) {
    var step = parseFloat(box.dataset.step) || 0.5;
    var totalEl = box.querySelector("#live-total") || box.querySelector(".total strong");
    function check(input) {
      var max = parseFloat(input.max), raw = input.value.trim(), err = box.querySelector('.error[data-for="' + input.id + '"]');
      var value = parseFloat(raw), message = "";
      if (raw === "") { message = ""; }
      else if (!isFinite(value) || value < 0 || value > max) { message = "应在 0 到 " + max + " 之间"; }
      else if (Math.abs(value / step - Math.round(value / step)) > 1e-9) { message = "应为 " + step + " 的整数倍"; }
      input.classList.toggle("invalid", message !== "");
      if (err) { err.textContent = message; err.hidden = message === ""; }
      return message === "" && raw !== "" ? value : null;
    }
    function refresh() {
      var sum = 0, complete = true;
      box.querySelectorAll("input[type=number]").forEach(function (input) {
        var v = check(input);
        if (v === null) { complete = false; } else { sum += v; }
        input.closest(".criterion").querySelectorAll(".pick").forEach(function (b) {
          b.classList.toggle("chosen", input.value !== "" && parseFloat(b.dataset.value) === parseFloat(input.value));
        });
      });
      if (totalEl) { totalEl.textContent = complete ? String(Math.round(sum * 100) / 100) : (sum ? sum + "（未填完）" : "—"); }
    }
    box.addEventListener("click", function (event) {
      var b = event.target.closest("button.pick, button.step");
      if (!b) { return; }
      var input = box.querySelector("#" + b.dataset.target);
      if (b.classList.contains("pick")) {
        var v = parseFloat(b.dataset.value);
        if (isFinite(v)) { input.value = v; }
      } else {
        var now = parseFloat(input.value) || 0, max = parseFloat(input.max);
        input.value = Math.min(max, Math.max(0, now + parseFloat(b.dataset.delta) * step));
      }
      refresh();
    });
    box.addEventListener("input", refresh);
    refresh();
  }
  document.querySelectorAll(".criteria").forEach(setup);
})();
