"""Garbled titles (mojibake) are repaired at import and, in a catalog written before, when it is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from postergenre.catalog.formats import read_catalog
from postergenre.catalog.store import SCHEMA_VERSION, Catalog
from postergenre.catalog.text import repair_text

# Real titles of the general catalog (movies.csv) as the file spells them, and what they are.
GARBLED = {
    "La tÌ»te haute": "La tête haute",
    "Le voyage ÌÊ travers l'impossible": "Le voyage à travers l'impossible",
    "Pí©pí© le Moko": "Pépé le Moko",  # garbled twice
    "Die groÌÙe Ekstase des Bildschnitzers Steiner": "Die große Ekstase des Bildschnitzers Steiner",
    "CafÃ©": "Café",  # ordinary UTF-8-as-Windows-1252 mojibake (ftfy's own case)
}
CORRECT = ["Amélie", "It’s a “Wonderful” Life", "千と千尋の神隠し", "Tiếng Việt", "Home Alone", "Ἀθῆναι"]


@pytest.mark.parametrize("garbled,meant", GARBLED.items())
def test_garbled_titles_are_repaired(garbled: str, meant: str) -> None:
    assert repair_text(garbled) == meant


@pytest.mark.parametrize("text", CORRECT)
def test_correct_text_is_left_alone(text: str) -> None:
    assert repair_text(text) == text


def test_lost_characters_are_left_as_they_are() -> None:
    # The file wrote "_" where Mac Roman had no character: nothing can say what it was; the rest is repaired.
    assert repair_text("TrÌ_dgÌ´rdsmÌ_staren") == "TrÌ_dgårdsmÌ_staren"


def test_import_repairs_titles(tmp_path: Path) -> None:
    csv_file = tmp_path / "movies.csv"
    csv_file.write_text(
        "imdb_id,title,year,genres,poster\n"
        "tt0000001,La tÌ»te haute,2015,Drama,\n"
        "tt0000002,Amélie,2001,Comedy|Romance,\n",
        encoding="utf-8",
    )
    titles = {r.imdb_id: r.title for r in read_catalog(csv_file).records}
    assert titles == {"tt0000001": "La tête haute", "tt0000002": "Amélie"}


def test_titles_stored_before_are_repaired_when_the_catalog_is_opened(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:  # today's schema; then stored as an older version left it
        pass
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO movies (imdb_id, title, year, plot, updated_at) VALUES "
            "('tt4080728', 'La tÌ»te haute', 2015, 'Un juge et un Ì©ducateur.', '2026-01-01T00:00:00Z'), "
            "('tt0211915', 'Amélie', 2001, NULL, '2026-01-01T00:00:00Z')"
        )
        conn.execute("UPDATE catalog_meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()

    with Catalog(db) as catalog:
        assert catalog.schema_version() == SCHEMA_VERSION
        assert catalog.get_movie("tt4080728").title == "La tête haute"
        assert catalog.get_movie("tt4080728").plot == "Un juge et un éducateur."
        assert catalog.get_movie("tt0211915").title == "Amélie"
    raw = sqlite3.connect(db).execute("SELECT title FROM movies WHERE imdb_id = 'tt4080728'").fetchone()[0]
    assert raw == "La tête haute"  # repaired in the file, not only when read


def test_shared_catalog_titles_are_mostly_repaired(shared_rows: list[dict]) -> None:
    garbled = [r["title"] for r in shared_rows if "Ì" in r["title"] or "í" in r["title"]]
    repaired = [repair_text(t) for t in garbled]
    fixed = sum(1 for a, b in zip(garbled, repaired, strict=True) if a != b)
    assert len(garbled) > 500 and fixed / len(garbled) > 0.6
    assert all("Ì»" not in t for t in repaired)  # every "ê" of this kind came back


def test_only_titles_and_plots_are_repaired_not_paths_or_urls(tmp_path: Path) -> None:
    # A decomposed-Unicode (NFD, as macOS writes it) file name that NFC or ftfy would rewrite into a name
    # that does not exist; and a URL whose bytes look like mojibake. Both must stay as written.
    from postergenre.catalog.importing import import_catalog_file

    nfd_name = "Pe\u0301pe\u0301 CafÃ©.jpg"
    poster = tmp_path / nfd_name
    poster.write_bytes(b"not decoded at import")
    url = "https://img.example/CafÃ©.jpg"
    csv_file = tmp_path / "movies.csv"
    csv_file.write_text(
        "imdb_id,title,year,genres,poster\n"
        f"tt0000001,La tÌ»te haute,2015,Drama,{nfd_name}\n"
        f"tt0000002,CafÃ©,2001,Comedy,{url}\n",
        encoding="utf-8",
    )
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        import_catalog_file(catalog, csv_file)
        first, second = catalog.get_movie("tt0000001"), catalog.get_movie("tt0000002")
    assert first.title == "La tête haute" and second.title == "Café"
    assert first.poster_file == str(poster.resolve()) and Path(first.poster_file).is_file()
    assert second.poster_url == url
