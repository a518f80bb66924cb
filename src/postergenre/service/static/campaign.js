// One campaign, open: its facts, its variants ranked as the API ranked them from their stored readings (rank, the
// one to run, verdicts, strength on the one scale), stale readings flagged with a "re-read", and adding (drop or
// choose files) and removing variants. Editing, deleting, the brief and the link are campaign-actions.js.

import { api, isAbort } from "./api.js";
import {
  $, bdi, clearError, confirmAction, el, plural, showError, showNotice, when,
} from "./dom.js";
import { isFlagged, strengthRow } from "./reading.js";
import { formatStrength } from "./scale.js";
import { begin, cancel, state } from "./state.js";
import { screenFiles } from "./variants.js";

export const campaignPath = (id) => `/v1/campaigns/${encodeURIComponent(id)}`;

let working = 0;  // requests about the open campaign still running (the busy line shows while any is)

// Run `task` with a busy line saying what happens; errors are shown as the server words them.
export async function busyWith(text, task) {
  clearError();
  working += 1;
  $("campaign-busy").hidden = false;
  $("campaign-busy-text").textContent = text;
  try {
    return await task();
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
    return null;
  } finally {
    working -= 1;
    $("campaign-busy").hidden = working === 0;
  }
}

export function wireCampaign() {
  const drop = $("campaign-drop");
  $("campaign-file-input").addEventListener("change", (e) => { addVariants(e.target.files); e.target.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addVariants(e.dataTransfer.files);
  });
  $("campaign-reread").addEventListener("click", reread);
}

export async function openCampaign(id) {
  if (state.campaignId !== id) forgetCampaign();  // never show one campaign under another's address
  state.campaignId = id;
  $("campaign-index").hidden = true;
  $("campaign").hidden = false;
  const signal = begin("campaign");
  const body = await busyWith("Opening the campaign…", () => api(campaignPath(id), { signal }));
  if (body) showCampaign(body);
}

// Nothing of a campaign stays on the page (another campaign opens, the login shows).
export function forgetCampaign() {
  cancel("campaign");
  state.campaign = null;
  state.campaignId = null;
  $("campaign").hidden = true;
  for (const id of ["campaign-title", "campaign-meta", "campaign-intended", "campaign-ratings", "campaign-synopsis",
                    "campaign-variants", "campaign-changes", "campaign-problems", "campaign-headline"]) {
    $(id).replaceChildren();
  }
  for (const id of ["campaign-ranking", "campaign-stale", "campaign-link-box", "campaign-edit", "campaign-problems",
                    "campaign-no-variants"]) {
    $(id).hidden = true;
  }
  $("campaign-link").value = "";
}

// Draw the campaign as the API answered it, unless another one was opened meanwhile.
export function showCampaign(c) {
  if (c.id !== state.campaignId) return;
  state.campaign = c;
  $("campaign-title").replaceChildren(bdi(c.title));
  $("campaign-meta").replaceChildren("Started by ", bdi(c.created_by), `, ${when(c.created_at)} · last changed by `,
                                     bdi(c.updated_by), `, ${when(c.updated_at)}`);
  renderFacts(c);
  renderStale(c);
  renderRanking(c);
  $("campaign-variants").replaceChildren(...inRankOrder(c.variants).map((v) => variantCard(c, v)));
  $("campaign-no-variants").hidden = c.variants.length > 0;
  $("campaign-brief").disabled = c.variants.length === 0;
  $("campaign-changes").replaceChildren(...c.changes.map((x) =>
    el("li", {}, `${when(x.at)}: `, bdi(x.member), " ", bdi(x.action))));
  const { upload_max_text: upTo, brief_max_variants: max } = state.rules.limits;  // the cap in the API's words
  $("campaign-limit").textContent = `JPEG, PNG, WebP, GIF, BMP or TIFF, up to ${upTo} each; ` +
    `a campaign holds up to ${plural(max, "variant")} (${c.variants.length} now)`;
  document.body.dataset.campaign = c.id;  // for scripts and tests: this campaign is drawn
}

// The variants where the API ranked them (each at its rank), then any without a stored reading (no rank).
function inRankOrder(variants) {
  const ranked = [];
  for (const v of variants) if (v.rank) ranked[v.rank - 1] = v;
  return [...ranked.filter(Boolean), ...variants.filter((v) => !v.rank)];
}

function renderFacts(c) {
  $("campaign-facts").hidden = false;
  $("campaign-intended").textContent = c.intended.length ? c.intended.join(", ")
    : "none given (the synopsis's genres are the targets)";
  const defaults = (state.filters && state.filters.default_ratings) || [];
  $("campaign-ratings").textContent = c.ratings === null
    ? `the studio's own${defaults.length ? ` (${defaults.join(", ")})` : ""}`
    : c.ratings.length ? c.ratings.join(", ") : "all";
  $("campaign-synopsis").textContent = c.synopsis || "none";
}

function renderStale(c) {
  const reasons = new Set(c.variants.flatMap((v) => (v.reading ? v.reading.stale_because : ["it has no reading"])));
  $("campaign-stale").hidden = c.stale_readings === 0;
  $("campaign-stale-text").textContent = `${plural(c.stale_readings, "stored reading")} to read again: ` +
    `${[...reasons].join("; ")}.`;
}

