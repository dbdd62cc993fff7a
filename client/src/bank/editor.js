/* The item editor: fields that follow the item type, option rows, image upload, and a live preview
   of exactly what the candidate will see (the server renders the item through its type, as for an
   exam, and this page draws it with the exam page's markup). No framework, no CDN. */
(function () {
  "use strict";
  var form = document.getElementById("item-form");
  if (!form) return;
  var LETTERS = "ABCDEFGH";
  var TYPE_LABELS = { single: "单选题", multiple: "多选题", judge: "判断题", fill: "填空题", short: "简答题", essay: "论述题" };
  var FIELD_LABELS = { stem: "题干", options: "选项", key: "答案", points: "分值", levels: "等级", rubric: "评分要点",
    model_answer: "参考答案", knowledge_area_id: "知识点", item_set_id: "所属题组", type: "题型",
    cognitive_level: "认知层次", attributes: "属性" };
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var $ = function (id) { return document.getElementById(id); };
  var typeSel = $("f-type"), optionsBox = $("options"), dirty = false, timer = null, seq = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function optionRows() { return Array.prototype.slice.call(optionsBox.querySelectorAll(".option-row")); }

  function addOption(text) {
    var rows = optionRows();
    if (rows.length >= 8) return;
    var letter = LETTERS[rows.length];
    var row = el("div", "option-row");
    var lab = el("label", "key-pick"); lab.title = "设为答案";
    var pick = document.createElement("input"); pick.name = "key"; pick.value = letter;
    pick.type = typeSel.value === "multiple" ? "checkbox" : "radio";
    lab.appendChild(pick); lab.appendChild(document.createTextNode(" " + letter));
    var inp = document.createElement("input"); inp.name = "option"; inp.value = text || ""; inp.setAttribute("aria-label", "选项 " + letter);
    row.appendChild(lab); row.appendChild(inp); optionsBox.appendChild(row);
    return inp;
  }

  function applyType() {
    var t = typeSel.value;
    document.querySelectorAll("fieldset.section[data-for]").forEach(function (fs) {
      fs.hidden = fs.getAttribute("data-for").split(" ").indexOf(t) < 0;
    });
    if (["single", "multiple", "judge"].indexOf(t) >= 0) {
      if (t === "judge") {
        while (optionRows().length > 2) optionsBox.removeChild(optionRows()[optionRows().length - 1]);
        while (optionRows().length < 2) addOption("");
        var texts = ["正确", "错误"];
        optionRows().forEach(function (row, i) { var inp = row.querySelector('input[name="option"]'); inp.value = texts[i]; inp.readOnly = true; });
      } else {
        optionRows().forEach(function (row) {
          var inp = row.querySelector('input[name="option"]');
          if (inp.readOnly) { inp.readOnly = false; if (inp.value === "正确" || inp.value === "错误") inp.value = ""; }
        });
        while (optionRows().length < 4) addOption("");
      }
      var kind = t === "multiple" ? "checkbox" : "radio";
      optionsBox.querySelectorAll('input[name="key"]').forEach(function (k) { if (k.type !== kind) { k.checked = false; k.type = kind; } });
      $("key-hint").textContent = t === "multiple" ? "勾选所有正确答案（至少两个）" : "选择一个正确答案";
      $("add-option").disabled = $("remove-option").disabled = t === "judge";
    }
  }

  function rubricOf(text) {
    return text.split(/[\n;；]/).map(function (s) { return s.trim(); }).filter(Boolean).map(function (line) {
      var m = line.match(/[（(]\s*([0-9]+(?:\.[0-9]+)?)\s*分?\s*[)）]\s*$/);
      return { criterion: m ? line.slice(0, m.index).trim() : line, points: m ? parseFloat(m[1]) : null };
    });
  }

  function draft() {
    var t = typeSel.value;
    var d = {
      type: t, stem: $("f-stem").value.trim(), points: parseFloat($("f-points").value || "1"),
      levels: Array.prototype.map.call(form.querySelectorAll('input[name="levels"]:checked'), function (x) { return parseInt(x.value, 10); }),
      part: $("f-part").value, knowledge_area_id: $("f-area").value ? parseInt($("f-area").value, 10) : null,
      item_set_id: $("f-set").value ? parseInt($("f-set").value, 10) : null,
      media: JSON.parse($("f-media").value || "[]"),
      cognitive_level: $("f-cognitive") ? $("f-cognitive").value : "", attributes: {}
    };
    form.querySelectorAll("[data-attribute]").forEach(function (f) { if (f.value.trim()) d.attributes[f.getAttribute("data-attribute")] = f.value.trim(); });
    if (["single", "multiple", "judge"].indexOf(t) >= 0) {
      var opts = optionRows().map(function (r) { return r.querySelector('input[name="option"]').value.trim(); });
      while (opts.length && !opts[opts.length - 1]) opts.pop();
      d.options = opts;
      d.key = Array.prototype.map.call(optionsBox.querySelectorAll('input[name="key"]:checked'), function (x) { return x.value; }).sort().join("");
    } else if (t === "fill") {
      d.key = $("f-blanks").value.split("\n").map(function (line) {
        return line.split(/[|｜]/).map(function (a) { return a.trim(); }).filter(Boolean);
      }).filter(function (b) { return b.length; });
    } else {
      d.key = null; d.rubric = rubricOf($("f-rubric").value); d.model_answer = $("f-model").value.trim();
    }
    return d;
  }

  /* The same DOM as client/src/exam/exam.js render() and the bank/_macros.html candidate_view macro. */
  function renderPreview(view, stimulus) {
    var box = $("preview"); box.innerHTML = "";
    if (!view) { box.appendChild(el("p", "hint", "输入题干后在此显示考生看到的样子。")); return; }
    var frame = el("div", "candidate-frame"), pane = el("div", "question-pane preview-pane");
    if (stimulus) {
      var st = el("div", "q-stimulus");
      if (stimulus.title) st.appendChild(el("div", "q-stimulus-title", stimulus.title));
      st.appendChild(document.createTextNode(stimulus.stimulus));
      (stimulus.media || []).forEach(function (m) { var img = el("img", "q-media"); img.src = m.url; img.alt = m.name; st.appendChild(img); });
      pane.appendChild(st);
    }
    var head = el("div", "q-head");
    head.appendChild(el("span", "q-number", "第 1 题"));
    head.appendChild(el("span", "q-type", TYPE_LABELS[view.type] || view.type));
    head.appendChild(el("span", "q-points", "（" + view.points + " 分）"));
    pane.appendChild(head);
    pane.appendChild(el("div", "q-stem", view.stem));
    (view.media || []).forEach(function (m) { var img = el("img", "q-media"); img.src = m.url; img.alt = m.name; pane.appendChild(img); });
    var opts = el("div", "q-options");
    if (view.options && view.options.length) {
      var multi = view.type === "multiple";
      view.options.forEach(function (opt, pos) {
        var b = el("button", "option"); b.type = "button"; b.tabIndex = -1;
        b.appendChild(el("span", "opt-mark", multi ? "☐" : "○"));
        b.appendChild(el("span", "opt-letter", LETTERS[pos] + "."));
        b.appendChild(el("span", "opt-text", opt.text));
        b.addEventListener("click", function () {
          if (!multi) opts.querySelectorAll(".option").forEach(function (o) { o.classList.remove("chosen"); o.firstChild.textContent = "○"; });
          var on = !b.classList.contains("chosen"); b.classList.toggle("chosen", on);
          b.firstChild.textContent = multi ? (on ? "☑" : "☐") : (on ? "●" : "○");
        });
        opts.appendChild(b);
      });
      if (multi) opts.appendChild(el("p", "hint", "多选题：可选择多个选项，再点一次可取消。"));
    } else if (view.type === "fill") {
      for (var k = 0; k < (view.blanks || 1); k++) {
        // Each blank says which it is, as the stem's blanks are numbered in order.
        var lab = el("label", "blank-label"); lab.appendChild(el("span", "blank-number", "第 " + (k + 1) + " 空"));
        lab.appendChild(document.createTextNode(" ")); lab.appendChild(el("input", "blank")); opts.appendChild(lab);
      }
    } else {
      var ta = el("textarea", "essay"); ta.rows = 6; opts.appendChild(ta);
    }
    pane.appendChild(opts); frame.appendChild(pane); box.appendChild(frame);
  }

  function renderProblems(problems) {
    var list = $("live-problems"); list.innerHTML = "";
    problems.forEach(function (p) { list.appendChild(el("li", "error", (FIELD_LABELS[p.field] || p.field) + "：" + p.reason)); });
    if (!problems.length && $("f-stem").value.trim()) list.appendChild(el("li", "ok-line", "✓ 内容完整，可以保存"));
  }

  // Bank items the draft copies or resembles, each a link (the server words the line).
  function renderDuplicates(duplicates) {
    var box = $("live-duplicates"); box.innerHTML = "";
    if (!duplicates.length) return;
    var list = el("ul", "duplicate-flags");
    duplicates.forEach(function (d) {
      var li = el("li", "error", "疑似与 "), a = el("a", null, d.id);
      a.href = d.url; a.target = "_blank";
      li.appendChild(a); li.appendChild(document.createTextNode(" 重复（相似度 " + d.score.toFixed(2) + "）"));
      list.appendChild(li);
    });
    box.appendChild(list);
  }

  function refresh() {
    var mine = ++seq;
    var body = draft(); body.item = form.getAttribute("data-item") || "";
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(body)
    }).then(function (r) { return r.json(); }).then(function (body) {
      if (mine !== seq) return; // an older answer arriving late
      if (body.ok) {
        renderPreview(body.view && draft().stem ? body.view : null, body.stimulus); renderProblems(body.problems || []);
        (body.warnings || []).forEach(function (w) { $("live-problems").appendChild(el("li", "error", "注意：" + w.reason)); });
        renderDuplicates(body.duplicates || []);
      }
    }, function () { /* keep the last preview while offline */ });
  }

  function changed() { dirty = true; clearTimeout(timer); timer = setTimeout(refresh, 250); }

  function mediaList() { return JSON.parse($("f-media").value || "[]"); }
  function setMedia(list) { $("f-media").value = JSON.stringify(list); drawMedia(list); changed(); }
  function drawMedia(list) {
    var box = $("media-list"); box.innerHTML = "";
    list.forEach(function (m) {
      var fig = el("figure"); fig.dataset.sha = m.sha256;
      var img = el("img"); img.src = form.getAttribute("data-upload-url") + "/" + m.sha256; img.alt = m.name;
      var cap = el("figcaption", null, m.name + " ");
      var rm = el("button", "link remove-media", "移除"); rm.type = "button";
      cap.appendChild(rm); fig.appendChild(img); fig.appendChild(cap); box.appendChild(fig);
    });
  }
  $("media-list").addEventListener("click", function (e) {
    if (!e.target.classList.contains("remove-media")) return;
    var sha = e.target.closest("figure").dataset.sha;
    setMedia(mediaList().filter(function (m) { return m.sha256 !== sha; }));
  });
  $("f-upload").addEventListener("change", function () {
    var file = this.files[0]; if (!file) return;
    var status = $("upload-status"); status.textContent = "正在上传 " + file.name + "…"; status.className = "hint";
    var data = new FormData(); data.append("file", file);
    fetch(form.getAttribute("data-upload-url"), { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf }, body: data })
      .then(function (r) { return r.json(); }).then(function (body) {
        if (!body.ok) { status.textContent = body.error; status.className = "error"; return; }
        var list = mediaList().filter(function (m) { return m.sha256 !== body.sha256; });
        list.push({ sha256: body.sha256, name: body.name, mime: body.mime, size: body.size });
        setMedia(list); status.textContent = "已上传 " + body.name;
      }, function () { status.textContent = "上传失败，请检查网络后重试"; status.className = "error"; });
    this.value = "";
  });

  $("add-option").addEventListener("click", function () { var inp = addOption(""); if (inp) inp.focus(); changed(); });
  $("remove-option").addEventListener("click", function () {
    var rows = optionRows(); if (rows.length > 2) { optionsBox.removeChild(rows[rows.length - 1]); changed(); }
  });
  typeSel.addEventListener("change", function () { applyType(); changed(); });
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (e) { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

  applyType();
  if ($("f-stem").value.trim()) refresh();
})();
