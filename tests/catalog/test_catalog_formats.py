"""read_catalog on every format: the shared files plus small files the tests write, bad rows included."""

from __future__ import annotations

import ast
import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from postergenre.catalog.formats import normalise_imdb_id, read_catalog
from postergenre.errors import CatalogFormatError

API_HEADER = (
    ",index,id,image,title,description,runtimeStr,genres,genreList,contentRating,imDbRating,"
    "imDbRatingVotes,metacriticRating,plot,stars,starList,Genre_1,Genre_2,Genre_3\n"
)


def _api_row(
    i: int,
    imdb_id: str,
    genre_list: str,
    genres: str = "Comedy, Family",
    rating: str = "PG",
    image: str = "https://img.example/p.jpg",
    description: str = "1994",
) -> str:
    cells = [
        str(i),
        str(i),
        imdb_id,
        image,
        f"Movie {i}",
        description,
        "90 mins",
        genres,
        genre_list,
        rating,
        "6.5",
        "1,234",
        "50",
        "A plot, with a comma.",
        "",
        "[]",
        "Comedy",
        "Family",
        "None",
    ]
    out = []
    csv.writer(_Sink(out)).writerow(cells)
    return out[0]


class _Sink:
    def __init__(self, out: list[str]):
        self.out = out

    def write(self, text: str) -> None:
        self.out.append(text)


GOOD_LIST = "[{'key': 'Comedy', 'value': 'Comedy'}, {'key': 'Family', 'value': 'Family'}]"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("114709", "tt0114709"),
        ("tt114709", "tt0114709"),
        (" TT0114709 ", "tt0114709"),
        ("tt10872600", "tt10872600"),
        ("http://www.imdb.com/title/tt114709", "tt0114709"),
        ("https://www.imdb.com/title/tt0114709/", "tt0114709"),
        (114709, "tt0114709"),
        ("114709.0", "tt0114709"),
    ],
)
def test_imdb_ids_are_normalised(value: object, expected: str) -> None:
    assert normalise_imdb_id(value) == expected


@pytest.mark.parametrize("value", ["", "tt", "abc", "tt12a", "nm0000123", "tt0000000", "-5", None, "tt 123"])
def test_garbage_ids_are_refused(value: object) -> None:
    assert normalise_imdb_id(value) is None


# -- our CSV ---------------------------------------------------------------------------------------


def test_shared_movies_csv(shared_data: Path, shared_rows: list[dict]) -> None:
    read = read_catalog(shared_data / "movies.csv")
    assert read.fmt == "ours" and not read.rejected and len(read.records) == len(shared_rows)
    assert Counter(g for r in read.records for g in r.genres) == Counter(
        g for row in shared_rows for g in row["genres"].split("|")
    )
    first = read.records[0]
    assert first.imdb_id == shared_rows[0]["imdb_id"] and first.title == shared_rows[0]["title"]
    assert Path(first.poster_file) == (shared_data / shared_rows[0]["poster"]).resolve()
    assert Path(first.poster_file).is_file()


def test_ours_posters_resolve_against_the_csv_folder_and_bad_rows_are_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cat"
    folder.mkdir()
    path = folder / "movies.csv"
    path.write_bytes(
        b"imdb_id,title,year,genres,poster\n"
        b"tt0000001,Plain,1990,Drama|sci fi,posters/tt0000001.jpg\n"  # 2
        b'tt0000002,"Two\nLines",,Comedy,/abs/p.jpg\n'  # 3-4
        b"tt0000003,Url,1991,,https://img.example/3.jpg\n"  # 5
        b",No id,1990,Drama,\n"  # 6
        b"garbage,Bad id,1990,Drama,\n"  # 7
        b"tt0000008,Unknown,1990,Drama|Superhero,\n"  # 8
        b"tt0000009,Bad year,nineteen,Drama,\n"  # 9
        b"\n"  # 10 (blank: skipped)
        b"tt0000011,Caf\xe9,1990,Drama,\n"  # 11 (Latin-1 byte)
        b"tt0000012,After,2001,Horror,\n"  # 12
    )
    monkeypatch.chdir(tmp_path)  # the poster path must not depend on the working directory
    read = read_catalog(path)
    by_id = {r.imdb_id: r for r in read.records}
    assert sorted(by_id) == ["tt0000001", "tt0000002", "tt0000003", "tt0000012"]
    assert by_id["tt0000001"].genres == ("Drama", "Sci-Fi")
    assert by_id["tt0000001"].poster_file == str(folder / "posters" / "tt0000001.jpg")
    assert by_id["tt0000002"].title == "Two Lines" and by_id["tt0000002"].year is None
    assert by_id["tt0000002"].poster_file == "/abs/p.jpg"
    assert by_id["tt0000003"].poster_url == "https://img.example/3.jpg" and by_id["tt0000003"].poster_file is None
    assert by_id["tt0000003"].genres == ()
    rejected = {r.line: r.reason for r in read.rejected}
    assert sorted(rejected) == [6, 7, 8, 9, 11]
    assert rejected[6] == "no IMDb id"
    assert "garbage" in rejected[7]
    assert "unknown genre 'Superhero'" in rejected[8]
    assert "nineteen" in rejected[9]
    assert "UTF-8" in rejected[11]
    assert all(r.file == str(path) for r in read.rejected)
    assert len(read.notes) == 1 and "line 11" in read.notes[0] and "--format kaggle" in read.notes[0]


