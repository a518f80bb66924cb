// The one strength scale, drawn as the API serves it (GET /v1/rules): where a bar ends, where the decision line
// sits, how a strength is written, and the level words. The page decides none of it.

import { $, el } from "./dom.js";
import { state } from "./state.js";

export function useRules(rules) {
  state.rules = rules;
  document.documentElement.style.setProperty("--decision-line", `${rules.scale.line_fraction * 100}%`);
  $("levels-legend").replaceChildren(...rules.scale.levels.map((level) =>
    el("li", { dataset: { level: level.code } }, el("span", { className: "swatch" }), level.legend)));
}

// "2.0×", rounded as the scale says (down: a hint at 1.47 shows 1.4×, never the reads-as 1.5×); the exact numbers
// show one more decimal, rounded the same way, so they never contradict the bars.
export function formatStrength(value, { exact = false } = {}) {
  const { unit, rounding } = state.rules.scale;
  const decimals = state.rules.scale.decimals + (exact ? 1 : 0);
  const factor = 10 ** decimals;
  const shown = rounding === "down" ? Math.floor(value * factor + 1e-9) / factor : value;
  return `${shown.toFixed(decimals)}${unit}`;
}

// How much of a bar a strength fills (0..1), and whether it runs past the bar's end.
export function barFraction(value) {
  return Math.min(Math.max(value, 0), state.rules.scale.max) / state.rules.scale.max;
}

export const beyondBar = (value) => value > state.rules.scale.max;

export function level(code) {
  return state.rules.scale.levels.find((l) => l.code === code);
}
