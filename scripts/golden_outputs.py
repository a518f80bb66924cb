"""Golden outputs of the bundled model on generated images: what `tests/predict/test_golden_outputs.py` pins.

    python scripts/golden_outputs.py            # print how today's outputs compare with the stored ones
    python scripts/golden_outputs.py --write    # (re)write tests/golden/ after a deliberate retrain
    python scripts/golden_outputs.py --write-brief   # rewrite only the brief's words (after a change of wording)

The images are drawn from numpy seeds (gradients, noise, shapes, a palette image): no poster from the data set.
Stored: the bundled model's fingerprint (sha256 of its weights and metadata files), the embeddings the default
runtime computes for each image, one per view the model reads ([images, views, D]: the image as given and its mirror
for a two-view model; tests/golden/bundled_embeddings.safetensors), and the public API's answers
(tests/golden/bundled_outputs.json): probabilities, poster-only and synopsis-only probabilities, decided genres,
the poster check, a compare ranking, Grad-CAM summaries, and the brief's words for the stored embeddings of a made-up
film whose catalogued genres include one its synopsis only hints at (Action) and one it does not read (Drama).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
OUTPUTS = GOLDEN / "bundled_outputs.json"
EMBEDDINGS = GOLDEN / "bundled_embeddings.safetensors"
SIZE = (300, 450)  # width, height: a poster's proportions
SYNOPSES = [
    "A shy girl befriends a young dragon and together they fly across the kingdom to save her village.",
    "A detective hunts a serial killer through the rainy streets of the city while the body count rises.",
]
COMPARE_TARGETS = ["Family", "Comedy"]
GRADCAM_IMAGE = "shapes"
GRADCAM_GENRES = ["Family", "Horror"]
BRIEF_FILM = {"imdb_id": "tt0000000", "title": "Pip and the Dragon",
              "genres": ("Action", "Adventure", "Drama", "Family"), "plot": SYNOPSES[0]}  # made up: no catalog film; the bundled model reads its plot as hinting at Action
BRIEF_INTENDED = {"no_intended": None, "intended": "Family, Drama"}


def synthetic_images() -> dict[str, Image.Image]:
    """Five RGB images from fixed numpy seeds, the same on every machine."""
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    gradient = np.stack([x / w * 255, y / h * 255, (1 - x / w) * 180 + 40], axis=-1)
    noise = np.random.default_rng(1).integers(0, 256, size=(h, w, 3))
    warm = np.random.default_rng(2).normal(0, 30, size=(h, w, 3)) + np.array([200, 120, 40]) * (y / h)[..., None]
    shapes = Image.new("RGB", SIZE, (20, 30, 70))
    draw = ImageDraw.Draw(shapes)
    rng = np.random.default_rng(3)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        box = (x0, y0, x0 + int(rng.integers(30, 160)), y0 + int(rng.integers(30, 160)))
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=color)
    palette = Image.fromarray(np.random.default_rng(4).integers(0, 8, size=(h // 10, w // 10)).astype(np.uint8),
                              mode="P")
    palette.putpalette([int(v) for v in np.random.default_rng(5).integers(0, 256, size=8 * 3)] + [0] * (248 * 3))
    return {
        "gradient": Image.fromarray(gradient.clip(0, 255).astype(np.uint8), mode="RGB"),
        "noise": Image.fromarray(noise.astype(np.uint8), mode="RGB"),
        "warm_noise": Image.fromarray(warm.clip(0, 255).astype(np.uint8), mode="RGB"),
        "shapes": shapes,
        "palette": palette.resize(SIZE, Image.NEAREST).convert("RGB"),
    }


def model_fingerprint(model_dir: Path) -> dict[str, str]:
    """sha256 of the model's weights and metadata files (a retrain changes it)."""
    from postergenre.model.artifact import META_FILE, WEIGHTS_FILE

    return {name: hashlib.sha256((Path(model_dir) / name).read_bytes()).hexdigest() for name in (WEIGHTS_FILE, META_FILE)}


def reading_record(reading: Any) -> dict[str, Any]:
    """The numbers a reading answers with (full float precision, not the rounded JSON of the CLI)."""
    return {
        "probabilities": dict(reading.probabilities),
        "thresholds": dict(reading.thresholds),
        "decided": list(reading.decided),
        "summary": reading.summary["text"],
        "poster_check": {"score": reading.poster_check["score"], "is_poster": reading.poster_check["is_poster"]},
        "signal": reading.signal,
        "poster_probabilities": None if reading.poster_probabilities is None else dict(reading.poster_probabilities),
        "synopsis_probabilities": (None if reading.synopsis_probabilities is None
                                   else dict(reading.synopsis_probabilities)),
    }


