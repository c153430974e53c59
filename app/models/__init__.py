"""The data model of SPEC §2. Invariants are database constraints, not only Python.

Session times are stored as naive Europe/London wall-clock datetimes: a session at 10:00 stays at 10:00
across the March and October clock changes. Audit and bookkeeping timestamps are UTC.
"""
from app.models.audit import AuditEvent
from app.models.bank_holiday import BankHoliday
from app.models.calendar_feed import CalendarFeed
from app.models.case_data import CaseDisagreement, CaseFact
from app.models.events import CrnMerge, DomainEventOutbox, InboundEvent, ReferralStatusChange
from app.models.group import Group, GroupFacilitator, GroupSlot, Membership
from app.models.idempotency import ProcessedRequest
from app.models.ndelius import NDeliusAppointment, NDeliusDisagreement, NDeliusReconciliation, OutboxItem
from app.models.needs import ExcludedLocation, NonAssociation, Unavailability
from app.models.operation import Operation, OperationStep
from app.models.periodic import PeriodicRun
from app.models.programme import Module, ProgrammeTemplate, SessionTemplate
from app.models.referral import Referral, ReferralProgress, TemplateCompletion
from app.models.session import Attendance, AttendanceHistory, Attendee, Session, SessionFacilitator
from app.models.user import Facilitator, Region, User

__all__ = [
    "Attendance",
    "AttendanceHistory",
    "Attendee",
    "AuditEvent",
    "BankHoliday",
    "CalendarFeed",
    "CaseDisagreement",
    "CaseFact",
    "CrnMerge",
    "DomainEventOutbox",
    "ExcludedLocation",
    "Facilitator",
    "Group",
    "GroupFacilitator",
    "GroupSlot",
    "InboundEvent",
    "Membership",
    "Module",
    "NDeliusAppointment",
    "NDeliusDisagreement",
    "NDeliusReconciliation",
    "NonAssociation",
    "Operation",
    "OperationStep",
    "OutboxItem",
    "PeriodicRun",
    "ProcessedRequest",
    "ProgrammeTemplate",
    "Referral",
    "ReferralProgress",
    "ReferralStatusChange",
    "Region",
    "Session",
    "SessionFacilitator",
    "SessionTemplate",
    "TemplateCompletion",
    "Unavailability",
    "User",
]
