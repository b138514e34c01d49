import { api, busy, clearErrors, el, explain, showError } from "./common.js";

let model = null;

async function loadModel() {
  const info = document.getElementById("model-info");
  try {
    model = await api("/api/v1/model");
    const kind = model.task === "regression" ? "regression" : `classes: ${model.class_labels.join(", ")}`;
    info.textContent = `${model.name} v${model.version} (${model.estimator}) · ${kind}`;
    const grid = document.getElementById("features");
    grid.replaceChildren(
      ...model.feature_names.map((name, i) =>
        el("div", { class: "feature" }, el("label", { for: `f${i}`, text: name }),
          el("input", { id: `f${i}`, name, type: "number", step: "any", required: true }),
          el("p", { class: "field-error", "data-error-for": name, "aria-live": "polite" })),
      ),
    );
  } catch (error) {
    info.textContent = explain(error);
  }
}

document.getElementById("predict-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const features = {};
  let missing = false;
  for (const input of form.querySelectorAll("#features input")) {
    if (input.value.trim() === "") {
      input.setAttribute("aria-invalid", "true");
      form.querySelector(`.field-error[data-error-for="${CSS.escape(input.name)}"]`).textContent = "required";
      missing = true;
    } else {
      features[input.name] = Number(input.value);
    }
  }
  if (missing) {
    form.querySelector(".form-error").textContent = "Fill in every feature.";
    return;
  }
  busy(form, true);
  try {
    const result = await api("/api/v1/predict", { method: "POST", json: { features } });
    document.getElementById("prediction").textContent = describe(result);
  } catch (error) {
    showError(form, error);
  } finally {
    busy(form, false);
  }
});

// A regression model answers a value; a classifier a class with its label and confidence.
export function describe(result) {
  if (result.model?.task === "regression") return `predicted value ${Number(result.prediction).toPrecision(6)}`;
  return `${result.label} (class ${result.prediction}, confidence ${result.confidence.toFixed(3)})`;
}

// A small CSV reader for numeric tables: quoted fields allowed, no embedded newlines.
export function parseCsv(text) {
  const rows = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const split = (line) => {
    const cells = [];
    let cell = "";
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (ch === '"') quoted = false;
        else cell += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") { cells.push(cell); cell = ""; }
      else cell += ch;
    }
    cells.push(cell);
    return cells.map((c) => c.trim());
  };
  const [header, ...body] = rows.map(split);
  return { header, rows: body };
}

function toCsv(rows) {
  const quote = (value) => (/[",\n]/.test(String(value)) ? `"${String(value).replaceAll('"', '""')}"` : String(value));
  return rows.map((row) => row.map(quote).join(",")).join("\n") + "\n";
}

document.getElementById("batch-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const file = document.getElementById("batch-file").files[0];
  if (!file) {
    form.querySelector(".form-error").textContent = "Choose a CSV file.";
    return;
  }
  const { header, rows } = parseCsv(await file.text());
  if (!header || !rows.length) {
    form.querySelector(".form-error").textContent = `${file.name} has no data rows.`;
    return;
  }
  const instances = rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i] === "" ? null : Number(row[i])])));
  busy(form, true);
  try {
    const result = await api("/api/v1/predict/batch", { method: "POST", json: { instances } });
    const regression = result.model?.task === "regression";
    const out = [regression ? ["row", "prediction"] : ["row", "label", "prediction", "confidence"]];
    result.predictions.forEach((p, i) =>
      out.push(regression ? [i + 1, p.prediction] : [i + 1, p.label, p.prediction, p.confidence.toFixed(4)]));
    document.querySelector("#predictions thead").replaceChildren(el("tr", {}, out[0].map((h) => el("th", { scope: "col", text: h }))));
    document.querySelector("#predictions tbody").replaceChildren(...out.slice(1).map((r) => el("tr", {}, r.map((c) => el("td", { text: c })))));
    const link = document.getElementById("download");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([toCsv(out)], { type: "text/csv" }));
    link.hidden = false;
  } catch (error) {
    const problem = error.body?.detail?.[0];
    const where = problem?.loc?.find((part) => typeof part === "number");
    form.querySelector(".form-error").textContent =
      where !== undefined ? `row ${where + 2} of ${file.name}: ${problem.msg}` : explain(error);
  } finally {
    busy(form, false);
  }
});

document.addEventListener("insight:key", loadModel);
loadModel();