def readings_from_embeddings(core: Any, embeddings: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """What the core answers for stored embeddings, without and with a synopsis (machine-independent: numpy)."""
    n = len(embeddings)
    plain = core.read_embeddings(embeddings)
    texts = [SYNOPSES[i % len(SYNOPSES)] for i in range(n)]
    with_text = core.read_embeddings(embeddings, texts)
    return {"predict": [reading_record(r) for r in plain], "predict_synopsis": [reading_record(r) for r in with_text]}


def compare_record(result: Any) -> list[dict[str, Any]]:
    return [{"index": v.index, "rank": v.rank, "score": v.score, "target_strength": dict(v.target_strength),
             "unintended": dict(v.unintended)} for v in result.variants]


def brief_record(core: Any, embeddings: np.ndarray, names: list[str]) -> dict[str, Any]:
    """The brief's words for the stored embeddings as poster variants of BRIEF_FILM, without and with intended genres
    (machine-independent: numpy only)."""
    from postergenre.predict.brief import BriefFilm, build_brief
    from postergenre.predict.results import PosterPrediction

    variants = [PosterPrediction(source=f"{name}.png", reading=r)
                for name, r in zip(names, core.read_embeddings(embeddings))]
    out: dict[str, Any] = {"film": {k: list(v) if isinstance(v, tuple) else v for k, v in BRIEF_FILM.items()}}
    for case, intended in BRIEF_INTENDED.items():
        brief = build_brief(core, variants, intended=intended, film=BriefFilm(**BRIEF_FILM),
                            unavailable="no catalog in the golden run")
        data = brief.to_dict()
        out[case] = {"intended": intended, "targets": data["targets"], "target_source": data["target_source"],
                     "recommendation": data["recommendation"]["text"], "why": data["recommendation"]["why"],
                     "story": data["story"]["text"], "story_lines": data["story"]["lines"],
                     "variants": [{k: v[k] for k in ("label", "rank", "best", "verdict", "under_sold", "over_promised")}
                                  for v in data["variants"]]}
    return out


def gradcam_record(heatmaps: dict[str, np.ndarray]) -> dict[str, Any]:
    """A heatmap summarised: its mean and a 4×4 grid of block means (enough to see a moved map)."""
    out = {}
    for genre, m in heatmaps.items():
        m = np.asarray(m, dtype=np.float64)
        rows = np.array_split(np.arange(m.shape[0]), 4)
        cols = np.array_split(np.arange(m.shape[1]), 4)
        out[genre] = {"shape": list(m.shape), "mean": float(m.mean()),
                      "grid": [[float(m[np.ix_(r, c)].mean()) for c in cols] for r in rows]}
    return out


def compute(predictor: Any) -> tuple[dict[str, Any], np.ndarray]:
    """Everything the golden files store, from `predictor` (the bundled model on the default runtime)."""
    images = synthetic_images()
    names = list(images)
    embeddings = predictor.core.embed_views([images[n] for n in names])
    record: dict[str, Any] = {
        "images": names, "synopses": SYNOPSES, "runtime": predictor.core.runtime_name,
        **readings_from_embeddings(predictor.core, embeddings),
        "compare": {"targets": COMPARE_TARGETS,
                    "variants": compare_record(predictor.compare([images[n] for n in names], COMPARE_TARGETS))},
        "gradcam": {"image": GRADCAM_IMAGE,
                    "maps": gradcam_record(predictor.explain(images[GRADCAM_IMAGE], GRADCAM_GENRES))},
        "brief": brief_record(predictor.core, embeddings, names),
    }
    return record, embeddings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite tests/golden/ (after a deliberate retrain)")
    parser.add_argument("--write-brief", action="store_true",
                        help="rewrite only the brief's words, from the stored embeddings (after a change of wording)")
    args = parser.parse_args()
    from safetensors.numpy import load_file, save_file

    from postergenre.model.artifact import DEFAULT_MODEL_DIR
    from postergenre.predict.predictor import Predictor

    predictor = Predictor.load()
    if args.write_brief:
        stored = json.loads(OUTPUTS.read_text(encoding="utf-8"))
        stored["brief"] = brief_record(predictor.core, load_file(str(EMBEDDINGS))["embeddings"], stored["images"])
        OUTPUTS.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
        print(f"wrote the brief's words into {OUTPUTS.relative_to(REPO)}")
        return 0
    record, embeddings = compute(predictor)
    record = {"model_fingerprint": model_fingerprint(DEFAULT_MODEL_DIR), **record}
    if args.write:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        OUTPUTS.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        save_file({"embeddings": np.ascontiguousarray(embeddings, dtype=np.float32)}, str(EMBEDDINGS))
        print(f"wrote {OUTPUTS.relative_to(REPO)} and {EMBEDDINGS.relative_to(REPO)}")
        return 0
    stored = json.loads(OUTPUTS.read_text(encoding="utf-8"))
    same = stored["model_fingerprint"] == record["model_fingerprint"]
    worst = max(abs(a - b) for key in ("predict", "predict_synopsis") for ra, rb in zip(stored[key], record[key])
                for a, b in zip(ra["probabilities"].values(), [rb["probabilities"][g] for g in ra["probabilities"]]))
    print(f"model fingerprint {'unchanged' if same else 'CHANGED'}; largest probability change {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
