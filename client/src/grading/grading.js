// Grader screens: keyboard-first marking (Enter = next field, Ctrl+Enter = submit, Esc = back),
// a live total, an in-page confirmation before a mark is submitted for good, and queue navigation.
(function () {
  "use strict";

  function qs(sel, root) { return (root || document).querySelector(sel); }
  function qsa(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // ---------------------------------------------------------------- the marking form
  var form = qs("#mark-form");
  if (form) {
    var inputs = qsa("input.crit", form);
    var totalEl = qs("#total");
    var comment = qs("#comment", form);
    var bar = qs("#confirm-bar", form);
    var confirmBtn = qs("#confirm-submit", form);
    var cancelBtn = qs("#cancel-submit", form);
    var confirmed = false;

    function outOfRange(el) {
      var v = parseFloat(el.value), max = parseFloat(el.dataset.max);
      return el.value !== "" && (isNaN(v) || v < 0 || v > max);
    }
    // The live total counts each criterion within 0..its maximum: a typed 30 on a 25-point criterion
    // adds 25 (and is flagged), never 30, so the total shown is one the server could accept.
    function total() {
      var sum = 0;
      inputs.forEach(function (el) {
        var v = parseFloat(el.value), max = parseFloat(el.dataset.max);
        if (!isNaN(v)) { sum += Math.min(Math.max(v, 0), isNaN(max) ? v : max); }
      });
      return Math.round(sum * 100) / 100;
    }
    function badNames() {
      return inputs.filter(outOfRange).map(function (el) {
        return "「" + (el.getAttribute("aria-label") || "总分") + "」应在 0 到 " + el.dataset.max + " 之间";
      });
    }
    var warn = document.createElement("p");
    warn.className = "flash error range-warning";
    warn.id = "range-warning";
    warn.hidden = true;
    if (totalEl && totalEl.parentNode) { totalEl.parentNode.parentNode.insertBefore(warn, totalEl.parentNode.nextSibling); }
    function refresh() {
      if (totalEl) { totalEl.textContent = String(total()); }
      inputs.forEach(function (el) { el.classList.toggle("bad", outOfRange(el)); });
      var bad = badNames();
      warn.textContent = bad.join("；");
      warn.hidden = bad.length === 0;
    }
    function askConfirm() {
      refresh();
      if (badNames().length) { (inputs.filter(outOfRange)[0] || inputs[0]).focus(); return; }
      if (!form.reportValidity()) { return; }
      qs(".confirm-total", bar).textContent = String(total());
      bar.hidden = false;
      confirmBtn.focus();
    }
    function cancel() {
      bar.hidden = true;
      (inputs[0] || comment).focus();
    }

    inputs.forEach(function (el, i) {
      el.addEventListener("input", refresh);
      el.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && !ev.ctrlKey && !ev.metaKey) {
          ev.preventDefault();
          var next = inputs[i + 1] || comment;
          if (next) { next.focus(); if (next.select) { next.select(); } }
        }
      });
    });
    form.addEventListener("submit", function (ev) {
      if (!confirmed) { ev.preventDefault(); askConfirm(); }
    });
    confirmBtn.addEventListener("click", function () { confirmed = true; form.submit(); });
    cancelBtn.addEventListener("click", cancel);
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        if (bar.hidden) { askConfirm(); } else { confirmed = true; form.submit(); }
      } else if (ev.key === "Escape" && !bar.hidden) {
        ev.preventDefault();
        cancel();
      }
    });
    refresh();
  }

  // Esc leaves a task screen for the queue when no confirmation is open.
  var back = qs("#back-to-queue");
  if (back) {
    document.addEventListener("keydown", function (ev) {
      var bar = qs("#confirm-bar");
      if (ev.key === "Escape" && (!bar || bar.hidden) && !ev.defaultPrevented) {
        window.location.href = back.href;
      }
    });
  }

  // ---------------------------------------------------------------- the queue
  var rows = qsa("table.queue tbody tr[data-href]");
  if (rows.length) {
    var current = -1;
    function select(i) {
      if (i < 0 || i >= rows.length) { return; }
      rows.forEach(function (r) { r.classList.remove("selected"); });
      current = i;
      rows[i].classList.add("selected");
      rows[i].focus();
    }
    rows.forEach(function (r, i) {
      r.addEventListener("dblclick", function () { window.location.href = r.dataset.href; });
      r.addEventListener("focus", function () { current = i; });
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.target && /INPUT|TEXTAREA|SELECT/.test(ev.target.tagName)) { return; }
      if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); select(current + 1); }
      else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); select(Math.max(0, current - 1)); }
      else if (ev.key === "Enter" && current >= 0) { ev.preventDefault(); window.location.href = rows[current].dataset.href; }
    });
  }
})();
