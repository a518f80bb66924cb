// Comparing poster variants, the sheet and the brief. The ranking, the variant to run (`best`), the headline and
// every number are the API's; the page draws them in the order the API gives.

import { api, download, isAbort } from "./api.js";
import { $, bdi, clearError, el, pctExact, plural, showError, synopsisText } from "./dom.js";
import { applyOpacity } from "./heatmaps.js";
import { isFlagged, strengthRow } from "./reading.js";
import { formatStrength } from "./scale.js";
import { begin, cancel, state } from "./state.js";

export function renderTargets() {
  $("targets").replaceChildren(...state.genres.map((g) => {
    const input = el("input", { type: "checkbox", value: g.genre });
    input.addEventListener("change", updateCompareButton);
    return el("label", {}, input, g.genre);
  }));
}

export function chosenTargets() {
  return Array.from($("targets").querySelectorAll("input:checked")).map((i) => i.value);
}

function comparable() {
  return state.variants.filter((v) => v.file);  // the compare and brief endpoints take uploaded files
}

// Whether the loaded files and ticked targets make a comparison the API takes (its limits: GET /v1/rules).
function canCompare() {
  const { compare_min_variants: min, compare_max_variants: max } = state.rules.limits;
  const n = comparable().length;
  return n >= min && n <= max && chosenTargets().length > 0;
}

const canBrief = () => comparable().length >= 1 && comparable().length <= state.rules.limits.brief_max_variants;

export function updateCompareButton() {
  if (!state.rules) return;
  const { compare_min_variants: min, compare_max_variants: max } = state.rules.limits;
  const n = comparable().length;
  const targets = chosenTargets();
  const urls = state.variants.length - n;
  $("compare-btn").disabled = !canCompare();
  $("compare-btn").textContent = n >= min ? `Compare ${n} variants` : "Compare variants";
  const hints = [];
  if (n < min) {
    const more = n === 0 ? `drop ${min} or more` : `drop at least ${min - n === 1 ? "one" : min - n} more`;
    hints.push(`Comparing needs at least ${min} poster files: ${more} (${plural(n, "file")} loaded).`);
  }
  if (n > max) hints.push(`Comparing takes at most ${max} poster files; remove ${n - max}.`);
  if (urls) {
    hints.push(`${plural(urls, "poster")} from a URL cannot be compared; download ${urls === 1 ? "it" : "them"} ` +
               `and drop the file${urls === 1 ? "" : "s"}.`);
  }
  if (!targets.length) hints.push("Tick at least one target genre.");
  $("compare-hint").textContent = hints.join(" ");
  $("compare-hint").hidden = hints.length === 0;
}

// The set of variants (or the synopsis) changed: a comparison describes the set it was run on.
export function resetCompare() {
  cancel("compare");
  state.lastCompare = null;
  $("compare-results").replaceChildren();
  $("compare-head").hidden = true;
  $("sheet-btn").hidden = true;
  updateCompareButton();
  updateBriefButton();
}

function compareForm(files, targets) {
  const form = new FormData();
  for (const v of files) form.append("files", v.file, v.name);
  form.append("targets", targets.join(","));
  const synopsis = synopsisText();
  if (synopsis) form.append("synopsis", synopsis);
  return form;
}

export async function compare() {
  clearError();
  const files = comparable();
  const targets = chosenTargets();
  if (!state.rules || !canCompare()) return updateCompareButton();
  const signal = begin("compare");
  const button = $("compare-btn");
  button.disabled = true;
  $("compare-results").replaceChildren();
  $("compare-head").hidden = true;
  $("sheet-btn").hidden = true;
  button.textContent = `Comparing ${files.length} variants…`;
  try {
    const form = compareForm(files, targets);
    form.append("heatmaps", "true");
    const result = await api("/v1/compare", { method: "POST", body: form, signal });
    state.lastCompare = { files, targets };
    renderCompare(result, files);
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
  } finally {
    updateCompareButton();
  }
}

function renderCompare(result, files) {
  $("compare-head").hidden = false;
  $("compare-headline").textContent = result.headline;
  $("compare-ranking").textContent = result.ranking;
  $("compare-scoring").textContent = result.scoring;
  $("compare-note").hidden = !result.note;
  $("compare-note").textContent = result.note || "";
  const lines = (result.failures || []).map((f) => el("li", {}, bdi(f.error)));
  if (result.flagged) lines.push(el("li", { className: "flag-line" }, result.flagged));
  $("compare-failures").hidden = lines.length === 0;
  $("compare-failures").replaceChildren(...lines);
  $("compare-results").replaceChildren(...result.variants.map((v) => variantCard(result, v, files)));
  $("sheet-btn").hidden = false;
}

