/* Image fields outside the item editor (item sets): upload, list, remove; the list is JSON in a hidden input. */
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  document.querySelectorAll(".media-field").forEach(function (field) {
    var url = field.getAttribute("data-upload-url");
    var hidden = field.querySelector(".media-json"), list = field.querySelector(".media-list");
    var status = field.querySelector(".upload-status");
    function items() { try { return JSON.parse(hidden.value || "[]"); } catch (e) { return []; } }
    function draw() {
      list.innerHTML = "";
      items().forEach(function (m) {
        var fig = document.createElement("figure"); fig.dataset.sha = m.sha256;
        var img = document.createElement("img"); img.src = url + "/" + m.sha256; img.alt = m.name;
        var cap = document.createElement("figcaption"); cap.textContent = m.name + " ";
        var rm = document.createElement("button"); rm.type = "button"; rm.className = "link"; rm.textContent = "移除";
        rm.addEventListener("click", function () {
          hidden.value = JSON.stringify(items().filter(function (x) { return x.sha256 !== m.sha256; })); draw();
        });
        cap.appendChild(rm); fig.appendChild(img); fig.appendChild(cap); list.appendChild(fig);
      });
    }
    field.querySelector(".media-upload").addEventListener("change", function () {
      var file = this.files[0]; if (!file) return;
      var data = new FormData(); data.append("file", file);
      status.textContent = "正在上传 " + file.name + "…"; status.className = "hint upload-status";
      fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf }, body: data })
        .then(function (r) { return r.json(); }).then(function (body) {
          if (!body.ok) { status.textContent = body.error; status.className = "error upload-status"; return; }
          var all = items().filter(function (x) { return x.sha256 !== body.sha256; });
          all.push({ sha256: body.sha256, name: body.name, mime: body.mime, size: body.size });
          hidden.value = JSON.stringify(all); draw(); status.textContent = "已上传 " + body.name;
        }, function () { status.textContent = "上传失败，请重试"; status.className = "error upload-status"; });
      this.value = "";
    });
    draw();
  });
})();
