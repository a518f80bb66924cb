// The campaigns view: the team's campaigns (latest change first) and a new one: a film's title, synopsis, intended
// genres (the model's) and the ratings of its comparable titles. One open campaign is campaign.js.

import { api, isAbort, jsonBody } from "./api.js";
import { $, bdi, clearError, el, plural, showError, when } from "./dom.js";
import { begin, state } from "./state.js";

export const CAMPAIGNS_HASH = "#/campaigns";

// The page address that opens a campaign (after the login, where the server asks for one).
export const campaignHash = (id) => `${CAMPAIGNS_HASH}/${encodeURIComponent(id)}`;

export function wireCampaigns() {
  $("campaign-new").addEventListener("click", openForm);
  $("cf-cancel").addEventListener("click", () => { $("campaign-form").hidden = true; });
  $("campaign-form").addEventListener("submit", (e) => { e.preventDefault(); create(); });
}

// The lengths the API takes (GET /v1/rules), on the forms' fields.
export function useCampaignLimits(limits) {
  for (const id of ["cf-title", "ce-title"]) $(id).maxLength = limits.campaign_title_max_chars;
  for (const id of ["cf-synopsis", "ce-synopsis"]) $(id).maxLength = limits.campaign_synopsis_max_chars;
}

// Intended genres: one box per genre the model predicts.
export function genrePicker(box, chosen = []) {
  box.replaceChildren(...state.genres.map((g) =>
    el("label", {}, el("input", { type: "checkbox", value: g.genre, checked: chosen.includes(g.genre) }), g.genre)));
}

export const pickedGenres = (box) => Array.from(box.querySelectorAll("input:checked")).map((i) => i.value);

// The ratings of comparable titles: the catalog's ratings, the studio's own ticked where the campaign keeps the
// default (null); none ticked means every rating, as in the comparable-title filter.
export function ratingsPicker(box, ratings) {
  const filters = state.filters || {};
  const ticked = ratings === null || ratings === undefined ? filters.default_ratings || [] : ratings;
  box.replaceChildren(box.querySelector("legend"), ...(filters.ratings || []).map((r) =>
    el("label", {}, el("input", { type: "checkbox", value: r, checked: ticked.includes(r) }), r)));
  box.hidden = !(filters.ratings || []).length;
}

// What a ratings picker asks of the API: null (the studio's own) while it shows the default, "all" when none is
// ticked, else the ratings ticked.
export function pickedRatings(box) {
  const boxes = Array.from(box.querySelectorAll("input"));
  if (!boxes.length) return null;
  const ticked = boxes.filter((i) => i.checked).map((i) => i.value);
  const defaults = (state.filters && state.filters.default_ratings) || [];
  if (ticked.length === defaults.length && ticked.every((r) => defaults.includes(r))) return null;
  return ticked.length ? ticked : "all";
}

function openForm() {
  genrePicker($("cf-intended"));
  ratingsPicker($("cf-ratings"), null);
  $("campaign-form").hidden = false;
  $("cf-title").focus();
}

async function create() {
  clearError();
  const body = { title: $("cf-title").value.trim(), synopsis: $("cf-synopsis").value.trim() || null,
                 intended: pickedGenres($("cf-intended")), ratings: pickedRatings($("cf-ratings")) };
  if (!body.title) return;
  const button = $("cf-create");
  button.disabled = true;
  let made;
  try {
    made = await api("/v1/campaigns", jsonBody("POST", body));
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
    return;
  } finally {
    button.disabled = false;
  }
  $("campaign-form").reset();
  $("campaign-form").hidden = true;
  location.hash = campaignHash(made.id);  // opens it, and the address is the one to share
}

export async function showCampaignList() {
  state.campaignId = null;
  $("campaign").hidden = true;
  $("campaign-index").hidden = false;
  const signal = begin("campaign");  // a campaign still loading is not wanted any more
  let body;
  try {
    body = await api("/v1/campaigns", { signal });
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
    return;
  }
  $("campaign-empty").hidden = body.campaigns.length > 0;
  $("campaign-list").replaceChildren(...body.campaigns.map((c) => el("li", { dataset: { id: c.id } },
    el("a", { href: campaignHash(c.id), className: "title" }, bdi(c.title)),
    el("span", { className: "meta" }, `${plural(c.variants, "variant")} · last changed by `, bdi(c.updated_by),
       `, ${when(c.updated_at)}`))));
}
