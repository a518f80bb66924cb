"""Campaigns at work: reading variants with the model, storing the readings, and building a campaign's ranking and
brief from what is stored.

The CLI (`postergenre campaign ...`) and the service (`/v1/campaigns`) call these functions and nothing else, so a
campaign reads the same everywhere. A variant's reading is made once, when it is added, and stored with the model's
fingerprint (`model_fingerprint`): the poster's reading alone (what the ranking uses), the reading fused with the
campaign's synopsis, and the poster's embedding (comparable titles, and a new synopsis, need no re-embedding). The
ranking, the story-vs-poster view and the brief are `brief.build_brief` over predictions rebuilt from those stored
readings: the same rules as an ad-hoc brief, no second ranking. A new synopsis is fused with the stored poster
reading (`ModelCore.read_with_synopsis`): the stored embedding is the poster's own view, not every view a model
reads. A reading made by another model, or for another
synopsis, is *stale*: `campaign_view` says so, `reread` makes it again from the stored poster.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import numpy as np

from ..campaigns.records import Campaign, NewVariant, StoredReading, Variant
from ..campaigns.store import UNSET, CampaignStore
from ..catalog.filters import in_rating_order, parse_ratings
from ..clock import utc_now
from ..errors import ModelError, PosterGenreError
from ..model.decisions import MAX_BRIEF_VARIANTS as MAX_VARIANTS
from ..posters.images import decode_image
from .brief import Brief, build_brief
from .core import ModelCore, match_genres, split_genre_list
from .inputs import PosterInput
from .predictor import Predictor
from .results import GenreReading, PosterFailure, PosterPrediction

if TYPE_CHECKING:
    from .audiences import CatalogAudiences
    from .similar import CatalogSimilarity

_READING_FIELDS = tuple(f.name for f in fields(GenreReading) if f.name != "embedding")
_FINGERPRINTS: weakref.WeakKeyDictionary[ModelCore, tuple[str, str]] = weakref.WeakKeyDictionary()


# -- the model that made a reading -------------------------------------------------------------------------------


def model_fingerprint(core: ModelCore) -> tuple[str, str]:
    """(fingerprint, label): a hash of everything that decides a reading (the artifact's metadata and tensors, and
    the runtime's vector key: int8 and fp32 vectors differ slightly), and the same for people."""
    if core not in _FINGERPRINTS:
        artifact = core.artifact
        digest = hashlib.sha256(json.dumps(artifact.metadata(), sort_keys=True, default=str).encode())
        for name in sorted(artifact.tensors):
            tensor = np.ascontiguousarray(artifact.tensors[name])
            digest.update(f"{name}|{tensor.dtype.str}|{tensor.shape}".encode())
            digest.update(tensor.tobytes())
        digest.update(json.dumps(list(core.vector_key)).encode())
        _FINGERPRINTS[core] = (digest.hexdigest()[:24], f"model of {artifact.created_at} on {core.runtime_name}")
    return _FINGERPRINTS[core]


def synopsis_key(synopsis: str | None) -> str | None:
    """What a reading records of the synopsis it was fused with: its hash (the text stays with the campaign)."""
    text = (synopsis or "").strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24] if text else None


def reading_json(reading: GenreReading) -> dict[str, Any]:
    """A reading as stored: every field but the embedding (stored apart, as float32), at full precision."""
    return {name: getattr(reading, name) for name in _READING_FIELDS}


def reading_from_json(data: dict[str, Any], embedding: np.ndarray | None) -> GenreReading:
    return GenreReading(**{k: v for k, v in data.items() if k in _READING_FIELDS}, embedding=embedding)


def stale_because(reading: StoredReading | None, campaign: Campaign, fingerprint: str) -> list[str]:
    """Why a stored reading no longer holds (empty: it does)."""
    if reading is None:
        return ["it has no stored reading"]
    reasons = []
    if reading.model != fingerprint:
        reasons.append(f"it was made by another model ({reading.model_label})")
    if reading.synopsis != synopsis_key(campaign.synopsis):
        reasons.append("it was read with another synopsis")
    return reasons


# -- reading posters --------------------------------------------------------------------------------------------


