"""Install index templates, lifecycle policy and alerts index (``klachtradar es setup``).

The JSON files in ``configs/elasticsearch/`` are the source of truth; this module only
renames them to the configured index names, puts the retention into the policy, and
sends them. Every step is a PUT of the whole object (or a mapping update of an index
that already exists), so running setup again changes nothing but what the files changed.

Order matters: policy → component template → index templates → indices, because an
index template names the policy and the component it is composed of.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klachtradar.errors import ConfigError, SinkError
from klachtradar.settings import ElasticsearchSettings

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

DEFAULT_POSTS = "klachtradar-posts"
DEFAULT_ALERTS = "klachtradar-alerts"


@dataclass(frozen=True, slots=True)
class IndexNames:
    """Every name setup installs, derived from the configured posts and alerts names."""

    posts: str = DEFAULT_POSTS
    alerts: str = DEFAULT_ALERTS

    @classmethod
    def from_settings(cls, es: ElasticsearchSettings) -> IndexNames:
        return cls(posts=es.posts_index, alerts=es.alerts_index)

    @property
    def posts_pattern(self) -> str:
        """Weekly posts indices; the alias ``posts`` reads them all."""
        return f"{self.posts}-*"

    @property
    def policy(self) -> str:
        return self.posts

    @property
    def analysis_component(self) -> str:
        return f"{self.posts}-dutch-analysis"


@dataclass(frozen=True, slots=True)
class SetupStep:
    """What one setup step did, for the CLI report."""

    what: str
    outcome: str


def config_dir(root: Path) -> Path:
    return root / "configs" / "elasticsearch"


def _load(root: Path, name: str) -> dict[str, Any]:
    path = config_dir(root) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def lifecycle_policy(root: Path, retention_days: int) -> dict[str, Any]:
    """The ILM policy with ``delete.min_age`` set to the retention."""
    policy = _load(root, "ilm-posts.json")
    policy["phases"]["delete"]["min_age"] = f"{retention_days}d"
    return policy


def analysis_component(root: Path) -> dict[str, Any]:
    return _load(root, "component-dutch-analysis.json")


def posts_template(root: Path, names: IndexNames) -> dict[str, Any]:
    """The posts index template, renamed to the configured alias, pattern and policy."""
    template = copy.deepcopy(_load(root, "template-posts.json"))
    template["index_patterns"] = [names.posts_pattern]
    template["composed_of"] = [names.analysis_component]
    template["template"]["aliases"] = {names.posts: {}}
    template["template"]["settings"]["index.lifecycle.name"] = names.policy
    return template


def alerts_template(root: Path, names: IndexNames) -> dict[str, Any]:
    template = copy.deepcopy(_load(root, "template-alerts.json"))
    template["index_patterns"] = [names.alerts]
    template["composed_of"] = [names.analysis_component]
    return template


def posts_mapping(root: Path) -> dict[str, Any]:
    """The posts mapping as the template defines it (for tests and mapping updates)."""
    mapping: dict[str, Any] = _load(root, "template-posts.json")["template"]["mappings"]
    return mapping


def _index_template_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in body.items() if k != "_meta"}
    if "_meta" in body:
        kwargs["meta"] = body["_meta"]
    return kwargs


def _lacks_api(exc: Exception) -> bool:
    """A server without this API at all (not a rejected body): 404/405, or 400 'no handler'."""
    status = getattr(exc, "status_code", getattr(exc, "status", None))
    return status in (404, 405, 410) or (status == 400 and "no handler found" in str(exc))


def install(es: Elasticsearch, root: Path, settings: ElasticsearchSettings) -> list[SetupStep]:
    """Install or update everything, in dependency order; returns what each step did.

    Raises :class:`SinkError` (not retryable) when the server rejects a definition.
    A server without the ILM API (Elasticsearch Serverless, API-compatible test
    servers) gets everything else, and the step says the policy was skipped.
    """
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    names = IndexNames.from_settings(settings)
    steps: list[SetupStep] = []
    try:
        steps.append(_install_policy(es, root, names, settings.retention_days))
        component = analysis_component(root)
        es.cluster.put_component_template(
            name=names.analysis_component,
            template=component["template"],
            meta=component.get("_meta"),
        )
        steps.append(SetupStep(f"component template {names.analysis_component}", "installed"))
        for name, body in (
            (names.posts, posts_template(root, names)),
            (names.alerts, alerts_template(root, names)),
        ):
            es.indices.put_index_template(name=name, **_index_template_kwargs(body))
            steps.append(SetupStep(f"index template {name}", "installed"))
        steps.append(_ensure_alerts_index(es, root, names))
        steps.append(_update_posts_indices(es, root, names))
    except ApiError as exc:
        raise SinkError(f"Elasticsearch setup failed: {exc}", retryable=False) from exc
    except TransportError as exc:
        raise SinkError(f"Elasticsearch unreachable: {type(exc).__name__}", retryable=True) from exc
    return steps


def _install_policy(
    es: Elasticsearch, root: Path, names: IndexNames, retention_days: int
) -> SetupStep:
    from elasticsearch import ApiError

    what = f"lifecycle policy {names.policy} (delete after {retention_days}d)"
    try:
        es.ilm.put_lifecycle(name=names.policy, policy=lifecycle_policy(root, retention_days))
    except ApiError as exc:
        if _lacks_api(exc):
            return SetupStep(what, "skipped: this server has no ILM API")
        raise
    return SetupStep(what, "installed")


def _ensure_alerts_index(es: Elasticsearch, root: Path, names: IndexNames) -> SetupStep:
    if es.indices.exists(index=names.alerts):
        mapping = alerts_template(root, names)["template"]["mappings"]
        es.indices.put_mapping(index=names.alerts, properties=mapping["properties"])
        return SetupStep(f"index {names.alerts}", "exists, mapping updated")
    es.indices.create(index=names.alerts)
    return SetupStep(f"index {names.alerts}", "created")


def _update_posts_indices(es: Elasticsearch, root: Path, names: IndexNames) -> SetupStep:
    """Existing weekly indices get new fields too; new ones take the template."""
    existing = list(es.indices.get(index=names.posts_pattern, allow_no_indices=True).keys())
    if not existing:
        return SetupStep(f"indices {names.posts_pattern}", "none yet (created on first write)")
    mapping = posts_mapping(root)
    es.indices.put_mapping(
        index=names.posts_pattern,
        properties=mapping["properties"],
        dynamic_templates=mapping.get("dynamic_templates"),
    )
    return SetupStep(f"indices {names.posts_pattern}", f"{len(existing)} mapping(s) updated")
