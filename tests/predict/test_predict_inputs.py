"""Resolving CLI arguments into poster items: every kind of input, and every bad one as an item error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from postergenre.errors import PosterGenreError
from postergenre.predict.inputs import PosterInput, resolve_inputs


def test_file_folder_glob_and_url_resolve_in_order(tmp_path: Path, three_posters: list[Path]) -> None:
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(three_posters[0], folder / "a.jpg")
    shutil.copy(three_posters[1], folder / "sub" / "b.JPG")
    (folder / "notes.txt").write_text("not a poster")
    (folder / ".hidden").mkdir()
    shutil.copy(three_posters[2], folder / ".hidden" / "c.jpg")

    items = resolve_inputs(
        [str(three_posters[0]), str(folder), str(folder / "**" / "*.JPG"), "https://example.org/p.jpg"]
    )

    assert [i.path for i in items[:3]] == [three_posters[0], folder / "a.jpg", folder / "sub" / "b.JPG"]
    assert items[3].path == folder / "sub" / "b.JPG"  # the glob (recursive **)
    assert items[4].url == "https://example.org/p.jpg" and items[4].path is None
    assert all(i.error is None for i in items)
    assert items[1].read_bytes() == three_posters[0].read_bytes()


def test_missing_inputs_become_item_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    items = resolve_inputs([str(tmp_path / "nope.jpg"), str(empty), str(tmp_path / "*.png"), "ftp://host/x.jpg"])
    errors = [i.error for i in items]
    assert "no such file or folder" in errors[0] and "nope.jpg" in errors[0]
    assert "folder contains no images" in errors[1]
    assert "no files match" in errors[2]
    assert "unsupported URL scheme 'ftp'" in errors[3]
    with pytest.raises(PosterGenreError, match=r"nope\.jpg"):
        items[0].read_bytes()


def test_csv_rows_with_relative_absolute_paths_and_urls(tmp_path: Path, three_posters: list[Path]) -> None:
    (tmp_path / "img").mkdir()
    shutil.copy(three_posters[0], tmp_path / "img" / "one.jpg")
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "imdb_id,poster\n"
        "tt001,img/one.jpg\n"
        f"tt002,{three_posters[1]}\n"
        "tt003,https://example.org/3.jpg\n"
        "tt004,\n"
        "tt005,img/missing.jpg\n",
        encoding="utf-8",
    )
    items = resolve_inputs([str(csv_file)])
    assert [i.id for i in items] == ["tt001", "tt002", "tt003", "tt004", "tt005"]
    assert items[0].path == tmp_path / "img" / "one.jpg"  # relative to the CSV, not the cwd
    assert items[1].path == three_posters[1]
    assert items[2].url == "https://example.org/3.jpg"
    assert "list.csv:5" in items[3].error and "no 'poster' value" in items[3].error
    assert "list.csv:6" in items[4].error and "not found" in items[4].error


def test_csv_with_id_poster_header_and_without_poster_column(tmp_path: Path, three_posters: list[Path]) -> None:
    good = tmp_path / "a.csv"
    good.write_text(f"id,poster\nx1,{three_posters[0]}\n", encoding="utf-8")
    assert resolve_inputs([str(good)]) == [PosterInput(source="x1", path=three_posters[0], id="x1")]
    bad = tmp_path / "b.csv"
    bad.write_text("id,title\nx1,Some film\n", encoding="utf-8")
    (item,) = resolve_inputs([str(bad)])
    assert "no poster column" in item.error and "b.csv" in item.error


def test_unreadable_file_is_an_error_at_read_time(tmp_path: Path) -> None:
    folder_named_jpg = tmp_path / "x.jpg"
    folder_named_jpg.mkdir()
    (folder_named_jpg / "inner.png").write_bytes(b"\x89PNG")
    item = PosterInput(source=str(folder_named_jpg), path=folder_named_jpg)
    with pytest.raises(PosterGenreError, match=r"x\.jpg"):
        item.read_bytes()
