/* The candidate's exam page.
 *
 * Every answer change gets a per-attempt sequence number and an idempotency key, is kept in
 * localStorage until the server acknowledges it (so nothing is lost offline or on a reload),
 * and goes over Socket.IO, or over HTTP when no socket can be opened. The server owns the clock:
 * the countdown only ever shows the remaining time the server last told us, corrected for latency.
 */
(function () {
  "use strict";

  var app = document.getElementById("app");
  if (!app) return;
  var attemptId = parseInt(app.dataset.attemptId, 10);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  // Each item type's label, renderer and hint, from the server's registry of types
  // (item_bank.types.client_catalogue): this page knows renderers, never type names.
  var TYPES = JSON.parse(app.dataset.itemTypes || "{}");
  var LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  var RESEND_AFTER_MS = 60000;  // a step unanswered on a live connection is sent again after this
  // The server refuses an event larger than this (exam_server/delivery/limits.py MAX_PAYLOAD_CHARS) and closes
  // the connection on a far larger one: such a change is refused here, with the same message, and never sent.
  var MAX_PAYLOAD_CHARS = 64 * 1024;
  var TOO_LARGE = { ok: false, error: "payload_too_large", message: "答案过长，请删减后再保存。" };

  // ------------------------------------------------------------ local storage
  var store = {
    get: function (k, d) { try { var v = localStorage.getItem(k); return v === null ? d : JSON.parse(v); } catch (e) { return d; } },
    set: function (k, v) { try { localStorage.setItem(k, JSON.stringify(v)); } catch (e) { /* full or disabled */ } }
  };
  var workstation = store.get("exam.workstation", null);
  if (!workstation) {
    workstation = "ws-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    store.set("exam.workstation", workstation);
  }
  var K_SEQ = "exam." + attemptId + ".seq", K_PENDING = "exam." + attemptId + ".pending";
  // Acknowledged saves and flags: every one of the last ACKED_KEEP_MS and the newest per item, a second copy of what
  // the server holds. A standby server that took over from a dead one may lack the last second of acknowledged steps
  // (its copy lags); the join's last_seq says which, and they are sent again (same keys) like answers given offline.
  var K_ACKED = "exam." + attemptId + ".acked2", ACKED_KEEP_MS = 60000;
  var K_SUBMITTED = "exam." + attemptId + ".submitted";  // 交卷 acknowledged: a standby that lacks it gets it again

  var state = {
    status: null, items: [], index: 0, answers: {}, flags: {}, pending: store.get(K_PENDING, []),
    seq: store.get(K_SEQ, 0), acked: store.get(K_ACKED, []), remaining: null, syncedAt: 0, inflight: {}, mode: "socket",
    heldSeq: null,  // the newest step seen acknowledged since a join gave every answer: a rejoin sends it (seen_seq)
    closed: false, loadingItems: false, finished: false, submitting: false,
    submitOpensAt: null, clockOffset: 0, cells: []
  };
  // The Chinese words of refusals the server may send without a message of its own.
  var MESSAGES = {
    late_entry_closed: "已过开考后的入场截止时间，不能开始考试。请举手，由监考员决定是否准许入场。",
    submit_too_early: "还未到允许交卷的时间，请继续作答。"
  };
  var DONE_STATUSES = ["submitted", "scored", "finalised"];

  function nextSeq() { state.seq += 1; store.set(K_SEQ, state.seq); return state.seq; }
  function persistPending() { store.set(K_PENDING, state.pending); }

  // ------------------------------------------------------------ screens
  var SCREENS = ["screen-instructions", "screen-wait", "screen-exam", "screen-review", "screen-done"];
  function show(id) { SCREENS.forEach(function (s) { $(s).hidden = s !== id; }); }
  function wait(title, text) { $("wait-title").textContent = title; $("wait-text").textContent = text; show("screen-wait"); }
  function done(title, text) {
    state.finished = true;
    $("done-title").textContent = title || "已交卷";
    $("done-text").textContent = text || "您的答案已全部提交。请保持安静，按监考员指示离开考场。";
    // A screen closed because the exam moved on must not log out: that would end the new workstation's login too.
    $("logout-form").hidden = state.closed;
    $("done-results").hidden = state.closed;
    show("screen-done"); tick();
  }

  // ------------------------------------------------------------ clock
  function setRemaining(seconds, rttMs) {
    if (typeof seconds !== "number") return;
    state.remaining = Math.max(0, seconds - (rttMs || 0) / 2000);
    state.syncedAt = performance.now();
  }
  function remainingNow() {
    if (state.remaining === null) return null;
    if (state.status !== "in_progress") return state.remaining;
    return Math.max(0, state.remaining - (performance.now() - state.syncedAt) / 1000);
  }
  function fmt(s) {
    s = Math.ceil(s); var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (sec < 10 ? "0" : "") + sec;
    return h > 0 ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }
  var deadlineAsked = false;
  function showClock(text, cls) { var el = $("timer"); el.textContent = text; el.className = "timer" + (cls ? " " + cls : ""); }
  function tick() {
    // A closed or finished screen has no time left to show: it says what happened instead of a frozen or red 00:00.
    if (state.closed) { showClock("本机已关闭", "closed"); return; }
    if (state.finished || DONE_STATUSES.indexOf(state.status) >= 0) { showClock("已交卷", "done"); return; }
    var r = remainingNow();
    if (r === null) { showClock("--:--"); return; }
    if (state.status === "paused") showClock("已暂停 " + fmt(r), "paused");
    else showClock("剩余 " + fmt(r), r <= 300 ? "low" : "");
    updateSubmitGate();
    if (state.status === "in_progress" && r <= 0 && !deadlineAsked) {
      deadlineAsked = true;
      // The server submits at its deadline; ask it for the outcome.
      setTimeout(function () { rejoin(); deadlineAsked = false; }, 1500);
    }
  }
  setInterval(tick, 250);

  // ------------------------------------------------------------ when 交卷 becomes possible (the sitting's minimum time)
  function setSubmitOpens(iso, serverNowIso) {
    if (iso === undefined) return;  // a server that does not say has no minimum time
    if (serverNowIso) state.clockOffset = Date.parse(serverNowIso) - Date.now();
    state.submitOpensAt = iso ? Date.parse(iso) : null;
    updateSubmitGate();
  }
  function hhmm(ms) {
    return new Date(ms).toLocaleTimeString("zh-CN", { hour12: false, hour: "2-digit", minute: "2-digit", timeZone: "Asia/Shanghai" });
  }
  function updateSubmitGate() {
    var wait = !!state.submitOpensAt && Date.now() + state.clockOffset < state.submitOpensAt;
    var text = wait ? "交卷按钮将于 " + hhmm(state.submitOpensAt) + " 后可用" : "";
    ["submit-note", "review-note"].forEach(function (id) { $(id).textContent = text; $(id).hidden = !wait; });
    $("btn-review").disabled = wait;
    $("btn-submit").disabled = wait || state.submitting;
  }

  // ------------------------------------------------------------ notices (announcements, time added)
  function notice(text, atIso, cls) {
    var box = $("notices"), row = document.createElement("div");
    row.className = "notice" + (cls ? " " + cls : ""); row.setAttribute("role", "alert");
    var when = document.createElement("span"); when.className = "when";
    // The server's time of sending where it says it: a workstation's own clock may be wrong.
    when.textContent = hhmm(atIso ? Date.parse(atIso) : Date.now() + state.clockOffset);
    var body = document.createElement("span"); body.className = "text"; body.textContent = text;
    var close = document.createElement("button"); close.type = "button"; close.textContent = "知道了";
    close.setAttribute("aria-label", "关闭这条通知");
    close.addEventListener("click", function () { row.remove(); });
    row.appendChild(when); row.appendChild(body); row.appendChild(close);
    box.insertBefore(row, box.firstChild);
    while (box.children.length > 3) box.removeChild(box.lastChild);  // the newest three; older ones go
  }

  // ------------------------------------------------------------ network status
  function updateNetbar() {
    var bar = $("netbar"), n = state.pending.length;
    if (state.closed) { bar.hidden = true; return; }  // this screen is closed on purpose, not offline
    var online = state.mode === "socket" ? socket.connected : state.httpOk;
    if (!online && n > 0) {
      bar.textContent = "离线，答案已暂存在本机（" + n + " 条待上传）。请不要关闭或刷新页面，网络恢复后会自动上传。";
      bar.className = "netbar offline"; bar.hidden = false;
    } else if (!online) {
      bar.textContent = "网络连接中断，正在重新连接…（已保存的答案不会丢失）";
      bar.className = "netbar offline"; bar.hidden = false;
    } else if (n > 0) {
      bar.textContent = "正在上传 " + n + " 条答案…"; bar.className = "netbar syncing"; bar.hidden = false;
    } else { bar.hidden = true; }
  }

  // ------------------------------------------------------------ transport
  // Reconnects back off to 10 s (±50%): after a server restart a whole centre's browsers then come back
  // spread over several seconds instead of all in the same second (saves go over HTTP meanwhile).
  // Every connect carries the join (auth, asked for again at each attempt): the server answers it with a `joined`
  // event ahead of the connect itself, one message each way instead of two after a restart (issue 17).
  var joinSentAt = 0, joinAnswered = false;
  var socket = io("/exam", { transports: ["websocket", "polling"], reconnectionDelay: 500, reconnectionDelayMax: 10000,
                             randomizationFactor: 0.5, auth: function (cb) {
                               joinSentAt = performance.now(); joinAnswered = false;
                               cb(state.closed ? {} : { join: joinBody() });
                             } });
  var connectFailures = 0;

  function http(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (res) {
      state.httpOk = true;
      return res.json();
    }, function (err) { state.httpOk = false; throw err; });
  }

  function call(event, payload) {
    payload.attempt_id = attemptId;
    if (JSON.stringify(payload).length > MAX_PAYLOAD_CHARS) return Promise.resolve(TOO_LARGE);
    if (state.mode === "socket" && socket.connected) {
      var t0 = performance.now();
      if (event === "join") {
        // A join waits for its answer as long as its connection lives: after a server restart a whole centre
        // joins at once and the answer may come a minute later; given up on, the page would stay
        // offline until the next reconnect, and sent again it would only queue a second join. A lost connection
        // rejoins on its next connect.
        return new Promise(function (resolve) {
          socket.emit(event, payload, function (ack) { ack._rtt = performance.now() - t0; resolve(ack); });
        });
      }
      return new Promise(function (resolve, reject) {
        // Late is not lost: on a live connection Socket.IO delivers the answer, so a step is sent again only
        // once its connection dropped, or after RESEND_AFTER_MS. Sending everything unanswered again after a few
        // seconds drowned a server that was behind a whole centre's storm in copies (issue 17).
        var settled = false, timer = null;
        function finish(fn, value) {
          if (settled) return;
          settled = true; clearTimeout(timer); socket.off("disconnect", dropped); fn(value);
        }
        function dropped() { finish(reject, new Error("disconnected")); }
        timer = setTimeout(function () { finish(reject, new Error("timeout")); }, RESEND_AFTER_MS);
        socket.on("disconnect", dropped);
        socket.emit(event, payload, function (ack) { ack._rtt = performance.now() - t0; finish(resolve, ack); });
      });
    }
    if (state.mode === "http") {
      var path = "/api/attempts/" + attemptId + "/" + (event === "start" ? "join" : event);
      if (event === "join" || event === "start") payload = { workstation: workstation, start: event === "start" };
      else payload.workstation = workstation;
      var t1 = performance.now();
      return http(path, payload).then(function (ack) { ack._rtt = performance.now() - t1; return ack; });
    }
    return Promise.reject(new Error("offline"));
  }

  function handleRefusal(ack) {
    switch (ack.error) {
      case "deadline_passed": case "submitted": state.status = "submitted"; done("考试时间到", ack.message); return true;
      case "paused": state.status = "paused"; wait("考试已暂停", ack.message); return true;
      case "moved": closeScreen(ack.message); return true;
      case "not_your_attempt": closeScreen(ack.message, false); return true;
      case "awaiting_move": wait("请举手联系监考员", ack.message); setTimeout(rejoin, 3000); return true;
      case "not_checked_in": wait("等待入场核验", ack.message); setTimeout(rejoin, 3000); return true;
      case "late_entry_closed":
        show("screen-instructions");
        $("start-status").textContent = ack.message || MESSAGES.late_entry_closed; $("start-status").className = "hint error";
        return true;
      case "submit_too_early":
        if (ack.opens_at) setSubmitOpens(ack.opens_at);
        reviewError((ack.message || MESSAGES.submit_too_early) +
          (state.submitOpensAt ? "交卷按钮将于 " + hhmm(state.submitOpensAt) + " 后可用。" : ""));
        return true;
      default: return false;
    }
  }

  function closeScreen(message, moved) {
    state.closed = true;
    done(moved === false ? "本机考试已关闭" : "您已在其他机位继续考试",
         (message || "您的考试已转移到另一台电脑上继续。") + "本机已停止计时，请不要在本机继续操作。");
    socket.disconnect();
  }

  // ------------------------------------------------------------ join and state
  function applyJoin(ack) {
    if (ack.submit_text) state.submitText = ack.submit_text;
    setRemaining(ack.remaining_s, ack._rtt);
    setSubmitOpens(ack.submit_opens_at, ack.server_now);
    if (typeof ack.last_seq === "number" && ack.last_seq > state.seq) { state.seq = ack.last_seq; store.set(K_SEQ, state.seq); }
    if (typeof ack.last_seq === "number") resendLost(ack.last_seq);
    // null: the server's newest step is the one this page saw acknowledged last, so it holds every answer already.
    if (ack.answers !== null) {
      state.answers = {};
      Object.keys(ack.answers || {}).forEach(function (id) { state.answers[id] = ack.answers[id]; });
      state.flags = {};
      (ack.flags || []).forEach(function (id) { state.flags[id] = true; });
    }
    if (typeof ack.last_seq === "number") state.heldSeq = ack.last_seq;
    // Unacknowledged local changes win on screen until the server has them.
    state.pending.forEach(function (p) {
      if (p.type === "save" && (!state.answers[p.item_id] || state.answers[p.item_id].seq < p.seq)) {
        state.answers[p.item_id] = { value: p.value, seq: p.seq, saved_at: null, pending: true };
      }
      if (p.type === "flag") state.flags[p.item_id] = p.flagged;
    });
    var submitted = store.get(K_SUBMITTED, false);
    if (ack.status === "in_progress" && submitted === true) {
      // The submit was acknowledged by a server that died before its standby had it: submit again (same key),
      // after the answers queued above, once. A server that has it (a proctor reopened the attempt) answers with
      // its first acknowledgement; the join after it then says in progress again, and the exam goes on.
      store.set(K_SUBMITTED, "resent");
      state.status = ack.status; wait("正在交卷", "正在重新提交您的答卷，请稍候，不要关闭页面。"); submitNow(); return;
    }
    if (submitted && ack.status === "in_progress") { store.set(K_SUBMITTED, false); state.finished = false; }  // reopened
    enterStatus(ack.status);
  }

  // Acknowledged steps the server no longer holds (seq above its last_seq) are queued again, in seq order, with their
  // keys (a server that has one after all answers with its first acknowledgement).
  function resendLost(lastSeq) {
    state.acked.forEach(function (a) {
      if (a.seq <= lastSeq) return;
      if (!state.pending.some(function (p) { return p.key === a.key; })) state.pending.push(a);
    });
    state.pending.sort(function (x, y) { return x.seq - y.seq; });
    persistPending();
  }
  function keepAcked(p) {
    var now = Date.now(), newest = {};
    state.acked.push({ type: p.type, item_id: p.item_id, value: p.value, flagged: p.flagged, seq: p.seq, key: p.key, at: now });
    state.acked.forEach(function (a) {
      var slot = a.type + ":" + a.item_id;
      if (!newest[slot] || newest[slot].seq < a.seq) newest[slot] = a;
    });
    state.acked = state.acked.filter(function (a) { return newest[a.type + ":" + a.item_id] === a || now - a.at < ACKED_KEEP_MS; });
    store.set(K_ACKED, state.acked);
  }

  // `paper`: the paper a start's acknowledgement carried (parsed), used instead of fetching it.
  function enterStatus(status, paper) {
    state.status = status;
    if (state.closed) return;
    if (status === "scheduled") { wait("等待入场核验", "请出示证件，由监考员核验身份后即可开始考试。"); setTimeout(rejoin, 3000); }
    else if (status === "checked_in") { show("screen-instructions"); }
    else if (status === "paused") { wait("考试已暂停", "监考员已暂停考试，计时已停止。请在座位上等待，考试恢复后可继续作答。"); }
    else if (status === "in_progress") { if (paper && !state.items.length) usePaper(paper); else loadItems(); }
    else {
      state.pending = []; persistPending();
      // A proctor's force-submit says so, with its reason and misconduct category, never as a normal 交卷.
      if (state.submitText) done("监考员已为您交卷", state.submitText + "。答案已按交卷时的内容保存，请按监考员指示离开考场。");
      else done();
    }
    updateNetbar();
  }

  function joinBody() {
    var body = { attempt_id: attemptId, workstation: workstation };
    if (state.heldSeq !== null) body.seen_seq = state.heldSeq;
    return body;
  }

  function joined(ack) {
    if (!ack.ok && ack.error === "unavailable") { setTimeout(rejoin, 2000); return; }  // the database is restarting
    if (!ack.ok) { handleRefusal(ack); return; }
    applyJoin(ack); flush();
  }

  function rejoin() {
    if (state.closed) return;
    call("join", joinBody()).then(joined, function () { updateNetbar(); });
  }

  function loadItems() {
    if (state.items.length) { show(state.review ? "screen-review" : "screen-exam"); render(); flush(); return; }
    if (state.loadingItems) return;
    state.loadingItems = true;
    // A server fault (503 while the database restarts) says nothing of the exam: try again, never read it
    // as the exam's end.
    fetch("/api/attempt", { credentials: "same-origin" }).then(function (r) {
      if (r.status >= 500) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      state.loadingItems = false;
      usePaper(body);
    }, function () { state.loadingItems = false; setTimeout(loadItems, 2000); });
  }

  // The paper as GET /api/attempt answers it, fetched or carried by a start's acknowledgement.
  function usePaper(body) {
    setSubmitOpens(body.submit_opens_at, body.server_now);
    if (body.status !== "in_progress") { enterStatus(body.status); return; }
    state.items = body.items;
    var saved = store.get("exam." + attemptId + ".index", 0);
    state.index = Math.min(saved, state.items.length - 1);
    show("screen-exam"); buildNavigator(); render(); flush();
  }

  // The answer to the join the connect carried; Socket.IO hands it over just before "connect".
  socket.on("joined", function (ack) {
    joinAnswered = true;
    state.mode = "socket";  // before "connect" fires: the join's answer flushes the queued answers on the socket
    ack._rtt = performance.now() - joinSentAt;
    joined(ack);
  });
  socket.on("connect", function () {
    connectFailures = 0;
    state.mode = "socket";
    // A server that did not answer the join in the connect (one not yet upgraded, during an upgrade) is asked
    // with the join event, as before.
    if (!joinAnswered) rejoin();
  });
  socket.on("disconnect", function () { updateNetbar(); });
  socket.on("connect_error", function (err) {
    if (err && err.data && err.data.error === "too_many_sockets") {
      // Refused, not unreachable: too many exam pages are open for this candidate. Say so, and try again
      // later (the socket does not retry a refusal by itself) once the other pages are closed.
      wait("考试页面打开过多", err.data.message);
      setTimeout(function () { socket.connect(); }, 10000);
      return;
    }
    connectFailures += 1;
    // No socket at all (a proxy that blocks it): carry on over plain HTTP.
    if (connectFailures >= 3 && state.mode === "socket") { state.mode = "http"; rejoin(); }
    updateNetbar();
  });
  // A socket that neither opens nor fails (a proxy that accepts it and then holds it) would leave the
  // screen blank until Socket.IO's own 20 s timeouts ran out three times: fall back to HTTP sooner.
  setTimeout(function () {
    if (state.mode === "socket" && !socket.connected && state.status === null) { state.mode = "http"; rejoin(); }
  }, 8000);
  socket.on("attempt_state", function (msg) {
    if (msg.attempt_id !== attemptId) return;
    if (msg.status === "in_progress") store.set(K_SUBMITTED, false);  // started, resumed or reopened
    if (msg.submit_text) state.submitText = msg.submit_text;
    setRemaining(msg.remaining_s, 0);
    if (msg.status === "in_progress" && state.status !== "in_progress") { enterStatus("in_progress"); return; }
    if (msg.status !== state.status) enterStatus(msg.status);
  });
  socket.on("closed", function (msg) {
    if (msg.attempt_id === attemptId && msg.workstation === workstation) closeScreen(msg.reason);
  });
  socket.on("announcement", function (msg) {
    if (msg.attempt_id !== undefined && msg.attempt_id !== attemptId) return;
    notice("监考员通知：" + msg.text, msg.at);
  });
  socket.on("time_extended", function (msg) {
    if (msg.attempt_id !== attemptId || state.closed) return;
    var minutes = Math.round((msg.seconds || 0) / 60);
    notice("考试时间已延长 " + (minutes >= 1 ? minutes + " 分钟" : msg.seconds + " 秒") + "，剩余时间已更新。", msg.at, "info");
  });

  // Re-sync the clock now and then; the server's word always wins.
  setInterval(function () {
    if (state.status !== "in_progress" && state.status !== "paused") return;
    if (state.mode === "socket" && socket.connected) {
      call("ping_time", {}).then(function (ack) {
        if (ack.ok) { setRemaining(ack.remaining_s, ack._rtt); if (ack.status !== state.status) enterStatus(ack.status); }
      }, function () {});
    } else if (state.mode === "http") { rejoin(); }
  }, 15000);

  // ------------------------------------------------------------ saving
  function queue(entry) {
    // A newer change of the same item supersedes an unsent older one.
    state.pending = state.pending.filter(function (p) {
      return !(p.type === entry.type && p.item_id === entry.item_id && !state.inflight[p.key]);
    });
    state.pending.push(entry); persistPending(); flush(); updateNetbar();
  }

  function flush() {
    if (state.status !== "in_progress") { updateNetbar(); return; }
    state.pending.slice().forEach(function (p) {
      if (state.inflight[p.key]) return;
      state.inflight[p.key] = true;
      var payload = p.type === "save"
        ? { item_id: p.item_id, value: p.value, seq: p.seq, key: p.key }
        : { item_id: p.item_id, flagged: p.flagged, seq: p.seq, key: p.key };
      call(p.type, payload).then(function (ack) {
        delete state.inflight[p.key];
        if (ack.ok) {
          state.pending = state.pending.filter(function (q) { return q.key !== p.key; }); persistPending();
          keepAcked(p);
          if (state.heldSeq !== null && p.seq > state.heldSeq) state.heldSeq = p.seq;
          if (p.type === "save") {
            var a = state.answers[p.item_id];
            if (a && a.seq === p.seq) { a.saved_at = ack.saved_at; a.pending = false; }
          }
          renderSaved(); refreshNavigator();
        } else if (["invalid_value", "unknown_item", "value_too_large", "payload_too_large"].indexOf(ack.error) >= 0) {
          state.pending = state.pending.filter(function (q) { return q.key !== p.key; }); persistPending();
          state.heldSeq = null;  // the screen shows a change the server refused: the next join brings every answer
          showSaveError(ack.message);
        } else if (ack.error === "unavailable") {
          // The server could not reach its database and stored nothing: keep it, send it again (same key).
          setTimeout(flush, 2000);
        } else { handleRefusal(ack); }
        updateNetbar();
      }, function () {
        delete state.inflight[p.key]; updateNetbar();
        setTimeout(flush, 2000);
      });
    });
    updateNetbar();
  }
  window.addEventListener("online", function () { flush(); });

  function answer(item, value) {
    var seq = nextSeq();
    state.answers[item.item_id] = { value: value, seq: seq, saved_at: null, pending: true };
    queue({ type: "save", item_id: item.item_id, value: value, seq: seq, key: workstation + ":" + attemptId + ":" + seq });
    render();
  }

  function toggleFlag(item) {
    var flagged = !state.flags[item.item_id];
    state.flags[item.item_id] = flagged;
    var seq = nextSeq();
    queue({ type: "flag", item_id: item.item_id, flagged: flagged, seq: seq, key: workstation + ":" + attemptId + ":" + seq });
    render();
  }

  // ------------------------------------------------------------ rendering
  function isAnswered(v) { return v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && v.every(function (x) { return !x; })); }
  function valueOf(item) { var a = state.answers[item.item_id]; return a ? a.value : null; }

  // The paper's sections (一、判断题 …) in order, each with the positions of its items: items of a section stay
  // together in every candidate's order.
  function sections() {
    var out = [];
    state.items.forEach(function (item, i) {
      var last = out[out.length - 1];
      if (!last || last.title !== (item.section || "")) out.push(last = { title: item.section || "", first: i, count: 0 });
      last.count += 1;
    });
    return out;
  }
  function sectionOf(i) {
    return sections().filter(function (s) { return i >= s.first && i < s.first + s.count; })[0] || null;
  }

  function buildNavigator() {
    var grid = $("nav-grid"); grid.innerHTML = ""; state.cells = [];
    sections().forEach(function (sec) {
      var block = document.createElement("div"); block.className = "nav-section";
      if (sec.title) { var head = document.createElement("div"); head.className = "nav-section-title"; head.textContent = sec.title; block.appendChild(head); }
      var cells = document.createElement("div"); cells.className = "nav-cells";
      for (var i = sec.first; i < sec.first + sec.count; i++) {
        var b = document.createElement("button");
        b.type = "button"; b.textContent = i + 1; b.className = "nav-cell"; b.dataset.index = i;
        b.addEventListener("click", go.bind(null, i));
        cells.appendChild(b); state.cells.push(b);
      }
      block.appendChild(cells); grid.appendChild(block);
    });
    refreshNavigator();
  }

  function markCell(c, item, i) {
    var ans = isAnswered(valueOf(item)), flagged = !!state.flags[item.item_id];
    c.classList.toggle("answered", ans);
    c.classList.toggle("flagged", flagged);
    c.setAttribute("aria-label", "第 " + (i + 1) + " 题，" + (ans ? "已答" : "未答") + (flagged ? "，已标记" : ""));
    c.title = (ans ? "已答" : "未答") + (flagged ? "，已标记" : "");
    return ans;
  }

  function refreshNavigator() {
    var answered = 0;
    state.items.forEach(function (item, i) {
      var c = state.cells[i]; if (!c) return;
      if (markCell(c, item, i)) answered += 1;
      c.classList.toggle("current", i === state.index);
    });
    $("nav-count").textContent = "已答 " + answered + " / " + state.items.length + " 题";
    return answered;
  }

  function go(i) {
    if (i < 0 || i >= state.items.length) return;
    state.index = i; store.set("exam." + attemptId + ".index", i);
    show("screen-exam"); render();
  }

  function render() {
    var item = state.items[state.index]; if (!item) return;
    var sec = sectionOf(state.index);
    $("q-section").textContent = sec && sec.title ? sec.title + "（第 " + (sec.first + 1) + "–" + (sec.first + sec.count) + " 题）" : "";
    $("q-number").textContent = "第 " + (state.index + 1) + " 题 / 共 " + state.items.length + " 题";
    $("q-type").textContent = typeOf(item).label;
    $("q-points").textContent = "（" + item.points + " 分）";
    renderStimulus(item);
    $("q-stem").textContent = item.stem;
    var pics = $("q-media"); pics.innerHTML = "";
    (item.media || []).forEach(function (m) { pics.appendChild(image(m)); });
    var box = $("q-options"); box.innerHTML = "";
    var kind = typeOf(item);
    (RENDERERS[kind.renderer] || RENDERERS.text)(item, box, valueOf(item), kind);
    $("btn-flag").textContent = state.flags[item.item_id] ? "取消标记" : "标记本题";
    $("btn-flag").classList.toggle("on", !!state.flags[item.item_id]);
    $("btn-prev").disabled = state.index === 0;
    $("btn-next").disabled = state.index === state.items.length - 1;
    if (state.renderedIndex !== state.index) { $("q-body").scrollTop = 0; state.renderedIndex = state.index; }
    renderSaved(); refreshNavigator(); moreBelow();
  }

  // A long item scrolls inside its box; say so, for candidates who would not think of scrolling.
  function moreBelow() {
    var body = $("q-body");
    $("q-more").hidden = body.scrollHeight - body.scrollTop - body.clientHeight <= 4;
  }
  $("q-body").addEventListener("scroll", moreBelow);
  window.addEventListener("resize", moreBelow);
  // A notice opening or closing above changes the box's height without a resize of the window.
  if (window.ResizeObserver) new ResizeObserver(moreBelow).observe($("q-body"));

  function typeOf(item) { return TYPES[item.type] || { label: item.type, renderer: "text", hint: "" }; }

  // ------------------------------------------------------------ renderers (one per ItemType.renderer)
  function renderOptions(item, box, value, kind, multi) {
    box.setAttribute("role", multi ? "group" : "radiogroup");
    (item.options || []).forEach(function (opt, pos) {
      var chosen = value ? value.indexOf(opt.id) >= 0 : false;
      var b = document.createElement("button");
      b.type = "button"; b.className = "option" + (chosen ? " chosen" : "");
      b.setAttribute(multi ? "aria-pressed" : "aria-checked", chosen ? "true" : "false");
      if (!multi) b.setAttribute("role", "radio");
      b.dataset.option = opt.id;
      var mark = document.createElement("span"); mark.className = "opt-mark"; mark.textContent = multi ? (chosen ? "☑" : "☐") : (chosen ? "●" : "○");
      var letter = document.createElement("span"); letter.className = "opt-letter"; letter.textContent = LETTERS[pos] + ".";
      var text = document.createElement("span"); text.className = "opt-text"; text.textContent = opt.text;
      b.appendChild(mark); b.appendChild(letter); b.appendChild(text);
      b.addEventListener("click", function () { choose(item, opt.id, multi); });
      box.appendChild(b);
    });
    if (kind.hint) { var hint = document.createElement("p"); hint.className = "hint"; hint.textContent = kind.hint; box.appendChild(hint); }
  }

  var RENDERERS = {
    "single-choice": function (item, box, value, kind) { renderOptions(item, box, value, kind, false); },
    "multiple-choice": function (item, box, value, kind) { renderOptions(item, box, value, kind, true); },
    blanks: function (item, box, value) {
      var n = item.blanks || 1, vals = Array.isArray(value) ? value : [];
      for (var k = 0; k < n; k++) {
        var inp = document.createElement("input"); inp.className = "blank"; inp.value = vals[k] || "";
        inp.setAttribute("aria-label", "第 " + (k + 1) + " 空"); inp.dataset.k = k;
        inp.addEventListener("change", function () {
          var all = Array.prototype.map.call(box.querySelectorAll("input.blank"), function (x) { return x.value; });
          answer(item, all.some(function (x) { return x; }) ? all : null);
        });
        box.appendChild(inp);
      }
    },
    text: function (item, box, value) {
      var ta = document.createElement("textarea"); ta.className = "essay"; ta.rows = 12; ta.value = value || "";
      var timer = null;
      // An answer over the item's limit is not sent (the server would refuse it): the candidate is told to shorten it.
      function save() {
        if (item.max_chars && ta.value.length > item.max_chars) {
          showSaveError("答案过长（本题不超过 " + item.max_chars + " 字，现有 " + ta.value.length + " 字），请删减后再保存。");
          return;
        }
        if ((valueOf(item) || "") !== ta.value) answer(item, ta.value || null);
      }
      ta.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(save, 1500); });
      ta.addEventListener("blur", function () { clearTimeout(timer); save(); });
      box.appendChild(ta);
    }
  };

  function image(m) {
    var img = document.createElement("img"); img.src = m.url; img.alt = m.name || "题目图片"; img.className = "q-image";
    return img;
  }

  function renderStimulus(item) {
    var box = $("q-stimulus"), st = item.stimulus;
    box.hidden = !st; box.innerHTML = "";
    if (!st) return;
    var head = document.createElement("div"); head.className = "stimulus-title";
    head.textContent = "【材料】" + (st.title || "") + "（本材料与第 " + state.items.filter(function (i) { return i.stimulus && i.stimulus.id === st.id; })
      .map(function (i) { return state.items.indexOf(i) + 1; }).join("、") + " 题相关）";
    var text = document.createElement("div"); text.className = "stimulus-text"; text.textContent = st.text || "";
    box.appendChild(head); box.appendChild(text);
    (st.media || []).forEach(function (m) { box.appendChild(image(m)); });
  }

  function renderSaved() {
    var item = state.items[state.index]; if (!item) return;
    var a = state.answers[item.item_id], el = $("q-saved");
    el.classList.remove("error");
    if (!a || !isAnswered(a.value) && !a.pending && !a.saved_at) { el.textContent = "本题尚未作答"; el.className = "q-saved"; return; }
    if (a.pending) { el.textContent = "保存中…"; el.className = "q-saved pending"; return; }
    var t = a.saved_at ? new Date(a.saved_at) : null;
    el.textContent = t ? "✓ 已保存（" + t.toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" }) + "）" : "✓ 已保存";
    el.className = "q-saved ok";
  }

  function showSaveError(message) { var el = $("q-saved"); el.textContent = message; el.className = "q-saved error"; }

  function choose(item, optionId, multi) {
    var value = valueOf(item);
    if (multi) {
      var set = (value || "").split("").filter(Boolean);
      var i = set.indexOf(optionId);
      if (i >= 0) set.splice(i, 1); else set.push(optionId);
      set.sort();
      answer(item, set.length ? set.join("") : null);
    } else { answer(item, value === optionId ? value : optionId); }
  }

  // ------------------------------------------------------------ controls
  $("btn-start").addEventListener("click", function () {
    $("btn-start").disabled = true; $("start-status").textContent = "正在开始…"; $("start-status").className = "hint";
    call("start", {}).then(function (ack) {
      $("btn-start").disabled = false; $("start-status").textContent = "";
      if (!ack.ok) { if (!handleRefusal(ack)) $("start-status").textContent = ack.message; return; }
      setRemaining(ack.remaining_s, ack._rtt);
      // A socket start carries the paper (the JSON text GET /api/attempt answers): the whole room then makes no
      // second request. Without it (HTTP mode, an older server) loadItems fetches it as before.
      enterStatus(ack.status, typeof ack.paper === "string" ? JSON.parse(ack.paper) : null);
    }, function () { $("btn-start").disabled = false; $("start-status").textContent = "网络连接中断，请稍后再点一次。"; });
  });
  $("btn-prev").addEventListener("click", function () { go(state.index - 1); });
  $("btn-next").addEventListener("click", function () { go(state.index + 1); });
  $("btn-flag").addEventListener("click", function () { toggleFlag(state.items[state.index]); });
  $("btn-review").addEventListener("click", function () { review(); });
  $("btn-back").addEventListener("click", function () { state.review = false; go(state.index); });
  $("btn-submit").addEventListener("click", function () {
    var unanswered = state.items.length - refreshNavigator();
    $("confirm-text").textContent = (unanswered > 0 ? "您还有 " + unanswered + " 道题未作答。" : "所有题目均已作答。") + "交卷后不能再修改答案，确定要交卷吗？";
    $("confirm-dialog").showModal();
  });
  $("confirm-no").addEventListener("click", function () { $("confirm-dialog").close(); });
  $("confirm-yes").addEventListener("click", function () {
    $("confirm-dialog").close();
    submitNow();
  });

  function review() {
    state.review = true;
    var grid = $("review-grid"); grid.innerHTML = "";
    var unanswered = [], flagged = [];
    state.items.forEach(function (item, i) {
      var b = document.createElement("button"); b.type = "button"; b.className = "nav-cell"; b.textContent = i + 1;
      if (!markCell(b, item, i)) unanswered.push(i + 1);
      if (state.flags[item.item_id]) flagged.push(i + 1);
      b.addEventListener("click", function () { state.review = false; go(i); });
      grid.appendChild(b);
    });
    $("review-summary").textContent = "共 " + state.items.length + " 题，已答 " + (state.items.length - unanswered.length) +
      " 题，未答 " + unanswered.length + " 题" + (flagged.length ? "，标记 " + flagged.length + " 题" : "") + "。" +
      (unanswered.length ? "" : "所有题目均已作答。");
    listNumbers("review-unanswered", unanswered);
    listNumbers("review-flagged", flagged);
    reviewError(""); updateSubmitGate();
    show("screen-review");
  }

  function reviewError(text) { $("review-error").textContent = text; $("review-error").hidden = !text; }

  // The numbers themselves, each a button back to its item (a count alone sends the candidate searching).
  function listNumbers(id, numbers) {
    var box = $(id), list = box.querySelector(".numbers"); list.innerHTML = "";
    numbers.forEach(function (n) {
      var b = document.createElement("button"); b.type = "button"; b.textContent = n;
      b.setAttribute("aria-label", "返回第 " + n + " 题");
      b.addEventListener("click", function () { state.review = false; go(n - 1); });
      list.appendChild(b);
    });
    box.hidden = !numbers.length;
  }

  function submitNow() {
    state.submitting = true; $("btn-submit").disabled = true;
    var attemptSubmit = function () {
      // Unsent answers go first: a submit must never overtake an answer.
      if (state.pending.length) { flush(); setTimeout(attemptSubmit, 500); return; }
      var key = workstation + ":" + attemptId + ":submit";
      call("submit", { key: key }).then(function (ack) {
        state.submitting = false; updateSubmitGate();
        if (ack.ok) {
          var again = store.get(K_SUBMITTED, false) === "resent";
          if (!again) store.set(K_SUBMITTED, true);
          state.status = ack.status; done();
          if (again) rejoin();  // what the server holds now decides (submitted, or reopened)
          return;
        }
        if (!handleRefusal(ack)) reviewError(ack.message || "交卷未成功，请再试一次。");
      }, function () { setTimeout(attemptSubmit, 2000); updateNetbar(); });
    };
    attemptSubmit();
  }

  document.addEventListener("keydown", function (e) {
    if ($("screen-exam").hidden || e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT") return;
    var item = state.items[state.index]; if (!item) return;
    if (e.key === "ArrowRight") go(state.index + 1);
    else if (e.key === "ArrowLeft") go(state.index - 1);
    else if (item.options) {
      var pos = "1234567".indexOf(e.key); if (pos < 0) pos = LETTERS.indexOf(e.key.toUpperCase());
      if (pos >= 0 && pos < item.options.length) choose(item, item.options[pos].id, typeOf(item).renderer === "multiple-choice");
    }
  });
})();
