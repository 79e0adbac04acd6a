"""Which backend the settings choose: Elasticsearch only when a URL is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from klachtradar.errors import ConfigError
from klachtradar.ports import PipelineOutput
from klachtradar.settings import Settings, load_settings
from sink.es.outputs import ElasticsearchOutputs, FanOutOutputs, with_elasticsearch
from sink.es.queries import ElasticsearchQueries
from sink.queries import open_queries
from sink.store import EmbeddedStore


class Recorder:
    def __init__(self) -> None:
        self.batches: list[PipelineOutput] = []

    def write(self, output: PipelineOutput) -> None:
        self.batches.append(output)


def settings_with(url: str, tmp_path: Path) -> Settings:
    settings = load_settings()
    settings.elasticsearch.url = url
    settings.store.path = tmp_path / "kr.db"
    return settings


def test_without_a_url_the_embedded_outputs_are_used_alone(tmp_path: Path) -> None:
    embedded = Recorder()
    assert with_elasticsearch(embedded, settings_with("", tmp_path)) is embedded


def test_with_a_url_elasticsearch_is_written_after_the_embedded_outputs(tmp_path: Path) -> None:
    embedded = Recorder()
    outputs = with_elasticsearch(embedded, settings_with("http://127.0.0.1:9", tmp_path))
    assert isinstance(outputs, FanOutOutputs)
    assert outputs.outputs[0] is embedded
    assert isinstance(outputs.outputs[1], ElasticsearchOutputs)


def test_queries_follow_the_url_unless_a_backend_is_named(tmp_path: Path) -> None:
    with open_queries(settings_with("", tmp_path)) as queries:
        assert isinstance(queries, EmbeddedStore)
    with open_queries(settings_with("http://127.0.0.1:9", tmp_path)) as queries:
        assert isinstance(queries, ElasticsearchQueries)
    with open_queries(settings_with("http://127.0.0.1:9", tmp_path), backend="embedded") as queries:
        assert isinstance(queries, EmbeddedStore)
    with pytest.raises(ConfigError):
        open_queries(settings_with("", tmp_path), backend="solr")
