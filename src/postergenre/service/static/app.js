// The page: plain JavaScript over the JSON API (/v1/...). No build step, no external resources, no inline
// scripts or styles (the page is served with script-src 'self'; style-src 'self').
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  variants: [], current: null, nextId: 0, heatGenre: null,
  genres: [], maxUpload: null, compareRun: 0, similarRun: 0,
};
const NEXT_GENRES = 3;   // genres shown after the decided ones before the rest is folded away
const SCALE_MAX = 2.5;   // strength shown on a 0..2.5 scale, so the decision line (1.0) sits at 40 % for every genre
const SIMILAR_K = 12;
const BRIEF_MAX = 6;     // variants a brief takes (the server's limit too)

// ---------------------------------------------------------------- words and numbers

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function formatMegabytes(bytes) {
  return `${Number((bytes / 1_000_000).toFixed(1))} MB`;  // 10000000 -> "10 MB", 2500000 -> "2.5 MB"
}

const pct = (p) => `${Math.round(p * 100)}%`;
const pctExact = (p) => `${(p * 100).toFixed(1)}%`;
const times = (s) => `${s.toFixed(1)}×`;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// ---------------------------------------------------------------- API

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("Cannot reach the postergenre service. Is `postergenre serve` still running?");
  }
  if (!response.ok) throw await apiError(response);
  return response.json();
}

// The server's own words (its `error` field), plus when to retry if it is busy.
async function apiError(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    // `message` is the server's plain words where `error` is technical (e.g. a poster URL that failed).
    if (body && (body.message || body.error)) message = body.message || body.error;
  } catch (err) { /* not JSON: keep the status line */ }
  const wait = response.status === 503 && response.headers.get("Retry-After");
  const error = new Error(wait ? `${message} (try again in ${wait} s)` : message);
  error.status = response.status;
  return error;
}

function synopsisText() {
  return $("synopsis-box").hidden ? "" : $("synopsis").value.trim();
}

// The poster as a request body: a multipart upload, or JSON {"url"}; with the synopsis when one is given.
function posterBody(variant, synopsis = "") {
  if (variant.file) {
    const form = new FormData();
    form.append("file", variant.file, variant.name);
    if (synopsis) form.append("synopsis", synopsis);
    return { method: "POST", body: form };
  }
  const body = { url: variant.url };
  if (synopsis) body.synopsis = synopsis;
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

// ---------------------------------------------------------------- messages

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
function clearError() { $("error").hidden = true; }

function setBusy(text) {
  $("busy").hidden = !text;
  if (text) $("busy-text").textContent = text;
}

// ---------------------------------------------------------------- the variants tray

function addFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  clearError();
  const problems = [];
  const accepted = [];
  for (const file of files) {
    if (file.type && !file.type.startsWith("image/")) {
      problems.push(`${file.name} is not an image; choose JPEG, PNG, WebP, GIF, BMP or TIFF poster files.`);
    } else if (state.maxUpload && file.size > state.maxUpload) {
      problems.push(`${file.name} is ${formatMegabytes(file.size)}, over the upload limit of ${formatMegabytes(state.maxUpload)}.`);
    } else {
      accepted.push(file);
    }
  }
  if (problems.length) showError(problems.join(" "));
  if (!accepted.length) return;
  const added = accepted.map((file) => newVariant({ name: file.name, file, previewUrl: URL.createObjectURL(file) }));
  variantsChanged();
  select(added[0]);
}

