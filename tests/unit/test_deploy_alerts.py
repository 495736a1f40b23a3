"""The alert rules, checked by Prometheus' own tool: ``promtool check rules`` and ``promtool test rules``.

Each alert is made to fire on series shaped like the trouble it names, and to stay quiet on series that look
alike but are healthy (a relay busy but keeping up, a timer due for one scrape, a short burst of lag). promtool
is Debian's ``prometheus`` package, installed by ``make tools`` (part of ``make test``): without it these fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harbour.settings import REPO_ROOT
from harbour_tools import deploy
from tests.unit.test_deploy_stack import dashboard_metrics, metric_names

ALERTS = REPO_ROOT / deploy.ALERTS_FILE


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make tools` installs Debian's prometheus package"
    return found


def alternating(high: int, minutes: int) -> str:
    """``high 0 high 0 ...``: a lag that is there at one scrape and gone at the next (busy, keeping up)."""
    return " ".join(str(high if i % 2 == 0 else 0) for i in range(minutes + 1))


# (series, [(eval time, alert, [(labels, $value)] expected firing)]): an empty list means "not firing".
CASES: list[tuple[list[tuple[str, str]], list[tuple[str, str, list[tuple[dict[str, str], float]]]]]] = [
    (
        [
            ('harbour_relay_lag_events{service="intake", instance="a"}', "5+0x40"),  # stuck from the start
            ('harbour_relay_lag_events{service="legal", instance="b"}', alternating(4, 40)),  # busy, keeps up
            ('harbour_relay_lag_events{service="tracks", instance="c"}', "0+0x14 7+0x25"),  # stuck from 15m on
        ],
        [
            ("4m", "HarbourRelayLagging", []),  # pending: not for five minutes yet
            ("20m", "HarbourRelayLagging", [({"service": "intake"}, 5)]),
            ("32m", "HarbourRelayLagging", [({"service": "intake"}, 5), ({"service": "tracks"}, 7)]),
        ],
    ),
    (
        [
            # intake: two replicas, neither leads from 10m on, while three events wait.
            ('harbour_relay_leader{service="intake", instance="a"}', "1+0x9 0+0x30"),
            ('harbour_relay_leader{service="intake", instance="b"}', "0+0x40"),
            ('harbour_relay_lag_events{service="intake", instance="a"}', "0+0x9 3+0x30"),
            ('harbour_relay_lag_events{service="intake", instance="b"}', "0+0x9 3+0x30"),
            # legal: the lead passes from one replica to the other, with a scrape between where neither had it.
            ('harbour_relay_leader{service="legal", instance="c"}', "1+0x14 0+0x25"),
            ('harbour_relay_leader{service="legal", instance="d"}', "0+0x15 1+0x24"),
            ('harbour_relay_lag_events{service="legal", instance="c"}', "2+0x40"),
            # tracks: a relay busy with a broker outage loses and retakes the lead between retries.
            ('harbour_relay_leader{service="tracks", instance="e"}', alternating(1, 40)),
            ('harbour_relay_lag_events{service="tracks", instance="e"}', "50+10x40"),
            # housing: no leader, but nothing waits (nothing to publish is nothing lost).
            ('harbour_relay_leader{service="housing", instance="f"}', "0+0x40"),
            ('harbour_relay_lag_events{service="housing", instance="f"}', "0+0x40"),
        ],
        [
            ("12m", "HarbourRelayWithoutLeader", []),  # not for five minutes yet
            ("16m", "HarbourRelayWithoutLeader", []),  # pending: five minutes without a leader, not seven
            ("18m", "HarbourRelayWithoutLeader", [({"service": "intake"}, 0)]),
            ("35m", "HarbourRelayWithoutLeader", [({"service": "intake"}, 0)]),
        ],
    ),
    (
        [
            ('harbour_dead_letters_total{service="legal", topic="intake.events.v1", instance="a"}', "0+0x10 1+0x35"),
            ('harbour_dead_letters_total{service="tracks", topic="legal.events.v1", instance="b"}', "0+0x45"),
        ],
        [
            ("5m", "HarbourDeadLettersGrowing", []),
            ("12m", "HarbourDeadLettersGrowing", [({"service": "legal", "topic": "intake.events.v1"}, 0)]),
            ("40m", "HarbourDeadLettersGrowing", []),  # no new letter for fifteen minutes: quiet again
        ],
    ),
    (
        [
            ('harbour_legal_persons_without_valid_stay{instance="a"}', "0+0x30 2+0x70 0+0x20"),
            ('harbour_legal_persons_without_valid_stay{instance="b"}', "0+0x30 2+0x70 0+0x20"),  # a replica
        ],
        [
            ("20m", "HarbourPersonsWithoutValidStay", []),
            ("60m", "HarbourPersonsWithoutValidStay", []),  # pending: not for an hour yet
            ("95m", "HarbourPersonsWithoutValidStay", [({}, 2)]),  # two persons, not four: replicas agree
            ("115m", "HarbourPersonsWithoutValidStay", []),
        ],
    ),
    (
        [
            ('harbour_timers_due{service="tracks", instance="a"}', "0 0 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"),
            ('harbour_timers_due{service="housing", instance="b"}', "0+0x5 2+0x20"),
            ('harbour_timers_due{service="housing", instance="c"}', "0+0x5 2+0x20"),
        ],
        [
            ("8m", "HarbourTimersOverdue", []),
            ("15m", "HarbourTimersOverdue", [({"service": "housing"}, 2)]),
        ],
    ),
    (
        [
            ('harbour_consumer_lag_messages{service="legal", consumer="legal.case-opened", instance="a"}', "500+0x30"),
            ('harbour_consumer_lag_messages{service="legal", consumer="legal.person-erased", instance="a"}', "50+0x30"),
            (
                'harbour_consumer_lag_messages{service="tracks", consumer="tracks.case-opened", instance="b"}',
                alternating(400, 30),
            ),
        ],
        [
            ("3m", "HarbourConsumerLagging", []),
            ("10m", "HarbourConsumerLagging", [({"service": "legal", "consumer": "legal.case-opened"}, 500)]),
        ],
    ),
]


def rendered(template: str, labels: dict[str, str], value: float) -> str:
    """The annotation as Prometheus renders it (the rules use only ``$labels.<name>`` and ``$value``)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
    return text.replace("{{ $value }}", f"{value:g}")


