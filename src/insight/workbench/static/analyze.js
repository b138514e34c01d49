import { ApiError, api, authHeaders, busy, clearErrors, el, explain, showError } from "./common.js";

const form = document.getElementById("analyze-form");

// ---- charts --------------------------------------------------------------------------------------------------
// Vega, Vega-Lite and vega-embed are vendored under static/vendor (its README names the versions and how they
// were fetched): nothing comes from a CDN. They download in parallel as the page opens and run in order, so the
// first chart rarely waits for them.
const VENDOR = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"];
let vegaReady = null;

export function loadVega() {
  if (!vegaReady) {
    vegaReady = new Promise((resolve, reject) => {
      const scripts = VENDOR.map((name) => {
        const script = document.createElement("script");
        script.src = `/ui/static/vendor/${name}`;
        script.async = false; // execute in this order (vega-lite needs vega, vega-embed both)
        script.addEventListener("error", () => reject(new Error(`could not load ${name}`)));
        return script;
      });
      scripts.at(-1).addEventListener("load", () =>
        window.vegaEmbed ? resolve(window.vegaEmbed) : reject(new Error("vega-embed did not load")),
      );
      document.head.append(...scripts);
    });
    vegaReady.catch(() => {
      vegaReady = null; // the next analysis tries again
    });
  }
  return vegaReady;
}

let views = []; // the charts on the page, finalized (timers and listeners released) before the next analysis

function chartSpec(chart) {
  // The engine writes Vega-Lite v5 specs; Vega-Lite 6 draws them unchanged. The mode is given, so "$schema"
  // (a vega.github.io address, never fetched) is dropped rather than compared against the library's version.
  const { $schema: _schema, ...spec } = chart;
  const single = "mark" in spec || "layer" in spec;
  return single
    ? { ...spec, width: spec.width ?? "container", height: spec.height ?? 180, autosize: spec.autosize ?? { type: "fit", contains: "padding" } }
    : spec;
}

async function drawCharts(boxes) {
  let embed;
  try {
    embed = await loadVega();
  } catch (error) {
    for (const [box] of boxes) failChart(box, error);
    return;
  }
  for (const [box, insight] of boxes) {
    if (!box.isConnected) continue; // a newer analysis replaced this one
    try {
      const result = await embed(box, chartSpec(insight.chart), {
        mode: "vega-lite",
        renderer: "svg",
        actions: { export: true, source: false, compiled: false, editor: false },
        downloadFileName: `insight-${insight.id}`,
      });
      views.push(result);
      box.dataset.state = "rendered";
    } catch (error) {
      failChart(box, error);
    }
  }
}

function failChart(box, error) {
  box.dataset.state = "failed";
  box.replaceChildren(el("p", { class: "meta" }, `The chart could not be drawn: ${error.message}`));
}

// ---- text: figures linked to their insight, the rest checked against the computed facts -----------------------
function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Wrap every figure the grounding check looked at: green when a computed fact backs it, red when not.
export function highlight(text, grounding) {
  const kinds = new Map();
  for (const item of grounding?.unsupported ?? []) kinds.set(item.text, "unsupported");
  for (const item of grounding?.supported ?? []) kinds.set(item.text, "grounded");
  const fragment = document.createDocumentFragment();
  const figures = [...kinds.keys()].filter(Boolean).sort((a, b) => b.length - a.length);
  if (!figures.length) {
    fragment.append(text);
    return fragment;
  }
  const pattern = new RegExp(`(?<![\\w.])(${figures.map(escapeRegExp).join("|")})(?![\\w])`, "g");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    fragment.append(text.slice(last, match.index));
    const kind = kinds.get(match[0]);
    fragment.append(el("mark", { class: kind, title: kind === "grounded" ? "backed by a computed fact" : "no fact backs this figure" }, match[0]));
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

// The service counts offsets in characters (code points), JavaScript strings in UTF-16 units.
function utf16Offset(text, codePoints) {
  let units = 0;
  let count = 0;
  for (const character of text) {
    if (count === codePoints) break;
    units += character.length;
    count += 1;
  }
  return units;
}

// Where each figure sits in the text, in order and without overlaps; a figure whose offsets do not match its
// text is looked for by its text, the occurrence nearest to where it was said to be.
function figureSpans(text, figures) {
  const spans = [];
  for (const figure of figures) {
    let start = utf16Offset(text, figure.start);
    let end = utf16Offset(text, figure.end);
    if (text.slice(start, end) !== figure.text) {
      const found = [...text.matchAll(new RegExp(escapeRegExp(figure.text), "g"))].map((m) => m.index);
      if (!found.length) continue;
      const wanted = start;
      start = found.reduce((best, at) => (Math.abs(at - wanted) < Math.abs(best - wanted) ? at : best));
      end = start + figure.text.length;
    }
    spans.push({ start, end, figure });
  }
  spans.sort((a, b) => a.start - b.start);
  const kept = [];
  let last = 0;
  for (const span of spans) {
    if (span.start >= last) {
      kept.push(span);
      last = span.end;
    }
  }
  return kept;
}

function narrative(text, figures, grounding, insights) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const { start, end, figure } of figureSpans(text, figures)) {
    fragment.append(highlight(text.slice(last, start), grounding), figureLink(figure, text.slice(start, end), insights));
    last = end;
  }
  fragment.append(highlight(text.slice(last), grounding));
  return fragment;
}

