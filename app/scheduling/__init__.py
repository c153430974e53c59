"""Pure scheduling rules: plain values in, plain values out.

Imports nothing from Flask, SQLAlchemy or ``app.models``; services load rows, call these functions and write
the result. All datetimes are naive local wall-clock times (Europe/London).
"""

from app.scheduling.cascade import postpone, regenerate_future
from app.scheduling.completion import (
    ATTENDED_COMPLIED,
    completed_templates,
    completion_percent,
    module_completion,
    programme_complete,
)
from app.scheduling.generate import PlannedSession, generate
from app.scheduling.one_to_ones import Busy, suggest_one_to_ones
from app.scheduling.placement import first_slot_date, next_slot_date
from app.scheduling.rule_breaks import BANK_HOLIDAY, GAP_AFTER, GAP_BEFORE, RuleBreak, days_label, rule_breaks
from app.scheduling.slots import DAYS, Slot, describe_slots, format_slot, normalise_slots, parse_slot
from app.scheduling.template import (
    GROUP,
    ONE_TO_ONE,
    POST_PROGRAMME,
    PRE_GROUP,
    ModuleSpec,
    ProgrammeSpec,
    SessionSpec,
    TemplateError,
    TemplateKey,
    check_publishable,
    programme_from_json,
)
from app.scheduling.timeline import (
    CATCH_UP,
    INDIVIDUAL,
    SCHEDULED,
    ExistingSession,
    Move,
    ScheduleRefused,
    apply_moves,
)

__all__ = [
    "ATTENDED_COMPLIED",
    "BANK_HOLIDAY",
    "CATCH_UP",
    "DAYS",
    "GAP_AFTER",
    "GAP_BEFORE",
    "GROUP",
    "INDIVIDUAL",
    "ONE_TO_ONE",
    "POST_PROGRAMME",
    "PRE_GROUP",
    "SCHEDULED",
    "Busy",
    "ExistingSession",
    "ModuleSpec",
    "Move",
    "PlannedSession",
    "ProgrammeSpec",
    "RuleBreak",
    "ScheduleRefused",
    "SessionSpec",
    "Slot",
    "TemplateError",
    "TemplateKey",
    "apply_moves",
    "check_publishable",
    "completed_templates",
    "completion_percent",
    "days_label",
    "describe_slots",
    "first_slot_date",
    "format_slot",
    "generate",
    "module_completion",
    "next_slot_date",
    "normalise_slots",
    "parse_slot",
    "postpone",
    "programme_complete",
    "programme_from_json",
    "regenerate_future",
    "rule_breaks",
    "suggest_one_to_ones",
]
