// Comparable titles: the catalog posters that look most like the poster shown, with the filters the catalog offers.

import { api, isAbort, posterBody } from "./api.js";
import { $, bdi, el } from "./dom.js";
import { begin, state } from "./state.js";

const SIMILAR_K = 12;  // titles shown

export function similarPath() {
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

export async function refreshSimilar() {
  const variant = state.current;
  if (!variant || !variant.predict) return;
  const signal = begin("similar");  // filters changed again, or another poster was chosen: only the latest counts
  $("similar-note").hidden = false;
  $("similar-note").textContent = "Looking for comparable titles…";
  let similar;
  try {
    similar = await api(similarPath(), { ...posterBody(variant), signal });
  } catch (err) {
    if (isAbort(err)) return;
    similar = { error: err.message };
  }
  // Filters are page-wide: answers for other variants would be stale, so they are asked again on selection.
  for (const v of state.variants) if (v !== variant) v.similar = null;
  variant.similar = similar;
  if (state.current === variant) renderSimilar(similar);
}

function titleLabel(title) {
  if (!title.title) return `untitled (${title.imdb_id})`;
  return title.year ? `${title.title} (${title.year})` : title.title;
}

export function renderSimilar(similar) {
  const list = $("similar");
  const note = $("similar-note");
  $("similar-block").hidden = false;
  list.replaceChildren();
  if (!similar || similar.error) {
    note.hidden = false;
    note.replaceChildren("Comparable titles unavailable: ", bdi(similar ? similar.error : "no answer"));
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
    const text = title.title ? [bdi(title.title), title.year ? ` (${title.year})` : null] : [label];
    const name = title.imdb_url
      ? el("a", { className: "title", href: title.imdb_url, target: "_blank", rel: "noopener noreferrer",
                  title: `${label} on IMDb` }, ...text)
      : el("span", { className: "title" }, ...text);
    const match = el("div", { className: `match match-${(title.match || "").replace(/\s+/g, "-")}` },
                     `${title.match || "match"} · similarity ${title.similarity.toFixed(2)}`);
    const facts = [title.rating, title.genres && title.genres.length ? title.genres.join(", ") : null].filter(Boolean);
    list.append(el("li", {}, img, name, match, el("div", { className: "meta" }, facts.join(" · ") || "no genres")));
  }
}

export async function loadFilters() {
  let filters;
  try {
    filters = await api("/v1/filters");
  } catch (err) {
    $("similar-filters").hidden = true;  // an older service without filters: titles still show
    return;
  }
  state.filters = filters;
  // Collections come studio first from the API.
  $("f-collection").append(...(filters.collections || []).map((c) => el("option", { value: c }, c)));
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
