// The variants tray and the poster shown: dropping, choosing and removing posters, reading the one shown (and a
// synopsis alone, before any poster exists).

import { api, isAbort, posterBody } from "./api.js";
import { $, bdi, clearError, el, plural, setBusy, showError, synopsisText } from "./dom.js";
import { resetCompare } from "./compare.js";
import { renderHeatControls } from "./heatmaps.js";
import { isFlagged, renderReading } from "./reading.js";
import { renderSimilar, similarPath } from "./similar.js";
import { begin, cancel, state } from "./state.js";

// The files the service can take (images within its upload limit), and a sentence naming each other one.
export function screenFiles(fileList) {
  const limit = state.rules && state.rules.limits.upload_max_bytes;  // compared here; the words are the API's
  const problems = [];
  const accepted = [];
  for (const file of Array.from(fileList)) {
    if (file.type && !file.type.startsWith("image/")) {
      problems.push(`${file.name} is not an image; choose JPEG, PNG, WebP, GIF, BMP or TIFF poster files.`);
    } else if (limit && file.size > limit) {
      problems.push(`${file.name} is over the upload limit of ${state.rules.limits.upload_max_text}.`);
    } else {
      accepted.push(file);
    }
  }
  return { accepted, problems: problems.join(" ") };
}

export function addFiles(fileList) {
  if (!fileList.length) return;
  clearError();
  const { accepted, problems } = screenFiles(fileList);
  if (problems) showError(problems);
  if (!accepted.length) return;
  const added = accepted.map((file) => newVariant({ name: file.name, file, previewUrl: URL.createObjectURL(file) }));
  variantsChanged();
  select(added[0]);
}

export function addUrl(url) {
  clearError();
  const variant = newVariant({ name: url, url, previewUrl: url });
  variantsChanged();
  select(variant);
}

function newVariant(fields) {
  const variant = { id: state.nextId++, file: null, url: null, predict: null, predictSynopsis: null,
                    similar: null, heat: {}, defaultHeat: null, ...fields };
  state.variants.push(variant);
  return variant;
}

function removeVariant(variant) {
  state.variants = state.variants.filter((v) => v !== variant);
  if (variant.file) URL.revokeObjectURL(variant.previewUrl);
  variantsChanged();
  if (state.current === variant) {
    const next = state.variants[state.variants.length - 1];
    if (next) select(next); else resetView();
  }
}

export function clearAll() {
  for (const v of state.variants) if (v.file) URL.revokeObjectURL(v.previewUrl);
  state.variants = [];
  variantsChanged();
  resetView();
}

function resetView() {
  for (const kind of ["reading", "similar", "heatmap"]) cancel(kind);
  state.current = null;
  $("viewer").hidden = true;
  $("reading").hidden = true;
  $("similar-block").hidden = true;
  $("placeholder").hidden = false;
  setBusy(null);
}

function variantsChanged() {
  renderTray();
  resetCompare();  // a comparison describes the set it was run on
}

function renderTray() {
  const n = state.variants.length;
  $("tray").hidden = n === 0;
  $("tray-count").textContent = `${plural(n, "variant")} loaded`;
  $("variants").replaceChildren(...state.variants.map((variant) => {
    const flagged = variant.predict && isFlagged(variant.predict);
    const pick = el("button", { type: "button", className: "thumb", title: variant.name,
                               "aria-label": `Show ${variant.name}` },
                    el("img", { src: variant.previewUrl, alt: "" }));
    pick.addEventListener("click", () => select(variant));
    const remove = el("button", { type: "button", className: "remove", title: `Remove ${variant.name}`,
                                 "aria-label": `Remove ${variant.name}` }, "×");
    remove.addEventListener("click", () => removeVariant(variant));
    const check = variant.predict && variant.predict.poster_check;
    const flag = flagged ? el("span", { className: "flag", title: check.message }, check.label) : null;
    return el("li", { className: "variant" + (variant === state.current ? " active" : "") + (flagged ? " flagged" : ""),
                      dataset: { id: String(variant.id) } }, pick, remove, flag);
  }));
}

// Show a variant: its reading (asked again when the synopsis changed) and comparable titles. A newer choice (another
// poster, a synopsis read alone) cancels the questions still in flight for this one.
export async function select(variant) {
  state.current = variant;
  state.heatGenre = null;
  cancel("heatmap");
  cancel("similar");
  renderTray();
  $("viewer").hidden = false;
  $("poster").hidden = false;
  $("poster").src = variant.previewUrl;
  $("poster-name").replaceChildren(bdi(variant.name));
  $("overlay").hidden = true;
  $("placeholder").hidden = true;
  const synopsis = synopsisText();
  if (!variant.predict || variant.predictSynopsis !== synopsis) {
    const signal = begin("reading");
    $("reading").hidden = true;
    $("similar-block").hidden = true;
    setBusy("Analysing…");
    const [predicted, similar] = await Promise.allSettled([
      api("/v1/predict", { ...posterBody(variant, synopsis), signal }),
      variant.similar ? Promise.resolve(variant.similar) : api(similarPath(), { ...posterBody(variant), signal }),
    ]);
    if (signal.aborted) return;  // replaced: the newer choice shows its own answer
    setBusy(null);
    if (predicted.status === "rejected") {
      if (isAbort(predicted.reason)) return;  // the login shows; the variant is read again once chosen
      if (state.variants.includes(variant)) removeVariant(variant);  // nothing to show or compare for it
      showError(predicted.reason.message);
      return;
    }
    variant.predict = predicted.value;
    variant.predictSynopsis = synopsis;
    variant.defaultHeat = null;  // the default heatmaps follow the reading shown
    variant.similar = similar.status === "fulfilled" ? similar.value : { error: similar.reason.message };
    renderTray();
  }
  if (state.current !== variant) return;
  renderReading(variant.predict, { heatmaps: true });
  renderHeatControls(variant);
  renderSimilar(variant.similar);
}

// Before a poster exists: the story's genres from the synopsis alone (the server's summary says so).
async function readStory() {
  const synopsis = synopsisText();
  if (!synopsis) return;
  clearError();
  const signal = begin("reading");  // a poster dropped meanwhile replaces the story's reading
  $("viewer").hidden = true;
  $("similar-block").hidden = true;
  $("reading").hidden = true;
  setBusy("Reading the story…");
  let result;
  try {
    result = await api("/v1/predict", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify({ synopsis }), signal });
  } catch (err) {
    if (isAbort(err)) return;
    setBusy(null);
    showError(err.message);
    return;
  }
  setBusy(null);
  $("placeholder").hidden = true;
  renderReading(result);
}

export function synopsisChanged() {
  variantsChanged();
  if (state.current) select(state.current);
  else readStory();
}

// The browser could not load a remote poster's preview (the service fetched its own copy).
export function previewFailed() {
  if (!state.current || !state.current.url) return;
  $("poster").hidden = true;
  $("poster-name").replaceChildren(bdi(state.current.name), " (preview unavailable)");
}
