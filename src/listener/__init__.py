"""Sources of public posts, all normalised to :class:`klachtradar.contract.RawPost`.

``klachtradar listen --source S`` runs one of them (see ``docs/listeners.md``):

* ``x_stream`` (+ ``x_rules``, ``x_post``) — X API v2 filtered stream, rules synced
  from the watchlist, recent-search gap fill;
* ``jetstream`` (+ ``bluesky_post``, ``bluesky_appview``) — Bluesky Jetstream,
  resumable cursor, AppView follower and engagement counts;
* ``mastodon`` (+ ``html_text``) — Mastodon streaming over SSE, timeline gap fill;
* ``webhook`` — ``POST /ingest`` for other tools; ``jsonl`` — the file replay.

Shared: ``loop`` (batches → publish → checkpoint), ``checkpoint``, ``backoff``,
``prefilter``, ``dedupe``, ``http_stream``; ``fixtures`` holds the local protocol
servers the tests, the benchmark and the docs example use.
"""
