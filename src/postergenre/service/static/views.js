// Which view shows, read from the page's address: "Read a poster" (#/ or none), the campaigns (#/campaigns) or one
// campaign (#/campaigns/<id>). A link to a campaign opens it directly, after the login where the server asks for one.

import { openCampaign } from "./campaign.js";
import { CAMPAIGNS_HASH, showCampaignList } from "./campaigns.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { select } from "./variants.js";

// The campaign id an address names (null: none).
function campaignIn(hash) {
  if (!hash.startsWith(`${CAMPAIGNS_HASH}/`)) return null;
  try {
    return decodeURIComponent(hash.slice(CAMPAIGNS_HASH.length + 1)) || null;
  } catch (err) {
    return null;  // not an address the page made
  }
}

export function route() {
  if (!state.session) return;  // the login shows; the address is drawn once it succeeded
  const id = campaignIn(location.hash);
  const view = id !== null || location.hash === CAMPAIGNS_HASH ? "campaigns" : "read";
  $("views").hidden = false;
  $("view-read").hidden = view !== "read";
  $("view-campaigns").hidden = view !== "campaigns";
  for (const [tab, name] of [["tab-read", "read"], ["tab-campaigns", "campaigns"]]) {
    if (name === view) $(tab).setAttribute("aria-current", "page");
    else $(tab).removeAttribute("aria-current");
  }
  if (view === "read") {
    if (state.current && !state.current.predict) select(state.current);  // its reading was cut off by a login
  } else if (id !== null) {
    openCampaign(id);
  } else {
    showCampaignList();
  }
}