function renderRanking(c) {
  const ranking = c.ranking;
  $("campaign-ranking").hidden = !ranking;
  if (!ranking) return;
  $("campaign-headline").textContent = ranking.recommendation.text;
  $("campaign-targets").textContent = ranking.targets.length
    ? `Targets: ${ranking.targets.join(", ")} (${ranking.target_words}).` : "";
  $("campaign-why").replaceChildren(...ranking.recommendation.why.map((line) => el("li", {}, bdi(line))));
  const story = ranking.story;
  $("campaign-story-box").hidden = !story;
  $("campaign-story").textContent = story ? story.text : "";
  $("campaign-story-lines").replaceChildren(...(story ? story.lines : []).map((line) => el("li", {}, bdi(line))));
}

// One variant: its place in the ranking, its poster, the verdict per target and the strength bars of the targets,
// from its stored poster reading (what the ranking reads; `levels` are the API's).
function variantCard(c, v) {
  const reading = v.reading ? { ...v.reading.poster, levels: v.levels } : null;
  const flagged = Boolean(reading) && isFlagged(reading);
  const stale = !v.reading || v.reading.stale;
  const card = el("article", { className: "variant-card" + (v.best ? " best" : "") + (flagged ? " flagged" : "") +
                                          (stale ? " stale" : ""),
                               dataset: { id: String(v.id), label: v.label || "" } });
  card.append(el("header", {}, el("span", { className: "rank" }, v.rank ? `#${v.rank}` : "–"),
                 v.label ? el("span", { className: "label" }, `Variant ${v.label}`) : null,
                 v.best ? el("span", { className: "run" }, "the one to run") : null));
  if (stale) card.append(staleFlag(v));
  if (flagged) card.append(el("div", { className: "warning" }, reading.poster_check.message));
  card.append(el("div", { className: "frame" },
                 el("img", { className: "poster", src: v.poster_url, alt: `Poster of variant ${v.label || v.id}` })),
              el("div", { className: "source" }, bdi(v.name)),
              el("div", { className: "added note" }, "added by ", bdi(v.added_by), `, ${when(v.added_at)}`));
  if (reading) card.append(...readingParts(c, v, reading, flagged));
  const remove = el("button", { type: "button", className: "small remove-variant" }, "Remove");
  remove.addEventListener("click", () => removeVariant(c, v));
  card.append(el("div", { className: "card-actions" }, remove));
  return card;
}

function staleFlag(v) {
  const again = el("button", { type: "button", className: "small reread" }, "Re-read");
  again.addEventListener("click", reread);
  const why = v.reading ? v.reading.stale_because.join("; ") : "it has no stored reading";
  return el("div", { className: "stale-flag" }, `Stale: ${why}. `, again);
}

function readingParts(c, v, reading, flagged) {
  const targets = c.ranking ? c.ranking.targets : [];
  const parts = [el("p", { className: "card-summary" }, flagged ? `(${reading.summary.text})` : reading.summary.text)];
  if (v.verdict) parts.push(el("p", { className: "verdict" + (v.fits_all_targets ? "" : " miss") }, v.verdict));
  if (targets.length) parts.push(el("ol", { className: "bars" }, ...targets.map((g) => strengthRow(reading, g))));
  const unintended = Object.keys(v.levels || {}).filter((g) => g in (v.unintended || {}));  // reading order
  if (targets.length) {
    parts.push(el("div", { className: "unintended" }, ...(unintended.length
      ? ["Also signals: ", ...unintended.map((g) => el("span", { className: "chip", dataset: { genre: g } },
                                                      `${g} ${formatStrength(reading.strength[g])}`))]
      : ["No unintended genres."])));
  }
  return parts;
}

async function addVariants(fileList) {
  const c = state.campaign;
  if (!c || !fileList.length) return;
  const { accepted, problems } = screenFiles(fileList);
  if (!accepted.length) return showError(problems);
  const form = new FormData();
  for (const file of accepted) form.append("posters", file, file.name);
  const added = await busyWith(`Reading ${plural(accepted.length, "poster")}…`,
                               () => api(`${campaignPath(c.id)}/variants`, { method: "POST", body: form }));
  if (problems) showError(problems);  // busyWith cleared the banner
  if (!added) return;
  showCampaign(added.campaign);
  const lines = [...added.duplicates, ...added.failures].map((x) => el("li", {}, bdi(x.error)));
  $("campaign-problems").replaceChildren(...lines);
  $("campaign-problems").hidden = lines.length === 0;
}

async function removeVariant(c, v) {
  const sure = await confirmAction(["Remove variant “", bdi(v.name), "” from “", bdi(c.title), "”? Its poster file ",
                                    "and its stored reading are deleted from this server."], "Remove variant");
  if (!sure) return;
  const removal = await busyWith("Removing the variant…", () =>
    api(`${campaignPath(c.id)}/variants/${v.id}`, { method: "DELETE" }));
  if (!removal) return;
  showNotice(removal.text);
  const body = await busyWith("Ranking again…", () => api(campaignPath(c.id)));
  if (body) showCampaign(body);
}

async function reread() {
  const c = state.campaign;
  if (!c) return;
  const done = await busyWith(`Reading ${plural(c.stale_readings, "variant")} again…`, () =>
    api(`${campaignPath(c.id)}/reread`, { method: "POST" }));
  if (!done) return;
  showNotice(`Read ${plural(done.reread, "variant")} again with the model that answers now.`);
  showCampaign(done.campaign);
}