function figureLink(figure, text, insights) {
  const found = insights.get(figure.insight_id);
  if (!found) {
    // a figure from an insight this page does not list (e.g. the table's overview): computed, but nothing to show
    return el("mark", { class: "figure unlinked", "data-insight": figure.insight_id, title: `computed by the engine (${figure.insight_id})` }, text);
  }
  const value = found?.insight.values.find((item) => item.key === figure.value_key);
  const where = found.rank ? `insight #${found.rank}` : "the table at a glance";
  const title = `${value?.what ?? figure.value_key} — ${where}: ${found.insight.statement}`;
  return el(
    "a",
    {
      class: "figure",
      href: `#insight-${encodeURIComponent(figure.insight_id)}`,
      "data-insight": figure.insight_id,
      "data-value-key": figure.value_key,
      title,
      onclick: (event) => {
        event.preventDefault();
        showInsight(figure.insight_id, figure.value_key);
      },
    },
    text,
  );
}

export function showInsight(id, valueKey) {
  const card = document.getElementById(`insight-${id}`);
  if (!card) return;
  for (const node of document.querySelectorAll(".insight.highlighted, .insight .value.highlighted")) {
    node.classList.remove("highlighted");
  }
  void card.offsetWidth; // restart the flash when the same card is shown again
  card.classList.add("highlighted");
  if (valueKey) card.querySelector(`.value[data-key="${CSS.escape(valueKey)}"]`)?.classList.add("highlighted");
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  card.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "center" });
  card.focus({ preventScroll: true });
}

// ---- insight cards -----------------------------------------------------------------------------------------------
const TYPE_LABELS = {
  dominance: "dominance",
  concentration: "concentration",
  category_outlier: "category outlier",
  group_difference: "group difference",
  correlation: "correlation",
  trend: "trend",
  seasonality: "seasonality",
  change_point: "change point",
  period_comparison: "period comparison",
  extreme: "extreme",
  overview: "overview",
  distribution: "distribution",
  outliers: "outlier records",
  exception: "exception",
};

export function formatP(p) {
  if (p === null || p === undefined) return "—";
  if (p === 0) return "0";
  if (p < 0.001) {
    const [mantissa, exponent] = p.toExponential(1).split("e");
    return `${mantissa} × 10${[...String(Number(exponent))].map((c) => SUPERSCRIPT[c]).join("")}`;
  }
  return p.toFixed(3);
}

const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

function formatNumber(value, digits = 3) {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toPrecision(digits);
}

// The statement with each of its figures wrapped, so a figure link can point at the very value.
function statement(insight) {
  const text = insight.statement;
  const taken = [];
  for (const value of insight.values) {
    if (!value.text) continue;
    let at = text.indexOf(value.text);
    while (at >= 0 && taken.some(([start, end]) => at < end && at + value.text.length > start)) {
      at = text.indexOf(value.text, at + 1);
    }
    if (at >= 0) taken.push([at, at + value.text.length, value]);
  }
  taken.sort((a, b) => a[0] - b[0]);
  const node = el("p", { class: "statement" });
  let last = 0;
  for (const [start, end, value] of taken) {
    node.append(text.slice(last, start), el("span", { class: "value", "data-key": value.key, title: value.what }, text.slice(start, end)));
    last = end;
  }
  node.append(text.slice(last));
  return node;
}

