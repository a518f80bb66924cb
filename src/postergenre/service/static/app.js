// The page: plain JavaScript over the JSON API (/v1/...). No build step, no external resources.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { variants: [], current: null, genres: [], heatGenre: null };
const HEAT_GENRES = 3;

// ---------------------------------------------------------------- API

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("Cannot reach the postergenre service. Is `postergenre serve` still running?");
  }
  let body = null;
  try { body = await response.json(); } catch (err) { /* non-JSON answer */ }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    const err = new Error(explainStatus(response, message));
    err.status = response.status;
    throw err;
  }
  return body;
}

function explainStatus(response, message) {
  switch (response.status) {
    case 413: return `Too large: ${message}`;
    case 415: return `Not an image: ${message}`;
    case 422: return `Cannot use this input: ${message}`;
    case 503: {
      const wait = response.headers.get("Retry-After");
      return wait ? `${message} (try again in ${wait} s)` : message;
    }
    default: return message;
  }
}

function posterBody(variant) {
  if (variant.file) {
    const form = new FormData();
    form.append("file", variant.file, variant.name);
    return { method: "POST", body: form };
  }
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url: variant.url }) };
}

// ---------------------------------------------------------------- messages

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
function clearError() { $("error").hidden = true; }

// ---------------------------------------------------------------- loading posters

function addFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  clearError();
  const rejected = files.filter((f) => f.type && !f.type.startsWith("image/"));
  if (rejected.length) {
    showError(`Not an image: ${rejected.map((f) => f.name).join(", ")}. Choose JPEG, PNG or WebP poster files.`);
  }
  const accepted = files.filter((f) => !rejected.includes(f));
  if (!accepted.length) return;
  // A new pick replaces the previous set: one set of variants is compared at a time.
  state.variants.forEach((v) => v.previewUrl && v.file && URL.revokeObjectURL(v.previewUrl));
  state.variants = accepted.map((file, i) => ({ id: i, name: file.name, file, url: null,
    previewUrl: URL.createObjectURL(file), predict: null, similar: null, heatmaps: null }));
  renderVariants();
  select(state.variants[0]);
  updateCompareButton();
}

function addUrl(url) {
  clearError();
  state.variants = [{ id: 0, name: url, file: null, url, previewUrl: url, predict: null, similar: null, heatmaps: null }];
  renderVariants();
  select(state.variants[0]);
  updateCompareButton();
}

function renderVariants() {
  const box = $("variants");
  box.replaceChildren();
  if (state.variants.length < 2) return;
  for (const variant of state.variants) {
    const button = document.createElement("button");
    button.type = "button";
    button.title = variant.name;
    button.dataset.id = variant.id;
    const img = document.createElement("img");
    img.src = variant.previewUrl;
    img.alt = variant.name;
    button.append(img);
    button.addEventListener("click", () => select(variant));
    box.append(button);
  }
}

async function select(variant) {
  state.current = variant;
  state.heatGenre = null;
  for (const b of $("variants").children) b.classList.toggle("active", Number(b.dataset.id) === variant.id);
  $("viewer").hidden = false;
  $("poster").hidden = false;
  $("poster").src = variant.previewUrl;
  $("poster-name").textContent = variant.name;
  $("overlay").hidden = true;
  $("placeholder").hidden = true;
  if (!variant.predict) {
    $("busy").hidden = false;
    const [predicted, similar] = await Promise.allSettled([
      api("/v1/predict", posterBody(variant)),
      api("/v1/similar?k=12", posterBody(variant)),
    ]);
    $("busy").hidden = true;
    if (predicted.status === "rejected") {
      if (state.current === variant) {
        clearResults();
        $("viewer").hidden = true;
        $("placeholder").hidden = false;
        showError(predicted.reason.message);
      }
      return;
    }
    variant.predict = predicted.value;
    variant.similar = similar.status === "fulfilled" ? similar.value : { error: similar.reason.message };
  }
  if (state.current === variant) renderResults(variant);
}

function clearResults() {
  for (const id of ["genres-block", "similar-block", "check-warning"]) $(id).hidden = true;
  $("heat-buttons").replaceChildren();
}

// ---------------------------------------------------------------- results

