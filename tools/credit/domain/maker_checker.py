"""Maker-checker: who made an application's steps, and so may not give it the final approval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tools.credit.domain.applications import ApplicationRecord, Transition
from tools.credit.domain.lifecycle import ApplicationStatus

__all__ = ["MakerStep", "Step", "maker_steps", "step_of"]

Step = Literal["applied for", "filed", "edited", "submitted", "reviewed", "last changed"]


@dataclass(frozen=True, slots=True)
class MakerStep:
    subject: str
    step: Step
    at: datetime


def maker_steps(app: ApplicationRecord, timeline: Sequence[Transition]) -> list[MakerStep]:
    """Every step someone made, in order: the borrower, and whoever filed, edited as a draft, submitted,
    reviewed (any decision on an application under review) or last changed the application, may not
    approve it (staff signed in as an operator are not the checkers of their own loan)."""
    steps = [
        MakerStep(app.borrower_id, "applied for", app.created_at),
        MakerStep(app.created_by, "filed", app.created_at),
        # Edits are drafts' (before the latest submission); each editor once.
        *(MakerStep(editor, "edited", app.submitted_at or app.updated_at) for editor in app.edited_by),
    ]
    for entry in timeline:
        if entry.to_status == ApplicationStatus.SUBMITTED:
            steps.append(MakerStep(entry.actor_id, "submitted", entry.occurred_at))
        if entry.from_status == ApplicationStatus.UNDER_REVIEW:
            steps.append(MakerStep(entry.actor_id, "reviewed", entry.occurred_at))
    if app.updated_by is not None:
        steps.append(MakerStep(app.updated_by, "last changed", app.updated_at))
    return steps


def step_of(steps: Sequence[MakerStep], subject: str) -> Step | None:
    """The latest step ``subject`` made (the one a refusal names), or None: then it may check."""
    made = [s.step for s in steps if s.subject == subject]
    return made[-1] if made else None
