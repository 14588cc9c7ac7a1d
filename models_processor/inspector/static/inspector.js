// The /inspect page: sends one photo (the raw bytes) or prompt to /inspect/api/run and shows the answer.
// Plain DOM, no libraries: the page must work offline and without a build step.
"use strict";

const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
  "#469990", "#800000", "#808000", "#000075", "#bfef45", "#fabed4"];
const STAGE_COLOURS = { decode: "#5d6675", ocr: "#1d7a3a", parse: "#9a6324", llm: "#6b3fb5",
  llm_text: "#1f5fb8", llm_vision: "#6b3fb5", text: "#1f5fb8", vision: "#6b3fb5" };
const ERROR_WORDS = {
  invalid_json: "The request could not be read as JSON.",
  invalid_request: "The request broke one of the service's rules (size, prompt length, missing fields).",
  invalid_image: "The file is not a photo this service can read (JPEG, PNG, WebP or HEIC), or it is damaged.",
  image_too_large: "The photo is larger than the service accepts (MAX_IMAGE_BYTES or MAX_IMAGE_PIXELS).",
  model_unavailable: "The model could not be used: its server is unreachable, or the model was turned off.",
  model_not_found: "The model server does not have the model this service is configured with.",
  model_output_invalid: "The model kept answering something that is not a valid result.",
  deadline_exceeded: "The request ran out of time (REQUEST_DEADLINE_SECONDS).",
  expired: "The request was too old to process.",
  internal: "The service hit an internal error while processing the request.",
};
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let limits = { max_bytes: 0 };
let colours = {};

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) {
    return value.map((item) => (item && typeof item === "object") ? (item.original_text || item.name || JSON.stringify(item)) : formatValue(item)).join("\n");
  }
  if (typeof value === "object") {
    return Object.entries(value).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => k + ": " + formatValue(v)).join(", ");
  }
  return String(value);
}

function say(text) { $("status").textContent = text; }

function problem(text) {
  const box = $("problem");
  box.textContent = text || "";
  box.hidden = !text;
}

function highlight(field) {
  document.querySelectorAll("#overlay polygon").forEach((p) => {
    p.classList.toggle("hot", field !== null && p.dataset.field === field);
    p.classList.toggle("dim", field !== null && p.dataset.field !== field);
  });
  document.querySelectorAll("#fields .field").forEach((row) => row.classList.toggle("hot", row.dataset.field === field));
}

function renderFields(answer) {
  const fields = $("fields");
  fields.replaceChildren();
  colours = {};
  const result = answer.result || {};
  const sources = answer.sources || {};
  Object.keys(result).forEach((name, i) => { colours[name] = PALETTE[i % PALETTE.length]; });
  const rows = Object.entries(result);
  if (answer.response !== undefined) rows.push(["response", answer.response]);
  for (const [name, value] of rows) {
    const row = el("div", { class: "field", "data-field": name, "data-source": sources[name] || "" });
    if (colours[name]) row.style.borderLeftColor = colours[name];
    row.append(el("span", { class: "name" }, name));
    if (sources[name]) row.append(el("span", { class: "badge " + sources[name] }, sources[name]));
    row.append(el("div", { class: "value" }, formatValue(value)));
    row.addEventListener("mouseenter", () => highlight(name));
    row.addEventListener("mouseleave", () => highlight(null));
    fields.append(row);
  }
}

function renderOverlay(overlay) {
  const figure = $("figure");
  const svg = $("overlay");
  svg.replaceChildren();
  figure.hidden = !overlay;
  if (!overlay) return;
  svg.setAttribute("viewBox", "0 0 " + overlay.width + " " + overlay.height);
  const image = document.createElementNS(SVG, "image");
  image.setAttribute("href", overlay.image);
  image.setAttribute("width", overlay.width);
  image.setAttribute("height", overlay.height);
  svg.append(image);
  for (const box of overlay.boxes) {
    const polygon = document.createElementNS(SVG, "polygon");
    const colour = (box.field && colours[box.field]) || "#8a8f98";
    polygon.setAttribute("points", box.points.map((p) => p.join(",")).join(" "));
    polygon.setAttribute("fill", colour);
    polygon.setAttribute("stroke", colour);
    polygon.dataset.field = box.field || "";
    const title = document.createElementNS(SVG, "title");
    title.textContent = box.text + (box.field ? "  \u2192 " + box.field : "");
    polygon.append(title);
    if (box.field) {
      polygon.addEventListener("mouseenter", () => highlight(box.field));
      polygon.addEventListener("mouseleave", () => highlight(null));
    }
    svg.append(polygon);
  }
}

