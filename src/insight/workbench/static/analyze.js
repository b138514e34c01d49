import { api, busy, clearErrors, el, showError } from "./common.js";

const form = document.getElementById("analyze-form");

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Wrap every figure the grounding check looked at: green when a computed fact backs it, red when not.
export function highlight(text, grounding) {
  const kinds = new Map();
  for (const item of grounding.unsupported) kinds.set(item.text, "unsupported");
  for (const item of grounding.supported) kinds.set(item.text, "grounded");
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

function render(response) {
  const { result, facts, grounding, meta } = response;
  const out = document.getElementById("result");
  const list = (items) => el("ul", {}, items.map((item) => el("li", {}, highlight(item, grounding))));
  out.replaceChildren(
    el("p", { class: "summary" }, highlight(result.summary, grounding)),
    el("h3", { text: "Key points" }),
    list(result.key_points),
    ...(result.recommendations?.length ? [el("h3", { text: "Recommendations" }), list(result.recommendations)] : []),
    el(
      "p",
      { class: "confidence" },
      `Confidence ${grounding.adjusted_confidence.toFixed(2)} (model said ${grounding.model_confidence.toFixed(2)}; `,
      `${grounding.supported.length} figure(s) backed, ${grounding.unsupported.length} not)`,
    ),
  );
  const body = document.querySelector("#facts tbody");
  body.replaceChildren(...facts.map((fact) => el("tr", {}, el("td", { text: fact.kind }), el("td", { text: fact.text }))));
  document.getElementById("meta").textContent =
    `prompt ${meta.prompt_name} v${meta.prompt_version} · ${meta.provider} / ${meta.model} · ` +
    `${meta.input_tokens} in / ${meta.output_tokens} out tokens · ${Math.round(meta.latency_ms)} ms` +
    (meta.notes.length ? ` · ${meta.notes.join("; ")}` : "");
  document.getElementById("analysis").hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const file = document.getElementById("table-file").files[0];
  const table = document.getElementById("table").value.trim();
  const question = document.getElementById("question").value.trim() || null;
  const domain = document.getElementById("domain").value.trim() || null;
  const allowSampling = document.getElementById("allow-sampling").checked;
  let request;
  if (file) {
    const data = new FormData();
    data.append("file", file);
    if (question) data.append("question", question);
    if (domain) data.append("domain", domain);
    data.append("allow_sampling", String(allowSampling));
    request = { method: "POST", form: data };
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
    request = { method: "POST", json: { ...body, question, domain, allow_sampling: allowSampling } };
  } else {
    form.querySelector('[data-error-for~="table"]').textContent = "Paste a table or choose a file.";
    document.getElementById("table").setAttribute("aria-invalid", "true");
    return;
  }
  busy(form, true);
  try {
    render(await api("/api/v1/analyze", request));
  } catch (error) {
    showError(form, error);
  } finally {
    busy(form, false);
  }
});
