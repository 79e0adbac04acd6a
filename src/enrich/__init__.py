"""Enrichment: language, brand matching, author history, reach and virality risk,
post alerts and brand incidents. Stages take and return batches of the contract."""
