"""The backbone registry: torch-free to import, open to plugins through an entry point, strict about names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from postergenre.errors import PosterGenreError
from postergenre.features.preprocess import Letterbox
from postergenre.features.registry import (
    DEFAULT_BACKBONE,
    ENTRY_POINT_GROUP,
    BackboneSpec,
    backbone_names,
    get_backbone,
    register_backbone,
)


def _python(code: str, *, path: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path:
        env["PYTHONPATH"] = str(path)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, env=env
    )


def test_importing_the_registry_and_the_cli_defaults_imports_no_torch():
    done = _python("""
        import json, sys
        from postergenre.features.registry import backbone_names, get_backbone
        import postergenre.cli.features
        spec = get_backbone()
        print(json.dumps({"names": backbone_names(), "dim": spec.feature_dim, "torch": "torch" in sys.modules}))
    """)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["torch"] is False
    assert out["names"][:3] == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
    assert out["dim"] == get_backbone().feature_dim


def test_names_are_unique_unless_replaced():
    spec = get_backbone()
    assert register_backbone(spec) is spec  # the same spec again is harmless
    clash = BackboneSpec(
        name=spec.name,
        feature_dim=3,
        preprocessing=spec.preprocessing,
        feature_sets={"pooled": slice(0, 3)},
        builder="nowhere:build",
    )
    with pytest.raises(PosterGenreError, match="already registered"):
        register_backbone(clash)
    assert get_backbone(spec.name) is spec
    with pytest.raises(TypeError):
        register_backbone("efficientnet-lite0")  # type: ignore[arg-type]


def test_a_builder_that_cannot_be_imported_is_named_in_the_error():
    spec = BackboneSpec(
        name="test-missing-builder",
        feature_dim=4,
        builder="no_such_module_xyz:build",
        preprocessing=Letterbox(32, 32, (0, 0, 0), (1, 1, 1)),
        feature_sets={"pooled": slice(0, 4)},
    )
    with pytest.raises(PosterGenreError, match="no_such_module_xyz:build"):
        spec.build()


def test_third_party_backbones_register_through_the_entry_point(tmp_path):
    """A real installed-package layout (dist-info with entry_points.txt) on the path of a fresh interpreter."""
    (tmp_path / "tiny_backbone.py").write_text(
        textwrap.dedent("""
        from postergenre.features.preprocess import Letterbox
        from postergenre.features.registry import BackboneSpec

        SPEC = BackboneSpec(name="tiny-net", feature_dim=3, builder="tiny_backbone_net:build",
                            preprocessing=Letterbox(32, 48, (127, 127, 127), (128, 128, 128)),
                            feature_sets={"pooled": slice(0, 3)}, description="pooled RGB")
    """)
    )
    (tmp_path / "tiny_backbone_net.py").write_text(
        textwrap.dedent("""
        import torch
        from postergenre.features.backbones import FeatureNet

        class MeanColour(FeatureNet):
            feature_dim = 3
            def forward_with_maps(self, x):
                return x.mean(dim=(2, 3)), x

        def build(spec):
            return MeanColour()
    """)
    )
    info = tmp_path / "tiny_backbone-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-backbone\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ntiny = tiny_backbone:SPEC\nbroken = tiny_backbone:NOT_THERE\n"
    )
    done = _python(
        """
        import json, sys, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from postergenre.features.registry import backbone_names, get_backbone
            names = backbone_names()
        spec = get_backbone("tiny-net")
        before = "torch" in sys.modules
        net = spec.build()
        import numpy as np, torch
        red = __import__("PIL.Image").Image.new("RGB", (10, 20), (255, 0, 0))
        feats = net(torch.from_numpy(spec.preprocessing.batch([red])))
        try:
            get_backbone("nope")
        except Exception as exc:
            unknown = str(exc)
        print(json.dumps({"names": names, "torch_before_build": before, "training": net.training,
                          "features": feats[0].tolist(), "warnings": [str(w.message) for w in caught],
                          "unknown": unknown}))
    """,
        path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["names"][:3] == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
    assert "tiny-net" in out["names"]
    assert out["torch_before_build"] is False and out["training"] is False
    # letterboxed 10×20 red into 32×48: red channel is +1 on the content, 0 on the grey pad
    red, green, _ = out["features"]
    assert 0 < red < 1 and -1 < green < 0
    assert any("broken" in w and "NOT_THERE" in w for w in out["warnings"])
    assert "tiny-net" in out["unknown"] and "broken" in out["unknown"]


def test_default_backbone_is_registered():
    assert DEFAULT_BACKBONE in backbone_names()
    assert get_backbone(None).name == DEFAULT_BACKBONE