function renderTimings(timings) {
  const bar = $("timings");
  bar.replaceChildren();
  // `llm` is all model calls together; when the answer splits it per model, show the split instead.
  const perModel = timings && ("llm_text" in timings || "llm_vision" in timings);
  const stages = Object.entries(timings || {}).filter(([stage]) => stage !== "total" && !(perModel && stage === "llm"));
  const sum = stages.reduce((acc, [, ms]) => acc + ms, 0);
  for (const [stage, ms] of stages) {
    const part = el("div", { class: "stage", "data-stage": stage, title: stage + ": " + ms + " ms" }, stage + " " + ms + " ms");
    part.style.flexGrow = String(Math.max(ms, sum / 100));
    part.style.background = STAGE_COLOURS[stage] || "#444c5c";
    bar.append(part);
  }
  const total = (timings && timings.total) || sum;
  const note = bar.nextElementSibling && bar.nextElementSibling.classList.contains("timings-total") ? bar.nextElementSibling : null;
  const line = note || el("p", { class: "timings-total" });
  line.textContent = stages.length ? "total " + total + " ms" : "no stage timings in this answer";
  if (!note) bar.after(line);
}

function renderAnswer(body) {
  const answer = body.answer;
  $("answer").hidden = false;
  $("answer-status").textContent = answer.status;
  $("answer-status").className = "pill " + answer.status;
  $("answer-kind").textContent = answer.kind || "";
  const error = $("error");
  error.hidden = !answer.error;
  if (answer.error) {
    error.textContent = (ERROR_WORDS[answer.error.code] || "The request failed.") + " " + answer.error.message +
      " (" + answer.error.code + (answer.error.retryable ? ", worth retrying" : "") + ")";
  }
  const warnings = $("warnings");
  warnings.replaceChildren(...(answer.warnings || []).map((w) => el("li", {}, w)));
  warnings.hidden = !(answer.warnings && answer.warnings.length);
  renderFields(answer);
  renderOverlay(body.overlay);
  renderTimings(answer.timings_ms);
  $("raw").textContent = JSON.stringify(answer, null, 2);
}

async function readProblem(response) {
  try {
    const body = await response.json();
    if (body.problem) return body.problem;
  } catch (e) { /* not JSON: fall through */ }
  if (response.status === 413) return "The file is too large for this page.";
  return "The service answered " + response.status + " " + response.statusText + ".";
}

async function run(event) {
  event.preventDefault();
  problem("");
  const file = $("photo").files[0];
  const prompt = $("prompt").value.trim();
  if (!file && !prompt) { problem("Choose a photo or type a prompt first."); return; }
  if (file && limits.max_bytes && file.size > limits.max_bytes) {
    problem("The photo is " + file.size + " bytes; this page accepts up to " + limits.max_bytes + " bytes.");
    return;
  }
  const query = "?kind=" + encodeURIComponent($("kind").value) + "&model=" + ($("use-model").checked ? "yes" : "no");
  const init = file ? { method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } }
    : { method: "POST", body: prompt, headers: { "Content-Type": "text/plain" } };
  $("run").disabled = true;
  say("Running " + (file ? file.name : "the prompt") + " through the pipeline\u2026");
  document.body.dataset.state = "running";
  try {
    const response = await fetch("/inspect/api/run" + query, init);
    if (!response.ok) { problem(await readProblem(response)); say(""); return; }
    renderAnswer(await response.json());
    say("Done.");
  } catch (e) {
    problem("The service could not be reached: " + e.message);
    say("");
  } finally {
    $("run").disabled = false;
    document.body.dataset.state = "done";
    refreshRecent();
  }
}

async function refreshRecent() {
  try {
    const response = await fetch("/inspect/api/recent");
    if (!response.ok) return;
    const items = await response.json();
    const rows = items.map((item) => {
      const tr = el("tr", { "data-request-id": item.request_id });
      const time = new Date(item.at * 1000).toLocaleTimeString();
      const status = item.status + (item.error_code ? " (" + item.error_code + ")" : "");
      const total = item.timings_ms ? (item.timings_ms.total || "") : "";
      [time, item.origin, item.request_id, item.kind || "", status].forEach((t) => tr.append(el("td", {}, t)));
      const fields = el("td");
      for (const [name, source] of Object.entries(item.sources || {})) fields.append(el("span", { class: "badge " + source, title: source }, name));
      tr.append(fields, el("td", {}, String(total)));
      return tr;
    });
    document.querySelector("#recent tbody").replaceChildren(...rows);
  } catch (e) { /* the next refresh tries again */ }
}

function setUpDrop() {
  const drop = $("drop");
  const input = $("photo");
  const show = () => { $("drop-text").textContent = input.files[0] ? input.files[0].name + " (" + input.files[0].size + " bytes)" : "Drop a photo here or choose one"; };
  input.addEventListener("change", show);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
  });
}

async function init() {
  setUpDrop();
  $("ask-form").addEventListener("submit", run);
  $("copy").addEventListener("click", () => navigator.clipboard.writeText($("raw").textContent).then(() => say("Copied."), () => say("Select the text to copy it.")));
  try {
    limits = await (await fetch("/inspect/api/limits")).json();
    $("limits").textContent = "Photos up to " + limits.max_bytes + " bytes; prompts up to " + limits.max_prompt_chars +
      " characters; " + limits.deadline_seconds + " s per request. Nothing is stored.";
  } catch (e) { /* limits are a hint only */ }
  refreshRecent();
  setInterval(refreshRecent, 5000);
}

document.addEventListener("DOMContentLoaded", init);
