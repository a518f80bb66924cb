"""Genre and content-rating normalisation: every source spelling lands on one canonical name."""

from __future__ import annotations

import pytest

from postergenre.catalog.genres import GENRES, UnknownGenreError, normalise_genre, normalise_genres, normalise_rating
from postergenre.errors import PosterGenreError


def test_vocabulary_is_imdbs_28_genres() -> None:
    assert len(GENRES) == len(set(GENRES)) == 28
    assert {"Sci-Fi", "Film-Noir", "Reality-TV", "Game-Show", "Talk-Show"} <= set(GENRES)


@pytest.mark.parametrize("genre", GENRES)
def test_canonical_names_map_to_themselves_in_any_case(genre: str) -> None:
    assert normalise_genre(genre) == genre
    assert normalise_genre(f"  {genre.upper()} ") == genre
    assert normalise_genre(genre.lower().replace("-", " ")) == genre


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Science Fiction", "Sci-Fi"),
        ("science-fiction", "Sci-Fi"),
        ("SciFi", "Sci-Fi"),
        ("sci fi", "Sci-Fi"),
        ("Film Noir", "Film-Noir"),
        ("noir", "Film-Noir"),
        ("Sports", "Sport"),
        ("Biopic", "Biography"),
        ("Kids", "Family"),
        ("Children's", "Family"),
        ("Reality TV", "Reality-TV"),
        ("Game Show", "Game-Show"),
        ("talk-show", "Talk-Show"),
        ("Animated", "Animation"),
        (" Family", "Family"),
    ],
)
def test_aliases(text: str, expected: str) -> None:
    assert normalise_genre(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "N/A", "n/a", "None", None])
def test_empty_values_are_dropped(text: str | None) -> None:
    assert normalise_genre(text) is None


def test_unknown_genre_names_the_genre() -> None:
    with pytest.raises(UnknownGenreError, match="Superhero") as info:
        normalise_genre("Superhero")
    assert info.value.genre == "Superhero"
    assert isinstance(info.value, PosterGenreError)


def test_normalise_genres_dedups_keeps_order_and_drops_empties() -> None:
    assert normalise_genres(["Sci Fi", "Comedy", "Science Fiction", "N/A", ""]) == ("Sci-Fi", "Comedy")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("PG-13", "PG-13"),
        ("pg-13", "PG-13"),
        ("PG13", "PG-13"),
        ("Rated PG", "PG"),
        ("rated pg-13", "PG-13"),
        ("NR", "Not Rated"),
        ("not rated", "Not Rated"),
        ("Unrated", "Unrated"),
        ("g", "G"),
        (" R ", "R"),
        ("nc17", "NC-17"),
        ("tv-ma", "TV-MA"),
        ("TV14", "TV-14"),
        ("Approved", "Approved"),
        ("passed", "Passed"),
        ("TV-Y7-FV", "TV-Y7-FV"),
    ],
)
def test_rating_variants(text: str, expected: str) -> None:
    assert normalise_rating(text) == expected


@pytest.mark.parametrize("text", ["", "N/A", "  ", None])
def test_empty_rating_is_none(text: str | None) -> None:
    assert normalise_rating(text) is None


def test_unlisted_rating_is_kept_trimmed() -> None:
    assert normalise_rating("  12A ") == "12A"