function barRow(score) {
  const row = document.createElement("li");
  row.className = "bar-row" + (score.decided ? " decided" : "");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = score.genre;
  const track = document.createElement("span");
  track.className = "track";
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.width = `${(score.probability * 100).toFixed(1)}%`;
  const tick = document.createElement("span");
  tick.className = "tick";
  tick.style.left = `calc(${(score.threshold * 100).toFixed(1)}% - 1px)`;
  tick.title = `decision threshold ${(score.threshold * 100).toFixed(0)}%`;
  track.append(fill, tick);
  const pct = document.createElement("span");
  pct.className = "pct";
  pct.textContent = `${Math.round(score.probability * 100)}%`;
  row.title = `${score.genre}: ${(score.probability * 100).toFixed(1)}% (threshold ${(score.threshold * 100).toFixed(0)}%)` +
    (score.decided ? " — decided" : "");
  row.append(name, track, pct);
  return row;
}

function renderResults(variant) {
  const result = variant.predict;
  const warning = $("check-warning");
  warning.hidden = result.poster_check.is_poster;
  warning.textContent = result.poster_check.message ||
    "This image does not look much like a movie poster, so the genres below are unreliable.";

  $("genres-block").hidden = false;
  $("bars").replaceChildren(...result.genres.map(barRow));
  renderHeatButtons(variant);
  renderSimilar(variant.similar);
}

