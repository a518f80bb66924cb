"""Regenerate the page screenshots under docs/screens/ (empty page, one poster, compare, model card, a brief, a
campaign).

    .venv/bin/python scripts/screens.py [--out docs/screens]

Starts a real `postergenre serve` on a free 127.0.0.1 port with the bundled model and a temporary data folder
whose small catalog holds only posters this script draws with Pillow (titles, shapes, colours): committed
screenshots must never show the shared third-party posters. Drives Debian's chromium (/usr/bin/chromium)
with Playwright. The browser test (tests/service/test_browser.py) draws its posters with the same functions.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-default-apps", "--disable-extensions",
                 "--font-render-hinting=none"]
POSTER_SIZE = (400, 600)
BRIEF_SYNOPSIS = ("Pip, a small cloud who cannot rain, runs away from the sky to find where lost things go, and makes "
                  "a friend of a boy on a hilltop farm who is afraid of storms.")


# -- posters drawn here ----------------------------------------------------------------------------------

def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: the same pixels on every machine


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    w, h = size
    column = Image.new("RGB", (1, h))
    for y in range(h):
        t = y / max(h - 1, 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize(size)


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill, *, width: int, stroke=None) -> int:
    """Draw `text` centred at height y, shrinking the font until it fits; returns the bottom."""
    while size > 10:
        font = _font(size)
        box = draw.textbbox((0, 0), text, font=font, stroke_width=3 if stroke else 0)
        if box[2] - box[0] <= width * 0.9:
            break
        size -= 2
    x = (width - (box[2] - box[0])) // 2 - box[0]
    draw.text((x, y), text, font=font, fill=fill, stroke_width=3 if stroke else 0, stroke_fill=stroke)
    return y + box[3]


def _credits(draw: ImageDraw.ImageDraw, size: tuple[int, int], colour) -> None:
    w, h = size
    _centered(draw, h - 62, "A POSTERGENRE PICTURE  ·  DRAWN WITH PILLOW", 13, colour, width=w)
    _centered(draw, h - 38, "COMING SOON", 18, colour, width=w)


def _family(img: Image.Image, rng: random.Random, hue: int) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.62, h * 0.12, w * 0.92, h * 0.32), fill=(255, 214, 70))  # sun
    for i in range(3):  # rolling hills
        cy = h * (0.72 + 0.06 * i)
        draw.ellipse((-w * 0.4 + i * w * 0.35, cy - h * 0.12, w * 0.9 + i * w * 0.35, cy + h * 0.3),
                     fill=(60 + 30 * i, 170 - 15 * i, 70))
    cx, cy = w * (0.38 + rng.random() * 0.2), h * 0.58
    body = [(255, 140, 60), (120, 170, 255), (250, 110, 170), (150, 90, 210)][hue % 4]
    draw.ellipse((cx - 70, cy - 70, cx + 70, cy + 70), fill=body, outline=(40, 40, 60), width=4)  # round friend
    for dx in (-26, 26):
        draw.ellipse((cx + dx - 16, cy - 30, cx + dx + 16, cy + 2), fill="white", outline=(40, 40, 60), width=3)
        draw.ellipse((cx + dx - 6, cy - 18, cx + dx + 6, cy - 6), fill=(30, 30, 40))
    draw.arc((cx - 30, cy - 10, cx + 30, cy + 34), 20, 160, fill=(40, 40, 60), width=5)
    draw.ellipse((cx + 90, cy + 20, cx + 140, cy + 70), fill=(255, 250, 240), outline=(40, 40, 60), width=3)  # sidekick


def _horror(img: Image.Image, rng: random.Random, hue: int) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.55, h * 0.1, w * 0.85, h * 0.3), fill=(225, 225, 205))  # moon
    for i in range(5):  # bare trees
        x = rng.randint(0, w)
        draw.line((x, h, x + rng.randint(-20, 20), h * 0.5), fill=(8, 6, 8), width=10)
        for _ in range(4):
            y = rng.uniform(h * 0.55, h * 0.85)
            draw.line((x, y, x + rng.randint(-70, 70), y - rng.randint(30, 80)), fill=(8, 6, 8), width=4)
    draw.ellipse((w * 0.42, h * 0.52, w * 0.58, h * 0.62), fill=(5, 5, 5))  # a figure
    draw.polygon([(w * 0.38, h), (w * 0.5, h * 0.58), (w * 0.62, h)], fill=(5, 5, 5))
    for dx in (-10, 10):
        draw.ellipse((w * 0.5 + dx - 4, h * 0.56, w * 0.5 + dx + 4, h * 0.575), fill=(220, 20, 20))


def _action(img: Image.Image, rng: random.Random, hue: int) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img)
    cx, cy = w / 2, h * 0.55
    for i in range(28):  # explosion rays
        a = i / 28 * 6.283 + rng.random() * 0.1
        r = rng.uniform(200, 420)
        draw.polygon([(cx, cy), (cx + r * math.cos(a), cy + r * math.sin(a)),
                      (cx + r * math.cos(a + 0.12), cy + r * math.sin(a + 0.12))],
                     fill=(255, 120 + rng.randint(0, 100), 0))
    draw.ellipse((cx - 90, cy - 90, cx + 90, cy + 90), fill=(255, 240, 160))
    for x in (w * 0.3, w * 0.68):  # two running figures
        draw.ellipse((x - 16, h * 0.62, x + 16, h * 0.67), fill=(10, 10, 10))
        draw.polygon([(x - 30, h), (x - 22, h * 0.67), (x + 22, h * 0.67), (x + 34, h)], fill=(10, 10, 10))
    draw.rectangle((0, h * 0.86, w, h), fill=(15, 12, 10))


def _space(img: Image.Image, rng: random.Random, hue: int) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img)
    for _ in range(220):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.choice((1, 1, 1, 2))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
    draw.ellipse((w * 0.15, h * 0.35, w * 0.85, h * 0.82), fill=(70, 110 + hue * 10 % 80, 200))  # planet
    draw.ellipse((-w * 0.1, h * 0.52, w * 1.1, h * 0.66), outline=(230, 200, 140), width=6)  # ring
    draw.polygon([(w * 0.5, h * 0.2), (w * 0.46, h * 0.3), (w * 0.54, h * 0.3)], fill=(230, 230, 240))  # ship


def _romance(img: Image.Image, rng: random.Random, hue: int) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img)
    for _ in range(14):  # hearts
        x, y, s = rng.uniform(0, w), rng.uniform(h * 0.2, h * 0.8), rng.uniform(10, 34)
        colour = (255, rng.randint(60, 140), rng.randint(120, 170))
        draw.ellipse((x - s, y - s, x, y), fill=colour)
        draw.ellipse((x, y - s, x + s, y), fill=colour)
        draw.polygon([(x - s, y - s / 2), (x + s, y - s / 2), (x, y + s)], fill=colour)
    for x in (w * 0.4, w * 0.6):  # two silhouettes
        draw.ellipse((x - 24, h * 0.5, x + 24, h * 0.58), fill=(70, 20, 50))
        draw.polygon([(x - 45, h), (x - 30, h * 0.58), (x + 30, h * 0.58), (x + 45, h)], fill=(70, 20, 50))


@dataclass(frozen=True)
class Style:
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    scene: object
    title_fill: tuple[int, int, int]
    stroke: tuple[int, int, int] | None
    text: tuple[int, int, int]


STYLES = {
    "family": Style((120, 200, 255), (255, 240, 200), _family, (255, 90, 40), (255, 255, 255), (40, 60, 90)),
    "horror": Style((10, 10, 20), (90, 0, 10), _horror, (200, 10, 20), (0, 0, 0), (200, 190, 190)),
    "action": Style((40, 20, 10), (200, 70, 10), _action, (255, 255, 255), (0, 0, 0), (255, 230, 200)),
    "space": Style((0, 0, 20), (20, 20, 70), _space, (120, 230, 255), (0, 0, 30), (180, 200, 230)),
    "romance": Style((255, 200, 220), (255, 150, 170), _romance, (150, 20, 70), (255, 255, 255), (120, 30, 60)),
}


def draw_poster(title: str, style: str = "family", *, seed: int = 0, tagline: str = "",
                size: tuple[int, int] = POSTER_SIZE) -> Image.Image:
    """A poster-like picture: a genre-coloured scene, a big title, a tagline and a credits block."""
    look = STYLES[style]
    rng = random.Random(f"{title}|{style}|{seed}")
    img = _gradient(size, look.top, look.bottom)
    look.scene(img, rng, seed)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    draw = ImageDraw.Draw(img)
    w, _ = size
    bottom = _centered(draw, 34, title.upper(), 58, look.title_fill, width=w, stroke=look.stroke)
    if tagline:
        _centered(draw, bottom + 14, tagline, 20, look.text, width=w)
    _credits(draw, size, look.text)
    return img


def draw_screenshot(size: tuple[int, int] = (1200, 760)) -> Image.Image:
    """Not a poster: a text document in a window, as a careless upload might be."""
    w, h = size
    img = Image.new("RGB", size, (250, 250, 252))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 44), fill=(222, 225, 232))
    for i, colour in enumerate(((236, 95, 90), (245, 190, 80), (100, 200, 90))):
        draw.ellipse((16 + i * 24, 14, 32 + i * 24, 30), fill=colour)
    draw.text((140, 12), "quarterly-report-final-v3.docx", font=_font(18), fill=(60, 60, 70))
    rng = random.Random(7)
    y = 80
    draw.text((80, y), "Quarterly marketing report", font=_font(34), fill=(20, 20, 30))
    y += 70
    while y < h - 40:
        for _ in range(rng.randint(3, 6)):
            draw.rectangle((80, y, 80 + rng.randint(600, 1040), y + 10), fill=(150, 152, 160))
            y += 24
        y += 22
    return img


# -- a catalog of drawn posters ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrawnMovie:
    imdb_id: str
    title: str
    year: int
    genres: str  # "Family, Animation"
    rating: str
    style: str
    collection: str


def drawn_movies() -> list[DrawnMovie]:
    """A small fictional catalog: the studio's own family films, and a general collection of other genres."""
    rows = [
        ("Pip and the Sunny Hill", 1998, "Animation, Family, Comedy", "G", "family", "studio"),
        ("Bubbles Saves Summer", 2004, "Animation, Family", "G", "family", "studio"),
        ("The Round Friends", 2011, "Family, Comedy", "PG", "family", "studio"),
        ("Meadow Marvels", 2016, "Animation, Family, Adventure", "PG", "family", "studio"),
        ("Little Orange Tales", 1994, "Family, Fantasy", "G", "family", "studio"),
        ("Hilltop Holiday", 2008, "Family, Comedy", "PG", "family", "general"),
        ("Night of the Hollow", 1987, "Horror", "R", "horror", "general"),
        ("Crimson Woods", 2003, "Horror, Thriller", "R", "horror", "general"),
        ("The Moon Knows", 2013, "Horror, Mystery", "PG-13", "horror", "general"),
        ("Blast Radius", 1996, "Action, Thriller", "R", "action", "general"),
        ("Last Run", 2009, "Action, Crime", "PG-13", "action", "general"),
        ("Firestorm Protocol", 2015, "Action, Adventure", "PG-13", "action", "general"),
        ("Beyond the Ring", 1999, "Sci-Fi, Adventure", "PG", "space", "general"),
        ("Stars Over Nowhere", 2012, "Sci-Fi, Drama", "PG-13", "space", "general"),
        ("Two Hearts in Paris", 2001, "Romance, Comedy", "PG-13", "romance", "general"),
        ("Love, Finally", 2014, "Romance, Drama", "PG", "romance", "general"),
    ]
    return [DrawnMovie(f"tt99{i:05d}", *row) for i, row in enumerate(rows, start=1)]


