"""Sources of public posts: JSONL replay here; X, Bluesky, Mastodon and webhook intake
normalise to the same :class:`klachtradar.contract.RawPost`."""
