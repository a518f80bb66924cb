"""Readers for every catalog file format, each turning rows into normalised MovieRecords.

One reader per source format; all share the normalisation of ids, genres, ratings and years so the
catalog never stores two spellings of one thing. A bad row becomes a RejectedRow (file, physical line,
reason) and reading goes on; only a file that cannot be read as a catalog at all raises
CatalogFormatError. Nothing here touches the database: the caller upserts `records` in one transaction.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CatalogFormatError
from ..safe_text import safe_text
from .genres import UnknownGenreError, normalise_genres, normalise_rating
from .records import MovieRecord, RejectedRow
from .text import repair_text

FORMATS: tuple[str, ...] = ("ours", "imdb-api-csv", "imdb-api-json", "kaggle")

_ID_RE = re.compile(r"^(?:(?:https?://)?(?:www\.|m\.)?imdb\.com/title/)?(?:tt)?(\d{1,10})(?:\.0)?/?$", re.IGNORECASE)
_YEAR_RE = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")
_TITLE_YEAR_RE = re.compile(r"^(?P<title>.*?)\s*\((?P<year>1[89]\d\d|2[01]\d\d)(?:[–-]\d{0,4})?\s*\)\s*$")
_MAX_LITERAL = 20_000  # characters; genreList cells are ~100, anything huge is not a genre list


class RowError(ValueError):
    """A problem with one row; becomes a RejectedRow with this message as the reason."""


@dataclass
class CatalogRead:
    """What a reader made of one file."""

    records: list[MovieRecord]
    rejected: list[RejectedRow]
    fmt: str
    path: Path | None = None
    notes: list[str] = field(default_factory=list)  # file-level hints shown once (e.g. encoding)
    lines: list[int] = field(default_factory=list)  # first physical line of each record, parallel to records


# -- field normalisation ---------------------------------------------------------------------------


def normalise_imdb_id(value: Any) -> str | None:
    """'114709', 'tt114709', ' TT0114709 ', an imdb.com title URL -> 'tt0114709'; None if not an id."""
    if value is None:
        return None
    match = _ID_RE.match(str(value).strip())
    if not match or int(match.group(1)) == 0:
        return None
    return f"tt{int(match.group(1)):07d}"


def _text(value: Any) -> str | None:
    """A cell's text, whitespace collapsed; None when empty. Not repaired: ids, ratings, poster paths and URLs
    stay as written (a decomposed-Unicode file name must still name the file on disk)."""
    if value is None:
        return None
    cleaned = " ".join(str(value).split())
    return cleaned if cleaned and cleaned.lower() not in ("n/a", "none", "null", "nan") else None


def _title(value: Any) -> str | None:
    """A title with its encoding repaired (catalog.text): titles and plots are the fields repaired, at import
    and by the schema-2 migration."""
    return repair_text(_text(value))


def _paragraphs(value: Any) -> str | None:
    """Free text whose line breaks matter (plots): spaces collapsed within each line, blank lines between
    paragraphs kept as one ("\n\n"), so a re-import compares equal to what was stored."""
    if _text(value) is None:
        return None
    lines = [" ".join(line.split()) for line in repair_text(str(value)).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _require_id(value: Any) -> str:
    if _text(value) is None:
        raise RowError("no IMDb id")
    imdb_id = normalise_imdb_id(value)
    if imdb_id is None:
        raise RowError(f"bad IMDb id {str(value).strip()!r} (expected tt + digits, e.g. tt0114709)")
    return imdb_id


def _year(value: Any, field_name: str) -> int | None:
    """A year from a cell that is just a year ("1995", "1995.0")."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise RowError(f"{field_name} {text!r} is not a year") from None
    if not math.isfinite(number) or number != int(number):  # "inf", "1e400" (overflows to inf), "1995.5"
        raise RowError(f"{field_name} {text!r} is not a year")
    year = int(number)
    if not 1870 <= year <= 2199:
        raise RowError(f"{field_name} {text!r} is not a plausible release year")
    return year


def _year_in(value: Any) -> int | None:
    """The first year inside free text ("1990", "(1990)", "1990 TV Movie"); None if there is none."""
    text = _text(value)
    match = _YEAR_RE.search(text) if text else None
    return int(match.group(1)) if match else None


