"""File-size caps: one constant per cap, in bytes, read by every face (issue 25): the CLI's --max-file-mb, the Python
API's Predictor.load(max_file_bytes=...), the service's --max-upload-mb and body limits, and the page's limit text
(served by /healthz)."""

from __future__ import annotations

import inspect

import typer

from postergenre.posters import caps


def _option_default(command: str, flag: str) -> object:
    from postergenre.cli import app

    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return next(p.default for p in params if flag in p.opts)


def test_every_face_defaults_to_the_one_cap() -> None:
    from postergenre.posters.images import read_image_file
    from postergenre.predict.predictor import Predictor
    from postergenre.service import ServiceSettings

    mb = caps.to_megabytes(caps.DEFAULT_MAX_FILE_BYTES)
    for command in ("predict", "similar", "compare", "brief"):
        assert _option_default(command, "--max-file-mb") == mb
    assert _option_default("serve", "--max-upload-mb") == mb
    assert inspect.signature(Predictor.load).parameters["max_file_bytes"].default == caps.DEFAULT_MAX_FILE_BYTES
    assert inspect.signature(read_image_file).parameters["max_bytes"].default == caps.DEFAULT_MAX_FILE_BYTES
    assert ServiceSettings().max_upload_bytes == caps.DEFAULT_MAX_FILE_BYTES


def test_megabytes_both_ways() -> None:
    assert caps.from_megabytes(caps.to_megabytes(caps.DEFAULT_MAX_FILE_BYTES)) == caps.DEFAULT_MAX_FILE_BYTES
    assert caps.from_megabytes(0.1) == 100_000 and caps.from_megabytes(2.5) == 2_500_000
    assert [caps.megabytes(n) for n in (10_000_000, 10_500_000, 2_048)] == ["10 MB", "10.5 MB", "2,048 bytes"]
