/* Knowledge tree: pick an area to edit (from its row or the list) and point the form at it. */
(function () {
  "use strict";
  var form = document.getElementById("area-edit-form");
  if (!form) return;
  var select = document.getElementById("edit-area");
  function pick(id) {
    select.value = id;
    var opt = select.options[select.selectedIndex];
    form.action = form.getAttribute("data-base").replace(/\/0$/, "/" + id);
    document.getElementById("edit-code").value = opt ? opt.getAttribute("data-code") || "" : "";
    document.getElementById("edit-name").value = opt ? opt.getAttribute("data-name") || "" : "";
    document.getElementById("edit-kind").value = opt ? opt.getAttribute("data-kind") || "" : "";
  }
  select.addEventListener("change", function () { pick(select.value); });
  document.querySelectorAll("a.edit-area").forEach(function (a) {
    a.addEventListener("click", function () { pick(a.getAttribute("data-area")); });
  });
  form.addEventListener("submit", function (e) { if (!select.value) { e.preventDefault(); select.focus(); } });
})();
