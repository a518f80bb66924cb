"""The team's work, kept: campaigns (one film's poster work), their poster variants, the variants' stored readings,
and the team members who may reach a server beyond loopback.

A data-layer package beside the catalog: its tables live in the same SQLite file (`config.Paths.db`, own schema
version and migrations in `schema.py`), its poster files in their own content-addressed folder
(`config.Paths.campaign_posters`, apart from the catalog's store), so nothing that reads the catalog (comparable
titles, training, evaluation) ever sees a campaign's confidential posters. It knows nothing of the model: readings
arrive as data (`records.StoredReading`) from the uses layer (`predict/campaigns.py`).
"""
