"""Every write to programs and assignments. Each service is one transaction and writes its audit event.

Decisions are compare-and-set on the status (docs/architecture.md, "Rules of an assignment"): of two coordinators
deciding the same assignment at once exactly one update matches a row; the other gets AlreadyDecided naming who
decided, and nothing changes twice. Services that change what Canvas should hold bump `generation`, plan or retire
the links inside the transaction and publish them after commit.

Modules import downwards only: errors <- rules <- proposing <- bulk <- deciding <- dates; programs stands alone.
"""

from .bulk import (
    BulkApproveResult,
    BulkRow,
    assignments_bulk_approve,
    bulk_approval_enqueue,
    bulk_approval_run,
    bulk_approvals_requeue,
    bulk_checks_needed,
)
from .dates import assignments_activate_due, assignments_end_due
from .deciding import (
    BulkResult,
    assignment_approve,
    assignment_cancel,
    assignment_end,
    assignment_reject,
    assignments_bulk_decide,
)
from .editing import NothingChanged, assignment_update
from .errors import (
    LIVE_STATUSES,
    SYSTEM_BEAT,
    AlreadyDecided,
    ApprovalWarning,
    AssignmentError,
    NeedsConfirmation,
    audit_assignment,
)
from .programs import PROGRAM_FIELDS, program_create, program_update
from .proposing import assignment_propose, proposal_audit_details
from .rules import (
    CHECK_SKIPPED,
    REASON_MAX_LENGTH,
    StudentChecks,
    approval_warnings,
    past_end_message,
    reason_length_message,
    rule_errors,
)

__all__ = [
    "CHECK_SKIPPED",
    "LIVE_STATUSES",
    "PROGRAM_FIELDS",
    "REASON_MAX_LENGTH",
    "SYSTEM_BEAT",
    "AlreadyDecided",
    "ApprovalWarning",
    "AssignmentError",
    "BulkApproveResult",
    "BulkResult",
    "BulkRow",
    "NeedsConfirmation",
    "NothingChanged",
    "StudentChecks",
    "approval_warnings",
    "assignment_approve",
    "assignment_cancel",
    "assignment_end",
    "assignment_propose",
    "assignment_reject",
    "assignment_update",
    "assignments_activate_due",
    "assignments_bulk_approve",
    "assignments_bulk_decide",
    "assignments_end_due",
    "audit_assignment",
    "bulk_approval_enqueue",
    "bulk_approval_run",
    "bulk_approvals_requeue",
    "bulk_checks_needed",
    "past_end_message",
    "program_create",
    "program_update",
    "proposal_audit_details",
    "reason_length_message",
    "rule_errors",
]
