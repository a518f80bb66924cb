"""Measure the int8 calibration table shipped for a backbone (features/calibrations/<backbone>.json).

    python scripts/calibrate_int8.py [--backbone efficientnet-lite0] [--data ../shared/data] [--posters 96]

The table holds, per activation tensor of the exported graph, the min and max over the calibration
posters (ONNX Runtime's calibration-cache format), the graph fields it belongs to, and how the posters were
chosen; nothing per poster. Posters: the first N of the shared catalog's poster files by sha256 (content
hashes are a uniform, reproducible sample), decoded and preprocessed exactly as for embedding. Run it again
when the export changes (the runtime then says the shipped table "was measured on another graph"). A table
makes int8 the default runtime of its backbone: ship one only with its quality measured
(benchmarks/int8_quality.py, gate: macro ROC AUC change ≥ −0.002).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

from postergenre.features.quantize import CALIBRATION_POSTERS, Calibration, measure_table
from postergenre.features.registry import backbone_names, get_backbone
from postergenre.features.runtime import load_runtime, onnx_cache_key
from postergenre.posters.images import IMAGE_SUFFIXES, decode_image

REPO = Path(__file__).resolve().parents[1]
TABLES = REPO / "src" / "postergenre" / "features" / "calibrations"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="efficientnet-lite0", choices=backbone_names())
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--posters", type=int, default=CALIBRATION_POSTERS)
    args = parser.parse_args()
    spec = get_backbone(args.backbone)
    files = [p for p in sorted((args.data / "posters").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    by_sha = sorted((hashlib.sha256(p.read_bytes()).hexdigest(), p) for p in files)[:args.posters]
    paths = dict(by_sha)
    calibration = Calibration(tuple(paths), lambda sha: decode_image(
        paths[sha], name=f"poster {sha}", max_side=spec.preprocessing.decode_max_side))
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = load_runtime(spec, "onnx", cache_dir=tmp)  # exported and checked against torch
        table = measure_table(spec, fp32.model_path, calibration, onnx_cache_key(spec),
                              {"count": len(paths), "source": "shared catalog posters, first by sha256",
                               "of": len(files)})
        fp32.close()
    TABLES.mkdir(parents=True, exist_ok=True)
    out = TABLES / f"{spec.name}.json"
    out.write_text(table.to_json(), encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}: {len(table.ranges['data'])} tensor ranges from {len(by_sha)} posters "
          f"(fingerprint {table.fingerprint[:12]})")


if __name__ == "__main__":
    main()
