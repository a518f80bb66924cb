"""One genre vocabulary and one content-rating vocabulary for every catalog source.

Sources spell the same genre many ways ("Sci-Fi", "Science Fiction", "sci fi"); the model and every
report count genres by name, so all spellings must land on one canonical name before they are stored.
An unknown genre is an error rather than a silent drop: dropping it would quietly change a movie's labels.
"""

from __future__ import annotations

import re

from ..errors import PosterGenreError

# IMDb's genre list: the labels of the shared data and of the predecessor's IMDb-API export.
GENRES: tuple[str, ...] = (
    "Action",
    "Adult",
    "Adventure",
    "Animation",
    "Biography",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Family",
    "Fantasy",
    "Film-Noir",
    "Game-Show",
    "History",
    "Horror",
    "Music",
    "Musical",
    "Mystery",
    "News",
    "Reality-TV",
    "Romance",
    "Sci-Fi",
    "Short",
    "Sport",
    "Talk-Show",
    "Thriller",
    "War",
    "Western",
)

# Other spellings seen in catalog exports, keyed like _key() (lower case, no spaces/punctuation).
_GENRE_ALIASES: dict[str, str] = {
    "sciencefiction": "Sci-Fi",
    "noir": "Film-Noir",
    "sports": "Sport",
    "biopic": "Biography",
    "biographical": "Biography",
    "kids": "Family",
    "children": "Family",
    "childrens": "Family",
    "kidsfamily": "Family",
    "animated": "Animation",
    "historical": "History",
    "romantic": "Romance",
    "documentaries": "Documentary",
    "docs": "Documentary",
    "reality": "Reality-TV",
    "realitytelevision": "Reality-TV",
    "musicals": "Musical",
    "westerns": "Western",
    "thrillers": "Thriller",
    "shorts": "Short",
    "shortfilm": "Short",
    "adultsonly": "Adult",
}

# Values that mean "no genre" rather than an unknown one.
_EMPTY = {"", "na", "n/a", "none", "null", "nan", "-", "unknown"}


class UnknownGenreError(PosterGenreError, ValueError):
    """A genre name that is neither canonical nor a known alias."""

    def __init__(self, text: str):
        self.genre = text
        super().__init__(f"unknown genre {text!r} (known genres: {', '.join(GENRES)})")


def _key(text: str) -> str:
    return re.sub(r"[\s\-_'’.&/]+", "", text).lower()


_GENRE_INDEX: dict[str, str] = {_key(g): g for g in GENRES} | _GENRE_ALIASES


def normalise_genre(text: str | None) -> str | None:
    """Canonical genre for `text`; None for empty/"N/A"; UnknownGenreError names anything else."""
    if text is None:
        return None
    cleaned = text.strip()
    if cleaned.lower() in _EMPTY:
        return None
    found = _GENRE_INDEX.get(_key(cleaned))
    if found is None:
        raise UnknownGenreError(cleaned)
    return found


def normalise_genres(texts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Canonical genres in first-seen order, without empties or repeats."""
    out: list[str] = []
    for text in texts:
        genre = normalise_genre(text)
        if genre is not None and genre not in out:
            out.append(genre)
    return tuple(out)


# -- content ratings ---------------------------------------------------------------------------

RATINGS: tuple[str, ...] = (
    "G",
    "PG",
    "PG-13",
    "R",
    "NC-17",
    "Not Rated",
    "Unrated",
    "Approved",
    "Passed",
    "GP",
    "M",
    "M/PG",
    "X",
    "TV-Y",
    "TV-Y7",
    "TV-Y7-FV",
    "TV-G",
    "TV-PG",
    "TV-14",
    "TV-MA",
    "E",
    "E10+",
    "T",
)

_RATING_ALIASES: dict[str, str] = {
    "nr": "Not Rated",
    "notrated": "Not Rated",
    "unrated": "Unrated",
    "ur": "Unrated",
    "pg13": "PG-13",
    "nc17": "NC-17",
    "mpg": "M/PG",
    "tvy7fv": "TV-Y7-FV",
    "e10": "E10+",
}


def _rating_key(text: str) -> str:
    return re.sub(r"[\s\-_/+.]+", "", text).lower()


_RATING_INDEX: dict[str, str] = {_rating_key(r): r for r in RATINGS} | _RATING_ALIASES


FAMILY_RATINGS: tuple[str, ...] = ("G", "PG")
"""The content ratings of the studio's family films (evaluation segments, the model card)."""


def normalise_rating(text: str | None) -> str | None:
    """Canonical content rating ("pg13", "Rated PG-13" -> "PG-13"; "NR" -> "Not Rated").

    None for empty/"N/A". A rating outside the list (e.g. a foreign certificate "12A") is kept as
    written, trimmed: it is still a useful filter value and there is nothing to map it to.
    """
    if text is None:
        return None
    cleaned = " ".join(text.split())
    if cleaned.lower() in _EMPTY:
        return None
    cleaned = re.sub(r"^rated\s+", "", cleaned, flags=re.IGNORECASE)
    return _RATING_INDEX.get(_rating_key(cleaned), cleaned)
