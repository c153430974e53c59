"""The programme template as plain values: modules, session templates, durations and gaps.

Rules key on template data (``gap_weeks_before`` / ``gap_weeks_after``, ``role``), never on module names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "group"
ONE_TO_ONE = "one_to_one"
SESSION_TYPES = (GROUP, ONE_TO_ONE)

PRE_GROUP = "pre_group"
POST_PROGRAMME = "post_programme"

TemplateKey = tuple[int, int]
"""(module_number, session_number): identifies a session template within a programme."""


class TemplateError(ValueError):
    """Programme template data that cannot be used; ``str(error)`` says where and why, on one line."""


@dataclass(frozen=True)
class SessionSpec:
    """One session template. A ``one_to_one`` template becomes a placeholder on the group timeline."""

    module_number: int
    session_number: int
    name: str
    session_type: str
    duration_minutes: int

    @property
    def key(self) -> TemplateKey:
        return (self.module_number, self.session_number)


@dataclass(frozen=True)
class ModuleSpec:
    """A module. ``gap_weeks_after`` pauses every slot after its last session (the pre-group one-to-one,
    3 weeks); ``gap_weeks_before`` pauses every slot before its first session (post-programme review,
    6 weeks).
    """

    module_number: int
    name: str
    role: str | None
    gap_weeks_before: int
    gap_weeks_after: int
    sessions: tuple[SessionSpec, ...]


@dataclass(frozen=True)
class ProgrammeSpec:
    """A programme template version: its modules in any order; template order is derived from numbers."""

    name: str
    modules: tuple[ModuleSpec, ...]

    def sessions(self) -> list[SessionSpec]:
        """Every session template in template order: module_number, then session_number."""
        return sorted(
            (session for module in self.modules for session in module.sessions),
            key=lambda session: session.key,
        )

    def module(self, module_number: int) -> ModuleSpec:
        """The module with that number; KeyError when the template has none."""
        for module in self.modules:
            if module.module_number == module_number:
                return module
        raise KeyError(f"{self.name} has no module {module_number}")

    def session(self, key: TemplateKey) -> SessionSpec:
        """The session template with that (module_number, session_number); KeyError when absent."""
        for spec in self.sessions():
            if spec.key == key:
                return spec
        raise KeyError(f"{self.name} has no session {key[0]}.{key[1]}")

    def template_order(self) -> dict[TemplateKey, int]:
        """Position of each session template in template order (0-based)."""
        return {spec.key: index for index, spec in enumerate(self.sessions())}


def programme_from_json(data: Mapping[str, Any]) -> ProgrammeSpec:
    """Read the ``building_choices.json`` shape.

    A session without ``duration_minutes`` takes the programme default for its type from
    ``durations_minutes``. Raises TemplateError (a ValueError) with a one-line reason when the data is
    unusable.
    """
    defaults = data.get("durations_minutes") or {}
    if not isinstance(defaults, Mapping):
        raise TemplateError("durations_minutes must be an object of session type to minutes")
    name = _text(data, "name", "programme")
    raw_modules = data.get("modules")
    if not isinstance(raw_modules, list) or not raw_modules:
        raise TemplateError(f"{name}: 'modules' must be a non-empty list")
    modules = tuple(_module_from_json(raw, defaults) for raw in raw_modules)
    _check_unique([module.module_number for module in modules], f"{name}: module number")
    if not any(module.sessions for module in modules):
        raise TemplateError(f"{name}: the programme has no sessions")
    return ProgrammeSpec(name=name, modules=modules)


def _module_from_json(raw: Any, defaults: Mapping[str, Any]) -> ModuleSpec:
    if not isinstance(raw, Mapping):
        raise TemplateError("each module must be an object")
    number = _positive_int(raw, "module_number", "module")
    where = f"module {number}"
    raw_sessions = raw.get("sessions") or []
    if not isinstance(raw_sessions, list):
        raise TemplateError(f"{where}: 'sessions' must be a list")
    sessions = tuple(_session_from_json(item, number, defaults) for item in raw_sessions)
    _check_unique([session.session_number for session in sessions], f"{where}: session number")
    role = raw.get("role")
    if role is not None and not isinstance(role, str):
        raise TemplateError(f"{where}: 'role' must be text")
    return ModuleSpec(
        module_number=number,
        name=_text(raw, "name", where),
        role=role,
        gap_weeks_before=_weeks(raw, "gap_weeks_before", where),
        gap_weeks_after=_weeks(raw, "gap_weeks_after", where),
        sessions=tuple(sorted(sessions, key=lambda session: session.session_number)),
    )


def _session_from_json(raw: Any, module_number: int, defaults: Mapping[str, Any]) -> SessionSpec:
    if not isinstance(raw, Mapping):
        raise TemplateError(f"module {module_number}: each session must be an object")
    number = _positive_int(raw, "session_number", f"module {module_number} session")
    where = f"session {module_number}.{number}"
    session_type = raw.get("session_type")
    if session_type not in SESSION_TYPES:
        allowed = ", ".join(SESSION_TYPES)
        raise TemplateError(f"{where}: session_type must be one of {allowed}, not {session_type!r}")
    duration = raw.get("duration_minutes", defaults.get(session_type))
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise TemplateError(f"{where}: duration_minutes must be a positive whole number (got {duration!r})")
    return SessionSpec(
        module_number=module_number,
        session_number=number,
        name=_text(raw, "name", where),
        session_type=session_type,
        duration_minutes=duration,
    )


def _text(raw: Mapping[str, Any], field: str, where: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(f"{where}: '{field}' must be non-empty text")
    return value


def _positive_int(raw: Mapping[str, Any], field: str, where: str) -> int:
    value = raw.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TemplateError(f"{where}: '{field}' must be a positive whole number (got {value!r})")
    return value


def _weeks(raw: Mapping[str, Any], field: str, where: str) -> int:
    value = raw.get(field, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TemplateError(f"{where}: '{field}' must be a whole number of weeks (got {value!r})")
    return value


def _check_unique(numbers: list[int], what: str) -> None:
    seen: set[int] = set()
    for number in numbers:
        if number in seen:
            raise TemplateError(f"{what} {number} appears twice")
        seen.add(number)


def check_publishable(spec: ProgrammeSpec) -> None:
    """A new version must be usable by every rule that keys on template data: modules numbered 1, 2, 3… and each
    module's sessions 1, 2, 3… with no gaps, exactly one pre-group module (first) and one post-programme module
    (last), every module with at least one session, every duration positive. Raises TemplateError naming the
    first problem found."""
    numbers = sorted(module.module_number for module in spec.modules)
    _check_consecutive(numbers, f"{spec.name}: modules")
    for module in sorted(spec.modules, key=lambda m: m.module_number):
        where = f"module {module.module_number} ({module.name})"
        if not module.sessions:
            raise TemplateError(f"{where} has no sessions")
        _check_consecutive([s.session_number for s in module.sessions], f"{where}: sessions")
        for session in module.sessions:
            if session.duration_minutes <= 0:
                raise TemplateError(f"session {module.module_number}.{session.session_number}: duration_minutes "
                                    f"must be positive (got {session.duration_minutes})")
        if module.role is not None and module.role not in (PRE_GROUP, POST_PROGRAMME):
            raise TemplateError(f"{where}: role must be {PRE_GROUP} or {POST_PROGRAMME}, not {module.role!r}")
    for role, position, place in ((PRE_GROUP, numbers[0], "first"), (POST_PROGRAMME, numbers[-1], "last")):
        having = [m.module_number for m in spec.modules if m.role == role]
        if len(having) != 1:
            found = ", ".join(str(n) for n in sorted(having)) if having else "none"
            raise TemplateError(f"{spec.name}: exactly one module must have role {role} (found {found})")
        if having[0] != position:
            raise TemplateError(f"{spec.name}: the {role} module must be the {place} module "
                                f"(it is module {having[0]})")


def _check_consecutive(numbers: list[int], what: str) -> None:
    """Numbers sorted ascending must be exactly 1..n."""
    for expected, number in enumerate(numbers, start=1):
        if number != expected:
            raise TemplateError(f"{what} must be numbered from 1 without gaps (number {expected} is missing)")
