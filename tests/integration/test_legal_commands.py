"""The command layer's contract (tests/support/command_contract.py) for legal: statements on one case's
proceedings, over the real HTTP API and PostgreSQL (cases opened by a real intake upstream through the broker)."""

from __future__ import annotations

from typing import Any

import pytest

from harbour.store import Actor, CommandContext
from schemas.legal import StatementKind
from services.legal.proceedings import CriminalProceedings
from tests.support.command_contract import CommandContract, Target
from tests.support.harness import RunningService
from tests.support.legal_harness import LegalStage, shared_legal_stage  # noqa: F401  (a module fixture)

pytestmark = pytest.mark.integration


class TestLegalCommands(CommandContract):
    status = 201
    event_type = written_type = "StatementMade"

    @pytest.fixture(autouse=True)
    def _bind(self, legal_stage_for_session: LegalStage) -> None:
        self.stage = legal_stage_for_session

    def service(self) -> RunningService:
        return self.stage.svc

    async def prepare(self) -> Target:
        case_id = await self.stage.open_case()
        return Target(f"/cases/{case_id}/proceedings/statements", self.stage.centre, f"proceedings-{case_id}",
                      {"case_id": case_id})  # fmt: skip

    def body(self, target: Target, i: int) -> dict[str, Any]:
        return {"kind": "complaint", "unit": "police-zone-antwerp", "report_number": f"AN.55.L1.{i:06d}/2026"}

    async def write_outside(self, conn: Any, target: Target) -> None:
        rt = self.service().runtime
        proceedings = await rt.repository.load_or_new(CriminalProceedings, target.facts["case_id"], conn=conn)
        proceedings.make_statement(on=self.stage.today, kind=StatementKind.COMPLAINT, unit="police-zone-antwerp",
                                   report_number="AN.55.L1.999999/2026")  # fmt: skip
        await rt.repository.save(proceedings, CommandContext(actor=Actor.system("contract.writer")), conn=conn)
