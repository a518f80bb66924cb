// The page's one source of state, and the requests in flight that a newer action replaces.
//
// Everything the page knows lives in `state`; the DOM is drawn from it. Each kind of question (the reading of the
// poster shown, its comparable titles, a heatmap, a comparison) has one request in flight at most: `begin(kind)`
// cancels the older one (AbortController) and hands out the signal for the new one, so a slow answer to a question
// nobody is asking any more never lands on the page.

export const state = {
  rules: null,       // the strength scale, its levels and the limits, as the API serves them (GET /v1/rules)
  genres: [],        // [{genre, threshold}] the model predicts
  variants: [],      // the posters loaded, in upload order
  current: null,     // the variant shown
  nextId: 0,
  heatGenre: null,   // the heatmap shown on the current poster (null: none)
  lastCompare: null, // {files, targets} of the comparison shown, for the sheet
  session: null,     // who the page acts as (GET /v1/session: member, access, required); null: not logged in
  filters: null,     // the catalog's filter choices (GET /v1/filters): the ratings a campaign's audiences watch
  campaignId: null,  // the campaign open in the campaigns view (null: the list)
  campaign: null,    // that campaign as the API last answered it
};

const inFlight = new Map();

// A new request of this kind: the previous one (if any) is cancelled.
export function begin(kind) {
  cancel(kind);
  const controller = new AbortController();
  inFlight.set(kind, controller);
  return controller.signal;
}

export function cancel(kind) {
  const controller = inFlight.get(kind);
  if (controller) controller.abort();
  inFlight.delete(kind);
}