def _stored(core: ModelCore, poster: GenreReading, size: tuple[int, int], synopsis: str | None) -> StoredReading:
    fingerprint, label = model_fingerprint(core)
    combined = None
    if synopsis_key(synopsis) and core.has_synopsis:
        combined = reading_json(core.read_with_synopsis(poster, synopsis or ""))
    return StoredReading(
        model=fingerprint,
        model_label=label,
        poster=reading_json(poster),
        embedding=np.asarray(poster.poster_embedding(), dtype=np.float32),
        width=size[0],
        height=size[1],
        read_at=utc_now(),
        synopsis=synopsis_key(synopsis),
        combined=combined,
    )


def read_posters(
    predictor: Predictor, posters: Sequence[tuple[bytes, str]], synopsis: str | None
) -> list[NewVariant | PosterFailure]:
    """Read each (bytes, name) poster: a NewVariant to store, or the failure naming it (not an image, ...)."""
    names = [PurePath(name).name or "poster" for _, name in posters]  # a file name, never the folders above it
    predictions = predictor.predict_many(
        [PosterInput(source=name, data=data) for (data, _), name in zip(posters, names, strict=True)]
    )
    out: list[NewVariant | PosterFailure] = []
    for (data, _), name, p in zip(posters, names, predictions, strict=True):
        if isinstance(p, PosterPrediction):
            out.append(NewVariant(data, name, _stored(predictor.core, p.reading, p.size or (0, 0), synopsis)))
        else:
            out.append(p)
    return out


def _fresh_readings(
    predictor: Predictor, store: CampaignStore, variants: Sequence[Variant], synopsis: str | None
) -> dict[int, StoredReading]:
    """New readings of stored variants for `synopsis`: from the stored embedding when the current model made it
    (only the fusion with the synopsis changes), else from the stored poster file."""
    core = predictor.core
    fingerprint, _ = model_fingerprint(core)
    out: dict[int, StoredReading] = {}
    again = []
    for v in variants:
        if v.reading is not None and v.reading.model == fingerprint:
            poster = reading_from_json(v.reading.poster, v.reading.embedding)
            out[v.id] = _stored(core, poster, (v.reading.width, v.reading.height), synopsis)
        else:
            again.append(v)
    for v, read in zip(
        again,
        read_posters(predictor, [(store.poster_path(v.sha256).read_bytes(), v.name) for v in again], synopsis),
        strict=True,
    ):
        if isinstance(read, PosterFailure):  # the stored file was readable when it was added: someone changed it
            raise PosterGenreError(f"variant {v.id} ({v.name}) of campaign {v.campaign_id}: {read.error}")
        out[v.id] = read.reading
    return out


# -- campaign fields --------------------------------------------------------------------------------------------


def campaign_fields(
    genres: Sequence[str],
    *,
    intended: str | Sequence[str] | None = UNSET,
    ratings: str | Sequence[str] | None = UNSET,
    held_ratings: Sequence[str] = (),
) -> dict[str, Any]:
    """Intended genres and ratings as a campaign stores them, checked: a typo fails naming it (as `brief` does).
    Ratings: None = the studio's own (default), "all" = every rating."""
    out: dict[str, Any] = {}
    if intended is not UNSET:
        out["intended"] = match_genres(split_genre_list(intended), genres)
    if ratings is not UNSET:
        parsed = parse_ratings(ratings, held_ratings)
        out["ratings"] = None if parsed is None else in_rating_order(parsed)
    return out


def create_campaign(
    store: CampaignStore,
    genres: Sequence[str],
    title: str,
    *,
    synopsis: str | None,
    intended: str | Sequence[str] | None,
    ratings: str | Sequence[str] | None = None,
    held_ratings: Sequence[str] = (),
    by: str,
) -> Campaign:
    checked = campaign_fields(genres, intended=intended, ratings=ratings, held_ratings=held_ratings)
    return store.create(title, synopsis=synopsis, by=by, **checked)


def update_campaign(
    store: CampaignStore,
    predictor: Predictor,
    campaign_id: str,
    *,
    by: str,
    title: str | None = UNSET,
    synopsis: str | None = UNSET,
    intended: str | Sequence[str] | None = UNSET,
    ratings: str | Sequence[str] | None = UNSET,
    held_ratings: Sequence[str] = (),
) -> Campaign:
    """Change title, synopsis, intended genres or ratings; a new synopsis re-reads every variant's fused reading in
    the same transaction that stores it."""
    checked = campaign_fields(predictor.genres, intended=intended, ratings=ratings, held_ratings=held_ratings)
    readings = None
    if synopsis is not UNSET:
        campaign = store.get(campaign_id)
        if synopsis_key(synopsis) != synopsis_key(campaign.synopsis):
            readings = _fresh_readings(predictor, store, campaign.variants, synopsis)
    return store.update(campaign_id, by=by, title=title, synopsis=synopsis, readings=readings, **checked)