# -- IMDb-API export (CSV) -------------------------------------------------------------------------


def test_shared_imdb_api_sample(shared_data: Path) -> None:
    path = shared_data / "seed-catalog" / "imdb_api_sample.csv"
    read = read_catalog(path)
    assert read.fmt == "imdb-api-csv" and not read.rejected and len(read.records) == 30
    with open(path, newline="", encoding="utf-8") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    for rec in read.records:
        row = rows[rec.imdb_id]
        assert rec.genres == tuple(d["value"] for d in ast.literal_eval(row["genreList"]))
        assert rec.content_rating in {"G", "PG"} and rec.content_rating == row["contentRating"]
        assert rec.poster_url == row["image"] and rec.poster_url.startswith("https://")
        assert rec.year == int(row["description"]) and rec.title == row["title"]
        assert rec.imdb_rating == float(row["imDbRating"]) and rec.imdb_votes == int(row["imDbRatingVotes"])
        assert rec.plot == row["plot"]


def test_imdb_api_csv_bad_rows_and_fallbacks(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        API_HEADER
        + _api_row(0, "tt0110001", GOOD_LIST, rating="Rated PG-13")  # 2
        + _api_row(1, "tt0110002", "[{'key': 'Comedy', 'value': 'Comedy'")  # 3 malformed
        + _api_row(
            2,
            "tt0110003",
            "",
            genres="Science Fiction, Kids",  # 4 fallback
            image="https://imdb-api.com/images/original/nopicture.jpg",
        )
        + _api_row(3, "tt0110004", "__import__('os').system('touch pwned')")  # 5 code: refused
        + _api_row(4, "", GOOD_LIST)  # 6 no id
        + _api_row(5, "tt0110006", "[{'key': 'Superhero', 'value': 'Superhero'}]")  # 7 unknown genre
        + _api_row(6, "tt0110007", "{'key': 'Comedy'}")  # 8 not a list
        + _api_row(7, "tt0110008", GOOD_LIST, rating="N/A", description="(1987 TV Movie)"),  # 9
        encoding="utf-8",
    )
    read = read_catalog(path)
    by_id = {r.imdb_id: r for r in read.records}
    assert sorted(by_id) == ["tt0110001", "tt0110003", "tt0110008"]
    assert by_id["tt0110001"].content_rating == "PG-13" and by_id["tt0110001"].imdb_votes == 1234
    assert by_id["tt0110003"].genres == ("Sci-Fi", "Family") and by_id["tt0110003"].poster_url is None
    assert by_id["tt0110008"].content_rating is None and by_id["tt0110008"].year == 1987
    rejected = {r.line: r.reason for r in read.rejected}
    assert sorted(rejected) == [3, 5, 6, 7, 8]
    assert rejected[3].startswith("malformed genreList")
    assert rejected[5].startswith("malformed genreList")
    assert rejected[6] == "no IMDb id"
    assert "Superhero" in rejected[7]
    assert "expected a list" in rejected[8]
    assert not (tmp_path / "pwned").exists()


# -- IMDb-API export (JSON) ------------------------------------------------------------------------


def _json_records() -> list:
    return [
        {
            "id": "tt0099785",
            "title": "Home Alone",
            "description": "1990",
            "genres": "Comedy, Family",
            "genreList": [{"key": "Comedy", "value": "Comedy"}, {"key": "Family", "value": "Family"}],
            "contentRating": "PG",
            "imDbRating": "7.7",
            "imDbRatingVotes": "645257",
            "image": "https://img.example/home.jpg",
            "plot": "Left home alone.",
        },
        {"id": "tt0000001", "title": "Malformed", "genreList": "[{'key': 'Comedy'"},
        7,
        {"title": "No id", "genres": "Drama"},
        {
            "id": "99786",
            "title": "String list",
            "genreList": "[{'key': 'Drama', 'value': 'Drama'}]",
            "contentRating": "g",
        },
    ]