function testSummary(test) {
  if (test.p_value === null || test.p_value === undefined) return `${test.name} (descriptive: no p-value)`;
  return `${test.name}: p = ${formatP(test.p_value)}, adjusted ${formatP(test.p_adjusted)}`;
}

function testDetails(insight) {
  const test = insight.test;
  const rows = [
    ["test", test.name],
    ["statistic", formatNumber(test.statistic, 4)],
    ["p-value", formatP(test.p_value)],
    ["p adjusted (Benjamini–Hochberg)", formatP(test.p_adjusted)],
    ["effect", test.effect_name ? `${test.effect_name} = ${formatNumber(test.effect_size)}` : "—"],
    ["impact", formatNumber(insight.impact)],
    ["score", formatNumber(insight.score)],
    ["columns", insight.columns.join(", ")],
  ];
  const summary = testSummary(test);
  return el(
    "details",
    { class: "test" },
    el("summary", { title: rows.map(([k, v]) => `${k}: ${v}`).join("\n") }, summary),
    el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    insight.values.length
      ? el(
          "table",
          { class: "values" },
          el("caption", {}, "Figures in the statement"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "figure"), el("th", { scope: "col" }, "what"), el("th", { scope: "col" }, "key"))),
          el("tbody", {}, insight.values.map((v) => el("tr", {}, el("td", {}, v.text), el("td", {}, v.what), el("td", { class: "key" }, v.key)))),
        )
      : null,
  );
}

function expression(insight) {
  const code = el("code", {}, insight.expression);
  const button = el("button", { type: "button", class: "copy", "aria-label": `Copy the pandas code of insight ${insight.id}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(insight.expression);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange(); // no clipboard access: select it for Ctrl+C
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 2000);
  });
  return el("details", { class: "expression" }, el("summary", {}, "Reproduce in pandas"), el("pre", {}, code), button);
}

function card(insight, rank, charts) {
  const name = rank ? `insight ${rank}` : `${TYPE_LABELS[insight.type] ?? insight.type} of the table`;
  const chart = insight.chart
    ? el("div", { class: "chart", "data-state": "pending", role: "img", "aria-label": `chart of ${name}` }, el("span", { class: "meta" }, "drawing the chart…"))
    : null;
  if (chart) charts.push([chart, insight]);
  return el(
    "li",
    { class: rank ? "insight" : "insight descriptive", id: `insight-${insight.id}`, tabindex: "-1", "data-type": insight.type, "aria-label": name },
    el(
      "header",
      { class: "insight-head" },
      rank ? el("span", { class: "rank" }, `#${rank}`) : null,
      el("span", { class: "type" }, TYPE_LABELS[insight.type] ?? insight.type),
      insight.subspace ? el("span", { class: "subspace", title: "holds where" }, `${insight.subspace.column} = ${insight.subspace.value}`) : null,
      rank
        ? el("span", { class: "score", title: `score = significance × impact (impact ${formatNumber(insight.impact)})` }, `score ${insight.score.toFixed(2)}`)
        : el("span", { class: "score" }, "computed, not tested"),
    ),
    statement(insight),
    chart,
    insight.caveats?.length ? el("ul", { class: "caveats", "aria-label": "caveats" }, insight.caveats.map((c) => el("li", {}, c))) : null,
    testDetails(insight),
    expression(insight),
  );
}

// ---- rendering an analysis -------------------------------------------------------------------------------------
let state = { insights: new Map(), narration: null };

