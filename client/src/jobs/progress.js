// A job's page: polls the job's JSON until it has ended and shows its progress, error and result file.
// Data attributes carry the URLs, so the page needs no inline script.
(function () {
  "use strict";
  const box = document.getElementById("job");
  if (!box || box.dataset.finished === "true") return;

  const field = (name) => box.querySelector(`[data-field="${name}"]`);
  const FIRST_DELAY_MS = 500;
  const MAX_DELAY_MS = 5000; // a long job is asked less often: every poll is a request to the exam server
  let delay = FIRST_DELAY_MS;
  let lastProgress = -1;

  function show(job) {
    const percent = Math.round((job.progress || 0) * 100);
    field("progress").value = job.progress || 0;
    field("progress").textContent = `${percent}%`;
    field("percent").textContent = `${percent}%`;
    field("message").textContent = job.message || "";
    const status = field("status_label");
    status.textContent = job.status_label;
    status.className = `badge ${job.status}`;
    field("error").hidden = !job.error;
    field("error").textContent = job.error || "";
    if (job.file_url) {
      field("file_link").href = job.file_url;
      field("file_link").textContent = `下载结果文件：${job.result_file}`;
      field("download").hidden = false;
    }
    const cancel = field("cancel_form");
    if (cancel && job.finished) cancel.hidden = true;
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) {
        field("message").textContent = response.status === 404 ? "任务不存在，或您无权查看。" : "暂时无法获取进度，稍后自动重试。";
        if (response.status === 404) return;
      } else {
        const job = await response.json();
        show(job);
        if (job.finished) {
          // What a finished job says (its summary lines, a link onward) is drawn by the server: show it.
          if (job.status === "done" && job.result && (job.result.lines || job.result.link)) window.location.reload();
          return;
        }
        // Back off while nothing moves; come back to quick polls as soon as it does.
        delay = job.progress !== lastProgress ? FIRST_DELAY_MS : Math.min(delay * 1.5, MAX_DELAY_MS);
        lastProgress = job.progress;
      }
    } catch (_error) {
      field("message").textContent = "网络中断，正在重试…";
      delay = Math.min(delay * 1.5, MAX_DELAY_MS);
    }
    window.setTimeout(poll, delay);
  }

  window.setTimeout(poll, FIRST_DELAY_MS);
})();
