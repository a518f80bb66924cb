// Heatmaps on the poster shown: the server picks the default genres (from the reading shown, so with the synopsis
// when there is one) and draws any other genre on request; a legend and an opacity slider.

import { api, isAbort, posterBody } from "./api.js";
import { $, el, setBusy, showError } from "./dom.js";
import { begin, state } from "./state.js";

export function renderHeatChoices() {
  $("heat-any").append(...state.genres.map((g) => el("option", { value: g.genre }, g.genre)));
}

export function renderHeatControls(variant) {
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

// The default genres come in the order of the reading shown: the request carries the synopsis that reading used.
async function loadHeatmaps(variant, genre) {
  const signal = begin("heatmap");  // a newer heatmap (or poster) replaces this one
  const query = genre ? `heatmaps=${encodeURIComponent(genre)}` : "explain=true";
  setBusy(genre ? `Computing the ${genre} heatmap…` : "Computing heatmaps…");
  try {
    const body = posterBody(variant, genre ? "" : variant.predictSynopsis || "");
    const explained = await api(`/v1/predict?${query}`, { ...body, signal });
    for (const h of explained.heatmaps) variant.heat[h.genre] = h.png;
    if (!genre) variant.defaultHeat = explained.heatmaps.map((h) => h.genre);
  } finally {
    if (!signal.aborted && state.current === variant) setBusy(null);
  }
}

export async function showHeatmap(variant, genre) {
  if (!variant) return;
  state.heatGenre = genre;
  if (genre && !variant.heat[genre]) {
    try {
      await loadHeatmaps(variant, genre);
    } catch (err) {
      if (isAbort(err)) return;
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

export async function showDefaultHeatmaps() {
  const variant = state.current;
  if (!variant) return;
  try {
    await loadHeatmaps(variant, null);
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
    return;
  }
  if (state.current !== variant) return;
  await showHeatmap(variant, variant.defaultHeat[0] || null);
}

export function applyOpacity() {
  const value = Number($("heat-opacity").value) / 100;
  for (const img of document.querySelectorAll(".overlay")) img.style.opacity = String(value);
}
