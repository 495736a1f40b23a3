"""The integrator's guide's librdkafka example runs, as an office would run it, against the real broker.

``docs/examples/read_milestones.py`` (confluent-kafka, which bundles librdkafka: a client Harbour did not write) is
started as its own process with the development settings the guide gives, while intake runs for real and publishes
a referral's milestones. It must read them, validate each against the committed JSON Schema, match key and headers,
and say so on stdout; the offsets it committed must make a second run go on from there; and a message off the
contract must be reported as invalid (exit 1), without its content.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from jsonschema.validators import validator_for

from harbour.settings import REPO_ROOT
from milestones import Pseudonyms
from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import PAYOKE, IntakeClient, clock

pytestmark = pytest.mark.integration
EXAMPLE = REPO_ROOT / "docs" / "examples" / "read_milestones.py"


async def run_example(*args: str) -> tuple[int, list[dict[str, object]], str]:
    """The example as its own process: exit status, the milestones it printed, its report on stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    # Bounded by the example's own --idle-seconds; this only guards against a hang of the process itself.
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, [json.loads(line) for line in stdout.decode().splitlines()], stderr.decode()


async def test_the_librdkafka_example_reads_and_validates_the_milestones_a_running_service_publishes(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    group = f"guide-{uuid.uuid4().hex[:8]}"
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, clock=clock()) as svc:
        intake = IntakeClient(svc)
        referral = await intake.refer()
        rid = referral["referral_id"]
        await intake.command(f"/referrals/{rid}/screening", {})
        await intake.command(f"/referrals/{rid}/decision", {"decision": "accept"})
        case_ref = Pseudonyms.from_settings(svc.settings).case_ref(PAYOKE, rid)

        common = ["--audience", PAYOKE, "--bootstrap", bootstrap, "--group", group]
        status, read, report = await run_example(*common, "--max-messages", "2", "--idle-seconds", "60")
        assert status == 0, report
        assert [m["milestone"] for m in read] == ["referral-received", "referral-taken-up"], report
        assert {m["case_ref"] for m in read} == {case_ref}
        assert all(m["source"] == "intake" for m in read)
        # Checked against the envelope every milestone shares, and its type's own schema where one is published.
        for m in read:
            published = REPO_ROOT / "schemas" / "jsonschema" / f"Milestone.{m['milestone']}.v1.json"
            assert m["schemas"] == ["Milestone.v1.json"] + ([published.name] if published.is_file() else [])
        assert "read 2 milestones, 0 invalid" in report

        # The offsets were committed after each message: the same group goes on with the next referral's receipt,
        # not the first referral's milestones again.
        second = (await intake.refer())["referral_id"]
        status, again, report = await run_example(*common, "--max-messages", "1", "--idle-seconds", "60")
        assert status == 0, report
        assert [(m["milestone"], m["case_ref"]) for m in again] == [
            ("referral-received", Pseudonyms.from_settings(svc.settings).case_ref(PAYOKE, second))
        ], report

    # A message off the contract (a field the closed schema does not have, as a name would be) is reported as
    # invalid, without its content, and the example exits 1: the validation is real.
    shown = {k: v for k, v in read[0].items() if k != "schemas"}  # what the example printed, less its own report
    forged = {**shown, "audience": PAYOKE, "recorded_at": "2026-12-02T06:00:00Z", "file_number": None,
              "milestone_id": str(uuid.uuid4()), "person_name": "Ilvaneth"}  # fmt: skip
    # Off the contract by that field alone: without it, the same message is valid.
    schema = json.loads((REPO_ROOT / "schemas" / "jsonschema" / "Milestone.v1.json").read_text())
    validator_for(schema)(schema).validate({k: v for k, v in forged.items() if k != "person_name"})
    headers = [("milestone", b"referral-received"), ("milestone_id", forged["milestone_id"].encode())]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("milestones.centre-payoke.v1", json.dumps(forged).encode(),
                                     key=case_ref.encode(), headers=headers)  # fmt: skip
    finally:
        await producer.stop()
    status, printed, report = await run_example(*common, "--max-messages", "1", "--idle-seconds", "60")
    assert status == 1 and printed == [], report
    assert "read 1 milestones, 1 invalid" in report
    assert "fails 'additionalProperties'" in report and "Ilvaneth" not in report
