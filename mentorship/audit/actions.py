"""The catalogue of audited actions (docs/architecture.md, "The audit log").

Use these names; the auditor filters list them.
"""

from __future__ import annotations

from django.db import models


class Action(models.TextChoices):
    SIGN_IN = "auth.sign_in", "Signed in"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    SIGN_IN_LOCKED = "auth.locked_out", "Sign-in locked out"
    SIGN_IN_REFUSED = "auth.sign_in_refused", "Sign-in refused"
    SIGN_OUT = "auth.sign_out", "Signed out"
    CANVAS_TOKEN_EXPIRED = "auth.canvas_token_expired", "Canvas sign-in token revoked (session over)"
    ACCESS_DENIED = "auth.access_denied", "Access denied"
    ACCOUNT_INVITED = "account.invited", "Person invited to a role"
    INVITATION_ACCEPTED = "account.invitation_accepted", "Invitation accepted"
    INVITATION_WITHDRAWN = "account.invitation_withdrawn", "Invitation withdrawn"
    ACCOUNT_DEACTIVATED = "account.deactivated", "Account switched off"
    ACCOUNT_REACTIVATED = "account.reactivated", "Account switched on again"
    ACCOUNT_CHANGED = "account.changed", "Account data changed in the support admin"
    ACCOUNT_CANVAS_LINKED = "account.canvas_linked", "Account linked to a Canvas user"
    PASSWORD_RESET_REQUESTED = "account.password_reset_requested", "Password reset requested"
    PASSWORD_RESET = "account.password_reset", "Password set from an e-mailed link"
    PASSWORD_CHANGED = "account.password_changed", "Password changed"

    PROGRAM_CREATED = "program.created", "Program created"
    PROGRAM_UPDATED = "program.updated", "Program changed"
    ROLE_GRANTED = "role.granted", "Role granted"
    ROLE_REVOKED = "role.revoked", "Role revoked"
    PERSON_ADDED = "person.added", "Person added from Canvas"
    PERSON_REFRESHED = "person.refreshed", "Person refreshed from Canvas"

    ASSIGNMENT_PROPOSED = "assignment.proposed", "Assignment proposed"
    ASSIGNMENT_APPROVED = "assignment.approved", "Assignment approved"
    ASSIGNMENT_REJECTED = "assignment.rejected", "Assignment rejected"
    ASSIGNMENT_CANCELLED = "assignment.cancelled", "Assignment cancelled"
    ASSIGNMENT_UPDATED = "assignment.updated", "Proposal edited"
    ASSIGNMENT_ENDED = "assignment.ended", "Assignment ended"
    ASSIGNMENT_ACTIVATED = "assignment.activated", "Assignment started (start date)"
    ASSIGNMENTS_IMPORTED = "assignment.imported", "Assignments imported from CSV"

    CANVAS_LINKED = "canvas.linked", "Linked in Canvas"
    CANVAS_UNLINKED = "canvas.unlinked", "Removed from Canvas"
    CANVAS_FAILED = "canvas.failed", "Canvas change failed"
    CANVAS_RETRY = "canvas.retry_requested", "Canvas retry requested"
    CANVAS_CIRCUIT_OPENED = "canvas.circuit_opened", "Canvas work stopped (token rejected)"
    CANVAS_CIRCUIT_CLOSED = "canvas.circuit_closed", "Canvas work resumed"
    CANVAS_TOKEN_REPLACED = "canvas.token_replaced", "Portal's Canvas token replaced"
    CANVAS_TOKEN_REFUSED = "canvas.token_refused", "New Canvas token refused (it did not work)"
    SIS_IMPORT = "canvas.sis_import", "SIS import sent"
    SIS_CSV_DOWNLOADED = "canvas.sis_csv_downloaded", "SIS observer CSV downloaded"

    PAIRING_CODE_ISSUED = "pairing_code.issued", "Pairing code issued"
    PAIRING_CODE_REDEEMED = "pairing_code.redeemed", "Pairing code redeemed"
    PAIRING_CODE_EXPIRED = "pairing_code.expired", "Pairing code expired"
    PAIRING_CODE_REMINDED = "pairing_code.reminded", "Pairing code reminder sent"

    RECONCILE_RUN = "reconcile.run", "Reconciliation run"
    RECONCILE_REPAIR = "reconcile.repair", "Reconciliation repair"
    RECONCILE_REMOVAL = "reconcile.removal", "Unexpected link removed"
    RECONCILE_HELD = "reconcile.held", "Reconciliation held for confirmation"

    STUDENT_DATA_VIEWED = "student_data.viewed", "Student data viewed"
    STUDENT_DATA_REFUSED = "student_data.refused", "Student data refused to a mentor"
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    AUDIT_VERIFIED = "audit.verified", "Audit chain verified"
    EVIDENCE_REPORT = "audit.evidence_report", "Evidence report produced"

    API_TOKEN_ISSUED = "api.token_issued", "API token issued"
    API_TOKEN_REVOKED = "api.token_revoked", "API token revoked"
    API_READ = "api.read", "Read through the SIS API"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed"
    REFUSED = "refused"
    WARNING = "warning"