def promtool_tests(alerts: dict[str, deploy.Alert]) -> dict[str, Any]:
    tests = []
    for series, evaluations in CASES:
        alert_cases = []
        for eval_time, name, firing in evaluations:
            alert = alerts[name]
            expected = [
                {
                    "exp_labels": {**labels, "alertname": name, "severity": alert.severity},
                    "exp_annotations": {
                        "summary": rendered(alert.summary, labels, value),
                        "description": rendered(alert.description, labels, value),
                    },
                }
                for labels, value in firing
            ]
            alert_cases.append({"eval_time": eval_time, "alertname": name, "exp_alerts": expected})
        tests.append({"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
                      "alert_rule_test": alert_cases})  # fmt: skip
    return {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": tests}


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_generated_alert_rules_pass_promtool_check():
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(deploy.ALERTS)} rules found" in result.stdout


def test_the_rules_are_the_alerts_the_operators_asked_for():
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [a.name for a in deploy.ALERTS]
    reads = {name for r in rules
             for name in metric_names(re.sub(r"m(in|ax)_over_time", "rate", r["expr"]))}  # fmt: skip
    assert reads == {
        "harbour_relay_lag_events",
        "harbour_relay_leader",
        "harbour_dead_letters_total",
        "harbour_legal_persons_without_valid_stay",
        "harbour_timers_due",
        "harbour_consumer_lag_messages",
    }
    # On a dashboard too, so the metrics test and the Prometheus test prove a running service exports them.
    assert reads <= dashboard_metrics()
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_every_alert_fires_on_its_trouble_and_stays_quiet_otherwise(tmp_path: Path):
    alerts = {a.name: a for a in deploy.ALERTS}
    tested = {name for _, evaluations in CASES for _, name, firing in evaluations if firing}
    quiet = {name for _, evaluations in CASES for _, name, firing in evaluations if not firing}
    assert tested == quiet == set(alerts), "each alert needs a case where it fires and one where it does not"
    spec = tmp_path / "alerts.test.yml"
    spec.write_text(json.dumps(promtool_tests(alerts), indent=2))  # JSON is YAML
    result = run_promtool("test", "rules", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("broken", ["never fires", "fires when quiet"])
def test_promtool_test_would_catch_a_rule_that_misbehaves(tmp_path: Path, broken: str):
    alerts = {a.name: a for a in deploy.ALERTS}
    relay = alerts["HarbourRelayLagging"]
    threshold = "> 1000" if broken == "never fires" else ">= 0"
    rules = tmp_path / "alerts.yml"
    rules.write_text(deploy.render_alerts([a if a is not relay else
                                           deploy.Alert(relay.name, relay.expr.replace("> 0", threshold), relay.for_,
                                                        relay.severity, relay.summary, relay.description)
                                           for a in deploy.ALERTS]))  # fmt: skip
    spec = promtool_tests(alerts)
    spec["rule_files"] = [str(rules)]
    path = tmp_path / "alerts.test.yml"
    path.write_text(json.dumps(spec))
    result = run_promtool("test", "rules", str(path))
    assert result.returncode != 0 and "alertname: HarbourRelayLagging" in result.stdout + result.stderr


def test_the_production_prometheus_loads_the_rules_and_its_configuration_passes_promtool(tmp_path: Path):
    config = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (mounted,) = config["rule_files"]
    volumes = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["prometheus"]["volumes"]
    assert f"./{deploy.ALERTS_FILE}:{mounted}:ro" in volumes
    config["rule_files"] = [str(ALERTS)]  # where the container sees the mounted file, here
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    result = run_promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(deploy.ALERTS)} rules found" in result.stdout
