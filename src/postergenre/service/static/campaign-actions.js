// What a team member does to the open campaign besides its variants: edit its title, synopsis, intended genres and
// ratings; download its brief; copy a link to it for a colleague; delete it with its poster files.

import { api, download, jsonBody } from "./api.js";
import { CAMPAIGNS_HASH, campaignHash, genrePicker, pickedGenres, pickedRatings, ratingsPicker } from "./campaigns.js";
import { busyWith, campaignPath, showCampaign } from "./campaign.js";
import { $, bdi, confirmAction, plural, showNotice } from "./dom.js";
import { state } from "./state.js";

let ratingsShown = null;  // what the edit form's ratings asked for when it opened (sent only when changed)

export function wireCampaignActions() {
  $("campaign-edit-open").addEventListener("click", openEdit);
  $("ce-cancel").addEventListener("click", closeEdit);
  $("campaign-edit").addEventListener("submit", (e) => { e.preventDefault(); save(); });
  $("campaign-delete").addEventListener("click", deleteCampaign);
  $("campaign-brief").addEventListener("click", downloadBrief);
  $("campaign-copy-link").addEventListener("click", copyLink);
}

function openEdit() {
  const c = state.campaign;
  if (!c) return;
  $("ce-title").value = c.title;
  $("ce-synopsis").value = c.synopsis || "";
  genrePicker($("ce-intended"), c.intended);
  ratingsPicker($("ce-ratings"), c.ratings);
  ratingsShown = JSON.stringify(pickedRatings($("ce-ratings")));
  $("campaign-facts").hidden = true;
  $("campaign-edit").hidden = false;
  $("ce-title").focus();
}

function closeEdit() {
  $("campaign-edit").hidden = true;
  $("campaign-facts").hidden = false;
}

const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x));

// Only what changed is sent: a new synopsis makes the server read every variant again with it.
function changes(c) {
  const out = {};
  const title = $("ce-title").value.trim();
  const synopsis = $("ce-synopsis").value.trim() || null;
  const intended = pickedGenres($("ce-intended"));
  const ratings = pickedRatings($("ce-ratings"));
  if (title && title !== c.title) out.title = title;
  if (synopsis !== (c.synopsis || null)) out.synopsis = synopsis;
  if (!sameSet(intended, c.intended)) out.intended = intended;
  if (JSON.stringify(ratings) !== ratingsShown) out.ratings = ratings;
  return out;
}

async function save() {
  const c = state.campaign;
  if (!c) return;
  const body = changes(c);
  if (!Object.keys(body).length) return closeEdit();
  const button = $("ce-save");
  button.disabled = true;
  const text = "synopsis" in body && c.variants.length
    ? `Saving, and reading ${plural(c.variants.length, "variant")} again with the new synopsis…` : "Saving…";
  const updated = await busyWith(text, () => api(campaignPath(c.id), jsonBody("PATCH", body)));
  button.disabled = false;
  if (!updated) return;
  closeEdit();
  showCampaign(updated);
}

async function deleteCampaign() {
  const c = state.campaign;
  if (!c) return;
  const files = c.variants.length ? `its ${plural(c.variants.length, "poster file")}` : "its poster files (none yet)";
  const sure = await confirmAction(["Delete the campaign “", bdi(c.title), `”? This removes ${files} from this `,
                                    "server (a poster another campaign also holds stays), with every stored reading ",
                                    "and its history. It cannot be undone."], "Delete campaign");
  if (!sure) return;
  const removal = await busyWith("Deleting the campaign…", () => api(campaignPath(c.id), { method: "DELETE" }));
  if (!removal) return;
  showNotice(removal.text);
  location.hash = CAMPAIGNS_HASH;
}

async function downloadBrief() {
  const c = state.campaign;
  if (!c) return;
  const button = $("campaign-brief");
  button.disabled = true;
  await busyWith("Writing the brief…", () => download(`${campaignPath(c.id)}/brief?format=html`, {},
                                                      "campaign-brief.html"));
  button.disabled = !state.campaign || state.campaign.variants.length === 0;
}

// The page's address for this campaign: a colleague who opens it logs in (where the server asks) and sees it.
async function copyLink() {
  const c = state.campaign;
  if (!c) return;
  const link = `${location.origin}${location.pathname}${campaignHash(c.id)}`;
  const input = $("campaign-link");
  input.value = link;
  $("campaign-link-box").hidden = false;
  input.select();
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(link);
      copied = true;
    }
  } catch (err) { /* not allowed here: the selected text is copied the old way below */ }
  if (!copied) {
    try { copied = document.execCommand("copy"); } catch (err) { copied = false; }
  }
  $("campaign-link-note").textContent = copied ? "Copied: send it to a colleague on the team."
    : "Copy this link and send it to a colleague on the team.";
}