function renderInsights({ insights, descriptive, quality, meta }) {
  for (const view of views) view.finalize();
  views = [];
  const described = descriptive ?? []; // the table's shape and distributions: computed, not tested or ranked
  state = {
    insights: new Map([
      ...described.map((insight) => [insight.id, { insight, rank: null }]),
      ...insights.map((insight, i) => [insight.id, { insight, rank: i + 1 }]),
    ]),
    narration: null,
  };
  const charts = [];
  const list = document.getElementById("insights");
  list.replaceChildren(...insights.map((insight, i) => card(insight, i + 1, charts)));
  document.getElementById("descriptive").replaceChildren(...described.map((insight) => card(insight, null, charts)));
  document.getElementById("descriptive-section").hidden = !described.length;
  if (!insights.length) {
    list.append(el("li", { class: "empty" }, "No finding passed its test after the false-discovery control: nothing here stands out from noise."));
  }
  const significant = meta?.insights_significant ?? insights.length;
  document.getElementById("insights-count").textContent =
    `${insights.length} shown of ${significant} significant` +
    (meta?.candidates_tested !== undefined ? ` · ${meta.candidates_tested} tests run` : "") +
    (meta?.engine_ms !== undefined ? ` · ${Math.round(meta.engine_ms)} ms` : "");
  document.getElementById("insights-section").hidden = false;
  renderQuality(quality ?? []);
  drawCharts(charts);
}

function renderQuality(quality) {
  const body = document.querySelector("#quality tbody");
  body.replaceChildren(
    ...quality.map((issue) =>
      el(
        "tr",
        {},
        el("td", {}, issue.column ?? "(table)"),
        el("td", {}, issue.kind.replaceAll("_", " ")),
        el("td", {}, issue.detail),
        el("td", {}, issue.share === null || issue.share === undefined ? "—" : `${(issue.share * 100).toFixed(1)} %`),
      ),
    ),
  );
  document.getElementById("quality-section").hidden = !quality.length;
}

function renderNarration({ result, figures, grounding }, meta) {
  state.narration = { result, figures };
  const byField = new Map();
  for (const figure of figures ?? []) {
    if (!byField.has(figure.field)) byField.set(figure.field, []);
    byField.get(figure.field).push(figure);
  }
  const text = (field, value) => narrative(value, byField.get(field) ?? [], grounding, state.insights);
  const out = document.getElementById("result");
  out.replaceChildren(
    el("p", { class: "summary" }, text("summary", result.summary)),
    el("h3", { text: "Key points" }),
    el("ul", { class: "key-points" }, result.key_points.map((point, i) => el("li", {}, text(`key_points.${i}`, point)))),
    ...(result.recommendations?.length
      ? [
          el("h3", {}, "Recommendations ", el("small", { class: "meta" }, recommendationsNote(meta))),
          el("ul", { class: "recommendations" }, result.recommendations.map((item, i) => el("li", {}, text(`recommendations.${i}`, item)))),
        ]
      : []),
    el("p", { class: "confidence" }, confidence(result, grounding)),
  );
  document.getElementById("analysis").hidden = false;
}

function recommendationsNote(meta) {
  if (meta?.recommendations_source === "template") return "(suggested from the kinds of finding, not computed)";
  return "(the model's suggestions, not computed)";
}

function confidence(result, grounding) {
  if (!grounding?.supported) return `Confidence ${result.confidence.toFixed(2)}`;
  const adjusted = grounding.adjusted_confidence ?? result.confidence;
  return (
    `Confidence ${adjusted.toFixed(2)} (model said ${(grounding.model_confidence ?? result.confidence).toFixed(2)}; ` +
    `${grounding.supported.length} figure(s) backed, ${grounding.unsupported.length} not)`
  );
}

function renderFacts(facts) {
  const body = document.querySelector("#facts tbody");
  body.replaceChildren(...(facts ?? []).map((fact) => el("tr", {}, el("td", { text: fact.kind }), el("td", { text: fact.text }))));
  document.getElementById("facts-section").hidden = !facts?.length;
}

function renderNarrator(meta, pending = false) {
  const badge = document.getElementById("narrator");
  if (pending) {
    badge.className = "narrator pending";
    badge.replaceChildren("The insights are ready; the summary is being written…");
    return;
  }
  if (!meta?.narrator) {
    badge.className = "narrator";
    badge.replaceChildren();
    return;
  }
  const byModel = meta.narrator === "model";
  badge.className = `narrator ${byModel ? "model" : "template"}`;
  const who = byModel ? `Worded by the model${meta.model ? ` (${meta.provider} / ${meta.model})` : ""}` : "Worded by the template narrator";
  badge.replaceChildren(el("span", { class: "badge" }, byModel ? "model" : "template"), ` ${who}`);
  if (meta.narrator_reason) badge.append(el("span", { class: "reason" }, ` — ${meta.narrator_reason}`));
  badge.title = meta.narrator_reason ?? (byModel ? "the model chose and worded the findings; the figures are the insights' own" : "");
}

