/* The review queue: select every item on the page at once. */
(function () {
  "use strict";
  var all = document.getElementById("check-all");
  if (!all) return;
  all.addEventListener("change", function () {
    var on = all.checked;
    document.querySelectorAll('input[name="version_id"]:not(:disabled)').forEach(function (c) { c.checked = on; });
  });
})();