def _float(value: Any, field_name: str, low: float, high: float) -> float | None:
    """A number within [low, high]; "inf", "1e400" and out-of-range values reject the row."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        raise RowError(f"{field_name} {text!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise RowError(f"{field_name} {text!r} is out of range ({low:g} to {high:g})")
    return number


def _int(value: Any, field_name: str, low: int, high: int) -> int | None:
    number = _float(value, field_name, low, high)
    return None if number is None else int(number)


def _genres(names: list[str]) -> tuple[str, ...]:
    try:
        return normalise_genres(names)
    except UnknownGenreError as exc:
        raise RowError(f"unknown genre {exc.genre!r}") from None


def _poster_url(value: Any) -> str | None:
    """An http(s) poster URL; IMDb-API's 'nopicture' placeholder counts as no poster."""
    text = _text(value)
    if text is None or not re.match(r"^https?://", text, re.IGNORECASE) or "nopicture" in text.lower():
        return None
    return text


def _check_encoding(values: Iterable[Any]) -> None:
    """Undecodable bytes survive decoding as lone surrogates (surrogateescape); they reject the row."""
    for value in values:
        bad = re.search("[\udc80-\udcff]", value) if isinstance(value, str) else None
        if bad:
            raise RowError(
                f"not valid UTF-8 (byte 0x{ord(bad.group()) - 0xDC00:02x} in {value[:40]!r}); "
                f"see the encoding note below"
            )


# -- decoding and detection ------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CatalogFormatError(f"cannot read catalog file {path}: {exc.strerror or exc}") from None


def _decode_utf8(path: Path, data: bytes) -> tuple[str, list[str]]:
    """UTF-8 text (BOM dropped); bad bytes are kept as surrogates so the rows holding them get rejected."""
    text = data.decode("utf-8-sig", errors="surrogateescape")
    notes = []
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        notes.append(
            f"{path} is not valid UTF-8 (first bad byte on line {line}): if it is the Kaggle "
            f"MovieGenre.csv (Latin-1) import it with --format kaggle, otherwise re-save it as UTF-8"
        )
    return text, notes


def _decode_kaggle(data: bytes) -> str:
    """MovieGenre.csv as published is Latin-1; a copy re-saved as UTF-8 is read as UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _header_key(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).lower()


HEADER_EXCERPT = 300  # characters of a header quoted in an error (a stray file's first line can be anything)


def detect_format(path: Path, data: bytes) -> str:
    """Format from the file's structure: JSON, or the columns of the CSV header."""
    if b"\x00" in data[:4096]:  # no CSV or JSON text holds NUL bytes; images and archives do
        raise CatalogFormatError(
            f"{path}: binary data (an image? a spreadsheet?), not a catalog file: catalogs are CSV or JSON text"
        )
    head = data[:4096].decode("utf-8-sig", errors="replace").lstrip()
    if not head:
        raise CatalogFormatError(f"{path} is empty")
    if head[0] in "[{":
        return "imdb-api-json"
    first_line = next(csv.reader(io.StringIO(head)), [])
    columns = {_header_key(c) for c in first_line}
    if {"imdbid", "genre", "title"} <= columns:
        return "kaggle"
    if {"id", "title"} <= columns and columns & {"genres", "genrelist"}:
        return "imdb-api-csv"
    if {"imdbid", "genres"} <= columns:
        return "ours"
    raise CatalogFormatError(
        f"{path}: cannot tell the catalog format from its header "
        f"({safe_text(', '.join(first_line[:12]), HEADER_EXCERPT) or 'no columns'}); "
        f"expected one of: ours (imdb_id,title,year,genres,poster), imdb-api-csv (id,title,genres,genreList,...), "
        f"imdb-api-json, kaggle (imdbId,Imdb Link,Title,IMDB Score,Genre,Poster); or pass --format"
    )


# -- CSV readers -----------------------------------------------------------------------------------

RowParser = Callable[[dict[str, str]], MovieRecord]


def _csv_rows(text: str) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(first physical line, cells, error) for each CSV record; the header is the first one."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"malformed CSV: {exc}"
            start = reader.line_num + 1
            continue
        if cells:
            yield start, cells, None
        start = reader.line_num + 1


