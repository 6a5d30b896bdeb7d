"use strict";
// The Status section of the admin page: time to first audio and the load over the last hour,
// from the server's own figures (api/status, one point per interval), drawn by uPlot (served
// from the package: static/uPlot.iife.min.js, MIT); readiness and recent errors. It refreshes
// every few seconds while it is open and the page is visible. Every URL is relative to the
// page, so it also works under a proxy's path (HA ingress).

(() => {
  const REFRESH_MS = 5000;
  const COLORS = { p50: "#2f6db5", max: "#8fb0d9", answers: "#1e7a3a", queued: "#b3261e", busy: "#d08a00" };
  const byId = (id) => document.getElementById(id);
  let chart = null;
  let timer = null;
  let loading = false;

  function item(text, className = "") {
    const node = document.createElement("li");
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function clock(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function seconds(value) {
    return value == null ? "–" : `${value.toFixed(2)} s`;
  }

  function chartData(history) {
    return [history.time, history.first_audio_p50, history.first_audio_max,
      history.answers, history.queued, history.busy];
  }

  function makeChart(container, data) {
    const count = (u, value) => (value == null ? "–" : String(value));
    const options = {
      width: Math.max(200, container.clientWidth),
      height: 240,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        s: { range: (u, min, max) => [0, Math.max(0.5, max * 1.1)] },
        n: { range: (u, min, max) => [0, Math.max(2, Math.ceil(max * 1.1))] },
      },
      series: [
        { value: (u, value) => (value == null ? "–" : clock(value)) },
        { label: "first audio, median", scale: "s", stroke: COLORS.p50, width: 2,
          points: { show: true, size: 5, fill: COLORS.p50 }, value: (u, v) => seconds(v) },
        { label: "first audio, slowest", scale: "s", stroke: COLORS.max, width: 1, dash: [4, 3],
          points: { show: true, size: 4, fill: COLORS.max }, value: (u, v) => seconds(v) },
        { label: "answers", scale: "n", stroke: COLORS.answers, width: 1,
          fill: "rgba(30, 122, 58, 0.10)", value: count },
        { label: "queued (peak)", scale: "n", stroke: COLORS.queued, width: 1, value: count },
        { label: "refused busy", scale: "n", stroke: COLORS.busy, width: 1, value: count },
      ],
      axes: [
        {},
        { scale: "s", label: "first audio (s)", size: 50 },
        { scale: "n", side: 1, label: "per 10 s", grid: { show: false }, size: 40 },
      ],
    };
    return new uPlot(options, data, container);
  }

  function showReady(ready) {
    const list = byId("status-ready");
    const jobs = Object.entries(ready || {});
    if (!jobs.length) {
      list.replaceChildren(item("No start-up jobs reported.", "meta"));
      return;
    }
    list.replaceChildren(...jobs.map(([job, state]) => {
      const detail = state.detail ? `: ${state.detail}` : "";
      const node = item(`${job}: ${state.state}${detail}`, `ready-${state.state}`);
      node.dataset.job = job;
      return node;
    }));
  }

  function showErrors(errors) {
    const list = byId("status-errors");
    if (!errors.length) {
      list.replaceChildren(item("None since the server started.", "meta"));
      return;
    }
    list.replaceChildren(...errors.map((error) => {
      const status = error.status ? ` ${error.status}` : "";
      const message = error.message ? `: ${error.message}` : "";
      return item(`${clock(error.at)} ${error.door}${status} ${error.code}${message}`);
    }));
  }

  function showSummary(figures) {
    const history = figures.history;
    const answers = history.answers.reduce((sum, n) => sum + n, 0);
    const slowest = Math.max(0, ...history.first_audio_max.filter((v) => v != null));
    const stalls = history.stalls.reduce((sum, n) => sum + n, 0);
    const memory = figures.now.rss_bytes ? `, memory ${(figures.now.rss_bytes / 2 ** 20).toFixed(0)} MB` : "";
    const summary = byId("status-summary");
    summary.textContent = `Last hour: ${answers} answers, slowest first audio ${seconds(answers ? slowest : null)}, `
      + `${stalls} stalls. Now: ${figures.now.in_progress} in progress, ${figures.now.queued} queued${memory}.`;
    summary.dataset.answers = String(answers);
  }

  async function refresh() {
    const details = byId("status-details");
    if (!details.open || document.hidden || loading) return;
    loading = true;
    try {
      const response = await fetch("api/status", { credentials: "same-origin", cache: "no-store" });
      const figures = await response.json().catch(() => ({}));
      if (!response.ok) {
        throw new Error(response.status === 401 ? "Sign in to see the server's status." : figures.error || `HTTP ${response.status}`);
      }
      byId("status-error").textContent = "";
      const data = chartData(figures.history);
      const container = byId("status-chart");
      if (chart === null) chart = makeChart(container, data);
      else chart.setData(data);
      showSummary(figures);
      showReady(figures.ready);
      showErrors(figures.errors);
    } catch (err) {
      byId("status-error").textContent = err.message;
    } finally {
      loading = false;
    }
  }

  function schedule() {
    const open = byId("status-details").open && !document.hidden;
    if (open && timer === null) {
      refresh();
      timer = setInterval(refresh, REFRESH_MS);
    } else if (!open && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    byId("status-details").addEventListener("toggle", schedule);
    document.addEventListener("visibilitychange", schedule);
    window.addEventListener("resize", () => {
      if (chart !== null) chart.setSize({ width: Math.max(200, byId("status-chart").clientWidth), height: 240 });
    });
    schedule();
  });
})();
