// One reading on the page: the summary, strength bars in the reading's order, each signal on its own, and the
// exact numbers. Every value and word comes from the API's answer; the scale from scale.js.

import { $, el, pctExact, plural } from "./dom.js";
import { showHeatmap } from "./heatmaps.js";
import { barFraction, beyondBar, formatStrength, level } from "./scale.js";
import { state } from "./state.js";

const NEXT_GENRES = 3;  // genres shown after the decided ones before the rest is folded away

// A reading is flagged when its poster does not look like one (a synopsis read alone has no poster check).
export const isFlagged = (result) => Boolean(result.poster_check) && !result.poster_check.is_poster;

// The API's reading order (`levels`: decided genres strongest first, then the rest strongest first): the decided
// genres and the next few are shown, the rest folded away.
function splitGenres(result) {
  const order = Object.keys(result.levels);
  const shown = result.decided.length + NEXT_GENRES;
  return { main: order.slice(0, shown), rest: order.slice(shown) };
}

// One genre on the strength scale: the decision line is at the same place for every genre, the level colours it.
export function strengthRow(result, genre, { heatmaps = false } = {}) {
  const strength = result.strength[genre];
  const code = result.levels[genre];
  const decided = result.decided.includes(genre);
  const flagged = isFlagged(result);
  const label = decided && flagged ? `(${genre})` : genre;
  const name = heatmaps
    ? el("button", { type: "button", className: "name", title: `Show where the model looked for ${genre}` }, label)
    : el("span", { className: "name" }, label);
  if (heatmaps) name.addEventListener("click", () => showHeatmap(state.current, genre));
  const fill = el("span", { className: "fill" + (beyondBar(strength) ? " beyond" : "") });
  fill.style.width = `${(barFraction(strength) * 100).toFixed(1)}%`;
  const track = el("span", { className: "track" }, fill, el("span", { className: "line" }));
  const value = el("span", { className: "value" }, formatStrength(strength));
  const row = el("li", { className: "bar-row" + (decided ? " decided" : "") + (flagged ? " flagged" : ""),
                         dataset: { genre, level: code } }, name, track, value);
  row.title = `${level(code).words} ${genre}: ${formatStrength(strength)} its decision line`;
  return row;
}

export function renderReading(result, { heatmaps = false } = {}) {
  const flagged = isFlagged(result);
  $("reading").hidden = false;
  $("reading").classList.toggle("flagged", flagged);
  $("check-warning").hidden = !flagged;
  $("check-warning").textContent = flagged ? result.poster_check.message : "";
  $("summary").textContent = flagged ? `(${result.summary.text})` : result.summary.text;
  const { main, rest } = splitGenres(result);
  $("bars").replaceChildren(...main.map((g) => strengthRow(result, g, { heatmaps })));
  $("bars-more").replaceChildren(...rest.map((g) => strengthRow(result, g, { heatmaps })));
  $("more-genres").hidden = rest.length === 0;
  $("more-summary").textContent = `${plural(rest.length, "other genre")} (weaker signals)`;
  renderExact(result);
  renderSplit(result, main);
}

// Exact numbers: probabilities and thresholds (every other view shows strength only).
function renderExact(result) {
  const alone = result.poster_probabilities && result.synopsis_probabilities;
  const head = ["Genre", "Probability", "Threshold", "Strength", "Decided", ...(alone ? ["Poster alone",
                "Synopsis alone"] : [])];
  const rows = Object.keys(result.probabilities).map((g) => {
    const decided = result.decided.includes(g);
    const cells = [g, pctExact(result.probabilities[g]), pctExact(result.thresholds[g]),
                   formatStrength(result.strength[g], { exact: true }), decided ? "yes" : "",
                   ...(alone ? [result.poster_probabilities[g], result.synopsis_probabilities[g]].map(pctExact) : [])];
    return el("tr", { className: decided ? "decided" : "" }, ...cells.map((c) => el("td", {}, c)));
  });
  $("exact-table").replaceChildren(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
                                   el("tbody", {}, ...rows));
}

// With a synopsis: the strength of poster and synopsis together, and of each on its own (each on its own lines).
function renderSplit(result, genres) {
  const box = $("signal-split");
  box.hidden = !(result.poster_strength && result.synopsis_strength);
  if (box.hidden) return box.replaceChildren();
  const head = el("tr", {}, ...["Genre", "Combined", "Poster alone", "Synopsis alone"].map((h) => el("th", {}, h)));
  const rows = genres.map((g) => el("tr", { dataset: { genre: g } }, el("td", {}, g),
    ...[result.strength, result.poster_strength, result.synopsis_strength]
      .map((signal) => el("td", {}, formatStrength(signal[g])))));
  box.replaceChildren(
    el("p", { className: "note" }, "Strength of poster and synopsis together (combined), and of each on its own:"),
    el("table", { className: "exact" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}
