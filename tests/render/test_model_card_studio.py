"""The model card's section on the studio's own films: every number comes from artifact.metrics["studio"]."""

from __future__ import annotations

import numpy as np

from postergenre.model.artifact import ModelArtifact
from postergenre.render.model_card import model_card

GENRES = ["Adventure", "Animation", "Comedy", "Family"]


def _segment(n: int, auc: float, lo: float, hi: float, family: float, f1: float, **extra) -> dict:
    """One segment of metrics as `training.studio.fit_studio_extensions` writes it (headline entries, family_auc)."""
    return {
        "n_movies": n,
        "family_auc": family,
        "per_genre": [],
        "headline": {
            "macro_auc": {"value": auc, "ci_low": lo, "ci_high": hi, "prior": 0.5},
            "micro_f1": {"value": f1, "ci_low": f1 - 0.02, "ci_high": f1 + 0.02, "prior": 0.2},
        },
        **extra,
    }


def _studio_metrics(chosen: float, changes: dict[float, float]) -> dict:
    return {
        "folds": 4,
        "seed": 0,
        "scope": "k-fold CV on studio films only, grouped by poster sha256",
        "studio_poster_general": _segment(871, 0.7612, 0.7411, 0.7813, 0.6021, 0.4111),
        "studio_poster": _segment(871, 0.7934, 0.7723, 0.8124, 0.6817, 0.4422),
        "studio_synopsis": _segment(3012, 0.8233, 0.8131, 0.8346, 0.7229, 0.5133),
        "studio_synopsis_poster_films": _segment(866, 0.8011, 0.7811, 0.8212, 0.7415, 0.4917),
        "studio_fused": _segment(866, 0.8645, 0.8467, 0.8798, 0.7837, 0.6054, micro_f1_cross_fitted=0.5966),
        "domain_gain": {"macro_gain": 0.0322, "ci_low": 0.0211, "ci_high": 0.0433, "per_genre": []},
        "fusion_gain_over_poster": {"macro_gain": 0.0711, "ci_low": 0.0588, "ci_high": 0.0822, "per_genre": []},
        "general": {
            "macro_auc_general_head": 0.7791,
            "macro_auc_with_domain_correction": 0.7752,
            "change": -0.0039,
            "n_movies": 17_950,
            "scope": "4-fold CV over general films of the correction",
        },
        "domain_choice": {
            "chosen_studio_weight": chosen,
            "max_general_loss": 0.005,
            "candidates": [{"studio_weight": w, "general_change": c} for w, c in changes.items()],
        },
    }


def _metadata(metrics: dict) -> dict:
    return ModelArtifact(
        genres=GENRES,
        thresholds=np.full(len(GENRES), 0.3),
        backbone="efficientnet-lite0",
        preprocess_version="v",
        feature_set="pooled",
        head_type="logreg",
        head_config={},
        tensors={},
        metrics=metrics,
        versions={},
    ).metadata()


def test_card_states_studio_quality_from_the_metrics() -> None:
    studio = _studio_metrics(3.0, {3.0: -0.0039, 10.0: -0.0121})
    card = model_card(_metadata({"studio": studio}))
    lines = card.splitlines()
    assert "## The studio's own films (G/PG)" in lines
    assert "Scope: 4-fold cross-validation on the studio's films only" in card

    def row(name: str) -> str:
        return next(line for line in lines if line.startswith(f"| {name}"))

    assert row("poster, general head alone") == (
        "| poster, general head alone | 871 | 0.761 | 0.741 – 0.781 | 0.602 | 0.411 |"
    )
    assert row("poster, domain-aware") == (
        "| poster, domain-aware (what a poster gets) | 871 | 0.793 | 0.772 – 0.812 | 0.682 | 0.442 |"
    )
    assert row("synopsis alone") == "| synopsis alone | 3,012 | 0.823 | 0.813 – 0.835 | 0.723 | 0.513 |"
    assert row("synopsis alone, the films") == (
        "| synopsis alone, the films with a poster | 866 | 0.801 | 0.781 – 0.821 | 0.742 | 0.492 |"
    )
    assert row("poster + synopsis") == (
        "| poster + synopsis (what a poster with a synopsis gets) | 866 | 0.865 | 0.847 – 0.880 | 0.784 | 0.605 |"
    )
    family = next(line for line in lines if line.startswith("- **Family**"))
    for number in ("0.602", "0.682", "0.723", "0.742", "0.784"):  # general head, domain-aware, synopsis (all films,
        # the poster films), poster + synopsis
        assert number in family
    assert "+0.032 (95% interval +0.021 – +0.043)" in card  # domain-aware over the general head
    assert "+0.071 (95% interval +0.059 – +0.082)" in card  # poster + synopsis over the poster
    assert "0.597" in card  # cross-fitted micro-F1 of the fused estimate
    general = next(line for line in lines if line.startswith("- General posters"))
    assert "0.779" in general and "0.775" in general and "-0.0039" in general and "17,950" in general
    weight = next(line for line in lines if line.startswith("- Studio weight"))
    assert "x3" in weight and "among x3, x10" in weight and "0.005" in weight
    # The limitation on G/PG films points to the measured section.
    assert 'see "The studio\'s own films (G/PG)" above' in card


def test_card_says_when_no_weight_kept_general_posters_within_the_limit() -> None:
    card = model_card(_metadata({"studio": _studio_metrics(10.0, {3.0: -0.09, 10.0: -0.02})}))
    weight = next(line for line in card.splitlines() if line.startswith("- Studio weight"))
    assert "x10" in weight and "costing them least" in weight


def test_poster_only_card_has_no_studio_section() -> None:
    card = model_card(_metadata({}))
    assert "studio's own films" not in card and "synopsis" not in card


def test_card_shows_each_signals_calibration_and_the_key_genres() -> None:
    from postergenre.labelled.calibration import reliability

    rng = np.random.default_rng(0)
    Y = (rng.random((400, 4)) < 0.3).astype(int)
    studio = _studio_metrics(3.0, {3.0: -0.0039})
    studio["studio_poster"]["per_genre"] = [
        {"genre": "Family", "roc_auc": 0.6811},
        {"genre": "Comedy", "roc_auc": 0.7744},
    ]
    studio["studio_fused"]["per_genre"] = [{"genre": "Family", "roc_auc": 0.7522}]
    # over-confident: ECE ~ 0.6
    studio["calibration"] = {
        "poster": reliability(Y, np.full(Y.shape, 0.3)),  # calibrated: ECE ~ 0
        "fused": reliability(Y, np.full(Y.shape, 0.9)),
    }
    card = model_card(_metadata({"studio": studio}))
    lines = card.splitlines()
    assert "### Calibration of each signal" in lines
    ece = next(line for line in lines if "ECE poster" in line)
    assert f"ECE poster {studio['calibration']['poster']['ece']:.4f}" in ece and "ECE fused 0.6" in ece
    assert next(line for line in lines if line.startswith("| 0.9–1.0 |")).startswith("| 0.9–1.0 | – | 0.900 / 0.")
    family = next(line for line in lines if line.startswith("| Family |"))
    assert family == "| Family | 0.681 | n/a | n/a | 0.752 |"
    assert next(line for line in lines if line.startswith("| Comedy |")) == "| Comedy | 0.774 | n/a | n/a | n/a |"
