// Small DOM and wording helpers shared by the page's modules: no state, no rules.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// Text that came from outside (a file name, a URL, a catalog title, a message naming them) in an element of its
// own: <bdi> takes its direction from its content and isolates it, so bidirectional controls in it (U+202A-U+202E,
// U+2066-U+2069) cannot reverse the sentence or the layout around it.
export function bdi(text) {
  return el("bdi", {}, text === null || text === undefined ? "" : String(text));
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export const pctExact = (p) => `${(p * 100).toFixed(1)}%`;

export function synopsisText() {
  return $("synopsis-box").hidden ? "" : $("synopsis").value.trim();
}

export function showError(message) {
  $("error-text").replaceChildren(bdi(message));  // server words may name an uploaded file
  $("error").hidden = false;
}

export function clearError() {
  $("error").hidden = true;
}

export function setBusy(text) {
  $("busy").hidden = !text;
  if (text) $("busy-text").textContent = text;
}

// A plain-words note that something was done (what a deletion removed, ...): the server's sentence, isolated.
export function showNotice(message) {
  $("notice-text").replaceChildren(bdi(message));
  $("notice").hidden = false;
}

export function clearNotice() {
  $("notice").hidden = true;
}

// When something happened, in the reader's own calendar and clock (the API gives UTC ISO times).
export function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso)
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// Ask before something that cannot be undone: `parts` say what (text and <bdi> nodes), `action` names the button.
// Resolves true when the person confirmed.
export function confirmAction(parts, action) {
  const dialog = $("confirm-dialog");
  $("confirm-text").replaceChildren(...parts);
  $("confirm-yes").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}