function renderSimilar(similar) {
  const block = $("similar-block");
  const list = $("similar");
  const note = $("similar-note");
  block.hidden = false;
  list.replaceChildren();
  if (!similar || similar.error) {
    note.hidden = false;
    note.textContent = `Comparable titles unavailable: ${similar ? similar.error : "no answer"}`;
    return;
  }
  note.hidden = similar.titles.length > 0;
  note.textContent = "No comparable titles in the catalog.";
  for (const title of similar.titles) {
    const item = document.createElement("li");
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = `Poster of ${title.title || title.imdb_id}`;
    if (title.poster_url) img.src = title.poster_url;
    const name = document.createElement("div");
    name.className = "title";
    name.textContent = title.title || title.imdb_id;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${title.year || "—"} · ${title.genres.join(", ") || "no genres"}`;
    const sim = document.createElement("div");
    sim.className = "meta";
    sim.textContent = `similarity ${title.similarity.toFixed(2)}`;
    item.append(img, name, meta, sim);
    list.append(item);
  }
}

// ---------------------------------------------------------------- heatmaps

function renderHeatButtons(variant) {
  const box = $("heat-buttons");
  const genres = variant.predict.genres.slice(0, HEAT_GENRES).map((g) => g.genre);
  const buttons = [null, ...genres].map((genre) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = genre || "off";
    button.setAttribute("aria-pressed", String(genre === state.heatGenre));
    button.addEventListener("click", () => showHeatmap(variant, genre));
    return button;
  });
  box.replaceChildren(...buttons);
}

async function showHeatmap(variant, genre) {
  state.heatGenre = genre;
  renderHeatButtons(variant);
  const overlay = $("overlay");
  if (!genre) { overlay.hidden = true; return; }
  if (!variant.heatmaps) {
    $("busy").hidden = false;
    try {
      const explained = await api("/v1/predict?explain=true", posterBody(variant));
      variant.heatmaps = Object.fromEntries(explained.heatmaps.map((h) => [h.genre, h.png]));
    } catch (err) {
      showError(`Heatmap: ${err.message}`);
      return;
    } finally {
      $("busy").hidden = true;
    }
  }
  if (state.current !== variant || state.heatGenre !== genre) return;
  const png = variant.heatmaps[genre];
  overlay.hidden = !png;
  if (png) { overlay.src = png; overlay.alt = `Where the model looked for ${genre}`; }
}

// Keep the overlay exactly over the displayed poster (object-fit: contain leaves margins).
function alignOverlay() {
  const poster = $("poster");
  const overlay = $("overlay");
  if (!poster.naturalWidth) return;
  const box = poster.getBoundingClientRect();
  const scale = Math.min(box.width / poster.naturalWidth, box.height / poster.naturalHeight);
  const w = poster.naturalWidth * scale;
  const h = poster.naturalHeight * scale;
  overlay.style.width = `${w}px`;
  overlay.style.height = `${h}px`;
  overlay.style.left = `${(box.width - w) / 2}px`;
  overlay.style.top = `${(box.height - h) / 2}px`;
}

// ---------------------------------------------------------------- compare

function renderTargets() {
  const box = $("targets");
  box.replaceChildren(...state.genres.map((g) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = g.genre;
    input.addEventListener("change", updateCompareButton);
    label.append(input, g.genre);
    return label;
  }));
}

function chosenTargets() {
  return Array.from($("targets").querySelectorAll("input:checked")).map((i) => i.value);
}

function updateCompareButton() {
  const files = state.variants.filter((v) => v.file);
  const targets = chosenTargets();
  $("compare-btn").disabled = !(files.length && targets.length);
  $("compare-btn").textContent = files.length > 1 ? `Compare ${files.length} variants` : "Compare variants";
  $("compare-hint").hidden = files.length > 0 && targets.length > 0;
}

async function compare() {
  clearError();
  const files = state.variants.filter((v) => v.file);
  const form = new FormData();
  for (const v of files) form.append("files", v.file, v.name);
  form.append("targets", chosenTargets().join(","));
  const button = $("compare-btn");
  button.disabled = true;
  $("compare-results").replaceChildren();
  try {
    const result = await api("/v1/compare", { method: "POST", body: form });
    renderCompare(result, files);
  } catch (err) {
    showError(`Compare: ${err.message}`);
  } finally {
    updateCompareButton();
  }
}

function renderCompare(result, files) {
  const cards = result.variants.map((variant) => {
    const card = document.createElement("article");
    card.className = "variant-card" + (variant.rank === 1 && result.variants.length > 1 ? " best" : "");
    const header = document.createElement("header");
    const rank = document.createElement("span");
    rank.className = "rank";
    rank.textContent = `#${variant.rank}`;
    const score = document.createElement("span");
    score.textContent = `target score ${variant.target_score.toFixed(2)}`;
    header.append(rank, score);
    const img = document.createElement("img");
    img.src = files[variant.index] ? files[variant.index].previewUrl : "";
    img.alt = variant.source;
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = variant.source;
    const bars = document.createElement("ol");
    bars.className = "bars";
    const targets = variant.genres.filter((g) => result.targets.includes(g.genre));
    bars.replaceChildren(...targets.map(barRow));
    const unintended = document.createElement("div");
    unintended.className = "unintended";
    if (variant.unintended.length) {
      unintended.append("Also signals: ");
      for (const g of variant.unintended) {
        const chip = document.createElement("span");
        chip.textContent = `${g.genre} ${Math.round(g.probability * 100)}%`;
        unintended.append(chip);
      }
    } else {
      unintended.textContent = "No unintended genres.";
    }
    card.append(header, img, name, bars, unintended);
    if (!variant.poster_check.is_poster) {
      const warn = document.createElement("div");
      warn.className = "warning";
      warn.textContent = variant.poster_check.message || "Does not look like a movie poster.";
      card.append(warn);
    }
    return card;
  });
  $("compare-results").replaceChildren(...cards);
}

// ---------------------------------------------------------------- start

async function start() {
  const drop = $("drop");
  $("file-input").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("url-input").value.trim();
    if (url) addUrl(url);
  });
  $("error-close").addEventListener("click", clearError);
  $("compare-btn").addEventListener("click", compare);
  $("poster").addEventListener("load", alignOverlay);
  window.addEventListener("resize", alignOverlay);
  $("poster").addEventListener("error", () => {
    if (!state.current || !state.current.url) return;
    $("poster").hidden = true;  // the browser could not load the remote image (the service fetched its own copy)
    $("poster-name").textContent = `${state.current.name} (preview unavailable)`;
  });
  $("show-card").addEventListener("click", async () => {
    try {
      const model = await api("/v1/model");
      $("card-text").textContent = model.card_markdown;
      $("card-dialog").showModal();
    } catch (err) { showError(`Model card: ${err.message}`); }
  });
  try {
    const [genres, health] = await Promise.all([api("/v1/genres"), api("/healthz")]);
    state.genres = genres.genres;
    $("model-badge").textContent = `${health.genres} genres · v${health.version}`;
    renderTargets();
  } catch (err) {
    $("model-badge").textContent = "model unavailable";
    showError(err.message);
  }
}

start();
