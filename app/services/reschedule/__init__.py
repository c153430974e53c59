"""Postponing a session (cascade reschedule) and changing a group's days and times (SPEC §3).

Both are previewed first, then computed once more on confirmation and stored as a plan (`plan`, `postpone`,
`reslot`); a background job applies its steps one by one (`apply`). The preview's warnings and words live in
`preview_warnings` and `wording`.
"""
from app.services import outbox
from app.services.reschedule.apply import (
    apply_next_step,
    apply_plan,
    carry_on,
    latest_reschedules,
    resumable,
    resume,
    stopped,
    store_plan,
)
from app.services.reschedule.outcome import Outcome, latest_outcome
from app.services.reschedule.plan import (
    STALLED_AFTER,
    ConfirmationNeeded,
    Plan,
    PlanChanged,
    PlannedMove,
    RescheduleInProgress,
    active_reschedule,
    existing_session,
)
from app.services.reschedule.postpone import preview_postpone, request_postpone, resolved_cascade
from app.services.reschedule.reslot import preview_reslot, request_reslot
from app.services.schedule_guard import ACTIVE, BLOCKING_KINDS, IN_PROGRESS, RESCHEDULE_KINDS

__all__ = [
    "ACTIVE",
    "BLOCKING_KINDS",
    "IN_PROGRESS",
    "RESCHEDULE_KINDS",
    "STALLED_AFTER",
    "ConfirmationNeeded",
    "Outcome",
    "Plan",
    "PlanChanged",
    "PlannedMove",
    "RescheduleInProgress",
    "active_reschedule",
    "apply_next_step",
    "apply_plan",
    "carry_on",
    "existing_session",
    "latest_outcome",
    "latest_reschedules",
    "outbox",
    "preview_postpone",
    "preview_reslot",
    "request_postpone",
    "request_reslot",
    "resolved_cascade",
    "resumable",
    "resume",
    "stopped",
    "store_plan",
]
