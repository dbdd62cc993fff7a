/* The proctor console: the room's live seat map, check-in, and actions on a seat or the room.
 *
 * Live: the /proctor socket pushes `seat` (a candidate joined, saved over HTTP, submitted, was
 * paused ...) and `activity` (another console acted); socket saves push nothing, so the seat map
 * is also polled every few seconds. Actions go over the socket, or over HTTP when it is down;
 * the server authorises each one against this proctor's room.
 */
(function () {
  "use strict";

  var root = document.getElementById("console");
  if (!root) return;
  var roomId = parseInt(root.dataset.roomId, 10);
  var sessionId = root.dataset.sessionId ? parseInt(root.dataset.sessionId, 10) : null;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var POLL_MS = 4000;

  var LABELS = {
    empty: "空座位", absent: "未入场", not_started: "已入场，未开始", in_progress: "答题中",
    idle: "长时间无操作", disconnected: "连接中断", paused: "已暂停", submitted: "已交卷",
    scored: "已评分"
  };
  // Submitted, scored or not yet (scoring follows the submit as a job): nothing more to do on the seat.
  function finished(st) { return st === "submitted" || st === "scored"; }
  var KINDS = {
    checked_in: "核验入场", paused: "暂停", resumed: "恢复", extended: "延长时间", submitted: "交卷",
    moved: "允许换机", unlocked: "解除工作站锁定", incident: "事件记录", announcement: "考场通知",
    move_requested: "另一台电脑请求继续", pause: "暂停", resume: "恢复", extend: "延长时间",
    force_submit: "强制交卷", allow_move: "允许换机", check_in: "核验入场", pause_room: "全场暂停",
    resume_room: "全场恢复", announce: "考场通知", room_incident: "考场事件",
    admitted_late: "准许迟到入场", admit_late: "准许迟到入场"
  };
  var CATEGORIES = { environment: "考场环境", candidate: "考生", staff: "工作人员", technical: "技术故障" };

  var state = { seats: [], byAttempt: {}, selected: null, syncedAt: performance.now(), activity: [] };

  // ------------------------------------------------------------ helpers
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function clock(s) {
    if (s === null || s === undefined) return "";
    s = Math.max(0, Math.ceil(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" : "") + (m < 10 && h ? "0" : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
  }
  function remainingNow(seat) {
    if (seat.remaining_s === null || seat.remaining_s === undefined) return null;
    var running = seat.state === "in_progress" || seat.state === "idle" || seat.state === "disconnected";
    return running ? seat.remaining_s - (performance.now() - state.syncedAt) / 1000 : seat.remaining_s;
  }
  var toastTimer = null;
  function toast(text, isError) {
    var t = $("toast"); t.textContent = text; t.className = "toast" + (isError ? " error" : ""); t.hidden = false;
    clearTimeout(toastTimer); toastTimer = setTimeout(function () { t.hidden = true; }, isError ? 6000 : 3000);
  }
  function timeOf(iso) {
    // Beijing time whatever the workstation's zone, like every time the server prints.
    try { return new Date(iso).toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" }); } catch (e) { return ""; }
  }

  // ------------------------------------------------------------ the seat map
  function applyMap(map) {
    state.seats = map.seats || [];
    state.byAttempt = {};
    state.seats.forEach(function (s) { if (s.attempt_id) state.byAttempt[s.attempt_id] = s; });
    state.syncedAt = performance.now();
    Object.keys(map.counts || {}).forEach(function (k) {
      var c = document.querySelector('[data-count="' + k + '"]'); if (c) c.textContent = map.counts[k];
    });
    if (map.activity) { state.activity = map.activity; renderActivity(); }
    renderSeats(); renderSelected();
  }

  function renderSeats() {
    var box = $("seatmap"); box.innerHTML = "";
    state.seats.forEach(function (s) {
      var b = el("button", "seat st-" + s.state);
      b.type = "button"; b.dataset.seat = s.seat;
      if (s.attempt_id) b.dataset.attemptId = s.attempt_id;
      if (state.selected && state.selected === s.attempt_id) b.classList.add("selected");
      b.appendChild(el("span", "no", s.seat + " 号"));
      if (s.attempt_id) {
        b.appendChild(el("span", "name", s.name));
        b.appendChild(el("span", "state", LABELS[s.state] || s.state));
        b.appendChild(el("span", "meta", s.state !== "absent" && s.state !== "not_started" ? "已答 " + s.answered + " / " + s.n_items : ""));
        b.appendChild(el("span", "meta rem", remainingText(s)));
        if (s.pending_move) b.appendChild(el("span", "flagmove", "请求换机"));
        b.setAttribute("aria-label", s.seat + " 号 " + s.name + " " + (LABELS[s.state] || s.state));
        b.addEventListener("click", function () { select(s.attempt_id); });
      } else {
        b.appendChild(el("span", "state", "空座位"));
        b.disabled = true;
      }
      box.appendChild(b);
    });
  }

  function remainingText(s) {
    var r = remainingNow(s);
    return r !== null && !finished(s.state) && s.state !== "absent" ? "剩余 " + clock(r) : "";
  }

  // Tick the countdowns between refreshes (the server's numbers win at every refresh).
  setInterval(function () {
    Array.prototype.forEach.call(document.querySelectorAll(".seat[data-attempt-id]"), function (b) {
      var s = state.byAttempt[b.dataset.attemptId], rem = b.querySelector(".rem");
      if (s && rem) rem.textContent = remainingText(s);
    });
  }, 1000);

  function select(attemptId) {
    state.selected = attemptId;
    renderSeats(); renderSelected();
  }

  function renderSelected() {
    var s = state.selected && state.byAttempt[state.selected];
    var box = $("selected-box");
    if (!s) { box.hidden = true; return; }
    box.hidden = false;
    $("sel-title").textContent = s.seat + " 号　" + s.name;
    var facts = $("sel-facts"); facts.innerHTML = "";
    var rows = [["准考证号", s.ticket], ["状态", LABELS[s.state] + (s.pending_move ? "（另一台电脑请求继续）" : "")],
      ["已答", s.answered + " / " + s.n_items + " 题"], ["剩余时间", clock(remainingNow(s))],
      ["最近操作", s.idle_s === null ? "—" : (s.idle_s < 60 ? s.idle_s + " 秒前" : Math.floor(s.idle_s / 60) + " 分钟前")]];
    if (s.late_closed) rows.push(["入场", "已过开考后的入场截止时间，考生不能开始考试"]);
    rows.forEach(function (r) { facts.appendChild(el("dt", null, r[0])); facts.appendChild(el("dd", null, r[1])); });
    var buttons = $("sel-buttons"); buttons.innerHTML = "";
    function add(label, action, cls) {
      var b = el("button", cls || "", label); b.type = "button"; b.dataset.action = action;
      b.addEventListener("click", function () { openAction(action, s); });
      buttons.appendChild(b);
    }
    var st = s.state;
    if (st === "absent") add("核验通过，准许入场", "check_in", "primary");
    // Past the cut-off the candidate's 开始考试 is refused (late_entry_closed) until the proctor admits them.
    if (s.late_closed) add("准许迟到入场", "admit_late", st === "absent" ? "" : "primary");
    if (st === "in_progress" || st === "idle" || st === "disconnected" || st === "not_started") add("暂停", "pause", "warn");
    if (st === "paused") add("恢复", "resume", "primary");
    if (!finished(st) && st !== "absent") add("延长时间", "extend");
    if (s.pending_move) add("允许换机", "allow_move", "primary");
    else if (!finished(st) && st !== "absent") add("解除锁定（换机）", "allow_move");
    if (st === "in_progress" || st === "idle" || st === "disconnected" || st === "paused") add("强制交卷", "force_submit", "danger");
    if (st !== "absent") add("记录事件", "incident");
    var log = el("a", null, "查看作答日志");
    log.href = root.dataset.logUrl.replace("/0/", "/" + s.attempt_id + "/");
    buttons.appendChild(log);
  }

  function renderActivity() {
    var list = $("activity"); list.innerHTML = "";
    if (!state.activity.length) { list.appendChild(el("li", "hint", "暂无记录")); return; }
    state.activity.forEach(function (a) {
      var li = el("li");
      li.appendChild(el("span", "t", timeOf(a.at)));
      var p = a.payload || {}, text = a.who + "　" + (KINDS[a.kind] || a.kind);
      if (p.text) text += "：" + p.text;
      if (p.category) text += "［" + (CATEGORIES[p.category] || p.category) + "］";
      if (p.reason) text += "：" + p.reason;
      if (p.seconds) text += " " + Math.round(p.seconds / 60) + " 分钟";
      if (a.kind === "pause_room" || a.kind === "resume_room") text += "（" + roomCounts(a.kind, p) + "）";
      li.appendChild(document.createTextNode(text));
      li.title = a.actor;
      list.appendChild(li);
    });
  }

  // ------------------------------------------------------------ refreshing
  var refreshTimer = null, fetching = false;
  function refresh() {
    if (fetching) return;
    fetching = true;
    var url = root.dataset.seatsUrl + (sessionId ? "?session=" + sessionId : "");
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401 || r.status === 403) { setConn("bad", "登录已失效，请刷新页面"); throw new Error("auth"); }
      return r.json();
    }).then(function (map) { fetching = false; applyMap(map); }, function () { fetching = false; });
  }
  function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 300); }
  setInterval(refresh, POLL_MS);

  // ------------------------------------------------------------ socket
  var socket = io("/proctor", { transports: ["websocket", "polling"], reconnectionDelay: 500, reconnectionDelayMax: 3000 });
  function setConn(cls, text) { var c = $("conn"); c.className = "conn " + cls; c.textContent = text; }
  socket.on("connect", function () {
    socket.emit("watch", { room_id: roomId, session_id: sessionId }, function (ack) {
      if (ack && ack.ok) { setConn("ok", "实时连接正常"); applyMap(ack); refresh(); }
      else { setConn("bad", (ack && ack.message) || "无法监看本考场"); }
    });
  });
  socket.on("disconnect", function () { setConn("bad", "实时连接中断，每 4 秒刷新"); });
  socket.on("connect_error", function () { setConn("bad", "实时连接中断，每 4 秒刷新"); });
  socket.on("seat", function (msg) {
    var s = state.byAttempt[msg.attempt_id];
    if (s) {
      // Show the pushed numbers at once; the refresh brings the derived state (idle, disconnected).
      s.answered = msg.answered; s.remaining_s = msg.remaining_s; s.pending_move = msg.pending_move;
      var map = { in_progress: "in_progress", paused: "paused", checked_in: "not_started", scheduled: "absent",
                  submitted: "submitted", scored: "scored", finalised: "scored" };
      if (map[msg.status] && !(map[msg.status] === "in_progress" && (s.state === "idle" || s.state === "disconnected"))) s.state = map[msg.status];
      state.syncedAt = performance.now();
      renderSeats(); renderSelected();
    }
    refreshSoon();
  });
  socket.on("activity", function () { refreshSoon(); });

  // ------------------------------------------------------------ actions
  function send(action, body) {
    if (socket.connected) {
      return new Promise(function (resolve, reject) {
        socket.timeout(8000).emit(action, body, function (err, ack) { if (err) reject(err); else resolve(ack); });
      });
    }
    var path = body.attempt_id ? "/proctor/attempts/" + body.attempt_id + "/" + action : "/proctor/rooms/" + roomId + "/" + action;
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }

  var DIALOGS = {
    check_in: { title: "核验入场", text: "已核对证件与本人一致，准许该考生入场？", ok: "准许入场" },
    pause: { title: "暂停考试", text: "暂停后计时停止，考生屏幕显示“考试已暂停”。", reason: "原因（可不填）", ok: "暂停" },
    resume: { title: "恢复考试", text: "恢复后继续计时。", ok: "恢复" },
    extend: { title: "延长时间", minutes: true, reason: "原因（必填）", required: true, ok: "延长" },
    force_submit: { title: "强制交卷", text: "强制交卷后考生不能再作答，此操作不能撤销。因违纪交卷请选择违纪类别；考生屏幕、监考日志和成绩单都会显示。", misconduct: true, reason: "原因（必填）", required: true, ok: "强制交卷", danger: true },
    admit_late: { title: "准许迟到入场", text: "已过开考后的入场截止时间。准许后该考生可以开始考试，原因记入作答日志。", reason: "原因（必填）", required: true, ok: "准许入场" },
    allow_move: { title: "允许换机", text: "考生将在新电脑上继续作答，原电脑上的考试会被关闭。", reason: "原因（可不填）", ok: "允许换机" },
    incident: { title: "记录事件", category: true, reason: "事件经过（必填）", required: true, ok: "记录" },
    pause_room: { title: "全场暂停", text: "暂停本考场所有正在考试的考生。", reason: "原因（可不填）", ok: "全场暂停" },
    resume_room: { title: "全场恢复", text: "恢复本考场所有已暂停的考生。", ok: "全场恢复" },
    announce: { title: "发送通知", text: "通知会立即显示在本考场所有考生的屏幕上。", textField: true, ok: "发送" },
    room_incident: { title: "记录考场事件", text: "记录到本考场每一位已入场考生的作答日志中。", category: true, reason: "事件经过（必填）", required: true, ok: "记录" }
  };
  var pending = null;

  // What a room pause or resume did, counting only the candidates it touched: those answering apart from
  // those admitted who had not started (held at, or released to, the instructions).
  function roomCounts(action, r) {
    var n = r.count || 0, waiting = r.not_started || 0, pause = action === "pause_room";
    var text = (pause ? "暂停了 " : "恢复了 ") + n + " 名正在答题的考生";
    if (waiting) text += pause ? "；另有 " + waiting + " 名已入场未开始的考生暂不能开始"
                               : "；另有 " + waiting + " 名已入场未开始的考生可以开始";
    return text;
  }

  function openAction(action, seat) {
    var d = DIALOGS[action], form = $("act-form");
    pending = { action: action, seat: seat };
    $("act-title").textContent = d.title + (seat ? "：" + seat.seat + " 号 " + seat.name : "：全场");
    $("act-text").textContent = d.text || "";
    $("f-minutes").hidden = !d.minutes; $("f-category").hidden = !d.category; $("f-text").hidden = !d.textField;
    $("f-misconduct").hidden = !d.misconduct; form.misconduct.value = "";
    $("f-reason").hidden = !d.reason; $("reason-label").textContent = d.reason || "原因";
    form.reason.value = ""; form.text.value = ""; $("act-error").textContent = "";
    $("act-ok").textContent = d.ok; $("act-ok").className = "big " + (d.danger ? "danger" : "primary");
    $("act-dialog").showModal();
    (d.textField ? form.text : d.reason ? form.reason : $("act-ok")).focus();
  }
  $("act-cancel").addEventListener("click", function () { $("act-dialog").close(); });
  $("act-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!pending) return;
    var d = DIALOGS[pending.action], form = $("act-form"), body = {};
    if (pending.seat) body.attempt_id = pending.seat.attempt_id; else { body.room_id = roomId; body.session_id = sessionId; }
    if (d.reason) body.reason = form.reason.value.trim();
    if (d.required && !body.reason) { $("act-error").textContent = "请填写" + d.reason.replace("（必填）", "") + "。"; return; }
    if (d.minutes) body.minutes = parseInt(form.minutes.value, 10);
    if (d.category) body.category = form.category.value;
    if (d.misconduct) body.misconduct = form.misconduct.value;
    if (d.textField) { body.text = form.text.value.trim(); if (!body.text) { $("act-error").textContent = "请填写通知内容。"; return; } }
    $("act-ok").disabled = true;
    send(pending.action, body).then(function (ack) {
      $("act-ok").disabled = false;
      if (!ack.ok) { $("act-error").textContent = ack.message; return; }
      $("act-dialog").close();
      toast(d.title + "：已完成" + (pending.action === "pause_room" || pending.action === "resume_room"
        ? "，" + roomCounts(pending.action, ack) : typeof ack.count === "number" ? "（" + ack.count + " 人）" : ""));
      refresh();
    }, function () { $("act-ok").disabled = false; $("act-error").textContent = "网络中断，请重试。"; });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-room-action]"), function (b) {
    b.addEventListener("click", function () { openAction(b.dataset.roomAction, null); });
  });

  // ------------------------------------------------------------ check-in
  $("find-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = $("find-q").value.trim(), out = $("find-results");
    // A Chinese name of 2 characters or more (王伟), or at least 4 characters of a ticket or ID number.
    var isName = /^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·•]+$/.test(q), letters = q.replace(/[·•]/g, "").length;
    if (isName && letters < 2) { out.textContent = "请输入考生的完整姓名（至少 2 个字）。"; return; }
    if (!isName && q.length < 4) { out.textContent = "请输入考生姓名，或准考证号、身份证号（至少 4 位）。"; return; }
    var url = root.dataset.findUrl + "?q=" + encodeURIComponent(q) + (sessionId ? "&session=" + sessionId : "");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
      out.innerHTML = "";
      if (!body.candidates || !body.candidates.length) { out.appendChild(el("p", "error", "没有找到这名考生，请核对姓名或号码。")); return; }
      body.candidates.forEach(function (c) {
        var div = el("div", "found");
        // Another room's candidate comes without name or ID number: only where to send them.
        if (c.name) div.appendChild(el("div", "who", c.name + "　" + (c.seat ? c.seat + " 号座" : "")));
        div.appendChild(el("div", null, "准考证号 " + c.ticket));
        if (c.id_number) div.appendChild(el("div", "idno", "身份证号 " + c.id_number));
        div.appendChild(el("div", "where" + (c.in_this_room ? "" : " other"), c.in_this_room ? "本考场考生" : "不在本考场：应到 " + c.room + (c.seat ? " " + c.seat + " 号" : "")));
        if (c.status === "scheduled" && c.may_admit) {
          var b = el("button", "primary big", "核验通过，准许入场"); b.type = "button";
          b.addEventListener("click", function () {
            b.disabled = true;
            send("check_in", { attempt_id: c.attempt_id }).then(function (ack) {
              if (ack.ok) { toast(c.name + " 已入场"); div.appendChild(el("div", "ok", "✓ 已入场")); b.remove(); refresh(); }
              else { b.disabled = false; toast(ack.message, true); }
            }, function () { b.disabled = false; toast("网络中断，请重试。", true); });
          });
          div.appendChild(b);
        } else if (c.status && c.status !== "scheduled") {
          div.appendChild(el("div", "hint", "已入场（" + (LABELS[{ checked_in: "not_started", in_progress: "in_progress", paused: "paused" }[c.status]] || "已交卷") + "）"));
        }
        out.appendChild(div);
      });
    });
  });

  // First paint from the page itself, then live.
  try { applyMap(JSON.parse($("initial-seats").textContent)); } catch (err) { /* the first poll fills it */ }
  refresh();
})();
