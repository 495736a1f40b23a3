"""The production stack, checked without a Docker engine: the compose file against the Compose specification's
schema and against the code, the collector against its pinned image, the dashboards against Grafana's provisioning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harbour.settings import REPO_ROOT, HarbourSettings
from harbour_tools import deploy
from services import registry

COMPOSE = REPO_ROOT / "docker-compose.yml"
SCHEMA = REPO_ROOT / "deploy" / "schemas" / "compose-spec.json"
COLLECTOR = REPO_ROOT / "deploy" / "otel" / "collector.yaml"
DATASOURCES = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "harbour.yml"
DASHBOARD_PROVIDER = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "harbour.yml"
PROMETHEUS = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"

# Variables read by code other than HarbourSettings: each with the file that reads it (checked below).
READ_ELSEWHERE = {"HARBOUR_ENVIRONMENT": REPO_ROOT / "harbour" / "telemetry.py"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())  # safe_load applies the `<<` merge keys the compose file uses


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def harbour_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if name in registry.SERVICES}


# -- the compose file ---------------------------------------------------------------------------------------------
def test_the_compose_file_validates_against_the_compose_specification_schema(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_check_would_catch_a_mistake(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["intake"]["restart"] = ["always"]  # a list where the spec wants a string
    broken["services"]["intake"]["healthcheck"]["intervall"] = "5s"  # a key the spec does not know
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert len(list(validator.iter_errors(broken))) >= 2


def test_every_service_of_the_registry_runs_as_its_own_container_with_its_port_and_factory(compose):
    services = harbour_services(compose)
    assert set(services) == set(registry.SERVICES)
    for name, spec in services.items():
        port = registry.definition(name).port
        assert spec["command"] == ["uvicorn", "--factory", f"services.{name}.app:create"]
        assert spec["environment"]["UVICORN_PORT"] == str(port)
        assert spec["ports"] == [f"127.0.0.1::{port}"]
        assert spec["environment"]["OTEL_SERVICE_NAME"] == name
        assert spec["environment"]["HARBOUR_KAFKA_SASL_USERNAME"] == deploy.service_principal(name)
        assert f"harbour_{name}:" in spec["environment"]["HARBOUR_DATABASE_URL"]
        assert "/health" in " ".join(spec["healthcheck"]["test"])
        assert spec["restart"] == "unless-stopped"
        assert spec["deploy"]["resources"]["limits"]["memory"]


def test_every_service_runs_with_production_kafka_settings(compose):
    for name, spec in harbour_services(compose).items():
        env = spec["environment"]
        assert env["HARBOUR_KAFKA_IDEMPOTENCE"] == "true", name
        assert env["HARBOUR_KAFKA_ACKS"] == "all", name
        assert env["HARBOUR_KAFKA_REPLICATION_FACTOR"] == str(deploy.REPLICATION_FACTOR), name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
        assert env["HARBOUR_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092", name


def test_every_environment_variable_of_a_service_is_a_harbour_setting_or_read_by_its_library(compose, monkeypatch):
    fields = set(HarbourSettings.model_fields)
    for name, spec in harbour_services(compose).items():
        for variable, value in spec["environment"].items():
            if variable.startswith(("OTEL_", "UVICORN_")) or variable in READ_ELSEWHERE:
                continue
            assert variable.startswith("HARBOUR_"), f"{name}: {variable} is not a Harbour setting"
            setting = variable.removeprefix("HARBOUR_").lower()
            assert setting in fields, f"{name}: {variable} names no field of HarbourSettings"
            if "${" not in str(value):  # a literal value must parse as that setting's type, from the environment
                with monkeypatch.context() as env:
                    env.setenv(variable, str(value))
                    HarbourSettings()
    for variable, reader in READ_ELSEWHERE.items():
        assert variable in reader.read_text(), f"{reader} no longer reads {variable}"


def test_every_interpolated_secret_is_named_in_the_env_template(compose):
    template = (REPO_ROOT / "deploy" / "harbour.env.example").read_text()
    named = {line.split("=", 1)[0] for line in template.splitlines() if line and not line.startswith("#")}
    assert all(line.endswith("=") for line in template.splitlines() if line and not line.startswith("#")), (
        "the committed template must hold no value"
    )
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text())) - {"HARBOUR_VERSION"}
    assert used <= named, f"not in deploy/harbour.env.example: {sorted(used - named)}"


def test_every_image_is_pinned_and_every_volume_network_and_mounted_file_exists(compose):
    declared_volumes = set(compose["volumes"])
    declared_networks = set(compose["networks"])
    for name, spec in compose["services"].items():
        image = spec["image"]
        tag = image.rpartition(":")[2]
        assert ":" in image and tag not in {"latest", ""}, f"{name}: image {image} is not pinned"
        if name in registry.SERVICES:
            assert spec["build"]["dockerfile"] == "Dockerfile" and (REPO_ROOT / "Dockerfile").exists()
        for mount in spec.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                if source == "./var/backups" or source == "./deploy/secrets/jwt":
                    continue  # made on the host by the operator (deploy/README.md); git-ignored content
                assert (REPO_ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared_volumes, f"{name}: volume {source} is not declared"
        for network in spec.get("networks", []):
            assert network in declared_networks, f"{name}: network {network} is not declared"
        for dependency in spec.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
    for env_file in {f for spec in compose["services"].values() for f in spec.get("env_file", [])}:
        assert env_file == "deploy/harbour.env" and (REPO_ROOT / "deploy/harbour.env.example").exists()
        assert "harbour.env" in (REPO_ROOT / "deploy" / ".gitignore").read_text().split()


def test_three_kraft_brokers_replicate_three_times_and_never_auto_create_topics(compose):
    brokers = {n: s for n, s in compose["services"].items() if re.fullmatch(r"kafka-\d", n)}
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    assert {s["image"] for s in brokers.values()} == {"apache/kafka:3.9.1"}
    assert sorted(s["environment"]["KAFKA_NODE_ID"] for s in brokers.values()) == ["1", "2", "3"]
    properties = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / "deploy/kafka/broker.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert properties["process.roles"] == "broker,controller"
    assert properties["controller.quorum.voters"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert properties["default.replication.factor"] == "3"
    assert properties["min.insync.replicas"] == "2"
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert "PLAINTEXT" not in properties["listener.security.protocol.map"].replace("SASL_PLAINTEXT", "")
    assert compose["services"]["kafka-init"]["depends_on"] == {b: {"condition": "service_healthy"} for b in brokers}
    for name in registry.SERVICES:
        needs = compose["services"][name]["depends_on"]
        assert needs["kafka-init"] == {"condition": "service_completed_successfully"}


def test_the_dockerfile_is_multi_stage_non_root_and_keeps_build_tools_out_of_the_final_stage():
    text = (REPO_ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) >= 2
    final = stages[-1]
    assert "build-essential" not in final and "apt-get install" not in final
    assert re.search(r"^USER (?!root|0\b)", final, flags=re.M)
    assert "COPY --from=build" in final


# -- Prometheus ---------------------------------------------------------------------------------------------------
def test_prometheus_scrapes_every_service_on_its_port_and_the_collector():
    config = load_yaml(PROMETHEUS)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {(sd["names"][0], sd["port"]) for sd in jobs["harbour"]["dns_sd_configs"]}
    assert targets == {(name, registry.definition(name).port) for name in registry.SERVICES}
    assert jobs["harbour"]["metrics_path"] == "/metrics"
    assert jobs["otel-collector-spanmetrics"]["static_configs"][0]["targets"] == ["otel-collector:8889"]


# -- the collector ------------------------------------------------------------------------------------------------
# The component types of otel/opentelemetry-collector-contrib:0.136.0, from its build manifest
# (opentelemetry-collector-releases, distributions/otelcol-contrib/manifest.yaml, components v0.136.0). Only the
# kinds this stack could plausibly use are listed; a component outside these lists fails the check.
CONTRIB_0_136 = {
    "receivers": {"otlp", "nop", "prometheus", "jaeger", "zipkin", "kafka", "kafkametrics", "hostmetrics",
                  "postgresql", "filelog", "docker_stats", "httpcheck", "otlpjsonfile"},
    "processors": {"batch", "memory_limiter", "attributes", "resource", "filter", "transform", "redaction",
                   "tail_sampling", "probabilistic_sampler", "resourcedetection", "span", "k8sattributes",
                   "metricstransform", "cumulativetodelta", "deltatocumulative", "groupbyattrs"},
    "exporters": {"debug", "nop", "otlp", "otlphttp", "prometheus", "prometheusremotewrite", "file", "kafka",
                  "zipkin", "loadbalancing"},
    "connectors": {"forward", "spanmetrics", "servicegraph", "count", "routing", "exceptions", "sum",
                   "signaltometrics", "roundrobin", "failover"},
    "extensions": {"health_check", "pprof", "zpages", "file_storage", "basicauth", "bearertokenauth",
                   "oauth2client", "headers_setter"},
}  # fmt: skip


def component_type(name: str) -> str:
    return name.split("/", 1)[0]  # "otlp/jaeger" is an otlp exporter named jaeger


def test_the_collector_uses_only_components_of_its_pinned_image(compose):
    assert compose["services"]["otel-collector"]["image"] == "otel/opentelemetry-collector-contrib:0.136.0"
    config = load_yaml(COLLECTOR)
    for kind, available in CONTRIB_0_136.items():
        for name in config.get(kind, {}):
            assert component_type(name) in available, f"{kind}: {name} is not in the pinned collector image"
    service = config["service"]
    assert set(service["extensions"]) <= set(config["extensions"])
    connectors = set(config["connectors"])
    for pipeline, spec in service["pipelines"].items():
        for receiver in spec["receivers"]:
            assert receiver in config["receivers"] or receiver in connectors, f"{pipeline}: {receiver}"
        for processor in spec.get("processors", []):
            assert processor in config["processors"], f"{pipeline}: {processor}"
        for exporter in spec["exporters"]:
            assert exporter in config["exporters"] or exporter in connectors, f"{pipeline}: {exporter}"
    # every connector is both an exporter of one pipeline and a receiver of another, or it does nothing
    for connector in connectors:
        pipelines = service["pipelines"].values()
        assert any(connector in p["exporters"] for p in pipelines), connector
        assert any(connector in p["receivers"] for p in pipelines), connector
    assert service["pipelines"]["traces"]["processors"][0] == "memory_limiter"
    assert "otlp/jaeger" in service["pipelines"]["traces"]["exporters"]
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"


# -- Grafana ------------------------------------------------------------------------------------------------------
def datasource_uids() -> dict[str, str]:
    return {ds["uid"]: ds["type"] for ds in load_yaml(DATASOURCES)["datasources"]}


def test_grafana_provisions_prometheus_and_jaeger_with_uids_and_links_traces_by_id():
    uids = datasource_uids()
    assert uids == {deploy.PROMETHEUS_UID: "prometheus", deploy.JAEGER_UID: "jaeger"}
    prometheus = next(d for d in load_yaml(DATASOURCES)["datasources"] if d["type"] == "prometheus")
    (link,) = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert link == {"name": "trace_id", "datasourceUid": deploy.JAEGER_UID}
    provider = load_yaml(DASHBOARD_PROVIDER)["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"


def dashboards() -> dict[str, dict[str, Any]]:
    folder = REPO_ROOT / "deploy" / "grafana" / "dashboards"
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def test_every_dashboard_is_one_that_grafana_provisioning_accepts():
    uids = datasource_uids()
    found = dashboards()
    assert len(found) == len(deploy.DASHBOARDS)
    seen_uids: set[str] = set()
    for name, board in found.items():
        assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36, name
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"]) and board["uid"] not in seen_uids, name
        seen_uids.add(board["uid"])
        assert board["title"] and "id" not in board, f"{name}: a provisioned dashboard must not carry an id"
        panel_ids = [p["id"] for p in board["panels"]]
        assert len(panel_ids) == len(set(panel_ids)), name
        for panel in board["panels"]:
            source = panel["datasource"]
            assert source["uid"] in uids and uids[source["uid"]] == source["type"], name
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids
                assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_the_dashboards_cover_what_operators_watch():
    titles = " | ".join(p["title"].lower() for board in dashboards().values() for p in board["panels"])
    for topic in ("request rate", "latency", "errors", "relay lag", "consumer lag per group", "dead letters",
                  "timers due", "appends per second"):  # fmt: skip
        assert topic in titles, topic


PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "irate", "histogram_quantile",
    "topk", "bottomk", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, groupings, ranges and literals removed)."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {n for n in names if n not in PROMQL_WORDS}


def dashboard_metrics() -> set[str]:
    return {name for board in dashboards().values() for p in board["panels"] for t in p["targets"]
            for name in metric_names(t["expr"])}  # fmt: skip


def test_metric_names_are_read_from_promql_as_expected():
    expr = 'histogram_quantile(0.95, sum by (service_name, le) (rate(x_bucket{a="b", c=~"5.."}[5m])))'
    assert metric_names(expr) == {"x_bucket"}
    assert metric_names("sum by (a) (rate(x_total[5m])) or on (a) (sum by (a) (y_total) * 0)") == {"x_total", "y_total"}


def span_metric_names() -> set[str]:
    """What the collector's spanmetrics connector exports through its Prometheus exporter, from its config."""
    spanmetrics = load_yaml(COLLECTOR)["connectors"]["spanmetrics"]
    prefix = spanmetrics["namespace"].replace(".", "_")
    unit = {"s": "seconds", "ms": "milliseconds"}[spanmetrics["histogram"]["unit"]]
    return {f"{prefix}_calls_total", f"{prefix}_duration_{unit}_bucket", f"{prefix}_duration_{unit}_count",
            f"{prefix}_duration_{unit}_sum"}  # fmt: skip


def test_span_derived_request_metrics_in_dashboards_are_those_the_collector_makes():
    used = {m for m in dashboard_metrics() if not m.startswith("harbour_")}
    assert used and used <= span_metric_names(), used - span_metric_names()
    labels = set(re.findall(r"\b(http_[a-z_]+)", " ".join(
        t["expr"] for board in dashboards().values() for p in board["panels"] for t in p["targets"])))  # fmt: skip
    dimensions = {d["name"].replace(".", "_") for d in load_yaml(COLLECTOR)["connectors"]["spanmetrics"]["dimensions"]}
    assert labels <= dimensions, labels - dimensions
