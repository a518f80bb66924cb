"""`postergenre predict / similar / compare` end to end: every input kind, every failure, every format."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from PIL import Image


def test_every_input_kind_in_one_run(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, _ = http_root
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(three_posters[1], folder / "in_folder.jpg")
    globbed = tmp_path / "globbed"
    globbed.mkdir()
    shutil.copy(three_posters[2], globbed / "g1.jpg")
    listing = tmp_path / "list.csv"
    listing.write_text(f"imdb_id,poster\ntt_csv1,{three_posters[0]}\ntt_csv2,{base}/poster.jpg\n", encoding="utf-8")

    # server on 127.0.0.1
    code, out, err = run_cli(
        "predict",
        three_posters[0],
        folder,
        f"{globbed}/*.jpg",
        f"{base}/poster.jpg",
        listing,
        "--format",
        "json",
        "--model",
        model_dir,
        "--allow-private-urls",
    )

    assert code == 0, err
    rows = json.loads(out)
    assert [r["source"] for r in rows] == [
        str(three_posters[0]),
        str(folder / "in_folder.jpg"),
        str(globbed / "g1.jpg"),
        f"{base}/poster.jpg",
        "tt_csv1",
        "tt_csv2",
    ]
    assert [r["id"] for r in rows[-2:]] == ["tt_csv1", "tt_csv2"]
    assert all(r["decided"] and len(r["probabilities"]) == len(r["thresholds"]) for r in rows)
    same = {r["source"]: r["probabilities"] for r in rows}
    assert same["tt_csv1"] == same["tt_csv2"] == same[f"{base}/poster.jpg"]  # file, CSV row and URL agree


def test_each_failure_is_one_error_line_and_exit_1(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, _ = http_root
    not_image = tmp_path / "readme.jpg"
    not_image.write_text("this is text")
    no_images = tmp_path / "locked.jpg"
    no_images.mkdir()  # named like an image, but a folder holding none
    truncated = tmp_path / "cut.jpg"  # unreadable as an image: the file stops mid-stream
    truncated.write_bytes(three_posters[0].read_bytes()[:2000])
    args = [
        three_posters[0],
        not_image,
        truncated,
        no_images,
        f"{base}/absent.jpg",
        f"{base}/page.html",
        tmp_path / "nowhere.jpg",
        three_posters[1],
    ]

    code, out, err = run_cli("predict", *args, "--format", "csv", "--model", model_dir, "--allow-private-urls")

    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(args)
    ok = [r for r in rows if not r["error"]]
    assert [r["source"] for r in ok] == [str(three_posters[0]), str(three_posters[1])]
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    for needle in ("readme.jpg", "cut.jpg", "absent.jpg", "page.html", "nowhere.jpg", "locked.jpg"):
        assert sum(needle in ln for ln in lines) == 1, (needle, err)
    assert "folder contains no images" in err and "not an image" in err


def test_table_output_top_k_threshold_and_explain(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    code, out, _ = run_cli("predict", three_posters[0], "--model", model_dir)
    assert code == 0 and "eads as:" in out and "poster check" in out  # the plain-words reading

    code, out, _ = run_cli("predict", three_posters[0], "--top-k", "2", "--format", "json", "--model", model_dir)
    (row,) = json.loads(out)
    assert row["decided"] == list(row["probabilities"])[:2]
    code, out, _ = run_cli("predict", three_posters[0], "--threshold", "0", "--format", "json", "--model", model_dir)
    assert json.loads(out)[0]["decided"] == list(json.loads(out)[0]["probabilities"])

    explain_dir = tmp_path / "heat"
    code, out, err = run_cli(
        "predict",
        *three_posters[:2],
        "--explain",
        "--explain-dir",
        explain_dir,
        "--format",
        "json",
        "--model",
        model_dir,
    )
    assert code == 0, err
    for row, poster in zip(json.loads(out), three_posters[:2], strict=True):
        files = row["heatmap_files"]
        assert len(files) == min(3, len(row["decided"])) >= 1
        for f in files:
            # small posters: as is
            assert Path(f).parent == explain_dir and Image.open(f).size == Image.open(poster).size


def test_usage_errors_exit_2(run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path) -> None:
    code, _, err = run_cli("predict", three_posters[0], "--model", tmp_path / "no-model")
    assert code == 2 and "not a model folder" in err
    code, _, err = run_cli("predict", three_posters[0], "--format", "xml", "--model", model_dir)
    assert code == 2 and "--format" in err
    code, _, err = run_cli("compare", *three_posters[:2], "--target", "Family,Westernz", "--model", model_dir)
    assert code == 2 and "Westernz" in err and "this model knows" in err


def test_compare_ranks_and_writes_sheet(
    run_cli, predictor, model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    # posters that read as target T first, then those that read as fewest other genres, then the one the model finds
    # most typical of T (issue 19: a variant that misses the target never ranks above one that hits it, whatever
    # its score; of two that hit it, the one that signals least of anything else comes first)
    from postergenre.model.decisions import READS_AS

    preds = [predictor.predict(p) for p in three_posters]
    target = preds[0].decided[0]
    loud = [sum(1 for g in p.decided if g != target and p.reading.strength[g] >= READS_AS) for p in preds]
    order = sorted(
        range(3),
        key=lambda i: (
            not preds[i].poster_check["is_poster"],
            target not in preds[i].decided,
            loud[i],
            -preds[i].probabilities[target] / preds[i].thresholds[target],
            i,
        ),
    )
    sheet = tmp_path / "sheet.html"

    code, out, err = run_cli(
        "compare", *three_posters, "--target", target.lower(), "--out", sheet, "--format", "json", "--model", model_dir
    )

    assert code == 0, err
    result = json.loads(out)
    assert result["targets"] == [target]
    assert [v["rank"] for v in result["variants"]] == [1, 2, 3]
    assert [v["source"] for v in result["variants"]] == [str(three_posters[i]) for i in order]
    for v in result["variants"]:
        assert v["fits_all_targets"] == (
            target in v["prediction"]["decided"] and v["prediction"]["poster_check"]["is_poster"]
        )
        assert v["verdict"].startswith(
            "Reads as"
            if target in v["targets_decided"] and v["target_strength"][target] >= 1.5
            else ("Only hints" if target in v["targets_decided"] else "Does not read as")
        )
        assert target not in v["unintended"] and set(v["unintended"]) <= set(v["prediction"]["decided"])
    page = sheet.read_text(encoding="utf-8")
    assert page.count('class="poster"') == 3 and page.count("data:image/jpeg;base64,") == 6  # posters + heatmaps
    assert "http://" not in page and "https://" not in page  # self-contained


def test_similar_cli_on_embedded_catalog(run_cli, model_dir: Path, small_home: Path, three_posters: list[Path]) -> None:
    code, out, err = run_cli(
        "similar", three_posters[0], "--k", "4", "--format", "json", "--home", small_home, "--model", model_dir
    )
    assert code == 0, err
    titles = json.loads(out)["titles"]
    assert len(titles) == 4 and all(t["title"] and t["genres"] and -1 <= t["similarity"] <= 1 for t in titles)
    assert all(
        t["match"] in ("very close", "close", "loose") and t["imdb_url"].endswith(t["imdb_id"] + "/") for t in titles
    )
    # A bad image is a failed input (exit 1, as for predict), not a set-up error.
    bad = small_home.parent / "bad.jpg"
    bad.write_text("not an image")
    code, _, err = run_cli("similar", bad, "--home", small_home, "--model", model_dir)
    assert code == 1 and "bad.jpg" in err


def test_real_command_answers(model_dir: Path, three_posters: list[Path]) -> None:
    """The installed console script end to end (its speed is measured by benchmarks/predict_speed.py)."""
    exe = Path(sys.executable).with_name("postergenre")
    proc = subprocess.run(
        [str(exe), "predict", str(three_posters[0]), "--format", "json", "--model", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["decided"]


def test_cli_import_stays_light() -> None:
    """`postergenre --help` must not pay for torch: the predict commands import it only when they run."""
    code = (
        "import sys, postergenre.cli; print(sorted(m for m in ('torch', 'matplotlib', 'sklearn') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_compare_headline_shows_a_hostile_file_name_as_text(
    model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    """The headline names the variants' files: Rich markup (`[/x]` used to crash the print) and terminal escapes
    (ESC[2J clears the screen) in a name are shown as text, like everywhere else (the installed command, no tty).
    Both files are named `x]ESC[2J.jpg`, so the headline names them by path: `.../[/x]ESC[2J.jpg`."""
    name = "x]\x1b[2J.jpg"
    hostile, plain = tmp_path / "[" / name, tmp_path / "plain" / name
    for poster, path in ((three_posters[0], hostile), (three_posters[1], plain)):
        path.parent.mkdir()
        shutil.copy(poster, path)
    exe = Path(sys.executable).with_name("postergenre")
    target = "Drama"
    proc = subprocess.run(
        [str(exe), "compare", str(hostile), str(plain), "--target", target, "--model", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )

    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "MarkupError" not in proc.stderr
    lines = [ln.removeprefix("# ") for ln in proc.stdout.splitlines()]  # piped, the headline is a "# " line
    headline = [ln for ln in lines if ln.startswith(("Run ", "No variant", "None of"))]
    assert headline and "[/x]\\x1b[2J.jpg" in headline[0]  # escaped, brackets kept as text


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_bidi_controls_in_file_names_are_shown_escaped_on_the_terminal(
    model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    """Issue 26: a right-to-left override (U+202E) or an isolate in a file name would reverse the rest of the line
    on a terminal. The tables show it escaped (\\u202e), and the compare headline, a sentence composed around the
    names, leaves the controls out; nothing on stdout carries one (the installed command, no tty)."""
    names = ["pip\u202egpj.yks.jpg", "\u2067night\u2069 tale.jpg"]
    paths = []
    for poster, name in zip(three_posters, names, strict=False):  # two of the three
        paths.append(tmp_path / name)
        shutil.copy(poster, paths[-1])
    exe = Path(sys.executable).with_name("postergenre")
    env = {**os.environ, "COLUMNS": "400"}
    predicted = subprocess.run(
        [str(exe), "predict", *map(str, paths), "--model", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    compared = subprocess.run(
        [str(exe), "compare", *map(str, paths), "--target", "Drama", "--model", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )

    for proc in (predicted, compared):
        assert proc.returncode == 0, proc.stderr
        assert not set(proc.stdout) & set(BIDI)
        assert "pip\\u202egpj.yks.jpg" in proc.stdout and "\\u2067night\\u2069 tale.jpg" in proc.stdout
    lines = [ln.removeprefix("# ") for ln in compared.stdout.splitlines()]  # piped, the headline is a "# " line
    headline = [ln for ln in lines if ln.startswith(("Run ", "No variant", "None of"))]
    assert headline and ("pipgpj.yks.jpg" in headline[0] or "night tale.jpg" in headline[0])


def test_error_hints_follow_the_kind_of_error_not_its_words(
    run_cli, model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    """A file over --max-file-mb gets the hint to raise it; an image too large in pixels does not (the limit on
    bytes does not help there, though both messages say "too large")."""
    from postergenre.posters.images import MAX_PIXELS

    side = int(MAX_PIXELS**0.5) + 100  # a PNG header declaring more pixels than the limit, with tiny data
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    huge = tmp_path / "huge.png"
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    big = tmp_path / "big.jpg"
    big.write_bytes(three_posters[0].read_bytes() + b"\0" * 150_000)  # over 0.1 MB

    code, _, err = run_cli("predict", huge, big, "--max-file-mb", "0.1", "--model", model_dir)

    assert code == 1
    lines = {("huge" if "huge.png" in ln else "big"): ln for ln in err.splitlines() if ln.startswith("error:")}
    assert "too large" in lines["huge"] and "--max-file-mb" not in lines["huge"]
    assert "too large" in lines["big"] and "(raise the limit with --max-file-mb)" in lines["big"]
