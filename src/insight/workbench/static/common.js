// Shared by every page: the API key, calls to the API, and errors shown where they belong.
const KEY = "insight.apiKey";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `request failed (${status})`);
    this.status = status;
    this.body = body || {};
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || document.body.dataset.devKey || "";
}

export function authHeaders() {
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 300) };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error, .form-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// Put each problem the API reports next to the field it names (the last part of its `loc`);
// what names no field goes to the form's own error line.
export function showError(form, error) {
  const problems = Array.isArray(error.body?.detail) ? error.body.detail : [];
  let placed = false;
  for (const problem of problems) {
    const loc = (problem.loc || []).filter((part) => typeof part === "string" && part !== "body");
    const field = loc[0];
    const slot = field && form.querySelector(`.field-error[data-error-for~="${CSS.escape(field)}"]`);
    if (slot) {
      slot.textContent = problem.msg || error.message;
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
      placed = true;
    }
  }
  if (!placed) {
    const slot = form.querySelector(".form-error") || form.querySelector(".field-error");
    if (slot) slot.textContent = explain(error);
  }
}

export function explain(error) {
  if (!(error instanceof ApiError)) return `Could not reach the service: ${error.message}`;
  if (error.status === 401) return `${error.message} — enter a valid API key at the top of the page.`;
  return error.message;
}

export function busy(form, on) {
  for (const button of form.querySelectorAll("button")) button.disabled = on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

function setupKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const state = document.getElementById("key-state");
  input.value = apiKey();
  state.textContent = apiKey() ? "key set" : "no key";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    state.textContent = input.value.trim() ? "key set" : "no key";
    document.dispatchEvent(new CustomEvent("insight:key"));
  });
}

setupKeyForm();
