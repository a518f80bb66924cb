// The model card, in a dialog.

import { api, isAbort } from "./api.js";
import { $, el, showError } from "./dom.js";

// card_html comes from our own server; still, only plain document elements survive (no scripts, styles,
// event handlers or non-http links), copied into fresh nodes.
const CARD_TAGS = new Set(["H1", "H2", "H3", "H4", "H5", "H6", "P", "UL", "OL", "LI", "TABLE", "THEAD", "TBODY", "TR",
  "TH", "TD", "CODE", "PRE", "EM", "STRONG", "B", "I", "A", "BR", "HR", "BLOCKQUOTE", "SPAN", "DIV", "DL", "DT", "DD"]);

function safeCopy(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const children = Array.from(node.childNodes).map(safeCopy).filter(Boolean);
  if (!CARD_TAGS.has(node.tagName)) {
    if (["SCRIPT", "STYLE", "IFRAME", "OBJECT", "TEMPLATE"].includes(node.tagName)) return null;
    const fragment = document.createDocumentFragment();
    fragment.append(...children);
    return fragment;
  }
  const copy = document.createElement(node.tagName.toLowerCase());
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (/^https?:\/\//i.test(href)) { copy.href = href; copy.target = "_blank"; copy.rel = "noopener noreferrer"; }
  }
  const align = node.getAttribute("align") || "";
  if ((node.tagName === "TH" || node.tagName === "TD") && /^(left|right|center)$/.test(align)) {
    copy.className = `align-${align}`;
  }
  copy.append(...children);
  return copy;
}

export async function showCard() {
  let model;
  try {
    model = await api("/v1/model");
  } catch (err) {
    if (!isAbort(err)) showError(err.message);
    return;
  }
  const body = $("card-body");
  if (model.card_html) {
    const parsed = new DOMParser().parseFromString(model.card_html, "text/html");
    body.replaceChildren(...Array.from(parsed.body.childNodes).map(safeCopy).filter(Boolean));
  } else {
    body.replaceChildren(el("pre", {}, model.card_markdown || "(this model has no card)"));
  }
  $("card-dialog").showModal();
}
