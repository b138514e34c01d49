import { ApiError, api, authHeaders, busy, clearErrors, el, explain, showError } from "./common.js";

const select = document.getElementById("collection");

function current() {
  return select.value;
}

async function loadCollections(selected) {
  const error = document.getElementById("collections-error");
  error.textContent = "";
  try {
    const { collections } = await api("/api/v1/collections");
    const body = document.querySelector("#collections tbody");
    body.replaceChildren(
      ...collections.map((c) =>
        el("tr", {}, el("td", {}, el("button", { class: "link", type: "button", onclick: () => choose(c.name) }, c.name)),
          el("td", { text: c.documents }), el("td", { text: c.chunks })),
      ),
    );
    const keep = selected || current();
    select.replaceChildren(...collections.map((c) => el("option", { value: c.name, selected: c.name === keep }, c.name)));
  } catch (err) {
    error.textContent = explain(err);
  }
}

function choose(name) {
  select.value = name;
}

document.getElementById("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const name = document.getElementById("new-collection").value.trim();
  try {
    await api("/api/v1/collections", { method: "POST", json: { name } });
    form.reset();
    await loadCollections(name);
  } catch (err) {
    showError(form, err);
  }
});

// One request per file, so each file gets its own progress bar and its own error.
function uploadOne(collection, file, row) {
  return new Promise((resolve) => {
    const bar = row.querySelector("progress");
    const status = row.querySelector(".status");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/collections/${encodeURIComponent(collection)}/documents`);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = event.loaded / event.total;
    });
    xhr.addEventListener("load", () => {
      bar.value = 1;
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { message: xhr.responseText.slice(0, 200) };
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        const failed = body.failed || [];
        if (failed.length) {
          row.classList.add("failed");
          status.textContent = failed.map((f) => f.message).join("; ");
        } else {
          row.classList.add("done");
          const what = body.added?.length ? "added" : body.updated?.length ? "updated" : "unchanged";
          status.textContent = `${what}, ${body.chunks_embedded} chunk(s) embedded`;
        }
      } else {
        row.classList.add("failed");
        const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : "";
        status.textContent = detail && detail !== body.message ? `${body.message} (${detail})` : body.message || `HTTP ${xhr.status}`;
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      row.classList.add("failed");
      status.textContent = "the upload did not reach the service";
      resolve();
    });
    const data = new FormData();
    data.append("files", file);
    xhr.send(data);
  });
}

document.getElementById("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const files = [...document.getElementById("files").files];
  if (!current()) {
    form.querySelector(".form-error").textContent = "Create or choose a collection first.";
    return;
  }
  if (!files.length) {
    form.querySelector(".form-error").textContent = "Choose one or more files.";
    return;
  }
  const list = document.getElementById("uploads");
  const rows = files.map((file) =>
    el("li", { "data-file": file.name }, el("span", { class: "name", text: file.name }),
      el("progress", { max: "1", value: "0", "aria-label": `upload of ${file.name}` }), el("span", { class: "status", role: "status" })),
  );
  list.replaceChildren(...rows);
  busy(form, true);
  for (const [i, file] of files.entries()) await uploadOne(current(), file, rows[i]);
  busy(form, false);
  await loadCollections();
});

function scoreLine(hit) {
  const part = (name, value) => (value ? `${name} #${value.rank} (${value.score.toFixed(3)})` : `${name} —`);
  return `fused ${hit.scores.fused.toFixed(4)} · ${part("dense", hit.scores.dense)} · ${part("lexical", hit.scores.lexical)}`;
}

document.getElementById("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const hits = document.getElementById("hits");
  busy(form, true);
  try {
    const body = await api("/api/v1/search", {
      method: "POST",
      json: {
        collection: current(),
        query: document.getElementById("query").value,
        mode: document.getElementById("mode").value,
        top_k: Number(document.getElementById("top-k").value || 5),
      },
    });
    hits.replaceChildren(
      ...body.hits.map((hit) =>
        el("li", { class: "hit" }, el("strong", { text: hit.title || hit.doc_id }), el("span", { class: "meta", text: ` ${hit.source}` }),
          el("p", { class: "scores", text: scoreLine(hit) }), el("p", { text: hit.text.slice(0, 400) })),
      ),
    );
    if (!body.hits.length) hits.replaceChildren(el("li", { text: "No matches." }));
  } catch (err) {
    showError(form, err);
  } finally {
    busy(form, false);
  }
});

function openChunk(citation) {
  document.getElementById("chunk-title").textContent = `[${citation.marker}] ${citation.title || citation.doc_id}`;
  document.getElementById("chunk-where").textContent =
    `${citation.source} · chunk ${citation.chunk_id} · characters ${citation.start}–${citation.end}` +
    (citation.page ? ` · page ${citation.page}` : "");
  document.getElementById("chunk-text").replaceChildren(el("mark", { class: "span", text: citation.text }));
  document.getElementById("chunk-dialog").showModal();
}

function showCitations(citations, invalid) {
  const list = document.getElementById("citations");
  list.replaceChildren(
    ...citations.map((c) =>
      el("li", {}, el("button", { type: "button", class: "citation", onclick: () => openChunk(c) }, `[${c.marker}] ${c.title || c.doc_id}`),
        el("span", { class: "meta", text: ` ${c.source} ${c.start}–${c.end}` })),
    ),
  );
  if (invalid.length) list.append(el("li", { class: "meta", text: `dropped citation markers that matched no passage: ${invalid.join(", ")}` }));
}

// Server-sent events over a POST: read the body and split it into `event:`/`data:` blocks.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event) yield { event, data: data ? JSON.parse(data) : null };
    }
  }
}

document.getElementById("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const answer = document.getElementById("answer");
  answer.textContent = "";
  document.getElementById("citations").replaceChildren();
  busy(form, true);
  try {
    const response = await fetch("/api/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
      body: JSON.stringify({ collection: current(), question: document.getElementById("ask-question").value, stream: true }),
    });
    if (!response.ok) {
      throw new ApiError(response.status, await response.json().catch(() => ({ message: `HTTP ${response.status}` })));
    }
    for await (const { event: kind, data } of events(response)) {
      if (kind === "token") answer.textContent += data.text;
      else if (kind === "citations") showCitations(data.citations, data.invalid_citations);
      else if (kind === "done") answer.textContent = data.answer;
      else if (kind === "error") form.querySelector(".field-error").textContent = data.message;
    }
  } catch (err) {
    showError(form, err);
  } finally {
    busy(form, false);
  }
});

document.addEventListener("insight:key", () => loadCollections());
loadCollections();