// The poster with a heatmap of one target genre at a time.
function posterFrame(variant, files) {
  const overlay = el("img", { className: "overlay", alt: "", hidden: true });
  const file = files[variant.index];
  const poster = el("img", { className: "poster", src: file ? file.previewUrl : "", alt: variant.source });
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
  choose("");
  const parts = [el("div", { className: "frame" }, poster, overlay),
                 el("div", { className: "source" }, bdi(variant.source))];
  if (chips.children.length) {
    parts.push(el("div", { className: "heat-row" }, el("span", { className: "heat-label" }, "Heatmap:"), chips));
  }
  return parts;
}

// The arithmetic behind the card: probabilities, thresholds, strengths and the target score.
function exactNumbers(result, variant) {
  const p = variant.prediction;
  const genres = [...result.targets, ...Object.keys(variant.unintended || {})];
  const head = el("tr", {}, ...[["Genre"], ["Prob.", "Probability"], ["Line", "Decision threshold"], ["Strength"]]
    .map(([h, title]) => el("th", title ? { title } : {}, h)));
  const rows = genres.map((g) => el("tr", {}, el("td", {}, g), el("td", {}, pctExact(p.probabilities[g])),
    el("td", {}, pctExact(p.thresholds[g])), el("td", {}, formatStrength(p.strength[g], { exact: true }))));
  return el("details", { className: "more exact-card" }, el("summary", {}, "Exact numbers"),
    el("table", { className: "exact" }, el("thead", {}, head), el("tbody", {}, ...rows)),
    el("p", { className: "note target-score" }, `Target score ${variant.target_score.toFixed(2)}`));
}

function variantCard(result, variant, files) {
  const prediction = variant.prediction;
  const flagged = isFlagged(prediction);
  const card = el("article", { className: "variant-card" + (variant.best ? " best" : "") + (flagged ? " flagged" : ""),
                               dataset: { index: String(variant.index) } });
  card.append(el("header", {}, el("span", { className: "rank" }, `#${variant.rank}`),
                 variant.best ? el("span", { className: "run" }, "the one to run") : null));
  if (flagged) card.append(el("div", { className: "warning" }, prediction.poster_check.message));
  card.append(...posterFrame(variant, files));
  const summary = flagged ? `(${prediction.summary.text})` : prediction.summary.text;
  card.append(el("p", { className: "card-summary" }, summary));
  card.append(el("p", { className: "verdict" + (variant.fits_all_targets ? "" : " miss") }, variant.verdict));
  card.append(el("div", { className: "targets-decided" }, "Targets decided: ",
    ...result.targets.map((g) => {
      const yes = variant.targets_decided.includes(g);
      return el("span", { className: "chip " + (yes ? "yes" : "no"),
                          title: yes ? `${g} is decided` : `${g} is not decided` }, `${yes ? "✓" : "✗"} ${g}`);
    })));
  card.append(el("ol", { className: "bars" }, ...result.targets.map((g) => strengthRow(prediction, g))));
  const unintended = Object.keys(prediction.levels).filter((g) => g in (variant.unintended || {}));  // reading order
  card.append(el("div", { className: "unintended" },
    ...(unintended.length
      ? ["Also signals: ", ...unintended.map((g) => el("span", { className: "chip", dataset: { genre: g } },
                                                      `${g} ${formatStrength(prediction.strength[g])}`))]
      : ["No unintended genres."])));
  card.append(exactNumbers(result, variant));
  return card;
}

export async function downloadSheet() {
  const last = state.lastCompare;
  if (!last) return;
  clearError();
  const button = $("sheet-btn");
  button.disabled = true;
  try {
    await download("/v1/compare/sheet", { method: "POST", body: compareForm(last.files, last.targets) },
                   "compare-sheet.html");
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
  } finally {
    button.disabled = false;
  }
}

// The brief takes the loaded poster files (1 to the API's limit), the ticked targets, the synopsis and the title.
export function updateBriefButton() {
  if (!state.rules) return;
  const max = state.rules.limits.brief_max_variants;
  const n = comparable().length;
  $("brief-btn").hidden = n === 0;
  $("brief-title-label").hidden = n === 0;
  $("brief-btn").disabled = !canBrief();
  $("brief-btn").title = n > max ? `A brief takes at most ${max} variants; remove ${n - max}.`
    : "One printable page: which variant to run and why, story vs poster, audiences to aim at.";
}

export async function downloadBrief() {
  clearError();
  const files = comparable();
  if (!state.rules || !canBrief()) return updateBriefButton();
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
    await download("/v1/brief?format=html", { method: "POST", body: form }, "campaign-brief.html");
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
  } finally {
    button.textContent = "Download brief";
    updateBriefButton();
  }
}