def build_drawn_home(folder: Path) -> Path:
    """A data folder holding only the drawn catalog: imported per collection, posters attached and embedded."""
    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.backbones import get_backbone
    from postergenre.features.embed import embed_catalog
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore

    folder = Path(folder)
    source = folder / "source"
    (source / "posters").mkdir(parents=True, exist_ok=True)
    movies = drawn_movies()
    for i, movie in enumerate(movies):
        draw_poster(movie.title, movie.style, seed=i).save(source / "posters" / f"{movie.imdb_id}.png")
    paths = get_paths(folder / "home").ensure()
    with Catalog(paths.db) as catalog:
        for collection in sorted({m.collection for m in movies}):
            path = source / f"{collection}.csv"  # the IMDb-API export's columns: it carries content ratings
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["id", "title", "description", "genres", "genreList", "contentRating"])
                for m in movies:
                    if m.collection == collection:
                        writer.writerow([m.imdb_id, m.title, str(m.year), m.genres, "", m.rating])
            read = read_catalog(path)
            catalog.upsert_movies(read.records, collection=collection, source=str(path), fmt=read.fmt)
        attach_folder(catalog, PosterStore(paths.posters), source / "posters")
        summary = embed_catalog(catalog, PosterStore(paths.posters), get_backbone())
    if not summary.complete:
        raise RuntimeError(f"embedding the drawn catalog did not finish: {summary}")
    return paths.home