def _read_csv(path: Path, text: str, fmt: str, required: tuple[str, ...], parse: RowParser) -> CatalogRead:
    rows = _csv_rows(text)
    first = next(rows, None)
    if first is None or first[1] is None:
        raise CatalogFormatError(f"{path}: no CSV header line")
    header = [_header_key(c) for c in first[1]]
    missing = [c for c in required if _header_key(c) not in header]
    if missing:
        raise CatalogFormatError(
            f"{path}: format {fmt} needs column(s) {', '.join(missing)}; the header has: "
            f"{safe_text(', '.join(first[1]), HEADER_EXCERPT)}"
        )
    records: list[MovieRecord] = []
    lines: list[int] = []
    rejected: list[RejectedRow] = []
    for line, cells, error in rows:
        try:
            if error is not None:
                raise RowError(error)
            assert cells is not None
            if len(cells) > len(header):
                raise RowError(f"{len(cells)} fields where the header has {len(header)} (unquoted comma?)")
            _check_encoding(cells)
            # a short row (trailing empty fields left out) fills the first columns only
            row = {name: cell for name, cell in zip(header, cells, strict=False) if name}
            records.append(parse(row))
            lines.append(line)
        except RowError as exc:
            rejected.append(RejectedRow(str(path), line, str(exc)))
    return CatalogRead(records, rejected, fmt, path, lines=lines)


def _ours(folder: Path) -> RowParser:
    def parse(row: dict[str, str]) -> MovieRecord:
        poster = _text(row.get("poster"))
        poster_url = _poster_url(poster)
        poster_file = None
        if poster and poster_url is None:
            poster_file = str((folder / poster).resolve())  # absolute paths stay as they are
        return MovieRecord(
            imdb_id=_require_id(row.get("imdbid")),
            title=_title(row.get("title")),
            year=_year(row.get("year"), "year"),
            genres=_genres((row.get("genres") or "").split("|")),
            poster_url=poster_url,
            poster_file=poster_file,
        )

    return parse


def _genre_list(value: Any) -> list[str] | None:
    """genreList as the IMDb API gives it: [{'key': 'Comedy', 'value': 'Comedy'}, ...] (or a literal of it).

    ast.literal_eval only builds literals (no code runs); oversized cells are refused before parsing.
    None when the cell is empty, so the caller falls back to the plain `genres` text.
    """
    if value is None or (isinstance(value, str) and _text(value) is None):
        return None
    if isinstance(value, str):
        if len(value) > _MAX_LITERAL:
            raise RowError(f"malformed genreList: {len(value)} characters long")
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise RowError(f"malformed genreList {value.strip()[:80]!r}") from None
    if not isinstance(value, (list, tuple)):
        raise RowError(f"malformed genreList: expected a list, got {type(value).__name__}")
    names: list[str] = []
    for item in value:
        name = item.get("value", item.get("key")) if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise RowError(f"malformed genreList entry {item!r}")
        names.append(name)
    return names


def _imdb_api_record(row: dict[str, Any]) -> MovieRecord:
    """One IMDb-API record (CSV row or JSON object) keyed by _header_key names."""
    names = _genre_list(row.get("genrelist"))
    if names is None:
        names = str(row.get("genres") or "").split(",")
    return MovieRecord(
        imdb_id=_require_id(row.get("id")),
        title=_title(row.get("title")),
        year=_year_in(row.get("year")) or _year_in(row.get("description")),
        genres=_genres(names),
        content_rating=normalise_rating(_text(row.get("contentrating"))),
        plot=_paragraphs(row.get("plot")),
        imdb_rating=_float(row.get("imdbrating"), "imDbRating", 0, 10),
        imdb_votes=_int(row.get("imdbratingvotes"), "imDbRatingVotes", 0, 10**10),
        poster_url=_poster_url(row.get("image")),
    )


def _kaggle(row: dict[str, str]) -> MovieRecord:
    title = _title(row.get("title"))
    year = None
    if title:
        match = _TITLE_YEAR_RE.match(title)
        if match:
            title, year = match.group("title") or None, int(match.group("year"))
    return MovieRecord(
        imdb_id=_require_id(row.get("imdbid")),
        title=title,
        year=year,
        genres=_genres((row.get("genre") or "").split("|")),
        imdb_rating=_float(row.get("imdbscore"), "IMDB Score", 0, 10),
        poster_url=_poster_url(row.get("poster")),
    )


# -- JSON reader -----------------------------------------------------------------------------------