@pytest.mark.parametrize("shape", ["items", "results", "bare"])
def test_imdb_api_json_shapes(tmp_path: Path, shape: str) -> None:
    records = _json_records()
    document = records if shape == "bare" else {"errorMessage": "", shape: records}
    path = tmp_path / f"{shape}.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    read = read_catalog(path)
    assert read.fmt == "imdb-api-json"
    by_id = {r.imdb_id: r for r in read.records}
    assert sorted(by_id) == ["tt0099785", "tt0099786"]
    home_alone = by_id["tt0099785"]
    assert home_alone.genres == ("Comedy", "Family") and home_alone.content_rating == "PG"
    assert home_alone.year == 1990 and home_alone.imdb_votes == 645257
    assert home_alone.poster_url == "https://img.example/home.jpg"
    assert by_id["tt0099786"].genres == ("Drama",) and by_id["tt0099786"].content_rating == "G"
    # Each rejected record is located at the line where it starts in the file.
    lines = path.read_text().splitlines()
    rejected = {r.line: r.reason for r in read.rejected}
    assert len(rejected) == 3
    malformed = next(line for line, reason in rejected.items() if reason.startswith("malformed genreList"))
    assert lines[malformed - 1].strip() == "{" and '"Malformed"' in lines[malformed + 1]
    assert any(
        "not an object" in reason and lines[line - 1].strip().startswith("7") for line, reason in rejected.items()
    )
    assert "no IMDb id" in rejected.values()


def test_json_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"items": [ {"id": "tt0000001",  ]}', encoding="utf-8")
    with pytest.raises(CatalogFormatError, match=r"broken\.json.*not valid JSON"):
        read_catalog(broken)
    other = tmp_path / "other.json"
    other.write_text('{"movies": []}', encoding="utf-8")
    with pytest.raises(CatalogFormatError, match=r"other\.json"):
        read_catalog(other)
    api_error = tmp_path / "error.json"
    api_error.write_text('{"items": [], "errorMessage": "Invalid API Key"}', encoding="utf-8")
    with pytest.raises(CatalogFormatError, match="Invalid API Key"):
        read_catalog(api_error)


# -- Kaggle MovieGenre.csv -------------------------------------------------------------------------

KAGGLE = (
    "imdbId,Imdb Link,Title,IMDB Score,Genre,Poster\n"
    "114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation|Adventure|Comedy,"
    "https://images.example/toy.jpg\n"
    "113041,http://www.imdb.com/title/tt113041,Père Noël est une ordure (1982),7.0,Comedy,"
    "https://images.example/pere.jpg\n"
    "114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation|Adventure|Comedy,"
    "https://images.example/toy.jpg\n"
    ",http://www.imdb.com/title/,Nobody (2000),5.0,Drama,\n"
    "1234567,http://www.imdb.com/title/tt1234567,No Year Title,,Drama|Sci-Fi,\n"
)


def test_kaggle_latin1(tmp_path: Path) -> None:
    path = tmp_path / "MovieGenre.csv"
    path.write_bytes(KAGGLE.encode("latin-1"))
    read = read_catalog(path)
    assert read.fmt == "kaggle"
    assert [r.imdb_id for r in read.records] == ["tt0114709", "tt0113041", "tt0114709", "tt1234567"]
    toy, pere, _, no_year = read.records
    assert (toy.title, toy.year, toy.genres, toy.imdb_rating) == (
        "Toy Story",
        1995,
        ("Animation", "Adventure", "Comedy"),
        8.3,
    )
    assert toy.poster_url == "https://images.example/toy.jpg"
    assert (pere.title, pere.year) == ("Père Noël est une ordure", 1982)
    assert (no_year.title, no_year.year, no_year.imdb_rating) == ("No Year Title", None, None)
    assert [(r.line, r.reason) for r in read.rejected] == [(5, "no IMDb id")]


def test_kaggle_resaved_as_utf8_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "MovieGenre-utf8.csv"
    path.write_text(KAGGLE, encoding="utf-8")
    assert read_catalog(path).records[1].title == "Père Noël est une ordure"


def test_latin1_file_read_as_ours_rejects_rows_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "MovieGenre.csv"
    path.write_bytes(KAGGLE.encode("latin-1"))
    with pytest.raises(CatalogFormatError, match="needs column"):
        read_catalog(path, "ours")


# -- detection and unreadable files ----------------------------------------------------------------


def test_format_override_beats_detection(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text(API_HEADER + _api_row(0, "tt0110001", GOOD_LIST), encoding="utf-8")
    assert read_catalog(path).fmt == "imdb-api-csv"
    with pytest.raises(CatalogFormatError, match=r"needs column.*imdbId"):
        read_catalog(path, "kaggle")
    with pytest.raises(CatalogFormatError, match="unknown catalog format 'xml'"):
        read_catalog(path, "xml")


@pytest.mark.parametrize("content", [b"", b"   \n", b"name,age\nbob,3\n", b"\x89PNG\r\n\x1a\n\x00\x00binary"])
def test_unrecognised_files_raise_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mystery.csv"
    path.write_bytes(content)
    with pytest.raises(CatalogFormatError, match=r"mystery\.csv"):
        read_catalog(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogFormatError, match=r"nope\.csv"):
        read_catalog(tmp_path / "nope.csv")
    with pytest.raises(CatalogFormatError, match="folder"):
        read_catalog(tmp_path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("imdb_id,title,year,genres,poster\ntt0000001,Émile,1990,Drama,\n".encode("utf-8-sig"))
    read = read_catalog(path)
    assert read.fmt == "ours" and read.records[0].title == "Émile" and not read.notes
