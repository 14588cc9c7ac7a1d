"""The doctor's findings: one per check, in words, with what to fix (pydantic, for --json)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but something an operator should know (e.g. the model will be reloaded)
    FAIL = "fail"  # the service will not work as configured


class Finding(BaseModel):
    check: str = Field(description="what was checked, e.g. kafka.topic.eater-send-photo")
    status: Status
    message: str = Field(description="what was found, in words")
    fix: str = Field("", description="what to change, when something is wrong")
    details: dict[str, object] = Field(default_factory=dict, description="figures behind the message")


class DoctorReport(BaseModel):
    ok: bool = Field(description="no finding failed")
    findings: list[Finding]

    @classmethod
    def of(cls, findings: list[Finding]) -> DoctorReport:
        return cls(ok=all(f.status is not Status.FAIL for f in findings), findings=findings)

    def text(self) -> str:
        lines = []
        for finding in self.findings:
            lines.append(f"[{finding.status.value.upper():4}] {finding.check}: {finding.message}")
            if finding.fix:
                lines.append(f"       fix: {finding.fix}")
        failed = sum(f.status is Status.FAIL for f in self.findings)
        lines.append("all checks passed" if self.ok else f"{failed} check(s) failed")
        return "\n".join(lines)