def add_variants(
    store: CampaignStore, predictor: Predictor, campaign_id: str, posters: Sequence[tuple[bytes, str]], *, by: str
) -> AddResult:
    """Read the posters and store those that could be read, in one transaction; the others are failures."""
    if not posters:
        raise PosterGenreError("no poster to add: give one or more poster files")
    campaign = store.get(campaign_id)
    read = read_posters(predictor, posters, campaign.synopsis)
    new = [r for r in read if isinstance(r, NewVariant)]
    failures = [r for r in read if isinstance(r, PosterFailure)]
    added = store.add_variants(campaign_id, new, by=by, max_variants=MAX_VARIANTS) if new else None
    return AddResult(campaign_id, added.variants if added else [], added.duplicates if added else [], failures)


@dataclass(frozen=True)
class AddResult:
    campaign_id: str
    added: list[Variant]
    duplicates: list[tuple[str, int]]
    failures: list[PosterFailure]

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "added": [v.to_dict() for v in self.added],
            "duplicates": [
                {
                    "name": n,
                    "variant": i,
                    "error": f"{n}: campaign {self.campaign_id} already holds this poster as variant {i}",
                }
                for n, i in self.duplicates
            ],
            "failures": [f.to_dict() for f in self.failures],
        }


def reread(store: CampaignStore, predictor: Predictor, campaign_id: str, *, by: str, every: bool = False) -> int:
    """Read again the variants whose stored reading is stale (with `every`, all of them); how many were read."""
    campaign = store.get(campaign_id)
    fingerprint, _ = model_fingerprint(predictor.core)
    chosen = [v for v in campaign.variants if every or stale_because(v.reading, campaign, fingerprint)]
    if every:  # from the poster files, not the stored embeddings
        chosen = [replace(v, reading=None) for v in chosen]
    readings = _fresh_readings(predictor, store, chosen, campaign.synopsis)
    return store.save_readings(campaign_id, readings, by=by) if readings else 0


# -- what is stored, ranked ---------------------------------------------------------------------------------------


def stored_predictions(
    store: CampaignStore, campaign: Campaign, core: ModelCore, *, images: bool = False
) -> list[PosterPrediction | PosterFailure]:
    """The campaign's variants as predictions rebuilt from their stored poster readings (with the decoded posters
    when `images`: the HTML brief draws heatmaps on them)."""
    out: list[PosterPrediction | PosterFailure] = []
    for v in campaign.variants:
        if v.reading is None:
            out.append(
                PosterFailure(
                    source=v.name,
                    error=f"variant {v.id} has no stored reading: re-read the "
                    f"campaign (`postergenre campaign reread {campaign.id}`)",
                )
            )
            continue
        image = None
        if images:
            image = decode_image(
                store.poster_path(v.sha256).read_bytes(), name=v.name, max_side=core.spec.preprocessing.decode_max_side
            )
        out.append(
            PosterPrediction(
                source=v.name,
                reading=reading_from_json(v.reading.poster, v.reading.embedding),
                sha256=v.sha256,
                size=(v.reading.width, v.reading.height),
                image=image,
            )
        )
    return out


def _brief(
    store: CampaignStore,
    predictor: Predictor,
    campaign: Campaign,
    *,
    audiences: bool,
    heatmaps: bool,
    home: Path | str | None,
) -> Brief | None:
    if not campaign.variants:
        return None
    predictions = stored_predictions(store, campaign, predictor.core, images=heatmaps)
    similarity: CatalogSimilarity | None = None
    catalog: CatalogAudiences | None = None
    unavailable: str | None = "comparable titles are in the campaign's brief"
    if audiences:
        try:
            similarity, catalog, unavailable = predictor.similarity(home), predictor.audiences(home), None
        except ModelError as exc:
            unavailable = str(exc)
    return build_brief(
        predictor.core,
        predictions,
        synopsis=campaign.synopsis,
        intended=campaign.intended,
        title=campaign.title,
        similarity=similarity,
        catalog=catalog,
        unavailable=unavailable,
        ratings=campaign.ratings,
        heatmaps=heatmaps,
    )


