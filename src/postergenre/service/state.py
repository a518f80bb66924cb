"""What every request handler needs, loaded once per app in its lifespan and handed out with `Depends`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from ..campaigns.store import CampaignStore
from ..config import Paths, get_paths
from ..errors import PosterGenreError
from ..model.artifact import CARD_FILE
from ..posters.fetch import FetchLimits
from ..posters.store import PosterStore
from ..predict.predictor import Predictor
from . import ServiceSettings
from .auth import TeamAccess
from .limits import AdmissionGate

logger = logging.getLogger("postergenre.service")


@dataclass
class ServiceState:
    settings: ServiceSettings
    predictor: Predictor
    paths: Paths
    gate: AdmissionGate
    fetch_gate: AdmissionGate
    fetch_limits: FetchLimits
    store: PosterStore
    access: TeamAccess
    card_markdown: str = ""
    similar_error: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: ServiceSettings, predictor: Predictor | None) -> ServiceState:
        """Load the model (unless given) and the catalog's neighbour index: slow, so done once at startup."""
        if predictor is None:
            predictor = Predictor.load(model_dir=settings.model_dir, home=settings.home, runtime=settings.runtime)
        paths = get_paths(settings.home if settings.home is not None else predictor.home)
        state = cls(
            settings=settings,
            predictor=predictor,
            paths=paths,
            gate=AdmissionGate(settings.max_concurrency, settings.max_waiting),
            # URL downloads wait on the network, not the CPU: their own small pool.
            fetch_gate=AdmissionGate(4, 16),
            fetch_limits=FetchLimits(
                timeout_s=10.0,
                max_bytes=settings.max_upload_bytes,
                retries=1,
                allow_private_hosts=settings.allow_private_urls,
            ),
            store=PosterStore(paths.posters),
            access=TeamAccess(paths.db, required=settings.require_token),
        )
        with state.campaigns(sweep=True) as campaigns:  # sweeps what a killed writer left
            if campaigns.last_sweep.removed:
                logger.warning(
                    "removed %d poster files and temporaries a killed writer left in %s",
                    campaigns.last_sweep.removed,
                    paths.campaign_posters,
                )
        card = Path(predictor.model_dir) / CARD_FILE if predictor.model_dir else None
        state.card_markdown = (
            card.read_text(encoding="utf-8") if card and card.is_file() else "(this model has no card)"
        )
        try:
            index = predictor.similarity(paths.home)
            state.filters = _filter_choices(index.movies.values())
            catalog = predictor.audiences(paths.home)
            # Every rating the catalog holds (not only those of titles with a poster), and the studio's own as
            # the default, as the brief's audiences use them.
            state.filters.update(
                ratings=catalog.ratings_held,
                default_ratings=list(catalog.rating_default.ratings),
                ratings_note=catalog.rating_default.note,
            )
        except PosterGenreError as exc:
            logger.warning("comparable titles unavailable: %s", exc)
            state.similar_error = str(exc)
        return state

    def campaigns(self, *, sweep: bool = False) -> CampaignStore:
        """The campaign tables, on a connection of its own (one per request, used from a worker thread: a write
        waiting for another process's lock holds up nothing else)."""
        return CampaignStore(self.paths.db, self.paths.campaign_posters, sweep=sweep)


def _filter_choices(movies: Any) -> dict[str, Any]:
    """What the comparable-title filters can take, from the titles that can actually be returned."""
    collections: set[str] = set()
    ratings: set[str] = set()
    genres: set[str] = set()
    years: list[int] = []
    for m in movies:
        collections.update(getattr(m, "collections", ()) or ())
        if m.content_rating:
            ratings.add(m.content_rating)
        genres.update(m.genres)
        if m.year:
            years.append(m.year)
    ordered = sorted(collections, key=lambda c: (c != "studio", c))  # the studio's own films first
    return {
        "collections": ordered,
        "ratings": sorted(ratings),
        "genres": sorted(genres),
        "year_min": min(years, default=None),
        "year_max": max(years, default=None),
    }


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


StateDep = Annotated[ServiceState, Depends(get_state)]


async def admitted(state: StateDep) -> AsyncIterator[ServiceState]:
    """A place in the admission gate for the whole request, taken BEFORE the body is read (else 503 at once)."""
    async with state.gate.admission():
        yield state


AdmittedDep = Annotated[ServiceState, Depends(admitted)]


def get_member(request: Request) -> str:
    """The team member making the request (set by `auth.TeamAccessGuard`; an open server's owner without a token)."""
    return request.state.member


MemberDep = Annotated[str, Depends(get_member)]
