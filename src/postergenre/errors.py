"""Errors a user can cause. Each message names the input (file, row, field) at fault.

The CLI prints them as one line with a non-zero exit; the service maps them to 4xx JSON.
"""

TOO_LARGE = "too_large"
"""`kind` of an error about a file or download over the byte limit (raising the limit helps)."""
PRIVATE_ADDRESS = "private_address"
"""`kind` of an error about a URL refused for a non-public address (allowing private URLs helps)."""
HOST_NOT_FOUND = "host_not_found"
CONNECTION_REFUSED = "connection_refused"
NETWORK_UNREACHABLE = "network_unreachable"
"""`kind`s of a download that failed for a reason of the network, not of the URL (read by the offline stop)."""


class PosterGenreError(Exception):
    """Base for every user-caused error. `kind` (TOO_LARGE, PRIVATE_ADDRESS or None), set where it is raised, lets an
    interface add its own hint (an option name) without reading the message."""

    def __init__(self, *args: object, kind: str | None = None):
        super().__init__(*args)
        self.kind = kind


class CatalogFormatError(PosterGenreError):
    """A catalog file cannot be read as any supported format."""


class PosterDecodeError(PosterGenreError):
    """Bytes that are not a usable poster image (not an image, corrupt, bomb, too small)."""


class NotAnImageError(PosterDecodeError):
    """Bytes in no accepted image format at all (the service answers 415, not 422)."""


class FetchError(PosterGenreError):
    """A poster URL could not be downloaded as an image; `kind` may also be a network kind (HOST_NOT_FOUND,
    CONNECTION_REFUSED, NETWORK_UNREACHABLE), which the bulk fetch's offline stop reads."""


class EmptySelectionError(PosterGenreError):
    """Filters left no movies; the message names the filter that emptied the selection."""


class OutputPathError(PosterGenreError):
    """A file or folder cannot be written where the user asked: a folder where a file is expected (or the reverse),
    a parent that is a file, a read-only or full location. The message names the path and the reason."""


class ModelError(PosterGenreError):
    """A model artifact is missing, corrupt, or incompatible with the data it is used on."""


class NotFoundError(PosterGenreError):
    """A stored thing named by the user (a campaign, a variant, a team member) does not exist (service: 404)."""


class ConflictError(PosterGenreError):
    """The request contradicts what is stored: a name already taken, a campaign already full (service: 409)."""