# -- server and browser --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(home: Path) -> Iterator[str]:
    """`postergenre serve` with the bundled model and `home`, on a free port; yields its URL."""
    port = _free_port()
    exe = Path(sys.executable).with_name("postergenre")
    command = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"postergenre serve exited: {process.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postergenre serve did not answer within 180 s") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def take_screens(url: str, out: Path, work: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    variants = []
    for i, (title, style, tagline) in enumerate([
            ("Pip and the Big Sky", "family", "One small friend. One giant adventure."),
            ("Pip: Night Trip", "horror", "Something is waiting in the woods."),
            ("Pip Goes Boom", "action", "This summer, everything explodes.")]):
        path = work / f"variant-{'abc'[i]}.png"
        draw_poster(title, style, seed=100 + i, tagline=tagline).save(path)
        variants.append(str(path))
    saved = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
            page.set_default_timeout(120_000)
            page.goto(url + "/")
            page.wait_for_selector("body[data-filters='true']")

            def shot(name: str, **kwargs) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path), **kwargs)
                saved.append(path)

            shot("empty")
            page.set_input_files("#file-input", variants[0])
            page.wait_for_selector("#bars .bar-row")
            page.wait_for_function("() => [...document.querySelectorAll('#similar li img')].every(i => i.complete)")
            page.click("#heat-show")
            page.wait_for_selector("#overlay:not([hidden])")
            page.wait_for_function("() => document.getElementById('overlay').naturalWidth > 0")
            shot("poster", full_page=True)

            page.click("#show-card")
            page.wait_for_selector("#card-dialog[open]")
            shot("card")
            page.keyboard.press("Escape")
            page.wait_for_selector("#card-dialog:not([open])", state="attached")

            for path in variants[1:]:
                page.set_input_files("#file-input", path)
                page.wait_for_function("n => document.querySelectorAll('#variants .variant').length === n",
                                       arg=variants.index(path) + 1)
            for genre in ("Family", "Animation"):
                page.check(f"#targets input[value='{genre}']")
            page.click("#compare-btn")
            page.wait_for_selector(".variant-card >> nth=2")
            page.locator(".variant-card").first.locator(".chips button", has_text="Family").click()
            page.locator(".compare").scroll_into_view_if_needed()
            page.locator(".compare").screenshot(path=str(out / "compare.png"))
            saved.append(out / "compare.png")

            # The campaign brief of the same variants, with a synopsis and the title, downloaded from the page.
            if page.locator("#synopsis-box").is_visible():
                page.click("#synopsis-box > summary")
                page.fill("#synopsis", BRIEF_SYNOPSIS)
            page.fill("#brief-title", "Pip and the Big Sky")
            with page.expect_download() as download_info:
                page.click("#brief-btn")
            brief = work / "brief.html"
            download_info.value.save_as(brief)
            reader = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
            reader.goto(brief.as_uri())
            reader.screenshot(path=str(out / "brief.png"), full_page=True)
            saved.append(out / "brief.png")
            saved.append(_campaign_screen(page, variants, out))
        finally:
            browser.close()
    return saved


def _campaign_screen(page, variants: list[str], out: Path) -> Path:
    """The campaigns view: a campaign for the same film, its three variants kept and ranked, the link to share."""
    page.click("#tab-campaigns")
    page.click("#campaign-new")
    page.fill("#cf-title", "Pip and the Big Sky")
    page.fill("#cf-synopsis", BRIEF_SYNOPSIS)
    for genre in ("Family", "Animation"):
        page.check(f"#cf-intended input[value='{genre}']")
    page.click("#cf-create")
    page.wait_for_selector("body[data-campaign]")
    page.set_input_files("#campaign-file-input", variants)
    page.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 3")
    page.wait_for_function("() => [...document.querySelectorAll('.variant-card img')].every(i => i.complete)")
    page.click("#campaign-copy-link")
    path = out / "campaign.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screens", help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        parser.error(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="postergenre-screens-") as tmp:
        work = Path(tmp)
        home = build_drawn_home(work / "drawn")
        with running_server(home) as url:
            for path in take_screens(url, args.out, work):
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
