import { api, busy, clearErrors, el, explain, showError } from "./common.js";

const mlflowUi = document.body.dataset.mlflowUi;
const SVG = "http://www.w3.org/2000/svg";
let selected = null;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(3);
}

function versionLabel(result) {
  return result.prompt ? `${result.prompt.prompt_name} v${result.prompt.prompt_version}` : result.label;
}

function runLink(result) {
  if (!result.mlflow_run_id || !mlflowUi) return "—";
  return el("a", { href: `${mlflowUi.replace(/\/$/, "")}/#/runs/${result.mlflow_run_id}`, target: "_blank", rel: "noopener" }, "open run");
}

function gate(run) {
  if (run.status === "passed") return el("span", { class: "pass", text: "pass" });
  if (run.status === "failed") return el("span", { class: "fail", text: "fail" });
  if (run.status === "error") return el("span", { class: "fail", text: `error: ${run.error || ""}` });
  return el("span", { text: `${run.status} ${run.done}/${run.total ?? "?"}` });
}

// One small chart per metric: a bar per prompt version, its 95 % interval as a whisker, the target as a line.
export function drawChart(results) {
  const chart = document.getElementById("chart");
  const metrics = [...new Set(results.flatMap((r) => r.metrics.map((m) => m.metric)))];
  const rowHeight = 22;
  const labelWidth = 150;
  const barWidth = 360;
  const block = (results.length + 1) * rowHeight + 8;
  const root = svg("svg", { width: labelWidth + barWidth + 140, height: metrics.length * block, "data-metrics": metrics.length });
  const colours = ["#2256c9", "#e07b00", "#2a9d5b", "#8e44ad", "#c0392b"];
  metrics.forEach((metric, mi) => {
    const top = mi * block;
    const rows = results.map((r) => r.metrics.find((m) => m.metric === metric));
    const target = results.flatMap((r) => r.targets).find((t) => t.metric === metric);
    const scale = Math.max(...rows.map((m) => Math.max(m?.ci_high ?? 0, m?.value ?? 0)), target?.value ?? 0) || 1;
    root.append(svg("text", { x: 0, y: top + 14, class: "metric", "font-weight": "600" }, metric));
    rows.forEach((m, i) => {
      const y = top + (i + 1) * rowHeight;
      root.append(svg("text", { x: 8, y: y + 12, "font-size": "12" }, versionLabel(results[i])));
      if (m?.value === null || m?.value === undefined) {
        root.append(svg("text", { x: labelWidth, y: y + 12, "font-size": "12" }, "unmeasured"));
        return;
      }
      const width = (m.value / scale) * barWidth;
      root.append(svg("rect", { x: labelWidth, y, width: Math.max(width, 1), height: rowHeight - 6, fill: colours[i % colours.length], class: "bar" }));
      if (m.ci_low !== null && m.ci_high !== null) {
        const x1 = labelWidth + (m.ci_low / scale) * barWidth;
        const x2 = labelWidth + (m.ci_high / scale) * barWidth;
        root.append(svg("line", { x1, x2, y1: y + 8, y2: y + 8, stroke: "#111", "stroke-width": 1.5 }));
      }
      root.append(svg("text", { x: labelWidth + width + 6, y: y + 12, "font-size": "12" }, fmt(m.value)));
    });
    if (target) {
      const x = labelWidth + (target.value / scale) * barWidth;
      root.append(svg("line", { x1: x, x2: x, y1: top + rowHeight - 2, y2: top + block - 6, stroke: "#b3261e", "stroke-dasharray": "4 3", class: "target" }));
      root.append(svg("text", { x: x + 3, y: top + rowHeight - 4, "font-size": "11", fill: "#b3261e" }, `target ${target.op} ${fmt(target.value)}`));
    }
  });
  chart.replaceChildren(root);
}

function showRun(run) {
  selected = run.id;
  const results = run.results || [];
  const body = document.querySelector("#metrics tbody");
  body.replaceChildren(
    ...results.flatMap((result) =>
      result.metrics.map((m) => {
        const target = result.targets.find((t) => t.metric === m.metric);
        return el("tr", {},
          el("td", { text: versionLabel(result) }),
          el("td", { text: m.metric }),
          el("td", { text: fmt(m.value) + (m.unmeasured ? ` (${m.unmeasured} unmeasured)` : "") }),
          el("td", { text: m.ci_low === null ? "—" : `${fmt(m.ci_low)} – ${fmt(m.ci_high)}` }),
          el("td", { text: target ? `${target.op} ${fmt(target.value)}${target.gate_on === "lower_bound" ? " (lower bound)" : ""}` : "—" }),
          el("td", {}, target ? el("span", { class: target.passed ? "pass" : "fail", text: target.passed ? "pass" : "fail" }) : "—"));
      }),
    ),
  );
  if (results.length) drawChart(results);
}

async function loadRuns() {
  const error = document.getElementById("runs-error");
  try {
    const { runs } = await api("/api/v1/evals");
    const body = document.querySelector("#runs tbody");
    body.replaceChildren(
      ...runs.flatMap((run) => {
        const results = run.results?.length ? run.results : [null];
        return results.map((result) =>
          el("tr", { "data-run": run.id, class: run.id === selected ? "selected" : null },
            el("td", {}, el("button", { type: "button", class: "link", onclick: () => showRun(run) }, run.suite)),
            el("td", { text: result ? versionLabel(result) : "—" }),
            el("td", { text: run.status }),
            el("td", {}, result ? el("span", { class: result.passed ? "pass" : "fail", text: result.passed ? "pass" : "fail" }) : gate(run)),
            el("td", {}, result ? runLink(result) : "—")),
        );
      }),
    );
    const latestDone = runs.find((run) => run.results?.length);
    if (!selected && latestDone) showRun(latestDone);
    return runs;
  } catch (err) {
    error.textContent = explain(err);
    return [];
  }
}

async function loadSuites() {
  try {
    const { suites } = await api("/api/v1/evals/suites");
    document.getElementById("suite").replaceChildren(
      ...suites.map((s) => el("option", { value: s.name }, `${s.name} (${s.kind})`)),
    );
  } catch (err) {
    document.getElementById("runs-error").textContent = explain(err);
  }
}

async function poll(id) {
  for (;;) {
    const run = await api(`/api/v1/evals/${encodeURIComponent(id)}`);
    if (!["queued", "running"].includes(run.status)) {
      selected = null;
      await loadRuns();
      showRun(run);
      return run;
    }
    await loadRuns();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

document.getElementById("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  busy(form, true);
  try {
    const created = await api("/api/v1/evals", { method: "POST", json: { suite: document.getElementById("suite").value } });
    await poll(created.id);
  } catch (err) {
    showError(form, err);
  } finally {
    busy(form, false);
  }
});

document.addEventListener("insight:key", () => {
  loadSuites();
  loadRuns();
});
loadSuites();
loadRuns();