function addUrl(url) {
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

function clearAll() {
  for (const v of state.variants) if (v.file) URL.revokeObjectURL(v.previewUrl);
  state.variants = [];
  variantsChanged();
  resetView();
}

function resetView() {
  state.current = null;
  $("viewer").hidden = true;
  $("reading").hidden = true;
  $("similar-block").hidden = true;
  $("placeholder").hidden = false;
  setBusy(null);
}

function variantsChanged() {
  renderTray();
  updateCompareButton();
  // A compare result describes the set it was run on; a changed set needs a new run.
  state.compareRun++;
  $("compare-results").replaceChildren();
  $("compare-head").hidden = true;
  $("sheet-btn").hidden = true;
  updateBriefButton();
}

// The brief takes the loaded poster files (1 to BRIEF_MAX), the ticked targets, the synopsis and the title.
function updateBriefButton() {
  const n = comparable().length;
  $("brief-btn").hidden = n === 0;
  $("brief-title-label").hidden = n === 0;
  $("brief-btn").disabled = n > BRIEF_MAX;
  $("brief-btn").title = n > BRIEF_MAX ? `A brief takes at most ${BRIEF_MAX} variants; remove ${n - BRIEF_MAX}.`
    : "One printable page: which variant to run and why, story vs poster, audiences to aim at.";
}

async function downloadBrief() {
  clearError();
  const files = comparable();
  if (!files.length || files.length > BRIEF_MAX) return updateBriefButton();
  const form = new FormData();
  for (const v of files) form.append("posters", v.file, v.name);
  const intended = chosenTargets();
  if (intended.length) form.append("intended", intended.join(","));
  const synopsis = synopsisText();
  if (synopsis) form.append("synopsis", synopsis);
  const title = $("brief-title").value.trim();
  if (title) form.append("title", title);
  // The ratings ticked in the comparable-title filter, as /v1/similar gets them; none ticked means every rating
  // (the brief's own default is the studio's ratings, ticked at start). No boxes at all: the brief's default.
  const boxes = $("f-ratings").querySelectorAll("input");
  if (boxes.length) {
    const ratings = Array.from(boxes).filter((i) => i.checked).map((i) => i.value);
    form.append("rating", ratings.length ? ratings.join(",") : "all");
  }
  const button = $("brief-btn");
  button.disabled = true;
  button.textContent = "Writing the brief…";
  try {
    await download("/v1/brief?format=html", form, "campaign-brief.html");
  } catch (err) {
    showError(err.message);
  } finally {
    button.textContent = "Download brief";
    updateBriefButton();
  }
}

function renderTray() {
  const n = state.variants.length;
  $("tray").hidden = n === 0;
  $("tray-count").textContent = `${plural(n, "variant")} loaded`;
  $("variants").replaceChildren(...state.variants.map((variant) => {
    const flagged = variant.predict && !variant.predict.poster_check.is_poster;
    const pick = el("button", { type: "button", className: "thumb", title: variant.name,
                               "aria-label": `Show ${variant.name}` },
                    el("img", { src: variant.previewUrl, alt: "" }));
    pick.addEventListener("click", () => select(variant));
    const remove = el("button", { type: "button", className: "remove", title: `Remove ${variant.name}`,
                                 "aria-label": `Remove ${variant.name}` }, "×");
    remove.addEventListener("click", () => removeVariant(variant));
    const item = el("li", { className: "variant" + (variant === state.current ? " active" : "") + (flagged ? " flagged" : ""),
                            dataset: { id: String(variant.id) } },
                    pick, remove, flagged ? el("span", { className: "flag", title: variant.predict.poster_check.message || "" }, "not a poster?") : null);
    return item;
  }));
}

// ---------------------------------------------------------------- one poster

async function select(variant) {
  state.current = variant;
  state.heatGenre = null;
  renderTray();
  $("viewer").hidden = false;
  $("poster").hidden = false;
  $("poster").src = variant.previewUrl;
  $("poster-name").textContent = variant.name;
  $("overlay").hidden = true;
  $("placeholder").hidden = true;
  const synopsis = synopsisText();
  if (!variant.predict || variant.predictSynopsis !== synopsis) {
    $("reading").hidden = true;
    $("similar-block").hidden = true;
    setBusy("Analysing…");
    const [predicted, similar] = await Promise.allSettled([
      api("/v1/predict", posterBody(variant, synopsis)),
      variant.similar ? Promise.resolve(variant.similar) : api(similarPath(), posterBody(variant)),
    ]);
    if (state.current === variant) setBusy(null);
    if (predicted.status === "rejected") {
      if (state.variants.includes(variant)) removeVariant(variant);  // nothing to show or compare for it
      showError(predicted.reason.message);
      return;
    }
    variant.predict = predicted.value;
    variant.predictSynopsis = synopsis;
    variant.similar = similar.status === "fulfilled" ? similar.value : { error: similar.reason.message };
    renderTray();
  }
  if (state.current === variant) renderResults(variant);
}

// A reading is flagged when its poster does not look like one (a synopsis read alone has no poster check).
const isFlagged = (result) => Boolean(result.poster_check) && !result.poster_check.is_poster;

function renderResults(variant) {
  const result = variant.predict;
  const flagged = isFlagged(result);
  $("reading").hidden = false;
  $("reading").classList.toggle("flagged", flagged);
  const warning = $("check-warning");
  warning.hidden = !flagged;
  warning.textContent = result.poster_check.message ||
    "This does not look like a movie poster; treat its genres with caution.";
  $("summary").textContent = flagged ? `(${result.summary.text})` : result.summary.text;

  const { main, rest } = splitGenres(result);
  $("bars").replaceChildren(...main.map((g) => strengthRow(result, g, { heatmapButton: true })));
  $("bars-more").replaceChildren(...rest.map((g) => strengthRow(result, g, { heatmapButton: true })));
  $("more-genres").hidden = rest.length === 0;
  $("more-summary").textContent = `${plural(rest.length, "other genre")} (weaker signals)`;
  renderExact(result);
  renderSplit(result, main);
  renderHeatControls(variant);
  renderSimilar(variant.similar);
}

// Decided genres, then the next strongest few; everything else goes into the folded list.
function splitGenres(result) {
  const byStrength = Object.keys(result.strength).sort((a, b) => result.strength[b] - result.strength[a]);
  const decided = byStrength.filter((g) => result.decided.includes(g));
  const others = byStrength.filter((g) => !result.decided.includes(g));
  return { main: [...decided, ...others.slice(0, NEXT_GENRES)], rest: others.slice(NEXT_GENRES) };
}

// One genre on the common strength scale: the decision line is at the same place for every genre.
function strengthRow(result, genre, { heatmapButton = false } = {}) {
  const strength = result.strength[genre];
  const decided = result.decided.includes(genre);
  const flagged = isFlagged(result);
  const probability = result.probabilities[genre];
  const threshold = result.thresholds[genre];
  const label = decided && flagged ? `(${genre})` : genre;
  const name = heatmapButton
    ? el("button", { type: "button", className: "name", title: `Show where the model looked for ${genre}` }, label)
    : el("span", { className: "name" }, label);
  if (heatmapButton) name.addEventListener("click", () => showHeatmap(state.current, genre));
  const fill = el("span", { className: "fill" + (strength > SCALE_MAX ? " beyond" : "") });
  fill.style.width = `${(Math.min(strength, SCALE_MAX) / SCALE_MAX * 100).toFixed(1)}%`;
  const track = el("span", { className: "track" }, fill, el("span", { className: "line" }));
  const value = el("span", { className: "value" }, times(strength));
  const row = el("li", { className: "bar-row" + (decided ? " decided" : "") + (flagged ? " flagged" : ""),
                         dataset: { genre } }, name, track, value);
  row.title = `${genre}: probability ${pctExact(probability)}, decision threshold ${pctExact(threshold)}, ` +
              `strength ${strength.toFixed(2)}× the threshold` + (decided ? " (decided)" : "");
  return row;
}

function renderExact(result) {
  const rows = Object.keys(result.probabilities).map((g) => el("tr", { className: result.decided.includes(g) ? "decided" : "" },
    el("td", {}, g), el("td", {}, pctExact(result.probabilities[g])), el("td", {}, pctExact(result.thresholds[g])),
    el("td", {}, `${result.strength[g].toFixed(2)}×`), el("td", {}, result.decided.includes(g) ? "yes" : "")));
  $("exact-table").tBodies[0].replaceChildren(...rows);
}

// With a synopsis: the poster's and the synopsis's own readings beside the combined one.
function renderSplit(result, genres) {
  const box = $("signal-split");
  const poster = result.poster_probabilities;
  const synopsis = result.synopsis_probabilities;
  box.hidden = !(poster && synopsis);
  if (box.hidden) return box.replaceChildren();
  const head = el("tr", {}, el("th", {}, "Genre"), el("th", {}, "Combined"), el("th", {}, "Poster alone"), el("th", {}, "Synopsis alone"));
  const rows = genres.map((g) => el("tr", {}, el("td", {}, g), el("td", {}, pct(result.probabilities[g])),
                                    el("td", {}, pct(poster[g])), el("td", {}, pct(synopsis[g]))));
  box.replaceChildren(
    el("p", { className: "note" }, "Reading of poster and synopsis together (combined), and of each on its own (probabilities):"),
    el("table", { className: "exact" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

// ---------------------------------------------------------------- a synopsis alone

// Before a poster exists: the story's genres from the synopsis alone (the server's summary says so).
async function readStory() {
  const synopsis = synopsisText();
  if (!synopsis) return;
  clearError();
  $("viewer").hidden = true;
  $("similar-block").hidden = true;
  $("reading").hidden = true;
  setBusy("Reading the story…");
  let result;
  try {
    result = await api("/v1/predict", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify({ synopsis }) });
  } catch (err) {
    setBusy(null);
    showError(err.message);
    return;
  }
  if (state.current) return;  // a poster arrived meanwhile: its reading wins
  setBusy(null);
  $("placeholder").hidden = true;
  $("reading").hidden = false;
  $("reading").classList.remove("flagged");
  $("check-warning").hidden = true;
  $("summary").textContent = result.summary.text;
  const { main, rest } = splitGenres(result);
  $("bars").replaceChildren(...main.map((g) => strengthRow(result, g)));
  $("bars-more").replaceChildren(...rest.map((g) => strengthRow(result, g)));
  $("more-genres").hidden = rest.length === 0;
  $("more-summary").textContent = `${plural(rest.length, "other genre")} (weaker signals)`;
  renderExact(result);
  renderSplit(result, main);
}

function synopsisChanged() {
  variantsChanged();
  if (state.current) select(state.current);
  else readStory();
}

// ---------------------------------------------------------------- heatmaps

function renderHeatControls(variant) {
  const shown = variant.defaultHeat ? [...variant.defaultHeat] : [];
  for (const g of Object.keys(variant.heat)) if (!shown.includes(g)) shown.push(g);
  $("heat-show").hidden = variant.defaultHeat !== null;
  const chips = shown.length ? [null, ...shown] : [];
  $("heat-buttons").replaceChildren(...chips.map((genre) => {
    const button = el("button", { type: "button", "aria-pressed": String(genre === state.heatGenre) }, genre || "off");
    button.addEventListener("click", () => showHeatmap(variant, genre));
    return button;
  }));
  $("heat-tools").hidden = state.heatGenre === null;
  $("heat-any").value = "";
}

// The server picks the default heatmap genres (explain=true); any other genre is asked for by name.
async function loadHeatmaps(variant, genre) {
  const query = genre ? `heatmaps=${encodeURIComponent(genre)}` : "explain=true";
  setBusy(genre ? `Computing the ${genre} heatmap…` : "Computing heatmaps…");
  try {
    const explained = await api(`/v1/predict?${query}`, posterBody(variant));
    for (const h of explained.heatmaps) variant.heat[h.genre] = h.png;
    if (!genre) variant.defaultHeat = explained.heatmaps.map((h) => h.genre);
  } finally {
    if (state.current === variant) setBusy(null);
  }
}

async function showHeatmap(variant, genre) {
  if (!variant) return;
  state.heatGenre = genre;
  if (genre && !variant.heat[genre]) {
    try {
      await loadHeatmaps(variant, genre);
    } catch (err) {
      showError(err.message);
      state.heatGenre = null;
    }
  }
  if (state.current !== variant) return;
  renderHeatControls(variant);
  const overlay = $("overlay");
  const png = genre && variant.heat[genre];
  overlay.hidden = !png;
  if (png) {
    overlay.src = png;
    overlay.alt = `Where the model looked for ${genre}`;
    applyOpacity();
  }
}

async function showDefaultHeatmaps() {
  const variant = state.current;
  if (!variant) return;
  try {
    await loadHeatmaps(variant, null);
  } catch (err) {
    return showError(err.message);
  }
  if (state.current !== variant) return;
  await showHeatmap(variant, variant.defaultHeat[0] || null);
}

function applyOpacity() {
  const value = Number($("heat-opacity").value) / 100;
  for (const img of document.querySelectorAll(".overlay")) img.style.opacity = String(value);
}

// ---------------------------------------------------------------- comparable titles

function similarPath() {
  const params = new URLSearchParams({ k: String(SIMILAR_K) });
  const collection = $("f-collection").value;
  const ratings = Array.from($("f-ratings").querySelectorAll("input:checked")).map((i) => i.value);
  const yearMin = $("f-year-min").value.trim();
  const yearMax = $("f-year-max").value.trim();
  const genre = $("f-genre").value;
  if (collection) params.set("collection", collection);
  if (ratings.length) params.set("rating", ratings.join(","));
  if (yearMin) params.set("year_min", yearMin);
  if (yearMax) params.set("year_max", yearMax);
  if (genre) params.set("genre", genre);
  return `/v1/similar?${params}`;
}

async function refreshSimilar() {
  const variant = state.current;
  if (!variant || !variant.predict) return;
  $("similar-note").hidden = false;
  $("similar-note").textContent = "Looking for comparable titles…";
  const asked = ++state.similarRun;  // filters changed quickly: only the latest answer is shown
  let similar;
  try {
    similar = await api(similarPath(), posterBody(variant));
  } catch (err) {
    similar = { error: err.message };
  }
  if (asked !== state.similarRun) return;
  // Filters are page-wide: answers for other variants would be stale, so they are asked again on selection.
  for (const v of state.variants) if (v !== variant) v.similar = null;
  variant.similar = similar;
  if (state.current === variant) renderSimilar(similar);
}

function titleLabel(title) {
  if (!title.title) return `untitled (${title.imdb_id})`;
  return title.year ? `${title.title} (${title.year})` : title.title;
}

function renderSimilar(similar) {
  const list = $("similar");
  const note = $("similar-note");
  $("similar-block").hidden = false;
  list.replaceChildren();
  if (!similar || similar.error) {
    note.hidden = false;
    note.textContent = `Comparable titles unavailable: ${similar ? similar.error : "no answer"}`;
    return;
  }
  const notes = [];
  if (similar.query_is_poster === false) {
    notes.push("This image does not look like a movie poster, so titles that look alike say little about it.");
  }
  if (!similar.titles.length) notes.push("No catalog titles match these filters.");
  note.hidden = notes.length === 0;
  note.textContent = notes.join(" ");
  list.classList.toggle("flagged", similar.query_is_poster === false);
  for (const title of similar.titles) {
    const label = titleLabel(title);
    const img = el("img", { loading: "lazy", alt: `Poster of ${label}` });
    if (title.poster_url) img.src = title.poster_url;
    const name = title.imdb_url
      ? el("a", { className: "title", href: title.imdb_url, target: "_blank", rel: "noopener noreferrer",
                  title: `${label} on IMDb` }, label)
      : el("span", { className: "title" }, label);
    const match = el("div", { className: `match match-${(title.match || "").replace(/\s+/g, "-")}` },
                     `${title.match || "match"} · similarity ${title.similarity.toFixed(2)}`);
    const facts = [title.rating, title.genres && title.genres.length ? title.genres.join(", ") : null].filter(Boolean);
    list.append(el("li", {}, img, name, match, el("div", { className: "meta" }, facts.join(" · ") || "no genres")));
  }
}

async function loadFilters() {
  let filters;
  try {
    filters = await api("/v1/filters");
  } catch (err) {
    $("similar-filters").hidden = true;  // an older service without filters: titles still show
    return;
  }
  const names = (filters.collections || []).map((c) => (typeof c === "string" ? c : c.name || c.collection));
  // The studio's own films first, when the catalog has that collection.
  names.sort((a, b) => (b === "studio") - (a === "studio"));
  $("f-collection").append(...names.map((c) => el("option", { value: c }, c)));
  // Every rating the catalog holds; the studio's own ratings ticked by default (the brief uses the same default).
  const defaults = filters.default_ratings || [];
  $("f-ratings").append(...(filters.ratings || []).map((r) =>
    el("label", {}, el("input", { type: "checkbox", value: r, checked: defaults.includes(r) }), r)));
  $("f-ratings").hidden = !(filters.ratings || []).length;
  $("ratings-note").hidden = !(defaults.length && filters.ratings_note);
  $("ratings-note").textContent = defaults.length ? `${filters.ratings_note} Untick them to see every title.` : "";
  // The catalog's genres (the titles' own labels), else the model's.
  const genres = filters.genres && filters.genres.length ? filters.genres : state.genres.map((g) => g.genre);
  $("f-genre").append(...genres.map((g) => el("option", { value: g }, g)));
  for (const id of ["f-year-min", "f-year-max"]) {
    if (filters.year_min) $(id).min = filters.year_min;
    if (filters.year_max) $(id).max = filters.year_max;
  }
  if (filters.year_min) $("f-year-min").placeholder = String(filters.year_min);
  if (filters.year_max) $("f-year-max").placeholder = String(filters.year_max);
}

// ---------------------------------------------------------------- compare

function renderTargets() {
  $("targets").replaceChildren(...state.genres.map((g) => {
    const input = el("input", { type: "checkbox", value: g.genre });
    input.addEventListener("change", updateCompareButton);
    return el("label", {}, input, g.genre);
  }));
  $("heat-any").append(...state.genres.map((g) => el("option", { value: g.genre }, g.genre)));
}

function chosenTargets() {
  return Array.from($("targets").querySelectorAll("input:checked")).map((i) => i.value);
}

function comparable() {
  return state.variants.filter((v) => v.file);  // the compare endpoint takes uploaded files
}

function updateCompareButton() {
  const n = comparable().length;
  const targets = chosenTargets();
  const urls = state.variants.length - n;
  $("compare-btn").disabled = !(n >= 2 && targets.length);
  $("compare-btn").textContent = n >= 2 ? `Compare ${n} variants` : "Compare variants";
  const hints = [];
  if (n < 2) {
    hints.push(`Comparing needs at least 2 poster files: ${n === 0 ? "drop two or more" : "drop at least one more"} (${plural(n, "file")} loaded).`);
  }
  if (urls) hints.push(`${plural(urls, "poster")} from a URL cannot be compared; download ${urls === 1 ? "it" : "them"} and drop the file${urls === 1 ? "" : "s"}.`);
  if (!targets.length) hints.push("Tick at least one target genre.");
  $("compare-hint").textContent = hints.join(" ");
  $("compare-hint").hidden = hints.length === 0;
}

function compareForm(files) {
  const form = new FormData();
  for (const v of files) form.append("files", v.file, v.name);
  form.append("targets", chosenTargets().join(","));
  const synopsis = synopsisText();
  if (synopsis) form.append("synopsis", synopsis);
  return form;
}

async function compare() {
  clearError();
  const files = comparable();
  const targets = chosenTargets();
  if (files.length < 2 || !targets.length) return updateCompareButton();
  const run = ++state.compareRun;
  const button = $("compare-btn");
  button.disabled = true;
  $("compare-results").replaceChildren();
  $("compare-head").hidden = true;
  $("sheet-btn").hidden = true;
  button.textContent = `Comparing ${files.length} variants…`;
  try {
    const form = compareForm(files);
    form.append("heatmaps", "true");
    const result = await api("/v1/compare", { method: "POST", body: form });
    if (run !== state.compareRun) return;
    state.lastCompare = { files, targets };
    renderCompare(result, files);
  } catch (err) {
    showError(err.message);
  } finally {
    updateCompareButton();
  }
}

function renderCompare(result, files) {
  $("compare-head").hidden = false;
  $("compare-headline").textContent = result.headline || "";
  $("compare-scoring").textContent = result.scoring || "";
  $("compare-note").hidden = !result.note;
  $("compare-note").textContent = result.note || "";
  const failures = result.failures || [];
  $("compare-failures").hidden = failures.length === 0;
  $("compare-failures").replaceChildren(...failures.map((f) => el("li", {}, f.error)));
  const flagged = result.variants.filter((v) => !v.prediction.poster_check.is_poster).length;
  if (flagged) {
    $("compare-failures").hidden = false;
    $("compare-failures").append(el("li", { className: "flag-line" },
      `${plural(flagged, "variant")} ${flagged === 1 ? "does" : "do"} not look like ${flagged === 1 ? "a movie poster" : "movie posters"}; ` +
      `${flagged === 1 ? "its" : "their"} ranking is uncertain.`));
  }
  $("compare-results").replaceChildren(...result.variants.map((v) => variantCard(result, v, files)));
  $("sheet-btn").hidden = false;
}

function variantCard(result, variant, files) {
  const prediction = variant.prediction;
  const flagged = !prediction.poster_check.is_poster;
  // Only a variant that reads as every target (and is a poster) is marked as the one to run.
  const best = variant.rank === 1 && result.variants.length > 1 && variant.fits_all_targets;
  const card = el("article", { className: "variant-card" + (best ? " best" : "") + (flagged ? " flagged" : ""),
                               dataset: { index: String(variant.index) } });
  card.append(el("header", {},
    el("span", { className: "rank" }, `#${variant.rank}`),
    el("span", { className: "score", title: result.scoring || "" }, `target score ${variant.target_score.toFixed(2)}`)));
  if (flagged) card.append(el("div", { className: "warning" }, prediction.poster_check.message || "Does not look like a movie poster."));

  // The poster with a heatmap of one target genre at a time.
  const overlay = el("img", { className: "overlay", alt: "", hidden: true });
  const poster = el("img", { className: "poster", src: files[variant.index] ? files[variant.index].previewUrl : "", alt: variant.source });
  const maps = Object.fromEntries((variant.heatmaps || []).map((h) => [h.genre, h.png]));
  const chips = el("div", { className: "chips", role: "group", "aria-label": "Heatmap genre" });
  const choose = (genre) => {
    overlay.hidden = !genre;
    if (genre) { overlay.src = maps[genre]; overlay.alt = `Where the model looked for ${genre}`; applyOpacity(); }
    for (const b of chips.children) b.setAttribute("aria-pressed", String(b.dataset.genre === (genre || "")));
  };
  if (Object.keys(maps).length) {
    for (const genre of ["", ...Object.keys(maps)]) {
      const b = el("button", { type: "button", dataset: { genre }, "aria-pressed": "false" }, genre || "off");
      b.addEventListener("click", () => choose(genre));
      chips.append(b);
    }
  }
  card.append(el("div", { className: "frame" }, poster, overlay), el("div", { className: "source" }, variant.source));
  if (chips.children.length) card.append(el("div", { className: "heat-row" }, el("span", { className: "heat-label" }, "Heatmap:"), chips));
  choose("");

  card.append(el("p", { className: "card-summary" }, flagged ? `(${prediction.summary.text})` : prediction.summary.text));
  card.append(el("p", { className: "verdict" + (variant.fits_all_targets ? "" : " miss") }, variant.verdict));
  const decided = el("div", { className: "targets-decided" }, "Targets decided: ",
    ...result.targets.map((g) => {
      const yes = variant.targets_decided.includes(g);
      return el("span", { className: "chip " + (yes ? "yes" : "no"), title: yes ? `${g} is decided` : `${g} is not decided` },
                `${yes ? "✓" : "✗"} ${g}`);
    }));
  card.append(decided);
  const bars = el("ol", { className: "bars" }, ...result.targets.map((g) => strengthRow(prediction, g)));
  card.append(bars);
  const unintended = Object.entries(variant.unintended || {});
  card.append(el("div", { className: "unintended" },
    ...(unintended.length
      ? ["Also signals: ", ...unintended.map(([g, p]) => el("span", { className: "chip" }, `${g} ${pct(p)}`))]
      : ["No unintended genres."])));
  return card;
}

// POST a form and save the answer as a file (the server names it in Content-Disposition).
async function download(path, form, fallbackName) {
  let response;
  try {
    response = await fetch(path, { method: "POST", body: form });
  } catch (err) {
    throw new Error("Cannot reach the postergenre service. Is `postergenre serve` still running?");
  }
  if (!response.ok) throw await apiError(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: match ? match[1] : fallbackName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function downloadSheet() {
  const last = state.lastCompare;
  if (!last) return;
  clearError();
  const button = $("sheet-btn");
  button.disabled = true;
  try {
    const form = compareForm(last.files);
    form.set("targets", last.targets.join(","));
    await download("/v1/compare/sheet", form, "compare-sheet.html");
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- model card

// card_html comes from our own server; still, only plain document elements survive (no scripts, styles,
// event handlers or non-http links), copied into fresh nodes.
const CARD_TAGS = new Set(["H1", "H2", "H3", "H4", "H5", "H6", "P", "UL", "OL", "LI", "TABLE", "THEAD", "TBODY", "TR",
  "TH", "TD", "CODE", "PRE", "EM", "STRONG", "B", "I", "A", "BR", "HR", "BLOCKQUOTE", "SPAN", "DIV", "DL", "DT", "DD"]);

function safeCopy(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const children = Array.from(node.childNodes).map(safeCopy).filter(Boolean);
  if (!CARD_TAGS.has(node.tagName)) {
    if (["SCRIPT", "STYLE", "IFRAME", "OBJECT", "TEMPLATE"].includes(node.tagName)) return null;
    const fragment = document.createDocumentFragment();
    fragment.append(...children);
    return fragment;
  }
  const copy = document.createElement(node.tagName.toLowerCase());
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (/^https?:\/\//i.test(href)) { copy.href = href; copy.target = "_blank"; copy.rel = "noopener noreferrer"; }
  }
  if ((node.tagName === "TH" || node.tagName === "TD") && /^(left|right|center)$/.test(node.getAttribute("align") || "")) {
    copy.className = `align-${node.getAttribute("align")}`;
  }
  copy.append(...children);
  return copy;
}

async function showCard() {
  let model;
  try {
    model = await api("/v1/model");
  } catch (err) {
    return showError(err.message);
  }
  const body = $("card-body");
  if (model.card_html) {
    const parsed = new DOMParser().parseFromString(model.card_html, "text/html");
    body.replaceChildren(...Array.from(parsed.body.childNodes).map(safeCopy).filter(Boolean));
  } else {
    body.replaceChildren(el("pre", {}, model.card_markdown || "(this model has no card)"));
  }
  $("card-dialog").showModal();
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
  $("clear-all").addEventListener("click", clearAll);
  $("compare-btn").addEventListener("click", compare);
  $("sheet-btn").addEventListener("click", downloadSheet);
  $("brief-btn").addEventListener("click", downloadBrief);
  $("heat-show").addEventListener("click", showDefaultHeatmaps);
  $("heat-any").addEventListener("change", (e) => { if (e.target.value) showHeatmap(state.current, e.target.value); });
  $("heat-opacity").addEventListener("input", applyOpacity);
  $("similar-filters").addEventListener("change", refreshSimilar);
  $("similar-filters").addEventListener("submit", (e) => { e.preventDefault(); refreshSimilar(); });
  $("synopsis").addEventListener("change", synopsisChanged);
  $("synopsis-read").addEventListener("click", synopsisChanged);
  $("poster").addEventListener("error", () => {
    if (!state.current || !state.current.url) return;
    $("poster").hidden = true;  // the browser could not load the remote image (the service fetched its own copy)
    $("poster-name").textContent = `${state.current.name} (preview unavailable)`;
  });
  $("show-card").addEventListener("click", showCard);
  updateCompareButton();
  try {
    const [genres, health] = await Promise.all([api("/v1/genres"), api("/healthz")]);
    state.genres = genres.genres;
    $("model-badge").textContent = `${plural(health.genres, "genre")} · v${health.version}`;
    $("synopsis-box").hidden = !health.synopsis_available;
    if (health.max_upload_bytes) {
      state.maxUpload = health.max_upload_bytes;
      $("upload-limit").hidden = false;
      $("upload-limit").textContent = `JPEG, PNG, WebP, GIF, BMP or TIFF, up to ${formatMegabytes(health.max_upload_bytes)} each`;
    }
    renderTargets();
    document.body.dataset.ready = "true";  // for scripts and tests: genres and filters are in place
  } catch (err) {
    $("model-badge").textContent = "model unavailable";
    showError(err.message);
  }
  await loadFilters();
  document.body.dataset.filters = "true";
}

start();