@dataclass
class CampaignView:
    """A campaign as the faces show it: its fields, each variant with its stored reading (stale or not) and its
    standing in the ranking, the recommendation and the story vs the posters, and the recent changes."""

    campaign: Campaign
    fingerprint: str
    model_label: str
    brief: Brief | None

    def to_dict(self) -> dict[str, Any]:
        c = self.campaign
        brief = self.brief.to_dict() if self.brief else None
        standing = {v["index"]: v for v in (brief or {}).get("variants", [])}
        variants = []
        for index, v in enumerate(c.variants):
            stale = stale_because(v.reading, c, self.fingerprint)
            reading = (
                None
                if v.reading is None
                else {
                    "poster": v.reading.poster,
                    "combined": v.reading.combined,
                    "model": v.reading.model,
                    "model_label": v.reading.model_label,
                    "read_at": v.reading.read_at,
                    "stale": bool(stale),
                    "stale_because": stale,
                    "width": v.reading.width,
                    "height": v.reading.height,
                }
            )
            s = standing.get(index, {})
            variants.append(
                {
                    **v.to_dict(),
                    "label": s.get("label"),
                    "rank": s.get("rank"),
                    "best": s.get("best", False),
                    "fits_all_targets": s.get("fits_all_targets"),
                    "verdict": s.get("verdict"),
                    "verdicts": s.get("verdicts", []),
                    "target_score": s.get("target_score"),
                    "levels": s.get("levels"),
                    "unintended": s.get("unintended", {}),
                    "under_sold": s.get("under_sold", []),
                    "over_promised": s.get("over_promised", []),
                    "reading": reading,
                }
            )
        ranking = (
            None
            if brief is None
            else {k: brief[k] for k in ("targets", "target_source", "target_words", "recommendation", "story")}
        )
        return {
            **c.to_dict(),
            "model": {"fingerprint": self.fingerprint, "label": self.model_label},
            "stale_readings": sum(1 for v in variants if v["reading"] is None or v["reading"]["stale"]),
            "variants": variants,
            "ranking": ranking,
            "changes": [x.to_dict() for x in c.changes],
        }


def campaign_view(store: CampaignStore, predictor: Predictor, campaign_id: str) -> CampaignView:
    campaign = store.get(campaign_id)
    fingerprint, label = model_fingerprint(predictor.core)
    return CampaignView(
        campaign, fingerprint, label, _brief(store, predictor, campaign, audiences=False, heatmaps=False, home=None)
    )


def campaign_brief(
    store: CampaignStore,
    predictor: Predictor,
    campaign_id: str,
    *,
    heatmaps: bool = False,
    home: Path | str | None = None,
) -> tuple[Brief, CampaignView]:
    """The campaign's brief from its stored readings (audiences from the catalog in `home`; `heatmaps` for the
    HTML page), and the view (which readings are stale)."""
    campaign = store.get(campaign_id)
    brief = _brief(store, predictor, campaign, audiences=True, heatmaps=heatmaps, home=home)
    if brief is None:
        raise PosterGenreError(f"campaign {campaign_id} has no variants yet: add posters first")
    fingerprint, label = model_fingerprint(predictor.core)
    return brief, CampaignView(campaign, fingerprint, label, brief)


def brief_body(brief: Brief, view: CampaignView) -> dict[str, Any]:
    """The brief's JSON with the campaign it came from and how many of its readings are stale."""
    shown = view.to_dict()
    note = None
    if shown["stale_readings"]:
        note = (
            f"{shown['stale_readings']} of the stored readings no longer hold (another model or synopsis): "
            f"re-read them (`postergenre campaign reread {view.campaign.id}`) for a brief of today's model."
        )
    return {
        **brief.to_dict(),
        "campaign": {
            "id": view.campaign.id,
            "stale_readings": shown["stale_readings"],
            "note": note,
            "model": shown["model"],
        },
    }


def read_files(items: Sequence[PosterInput], max_file_bytes: int) -> list[tuple[bytes, str] | PosterFailure]:
    """The bytes of each poster file the CLI was given (a folder or glob already resolved into files), or the
    failure naming it. A campaign keeps poster files: a URL is refused, so the artwork is the file the team holds."""
    out: list[tuple[bytes, str] | PosterFailure] = []
    for item in items:
        if item.url is not None:
            out.append(
                PosterFailure(
                    source=item.source,
                    error=f"{item.source}: a campaign keeps poster files; save the poster and add the file",
                )
            )
            continue
        try:
            out.append((item.read_bytes(max_file_bytes=max_file_bytes), item.source))
        except PosterGenreError as exc:
            out.append(PosterFailure(source=item.source, error=str(exc), kind=exc.kind))
    return out
