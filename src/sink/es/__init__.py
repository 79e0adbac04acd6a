"""Elasticsearch sink: index templates and lifecycle, the bulk writer, queries, Kibana objects.

Everything here needs the ``es`` extra (``pip install 'klachtradar[es]'``); the
``elasticsearch`` package is imported lazily so the CLI starts without it.
"""
