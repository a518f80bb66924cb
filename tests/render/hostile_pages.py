"""Every page, built from real data objects with a hostile string in each field a user or a catalog controls.
The builders are plain functions (the fixtures in conftest.py call them; a test may call one again).

The readings are hand-built (known strengths, like tests/predict/test_brief.py's) so no test depends on what the
bundled model says about a poster; the brief still comes from the real `build_brief` over the bundled model's core,
the evaluation report from real `evaluate_predictions` and `best_and_worst`, the card from the bundled model.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HOSTILE = "<img src=x onerror=\"alert('x')\"> & 'q' <script>"
"""Markup, both quotes and an ampersand, without a slash (it also names files)."""


@dataclass(frozen=True)
class Page:
    name: str
    html: str
    user_values: list[str]  # user-controlled values the page shows as they are (each should be isolatable)


def drawn_poster(seed: int) -> Image.Image:
    """A poster-like picture drawn here (never a third-party poster)."""
    im = Image.new("RGB", (300, 450), (40 + 50 * seed % 200, 90, 160))
    d = ImageDraw.Draw(im)
    d.rectangle((20, 300, 280, 420), fill=(240, 220, 40))
    d.ellipse((60 + seed, 60, 240, 240), fill=(200, 40, 60))
    return im


def reading(source: str, strength: dict[str, float], *, poster: bool = True):
    """A poster-only prediction with these strengths (probability ÷ threshold, every threshold 0.2)."""
    from postergenre.predict.core import summarize
    from postergenre.predict.results import GenreReading, PosterPrediction

    probabilities = dict(sorted(((g, 0.2 * s) for g, s in strength.items()), key=lambda x: -x[1]))
    decided = [g for g in probabilities if strength[g] >= 1.0]
    r = GenreReading(
        probabilities=probabilities,
        thresholds=dict.fromkeys(strength, 0.2),
        strength=dict(strength),
        decided=decided,
        summary=summarize(decided, strength, poster),
        poster_check={"score": 0.9 if poster else 0.1, "is_poster": poster},
    )
    return PosterPrediction(source=source, reading=r)


QUIET = {"Drama": 0.3, "Horror": 0.2, "Music": 0.4}
CLEAN = {**QUIET, "Family": 2.2, "Adventure": 2.0, "Music": 1.2}
LOUD = {**QUIET, "Family": 4.0, "Adventure": 3.5, "Drama": 2.6}


def _with_pictures(variants) -> None:
    """Give each variant a drawn poster and a heatmap per target (what the HTML pages inline)."""
    rng = np.random.default_rng(0)
    for i, v in enumerate(variants):
        v.image = drawn_poster(i)
        v.heatmaps = {g: rng.random((7, 7)) for g in v.target_strength}


def brief_page(core, hostile: str = HOSTILE) -> Page:
    from postergenre.predict.audiences import AudienceGroup
    from postergenre.predict.brief import BriefFilm, build_brief
    from postergenre.predict.results import PosterFailure
    from postergenre.predict.similar import SimilarTitle
    from postergenre.render.brief import render_brief

    names = [f"a {hostile}.jpg", f"b {hostile}.png"]
    uploads = [
        reading(f"/in/{names[0]}", CLEAN),
        reading(f"/in/{names[1]}", LOUD, poster=False),
        PosterFailure(f"/in/{hostile}.gif", f"/in/{hostile}.gif: not an image"),
    ]
    film = BriefFilm("tt0000002", f"Catalogued {hostile}", ("Family", f"Drama {hostile}"), f"A plot {hostile}")
    brief = build_brief(
        core,
        uploads,
        synopsis=f"A cloud who cannot rain {hostile}",
        intended="Family, Adventure",
        title=f"Film {hostile}",
        film=film,
    )
    _with_pictures([v.score for v in brief.variants])
    title = SimilarTitle(
        "tt0000001", f"Title {hostile}", 1999, ["Family"], 0.8, "0" * 64, rating="PG", collections=[f"studio {hostile}"]
    )
    brief = replace(
        brief,
        audiences={"available": True, "basis": "Titles like the closest variant.", "note": ""},
        groups=[AudienceGroup("Family", [title], [f"seed {hostile}"], 1)],
    )
    return Page(
        "brief",
        render_brief(brief),
        [
            f"Film {hostile}",
            *names,
            f"/in/{hostile}.gif: not an image",
            f"Title {hostile} (1999)",
            f"studio {hostile}",
            f"seed {hostile}",
            f"Drama {hostile}",
        ],
    )


def sheet_page(hostile: str = HOSTILE) -> Page:
    from postergenre.predict.compare import rank_variants
    from postergenre.predict.results import PosterFailure
    from postergenre.render.sheet import render_sheet

    sources = [f"/in/a {hostile}.jpg", f"/in/b {hostile}.png"]
    result = rank_variants(
        [
            reading(sources[0], CLEAN),
            reading(sources[1], LOUD, poster=False),
            PosterFailure(f"/in/{hostile}.gif", f"/in/{hostile}.gif: not an image"),
        ],
        ["Family", "Adventure"],
    )
    _with_pictures(result.variants)
    return Page(
        "sheet",
        render_sheet(result, title=f"Variants {hostile}"),
        [f"Variants {hostile}", *sources, f"/in/{hostile}.gif: not an image"],
    )


def dataset_page(hostile: str = HOSTILE) -> Page:
    from postergenre.catalog.records import Movie
    from postergenre.catalog.stats import stats_of
    from postergenre.render.dataset_report import render_dataset_report

    movies = [
        Movie(
            imdb_id=f"tt{i:07d}",
            title=f"Title {hostile}",
            year=1990 + i,
            genres=(f"Drama {hostile}",) + (("Family",) if i % 2 else ()),
            content_rating=f"PG {hostile}",
            plot=f"A plot {hostile}",
            collections=(f"studio {hostile}",),
            poster_status="ok",
            poster_width=300,
            poster_height=450,
        )
        for i in range(12)
    ]
    return Page(
        "dataset",
        render_dataset_report(movies, stats_of(movies), f"Report {hostile}"),
        [f"Drama {hostile}", f"PG {hostile}"],
    )


def evaluation_page(folder: Path, hostile: str = HOSTILE) -> Page:
    from postergenre.evaluation.gallery import best_and_worst
    from postergenre.labelled.metrics import evaluate_predictions
    from postergenre.model.thresholds import choose_thresholds
    from postergenre.render.evaluation_report import write_evaluation_report

    posters = []
    for i in range(40):
        posters.append(folder / f"p{i}.jpg")
        drawn_poster(i).save(posters[-1], quality=85)
    rng = np.random.default_rng(1)
    genres = ["Family", f"Drama {hostile}"]
    y = (rng.random((40, 2)) < 0.4).astype(int)
    p = np.clip(0.3 + 0.4 * (y - 0.5) + rng.normal(0, 0.2, y.shape), 0.01, 0.99)
    result = evaluate_predictions(y, p, choose_thresholds(y, p), genres, bootstrap=20)
    quality = {
        "n_movies": 40,
        "bootstrap_resamples": 20,
        "family_auc": 0.7,
        "micro_f1": {"value": 0.5},
        "macro_auc": {"value": 0.71, "ci_low": 0.6, "ci_high": 0.8},
    }
    result["segments"] = [
        {
            "segment": f"collection studio {hostile}",
            "measures": "memory",
            "signals": {"poster": quality, "poster + synopsis": {"n_movies": 0, "note": "no synopsis"}},
        }
    ]
    result["confusion"] = {
        "genres": genres,
        "signals": {"poster": {"n_movies": 40, "true_counts": [10, 12], "decided": [[8, 3], [2, 9]]}},
    }
    titles = [f"Movie {i} {hostile}" for i in range(40)]
    gallery = best_and_worst(
        y, p, genres, [f"tt{i:07d}" for i in range(40)], titles, lambda i: posters[i] if i else None, n=2
    )
    out = write_evaluation_report(
        result,
        y,
        p,
        genres,
        folder / "report.html",
        title=f"Evaluation {hostile}",
        notes=[f"Model: /models/{hostile}"],
        relation=f"overlap {hostile}",
        gallery=gallery,
    )
    shown = {e.title for g in gallery for e in g.best + g.worst}
    return Page(
        "evaluation",
        out.read_text(encoding="utf-8"),
        [f"Evaluation {hostile}", f"Model: /models/{hostile}", f"collection studio {hostile}", *sorted(shown)],
    )


def card_page(hostile: str = HOSTILE) -> Page:
    """The bundled model's card with a hostile note, command and collection name, as the service's HTML view."""
    from postergenre.model.artifact import DEFAULT_MODEL_DIR
    from postergenre.render.model_card import card_html, model_card

    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    meta["training_options"] |= {"note": f"Note {hostile}", "command": f"postergenre train --note '{hostile}'"}
    meta["data_fingerprint"].setdefault("profile", {})["collections"] = {f"studio {hostile}": 3}
    return Page("card", card_html(model_card(meta)), [])


def write_pages(pages: list[Page], folder: Path) -> list[Path]:
    paths = []
    for page in pages:
        paths.append(folder / f"{page.name}.html")
        paths[-1].write_text(page.html, encoding="utf-8")
    return paths
