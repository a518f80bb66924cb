"""Errors a user can cause. Each message names the input (file, row, field) at fault.

The CLI prints them as one line with a non-zero exit; the service maps them to 4xx JSON.
"""


class PosterGenreError(Exception):
    """Base for every user-caused error."""


class CatalogFormatError(PosterGenreError):
    """A catalog file cannot be read as any supported format."""


class PosterDecodeError(PosterGenreError):
    """Bytes that are not a usable poster image (not an image, corrupt, bomb, too small)."""


class NotAnImageError(PosterDecodeError):
    """Bytes in no accepted image format at all (the service answers 415, not 422)."""


class FetchError(PosterGenreError):
    """A poster URL could not be downloaded as an image."""


class EmptySelectionError(PosterGenreError):
    """Filters left no movies; the message names the filter that emptied the selection."""


class ModelError(PosterGenreError):
    """A model artifact is missing, corrupt, or incompatible with the data it is used on."""