function renderMeta(meta) {
  if (!meta) return;
  const parts = [];
  if (meta.rows !== undefined) parts.push(`${meta.rows} rows × ${meta.columns} columns`);
  if (meta.profile_ms !== undefined) parts.push(`table and insights ${Math.round(meta.profile_ms)} ms`);
  if (meta.engine_ms !== undefined) parts.push(`engine ${Math.round(meta.engine_ms)} ms`);
  if (meta.prompt_name) parts.push(`prompt ${meta.prompt_name} v${meta.prompt_version}`);
  if (meta.latency_ms) parts.push(`${meta.provider} / ${meta.model} ${Math.round(meta.latency_ms)} ms`);
  if (meta.input_tokens || meta.output_tokens) parts.push(`${meta.input_tokens} in / ${meta.output_tokens} out tokens`);
  if (meta.notes?.length) parts.push(meta.notes.join("; "));
  document.getElementById("meta").textContent = parts.join(" · ");
}

// ---- the answer to the question: values computed by a typed plan, the plan as readable steps --------------------
function renderAnswer(answer) {
  const box = document.getElementById("answer");
  if (!answer) {
    box.hidden = true;
    return;
  }
  const values = document.querySelector("#answer-values tbody");
  values.replaceChildren(...(answer.values ?? []).map((v) => el("tr", {}, el("td", { text: v.name }), el("td", { text: v.text }))));
  document.getElementById("answer-values").hidden = !answer.values?.length;
  document.getElementById("answer-sentence").textContent = answer.supported
    ? answer.sentence ?? ""
    : `Not answered by computation: ${answer.reason ?? "outside the plan language"}`;
  document.getElementById("answer-steps").replaceChildren(...(answer.steps ?? []).map((step) => el("li", { text: step })));
  const parts = [];
  if (answer.planner) parts.push(`planned by ${answer.planner}${answer.model ? ` (${answer.model})` : ""}`);
  if (answer.execution_ms !== null && answer.execution_ms !== undefined) parts.push(`executed in ${answer.execution_ms} ms`);
  document.getElementById("answer-meta").textContent = parts.join(" · ");
  document.getElementById("plan-json").value = answer.plan ? JSON.stringify(answer.plan, null, 2) : "";
  document.getElementById("plan-error").textContent = "";
  box.hidden = false;
  document.getElementById("analysis").hidden = false;
}

function renderComplete(response) {
  renderAnswer(response.answer);
  renderInsights({ insights: response.insights ?? [], descriptive: response.descriptive, quality: response.quality ?? [], meta: response.meta });
  renderNarration(response, response.meta);
  renderFacts(response.facts);
  renderNarrator(response.meta);
  renderMeta(response.meta);
}

// ---- the request: one call; streamed when the service streams (insights first, then the narration) ----------
function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return { name, data: data.length ? JSON.parse(data.join("\n")) : null };
}

export async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let held = "";
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    held += value ?? "";
    // "\r\n" may be split across chunks: hold a trailing "\r" back until the next one.
    const cut = !done && held.endsWith("\r") ? held.length - 1 : held.length;
    buffer += held.slice(0, cut).replace(/\r\n?/g, "\n");
    held = held.slice(cut);
    let index;
    while ((index = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, index);
      buffer = buffer.slice(index + 2);
      if (block.trim()) yield parseEvent(block);
    }
    if (done) break;
  }
  if (buffer.trim()) yield parseEvent(buffer);
}

