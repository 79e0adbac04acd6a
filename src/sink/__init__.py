"""Where scored posts and alerts go: the embedded store (SQLite + FTS5), the console
alert stream and the dead-letter file; Elasticsearch and Kafka topics plug in here."""