class _JSONObject(dict):
    """A decoded JSON object that remembers keys given more than once (json keeps only the last)."""

    duplicate_keys: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JSONObject:
    obj = _JSONObject(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        repeated = []
        for k, _ in pairs:
            if k in seen:
                repeated.append(k)
            seen.add(k)
        obj.duplicate_keys = tuple(repeated)
    return obj


def _json_records(path: Path, text: str) -> list[tuple[int, Any]]:
    """(first physical line, record) for each record of {"items": [...]}, {"results": [...]} or [...]."""
    decoder = json.JSONDecoder(object_pairs_hook=_json_object)
    try:
        document = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise CatalogFormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise CatalogFormatError(
            f"{path}: JSON nested too deeply to be a catalog (a catalog is a list of flat records)"
        ) from None
    if isinstance(document, list):
        start = len(text) - len(text.lstrip())
        return _array_items(text, start, decoder)
    if isinstance(document, dict):
        for key in ("items", "results"):
            if isinstance(document.get(key), list):
                offsets = _top_level_offsets(text, key, decoder)
                if len(offsets) > 1:
                    where = " and ".join(f"line {text.count(chr(10), 0, o) + 1}" for o in offsets)
                    raise CatalogFormatError(
                        f'{path}: the key "{key}" appears {len(offsets)} times at the top '
                        f"level ({where}); which list is the catalog is ambiguous"
                    )
                if not document[key] and document.get("errorMessage"):
                    raise CatalogFormatError(
                        f"{path}: the export holds no records, only the API error {document['errorMessage']!r}"
                    )
                return _array_items(text, offsets[0], decoder)
    raise CatalogFormatError(
        f'{path}: JSON catalog must be a list of records or an object with "items" or "results" holding one'
    )


def _top_level_offsets(text: str, key: str, decoder: json.JSONDecoder) -> list[int]:
    """Offsets of every value of top-level `key` in a valid JSON object (walks the top level only)."""
    offsets: list[int] = []
    pos = text.index("{") + 1
    while True:
        pos = _skip_ws(text, pos)
        if text[pos] == "}":
            return offsets
        name, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]  # public, missing from typeshed
        pos = _skip_ws(text, pos) + 1  # past ':'
        pos = _skip_ws(text, pos)
        if name == key:
            offsets.append(pos)
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos += 1


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _array_items(text: str, pos: int, decoder: json.JSONDecoder) -> list[tuple[int, Any]]:
    items: list[tuple[int, Any]] = []
    pos = _skip_ws(text, pos + 1)  # past '['
    while text[pos] != "]":
        item, end = decoder.raw_decode(text, pos)
        items.append((text.count("\n", 0, pos) + 1, item))
        pos = _skip_ws(text, end)
        if text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
    return items


def _read_json(path: Path, text: str) -> CatalogRead:
    records: list[MovieRecord] = []
    lines: list[int] = []
    rejected: list[RejectedRow] = []
    for line, item in _json_records(path, text):
        try:
            if not isinstance(item, dict):
                raise RowError(f"record is a JSON {type(item).__name__}, not an object")
            if isinstance(item, _JSONObject) and item.duplicate_keys:
                raise RowError(f"the record gives {', '.join(map(repr, item.duplicate_keys))} more than once")
            try:
                _check_encoding([json.dumps(item, ensure_ascii=False)])
            except RecursionError:
                raise RowError("record nested too deeply") from None
            records.append(_imdb_api_record({_header_key(k): v for k, v in item.items()}))
            lines.append(line)
        except RowError as exc:
            rejected.append(RejectedRow(str(path), line, str(exc)))
    return CatalogRead(records, rejected, "imdb-api-json", path, lines=lines)


# -- entry point -----------------------------------------------------------------------------------


def read_catalog(path: Path, fmt: str | None = None) -> CatalogRead:
    """Read one catalog file; `fmt` (one of FORMATS) overrides detection from the file's structure."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise CatalogFormatError(f"unknown catalog format {fmt!r} for {path}; choose one of: {', '.join(FORMATS)}")
    if path.is_dir():
        raise CatalogFormatError(f"{path} is a folder, not a catalog file")
    data = _read_bytes(path)
    fmt = fmt or detect_format(path, data)
    if fmt == "kaggle":
        return _read_csv(path, _decode_kaggle(data), fmt, ("imdbId", "Title", "Genre"), _kaggle)
    text, notes = _decode_utf8(path, data)
    if fmt == "imdb-api-json":
        read = _read_json(path, text)
    elif fmt == "imdb-api-csv":
        read = _read_csv(path, text, fmt, ("id", "title"), _imdb_api_record)
    else:
        read = _read_csv(path, text, fmt, ("imdb_id", "genres"), _ours(path.resolve().parent))
    read.notes.extend(notes)
    return read
