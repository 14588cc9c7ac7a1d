"""The Grafana dashboard queries only metrics the service exports, and shows every one of them."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry

from models_processor.metrics import Metrics

from .conftest import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "models-processor-dashboard.json"


def _exported() -> dict[str, set[str]]:
    """Family name -> the series names Prometheus will see for it."""
    metrics = Metrics(CollectorRegistry())
    out: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        if family.type == "counter":
            out[family.name] = {family.name + "_total"}
        elif family.type == "histogram":
            out[family.name] = {family.name + s for s in ("_bucket", "_sum", "_count")}
        else:
            out[family.name] = {family.name}
    return out


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_is_valid_json_with_unique_ids():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        if p["type"] != "row":
            assert p["targets"] and p["datasource"]["uid"] == "${datasource}"


def test_dashboard_queries_exported_metrics_only_and_all_of_them():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exported = _exported()
    series = set().union(*exported.values())
    used: set[str] = set()
    for expr in _exprs(dashboard) + [v["query"]["query"] for v in dashboard["templating"]["list"]
                                      if isinstance(v.get("query"), dict)]:
        names = set(re.findall(r"models_processor_[a-z_]+", expr))
        unknown = names - series
        assert not unknown, f"{expr}: {unknown} not exported by models_processor/metrics.py"
        used |= names
    missing = [fam for fam, names in exported.items() if not names & used]
    assert not missing, f"metrics not on the dashboard: {missing}"


def test_required_views_present():
    exprs = "\n".join(_exprs(json.loads(DASHBOARD.read_text(encoding="utf-8"))))
    assert "histogram_quantile" in exprs and "stage_seconds_bucket" in exprs
    assert "sum by (kind, status) (rate(models_processor_messages_processed_total" in exprs
    assert 'result="hit"' in exprs
