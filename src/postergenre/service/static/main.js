// The page: plain JavaScript modules over the JSON API (/v1/...). No build step, no external resources, no inline
// scripts or styles (the page is served with script-src 'self'; style-src 'self').
//
// Modules: state (the one source of state, requests in flight), api, dom, scale (the strength scale the API
// serves), session (the login where the server asks for a token), views (which view the address names), and per
// view: reading, heatmaps, similar, variants (tray and the poster shown), compare (compare, sheet, brief), card;
// campaigns (the list, a new one), campaign (one, its variants ranked), campaign-actions (edit, delete, brief, link).
// The page holds no rule or constant of the model: the scale, its levels and the limits come from GET /v1/rules,
// every decision (levels, order, ranking, the variant to run) from the answers.

import { api, isAbort } from "./api.js";
import { wireCampaignActions } from "./campaign-actions.js";
import { forgetCampaign, wireCampaign } from "./campaign.js";
import { useCampaignLimits, wireCampaigns } from "./campaigns.js";
import { showCard } from "./card.js";
import {
  compare, downloadBrief, downloadSheet, renderTargets, updateBriefButton, updateCompareButton,
} from "./compare.js";
import { $, clearError, clearNotice, plural, showError } from "./dom.js";
import { applyOpacity, renderHeatChoices, showDefaultHeatmaps, showHeatmap } from "./heatmaps.js";
import { useRules } from "./scale.js";
import { ensureSession, wireSession } from "./session.js";
import { loadFilters, refreshSimilar } from "./similar.js";
import { state } from "./state.js";
import { addFiles, addUrl, clearAll, previewFailed, synopsisChanged } from "./variants.js";
import { route } from "./views.js";

function wire() {
  const drop = $("drop");
  $("file-input").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("url-input").value.trim();
    if (url) addUrl(url);
  });
  $("error-close").addEventListener("click", clearError);
  $("notice-close").addEventListener("click", clearNotice);
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
  $("poster").addEventListener("error", previewFailed);
  $("show-card").addEventListener("click", showCard);
}

// Rules, genres and limits: what every view draws with.
async function loadModel() {
  try {
    const [rules, genres, health] = await Promise.all([api("/v1/rules"), api("/v1/genres"), api("/healthz")]);
    useRules(rules);
    useCampaignLimits(rules.limits);
    state.genres = genres.genres;
    $("model-badge").textContent = `${plural(health.genres, "genre")} · v${health.version}`;
    $("synopsis-box").hidden = !health.synopsis_available;
    $("upload-limit").hidden = false;
    $("upload-limit").textContent = `JPEG, PNG, WebP, GIF, BMP or TIFF, up to ${rules.limits.upload_max_text} each`;
    renderTargets();
    renderHeatChoices();
    updateCompareButton();
    updateBriefButton();
    document.body.dataset.ready = "true";  // for scripts and tests: rules, genres and limits are in place
  } catch (err) {
    $("model-badge").textContent = "model unavailable";
    if (!isAbort(err)) showError(err.message);
  }
}

// The login showed: nothing confidential stays on the page; after "Log out", not the posters read either.
function hideWork(loggedOut) {
  forgetCampaign();
  if (loggedOut) clearAll();
}

async function loggedInAgain() {
  if (!state.rules) await loadModel();
  route();
}

async function start() {
  wire();
  wireCampaigns();
  wireCampaign();
  wireCampaignActions();
  wireSession({ loggedIn: loggedInAgain, loginShown: hideWork });
  try {
    await ensureSession();  // where the server asks for a token: the login first
  } catch (err) {
    showError(err.message);
    return;
  }
  await loadModel();
  route();
  window.addEventListener("hashchange", route);
  await loadFilters();
  document.body.dataset.filters = "true";
}

start();
