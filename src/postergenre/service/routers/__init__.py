"""One APIRouter per area: `posters` (predict, similar, compare) and `info` (model, genres, filters, page, health)."""