async function analyze(request) {
  const headers = { Accept: "text/event-stream, application/json", ...authHeaders() };
  let body = request.form;
  if (request.json) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(request.json);
  }
  const response = await fetch("/api/v1/analyze", { method: "POST", headers, body });
  const type = response.headers.get("content-type") || "";
  if (!response.ok || !type.startsWith("text/event-stream")) {
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text.slice(0, 300) };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    renderComplete(data);
    return;
  }
  let finished = false;
  for await (const event of events(response.body)) {
    if (event.name === "insights") {
      renderInsights(event.data);
      renderAnswer(null);
      document.getElementById("analysis").hidden = false;
      document.getElementById("result").replaceChildren();
      renderNarrator(null, true);
      renderMeta(event.data.meta);
    } else if (event.name === "answer") {
      renderAnswer(event.data);
    } else if (event.name === "narration") {
      renderNarration(event.data);
      renderFacts(event.data.facts);
    } else if (event.name === "done") {
      // the grounding check and the final meta come last: draw the narration again with them
      if (state.narration) renderNarration({ ...state.narration, grounding: event.data.grounding }, event.data.meta);
      renderNarrator(event.data.meta);
      renderMeta(event.data.meta);
      finished = true;
    } else if (event.name === "error") {
      renderNarrator(null);
      throw new ApiError(event.data?.status ?? 500, event.data);
    }
  }
  if (!finished) throw new Error("the analysis stream ended before it was done");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const file = document.getElementById("table-file").files[0];
  const table = document.getElementById("table").value.trim();
  const question = document.getElementById("question").value.trim() || null;
  const domain = document.getElementById("domain").value.trim() || null;
  const allowSampling = document.getElementById("allow-sampling").checked;
  const narrate = document.getElementById("narrate").checked;
  let request;
  if (file) {
    const data = new FormData();
    data.append("file", file);
    if (question) data.append("question", question);
    if (domain) data.append("domain", domain);
    data.append("allow_sampling", String(allowSampling));
    data.append("narrate", String(narrate));
    data.append("stream", "true");
    request = { form: data };
  } else if (table) {
    let body = { csv: table };
    if (table.startsWith("[") || table.startsWith("{")) {
      try {
        const parsed = JSON.parse(table);
        body = { data: Array.isArray(parsed) ? parsed : [parsed] };
      } catch (error) {
        form.querySelector('[data-error-for~="table"]').textContent = `Not valid JSON: ${error.message}`;
        return;
      }
    }
    request = { json: { ...body, question, domain, allow_sampling: allowSampling, narrate, stream: true } };
  } else {
    form.querySelector('[data-error-for~="table"]').textContent = "Paste a table or choose a file.";
    document.getElementById("table").setAttribute("aria-invalid", "true");
    return;
  }
  lastTable = request;
  busy(form, true);
  try {
    await analyze(request);
  } catch (error) {
    if (error instanceof ApiError) showError(form, error);
    else if (error instanceof TypeError) form.querySelector(".form-error").textContent = explain(error);
    else form.querySelector(".form-error").textContent = `The analysis failed: ${error.message}`;
  } finally {
    busy(form, false);
  }
});

// ---- an edited plan, run on the same table (no planning, no narration): the answer alone is redrawn --------------
let lastTable = null;

function withPlan(request, plan) {
  if (request.form) {
    const data = new FormData();
    for (const [name, value] of request.form.entries()) {
      if (!["plan", "narrate", "stream"].includes(name)) data.append(name, value);
    }
    data.append("plan", JSON.stringify(plan));
    data.append("narrate", "false");
    return { form: data };
  }
  return { json: { ...request.json, plan, narrate: false, stream: false } };
}

document.getElementById("rerun-plan").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const error = document.getElementById("plan-error");
  error.textContent = "";
  let plan;
  try {
    plan = JSON.parse(document.getElementById("plan-json").value);
  } catch (problem) {
    error.textContent = `Not valid JSON: ${problem.message}`;
    return;
  }
  if (!lastTable) return;
  button.disabled = true;
  try {
    const response = await api("/api/v1/analyze", { method: "POST", ...withPlan(lastTable, plan) });
    renderAnswer(response.answer);
  } catch (problem) {
    const first = problem.body?.detail?.[0];
    error.textContent = first?.loc ? `${first.loc.slice(2).join(".") || "plan"}: ${first.msg}` : explain(problem);
  } finally {
    button.disabled = false;
  }
});

loadVega().catch(() => {}); // start fetching the chart libraries now; a failure is reported per chart
