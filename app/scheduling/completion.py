"""Completion per person (SPEC §4): a session template is complete when any session of it was attended
and complied with (``ATTC``), whether the original, a catch-up, or one in a previous group of the same
programme.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from app.scheduling.template import ProgrammeSpec, TemplateKey

ATTENDED_COMPLIED = "ATTC"


def completed_templates(outcomes: Iterable[tuple[TemplateKey, str | None]]) -> set[TemplateKey]:
    """Templates with at least one ``ATTC`` outcome; any other outcome (or none yet) does not complete it."""
    return {key for key, outcome in outcomes if outcome == ATTENDED_COMPLIED}


def module_completion(programme: ProgrammeSpec, completed: AbstractSet[TemplateKey]) -> dict[int, bool]:
    """Each module number: complete when every one of its session templates is complete."""
    return {
        module.module_number: all(session.key in completed for session in module.sessions)
        for module in sorted(programme.modules, key=lambda module: module.module_number)
    }


def programme_complete(programme: ProgrammeSpec, completed: AbstractSet[TemplateKey]) -> bool:
    """Complete when every module is (a programme without sessions is never complete)."""
    return bool(programme.sessions()) and all(module_completion(programme, completed).values())


def completion_percent(programme: ProgrammeSpec, completed: AbstractSet[TemplateKey]) -> int:
    """Completed session templates as a whole percentage of all templates, rounded down.

    Keys that are not templates of this programme do not count. 100 only when the programme is complete.
    """
    templates = {spec.key for spec in programme.sessions()}
    if not templates:
        return 0
    return 100 * len(templates & set(completed)) // len(templates)
