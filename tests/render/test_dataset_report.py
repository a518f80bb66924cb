"""The dataset report on the real shared catalog: self-contained HTML whose genre counts match movies.csv."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from postergenre.catalog.filters import MovieFilter
from postergenre.catalog.importing import import_catalog_file
from postergenre.catalog.store import Catalog
from postergenre.cli import app
from postergenre.config import get_paths
from postergenre.posters.attach import attach_folder
from postergenre.posters.store import PosterStore
from postergenre.render.dataset_report import write_dataset_report
from sampling import spread

ATTACHED = 24  # a few real posters: enough for the poster-size plot, cheap to decode


@pytest.fixture(scope="module")
def report_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, shared_rows: list[dict]) -> Path:
    home = tmp_path_factory.mktemp("report-home")
    paths = get_paths(home).ensure()
    incoming = home / "incoming"
    incoming.mkdir()
    for row in spread(shared_rows, 24)[:ATTACHED]:
        shutil.copy(shared_data / row["poster"], incoming / Path(row["poster"]).name)
    with Catalog(paths.db) as catalog:
        import_catalog_file(catalog, shared_data / "movies.csv")
        summary = attach_folder(catalog, PosterStore(paths.posters), incoming)
    assert summary.attached == ATTACHED
    return home


class _GenreTable(HTMLParser):
    """Rows of the table with id="genre-counts"."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._inside = self._cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table" and ("id", "genre-counts") in attrs:
            self._inside = True
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag == "td":
            self._cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif tag == "td":
            self._cell = False

    def handle_data(self, data: str) -> None:
        if self._inside and self._cell:
            self.rows[-1].append(data)


def _genre_counts(html_text: str) -> dict[str, int]:
    parser = _GenreTable()
    parser.feed(html_text)
    return {row[0]: int(row[1]) for row in parser.rows if row}


def test_report_matches_movies_csv(report_home: Path, shared_rows: list[dict], tmp_path: Path) -> None:
    with Catalog(get_paths(report_home).db) as catalog:
        path = write_dataset_report(catalog, tmp_path / "out" / "dataset.html")
    text = path.read_text(encoding="utf-8")
    assert _genre_counts(text) == Counter(g for row in shared_rows for g in row["genres"].split("|"))
    # Self-contained: every image is embedded, nothing is loaded from elsewhere.
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 6
    assert not re.search(r'(src|href)="(?!data:)', text)
    for heading in (
        "Missing values",
        "Genre counts",
        "Genre co-occurrence",
        "Genres per movie",
        "Years",
        "Content ratings",
        "Poster sizes",
    ):
        assert f"<h2>{heading}" in text
    sizes = Counter(Image.open(p).size for p in (report_home / "incoming").iterdir())
    ((common_size, n),) = sizes.most_common(1)
    assert f"<td>{common_size[0]}×{common_size[1]}</td><td>{n}</td>" in text
    assert f"{len(shared_rows)} movies" in text
    assert [p.name for p in path.parent.iterdir()] == ["dataset.html"]  # no temporary file left behind


def test_report_respects_filters(report_home: Path, tmp_path: Path, shared_rows: list[dict]) -> None:
    with Catalog(get_paths(report_home).db) as catalog:
        path = write_dataset_report(catalog, tmp_path / "r.html", MovieFilter(year_min=2010))
    expected = Counter(
        g for row in shared_rows if row["year"] and int(row["year"]) >= 2010 for g in row["genres"].split("|")
    )
    assert _genre_counts(path.read_text(encoding="utf-8")) == expected


def test_report_cli_default_path(report_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTERGENRE_HOME", str(report_home))
    result = CliRunner().invoke(app, ["report", "dataset", "--year-max", "1950"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    target = report_home / "reports" / "dataset.html"
    assert str(target) in result.output and target.is_file()
