"""The model card: what a person needs to judge a model before trusting it, from the model's metadata (template
`model_card.md`), and its HTML view.

Every statement about the data is computed from what the model was trained on (the artifact's data fingerprint and
its `profile`: genre counts, content ratings, release years, collections), so the card stays true for anyone who
retrains on their own catalog. A fact the metadata does not record is left out rather than guessed. The card is
written beside the model by whoever saves it (`ModelArtifact.save(directory, card=model_card(meta))`).
"""

from __future__ import annotations

from typing import Any

from ..catalog.genres import FAMILY_RATINGS
from ..model.poster_check import REENCODE_MARGIN, flag_above
from ..safe_text import without_bidi_controls
from .environment import render

HEADLINE_NAMES = {
    "macro_auc": "macro ROC AUC",
    "micro_auc": "micro ROC AUC",
    "micro_f1": "micro F1",
    "macro_f1": "macro F1",
    "samples_f1": "samples F1",
    "hit_at_1": "hit@1",
    "hit_at_3": "hit@3",
}
KEY_GENRES = ("Family", "Adventure", "Comedy", "Animation")
"""The studio's own genres, shown per signal."""
_KEY_SIGNALS = (
    ("poster", "studio_poster"),
    ("synopsis alone", "studio_synopsis"),
    ("synopsis, films with a poster", "studio_synopsis_poster_films"),
    ("poster + synopsis", "studio_fused"),
)


def genre_shares(fp: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(genre, movies, share of movies) for the kept genres, most common first."""
    n = fp.get("movies") or 0
    counts = fp.get("genre_counts", {})
    return sorted(((g, int(c), c / n if n else 0.0) for g, c in counts.items()), key=lambda t: (-t[1], t[0]))


def _key_genres(studio: dict[str, Any]) -> dict[str, Any] | None:
    """ROC AUC of each signal for the studio's key genres (same out-of-fold predictions as the studio table)."""
    per = {name: {p["genre"]: p for p in (studio.get(key) or {}).get("per_genre", [])} for name, key in _KEY_SIGNALS}
    genres = [g for g in KEY_GENRES if any(g in per[name] for name, _ in _KEY_SIGNALS)]
    if not genres:
        return None
    return {
        "signals": [name for name, _ in _KEY_SIGNALS],
        "rows": [(g, [per[name].get(g, {}).get("roc_auc") for name, _ in _KEY_SIGNALS]) for g in genres],
    }


def _studio_weight(choice: dict[str, Any]) -> dict[str, Any] | None:
    """The studio weight training chose, the weights it tried, the general posters' loss limit, and whether the
    chosen weight's recorded cost exceeded that limit (then none kept it and the least costly was taken)."""
    if not choice:
        return None
    chosen = choice.get("chosen_studio_weight")
    candidates = choice.get("candidates", [])
    limit = float(choice.get("max_general_loss", 0.0))
    cost = next((c.get("general_change") for c in candidates if c.get("studio_weight") == chosen), None)
    return {
        "chosen": chosen,
        "limit": limit,
        "over_limit": cost is not None and cost < -limit,
        "tried": [c.get("studio_weight") for c in candidates if c.get("studio_weight") is not None],
    }


def _calibration(calibration: dict[str, Any]) -> dict[str, Any] | None:
    """Reliability table (predicted vs observed frequency per probability bin, None where a signal has no pairs in
    the bin) and the ECE of each signal."""
    signals = [s for s in ("poster", "synopsis", "fused") if calibration.get(s)]
    if not signals:
        return None
    bins = sorted({tuple(b["bin"]) for s in signals for b in calibration[s]["bins"]})
    by_bin = {s: {tuple(b["bin"]): b for b in calibration[s]["bins"]} for s in signals}
    return {
        "signals": signals,
        "eces": [(s, calibration[s]["ece"]) for s in signals],
        "rows": [(lo, hi, [by_bin[s].get((lo, hi)) for s in signals]) for lo, hi in bins],
    }


def _studio(meta: dict[str, Any], studio: dict[str, Any] | None) -> dict[str, Any]:
    if not studio:
        return {}
    config = meta["head_config"].get("studio")
    return {
        "key_genres": _key_genres(studio),
        "weight": _studio_weight(studio.get("domain_choice") or {}),
        "calibration": _calibration(studio.get("calibration") or {}),
        "synopsis_params": (((config or {}).get("synopsis") or {}).get("params") or {}),
    }


def model_card(meta: dict[str, Any]) -> str:
    """The card of a model from its metadata (`ModelArtifact.metadata()`, what model.json holds), as Markdown."""
    fp, m, opts = meta["data_fingerprint"], meta["metrics"], meta["training_options"]
    cv = m.get("cv", {})
    studio = m.get("studio")
    prof = fp.get("profile") or {}
    pc = meta["head_config"].get("poster_check", {})
    filters = [
        f"{flag} {opts[key]}"
        for key, flag in (("rating", "--rating"), ("year_min", "--year-min"), ("year_max", "--year-max"))
        if opts.get(key) is not None
    ]
    return render(
        "model_card.md",
        meta=meta,
        fp=fp,
        m=m,
        opts=opts,
        cv=cv,
        studio=studio,
        prof=prof,
        thresholds={g: float(t) for g, t in zip(meta["genres"], meta["thresholds"], strict=True)},
        settings=", ".join(f"{k}={v}" for k, v in meta["head_config"].get("settings", {}).items()) or "defaults",
        searched=len(m.get("search_table", [])) > 1,
        shares=genre_shares(fp),
        filters=filters,
        family_rated=sum(c for r, c in prof.get("ratings", {}).items() if r in FAMILY_RATINGS),
        per_genre_rows={r["genre"]: r for r in cv.get("per_genre", [])},
        headline_names=HEADLINE_NAMES,
        flag_above=flag_above(pc) if "threshold" in pc else None,
        reencode_margin=REENCODE_MARGIN,
        **_studio(meta, studio),
    )


def card_html(markdown: str) -> str:
    """Model-card Markdown → HTML (raw HTML in the source is escaped, not passed through). Markdown has no `<bdi>`,
    so bidirectional controls (in a training note, a collection name) are stripped: none can reverse the page."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(without_bidi_controls(markdown))
