"""deploy/grafana/prism.json is built on the metric names and labels Prism exposes, and the
README's table lists every one of them: renaming a metric breaks this test, not a dashboard
nobody looks at until the day it is needed."""

import json
import re

import pytest
from prometheus_client.metrics import MetricWrapperBase

from reviews import metrics
from reviews.metrics_endpoint import QueueCollector
from tests.fixtures import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "prism.json"
METRIC = re.compile(r"\bprism_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b(prism_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exposed() -> dict[str, set[str]]:
    """Every series name a scrape can hold, with its label names."""
    series: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        [family] = metric.describe()
        labels = set(metric._labelnames)
        if family.type == "counter":
            series[f"{family.name}_total"] = labels
        elif family.type == "histogram":
            series[f"{family.name}_bucket"] = labels | {"le"}
            series[f"{family.name}_sum"] = series[f"{family.name}_count"] = labels
        else:
            series[family.name] = labels
    for family in QueueCollector().collect():
        series[family.name] = set()
    return series


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        found += [target["expr"] for target in panel["targets"]]
    return found


@pytest.mark.django_db
def test_every_dashboard_expression_names_metrics_and_labels_that_exist():
    series = exposed()
    assert len(expressions()) >= 20
    for expr in expressions():
        names = METRIC.findall(expr)
        assert names, expr
        assert set(names) <= set(series), f"{expr}: {set(names) - set(series)}"
        for name, matchers in SELECTOR.findall(expr):
            assert set(MATCHER.findall(matchers)) <= series[name], expr
        usable = set().union(*(series[name] for name in names))
        for grouping in GROUPING.findall(expr):
            labels = {label.strip() for label in grouping.split(",") if label.strip()}
            assert labels <= usable, f"{expr}: {labels - usable}"


@pytest.mark.django_db
def test_the_dashboard_shows_every_metric():
    shown = {name for expr in expressions() for name in METRIC.findall(expr)}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in shown}
    every = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exposed()}
    assert every - families == set()


@pytest.mark.django_db
def test_the_readme_documents_every_metric():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Metrics and logs", 1)[1].split("\n## ", 1)[0]
    for name in exposed():
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert f"`{family}`" in section, family
