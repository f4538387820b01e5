"""The pairing-code ledger: issue, deliver, remind, redeem, expire (a code is a secret: the audit keeps two
characters of it)."""

from __future__ import annotations

import datetime
import functools
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
    CanvasTransientError,
    CanvasValidationError,
)
from mentorship.accounts.models import User
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core import canvas
from mentorship.people.models import Person

from ..circuit import circuit_is_open, circuit_open
from ..models import ObserverLink, PairingCode
from .common import (
    PAIRING_CODE_LIFETIME,
    PAIRING_REMIND_BEFORE,
    WORKING,
    Desired,
    State,
    SyncError,
)
from .planning import assignment_link_state_refresh, links_plan
from .records import _audit_link, _lock_assignment

logger = logging.getLogger(__name__)

# Canvas counts these student enrollments for a pairing code (`User#has_student_enrollment?`, docs/canvas-rules.md,
# section 4).
CODE_ENROLLMENT_STATES = ("active", "invited", "completed", "creation_pending")
CODE_REFUSED_SENTENCE = (
    "Canvas no longer accepts this pairing code (it was used or has expired). "
    "Your coordinator has been told and can send you a new one."
)


class NoStudentEnrollment(CanvasError):
    """The student has no student enrollment, so Canvas would refuse the code with a bare 401 (which reads like a
    missing permission). Raised before asking Canvas for the code."""

    def __init__(self, student_name: str) -> None:
        super().__init__("the student has no active student enrollment", status=None, acting_as="portal")
        self.student_name = student_name

    @property
    def user_message(self) -> str:
        return (
            f"{self.student_name} has no active student enrollment in Canvas, so Canvas cannot make a pairing code. "
            "Check the student's enrollment in Canvas, then use \u201cRetry now\u201d."
        )


def pairing_code_create_checked(*, client: CanvasClient, student: Person) -> Any:
    """Ask Canvas for a code only once the student's enrollment is confirmed: Canvas refuses a code for a user
    without a student enrollment with 401 *before* it checks permissions (docs/canvas-rules.md, section 4), so the
    portal says what is wrong instead of blaming the token. Raises NoStudentEnrollment or CanvasError."""
    enrolled = next(
        iter(
            client.list_user_enrollments(student.canvas_user_id, type="StudentEnrollment", state=CODE_ENROLLMENT_STATES)
        ),
        None,
    )
    if enrolled is None:
        raise NoStudentEnrollment(student.name)
    return client.create_pairing_code(student.canvas_user_id)


def _pairing_code_save(*, link: ObserverLink, canvas_code: Any, actor: User | None) -> PairingCode:
    """Ledger row for a code Canvas just issued; supersedes older codes; delivery after commit."""
    assignment = link.assignment
    now = timezone.now()
    PairingCode.objects.filter(assignment=assignment, status=PairingCode.Status.ISSUED).update(
        status=PairingCode.Status.SUPERSEDED
    )
    code = PairingCode.objects.create(
        assignment=assignment,
        link=link,
        student=assignment.student,
        code=canvas_code.code,
        issued_by=actor,
        issued_at=now,
        expires_at=canvas_code.expires_at or now + PAIRING_CODE_LIFETIME,
        delivered_via="email+page" if assignment.mentor.email else "page",
    )
    _audit_code(
        code, Action.PAIRING_CODE_ISSUED, actor=actor, system_actor="worker", expires_at=code.expires_at.isoformat()
    )
    transaction.on_commit(lambda: _deliver_code(code.pk))
    return code


def _deliver_code(code_id: int, *, reminder: bool = False) -> None:
    code = PairingCode.objects.select_related("assignment__mentor", "student").get(pk=code_id)
    mentor: Person = code.assignment.mentor
    if not mentor.email:
        return
    expires = timezone.localtime(code.expires_at).strftime("%Y-%m-%d %H:%M")
    lead = "Reminder: your pairing code expires soon." if reminder else "Your Canvas pairing code is ready."
    try:
        send_mail(
            "Mentor Link: your Canvas pairing code" + (" expires soon" if reminder else ""),
            (
                f"{lead}\n\nStudent: {code.student.name}\nPairing code: {code.code}\nExpires: {expires}\n\n"
                f"Link now from {settings.PORTAL_BASE_URL}/my/ , or enter the code in Canvas under Account > "
                f"Settings > Observing ({settings.CANVAS_BASE_URL}/profile/observees). The code works once.\n"
            ),
            None,
            [mentor.email],
        )
    except Exception:  # the code is also on the mentor's page; never log it
        logger.warning("could not email pairing code %s", code_id)


def pairing_code_issue(
    *, assignment: MentorAssignment, actor: User | None = None, client: CanvasClient | None = None
) -> PairingCode:
    """Ask Canvas for a new code for an assignment that links by pairing code (reissue on request).

    Older issued codes become superseded. Raises SyncError when the assignment does not use pairing codes or is
    not active, and CanvasError when Canvas refuses.
    """
    if assignment.link_method != LinkMethod.PAIRING_CODE:
        raise SyncError("This assignment does not link by pairing code.")
    if not assignment.is_active:
        raise SyncError("Codes are only issued while the assignment is active.")
    link = ObserverLink.objects.filter(assignment=assignment, kind=ObserverLink.Kind.OBSERVEE).first()
    if link is None:
        link = links_plan(assignment=assignment)[0]
    if link.state == State.LINKED:
        raise SyncError("The mentor is already linked in Canvas; no code is needed.")
    own = client is None
    client = client or canvas.portal_client()
    try:
        canvas_code = pairing_code_create_checked(client=client, student=assignment.student)
    except NoStudentEnrollment as exc:
        raise SyncError(exc.user_message) from None
    finally:
        if own:
            client.close()
    with transaction.atomic():
        _lock_assignment(assignment.pk)
        link = ObserverLink.objects.select_related(
            "assignment__program", "assignment__student", "assignment__mentor"
        ).get(pk=link.pk)
        code = _pairing_code_save(link=link, canvas_code=canvas_code, actor=actor)
        ObserverLink.objects.filter(pk=link.pk).exclude(state__in=WORKING).update(
            state=State.AWAITING_REDEMPTION,
            desired=Desired.PRESENT,
            claim="",
            last_error="",
            last_error_status=None,
            updated_at=timezone.now(),
        )
        assignment_link_state_refresh(assignment_id=assignment.pk)
    return code


def _mark_redeemed(code: PairingCode, *, by_canvas_id: int, actor: User | None) -> bool:
    """Record the redemption and the link (exactly once: compare-and-set on the code's status)."""
    now = timezone.now()
    with transaction.atomic():
        _lock_assignment(code.assignment_id)
        won = PairingCode.objects.filter(pk=code.pk, status=PairingCode.Status.ISSUED).update(
            status=PairingCode.Status.REDEEMED, redeemed_at=now, redeemed_by_canvas_id=by_canvas_id
        )
        if not won:
            return False
        assignment = code.assignment
        _audit_code(code, Action.PAIRING_CODE_REDEEMED, actor=actor, system_actor="beat", observer=by_canvas_id)
        link = ObserverLink.objects.filter(
            assignment=assignment, kind=ObserverLink.Kind.OBSERVEE, desired=Desired.PRESENT
        ).first()
        if link is not None:
            linked = (
                ObserverLink.objects.filter(pk=link.pk)
                .exclude(state=State.LINKED)
                .update(state=State.LINKED, claim="", linked_at=now, synced_at=now, last_error="", updated_at=now)
            )
            if linked:
                link.assignment = assignment
                _audit_link(
                    link,
                    Action.CANVAS_LINKED,
                    details={"observer": by_canvas_id, "student": link.student_canvas_id, "via": "pairing_code"},
                )
            assignment_link_state_refresh(assignment_id=assignment.pk)
    return True


def pairing_code_redeem(*, pairing_code: PairingCode, mentor_user: User, canvas_client: CanvasClient) -> bool:
    """Redeem the code with the mentor's own token (POST /users/self/observees). Never retried: Canvas consumes the
    code first, so after a lost answer the student's observers are listed to confirm.

    Returns True when the mentor now observes the student. Raises SyncError (a sentence) when it did not work, and
    CanvasAuthError when Canvas refused the mentor's token (nothing happened: the caller may refresh and call again).
    A code past its time, or one Canvas no longer accepts, is marked expired at once (ledger, link, coordinator's
    view: pairing_code_invalidate).
    """
    code = PairingCode.objects.select_related("assignment__mentor", "assignment__program", "assignment__student").get(
        pk=pairing_code.pk
    )
    mentor = code.assignment.mentor
    if mentor_user.person_id != mentor.pk:
        raise SyncError("This pairing code was issued for another mentor.")
    if code.status == PairingCode.Status.REDEEMED:
        return True
    if code.status == PairingCode.Status.ISSUED and code.expires_at <= timezone.now():
        pairing_code_invalidate(code=code, reason="expired")
    if code.status != PairingCode.Status.ISSUED or code.expires_at <= timezone.now():
        raise SyncError("This pairing code is no longer valid. Ask your coordinator for a new one.")
    try:
        canvas_client.redeem_pairing_code(code.code)
    except CanvasAuthError:
        raise
    except (CanvasTransientError, CanvasValidationError) as exc:
        # Lost answer (or an "invalid code" because our first, unanswered try consumed it): ask Canvas who observes
        # the student now, with the portal's token.
        try:
            confirmed = _observes(code.student.canvas_user_id, mentor.canvas_user_id)
        except CanvasError:
            # Canvas cannot say either way; the pairing-code watch records the redemption if it did happen.
            raise SyncError(
                "Canvas is not answering right now, so the portal cannot tell whether the code was used. "
                "Your link will show here as soon as Canvas confirms it; otherwise try again in a minute."
            ) from None
        if confirmed:
            _mark_redeemed(code, by_canvas_id=mentor.canvas_user_id, actor=mentor_user)
            return True
        if isinstance(exc, CanvasValidationError):
            # 422 "Invalid pairing code.": expired, used or unknown in Canvas, and the three cannot be told apart
            # (docs/canvas-rules.md, section 4). It will never work: one state everywhere, now.
            pairing_code_invalidate(code=code, reason="canvas_refused")
            raise SyncError(CODE_REFUSED_SENTENCE) from None
        raise SyncError(
            f"Canvas did not accept the pairing code ({exc.status_text}). "
            "Try again in a minute, or ask your coordinator for a new code."
        ) from None
    except CanvasError as exc:
        raise SyncError(exc.user_message) from None
    _mark_redeemed(code, by_canvas_id=mentor.canvas_user_id, actor=mentor_user)
    return True


def _observes(student_id: int, observer_id: int, client: CanvasClient | None = None) -> bool:
    own = client is None
    client = client or canvas.portal_client()
    try:
        return any(user.id == observer_id for user in client.list_observers(student_id))
    finally:
        if own:
            client.close()


def pairing_codes_watch(*, client: CanvasClient | None = None, now: datetime.datetime | None = None) -> dict[str, int]:
    """Beat job: detect redemptions (the mentor appears among the student's observers), remind mentors a day before
    expiry, and mark expired codes (their link fails with a sentence; "Retry now" issues a new code)."""
    now = now or timezone.now()
    counts = {"redeemed": 0, "reminded": 0, "expired": 0}
    if circuit_is_open():
        return counts
    issued = list(
        PairingCode.objects.filter(status=PairingCode.Status.ISSUED).select_related(
            "assignment__mentor", "assignment__program", "assignment__student", "student"
        )
    )
    own = client is None
    client = client or canvas.portal_client()
    try:
        observers_by_student: dict[int, set[int]] = {}
        for code in issued:
            student_id = code.student.canvas_user_id
            if student_id not in observers_by_student:
                try:
                    observers_by_student[student_id] = {u.id for u in client.list_observers(student_id)}
                except CanvasAuthError as exc:
                    circuit_open(error=exc)
                    return counts
                except CanvasError:
                    observers_by_student[student_id] = set()
            mentor_id = code.assignment.mentor.canvas_user_id
            if mentor_id in observers_by_student[student_id]:
                if _mark_redeemed(code, by_canvas_id=mentor_id, actor=None):
                    counts["redeemed"] += 1
            elif code.expires_at <= now:
                _pairing_code_expire(code)
                counts["expired"] += 1
            elif code.expires_at - now <= PAIRING_REMIND_BEFORE and code.reminded_at is None:
                with transaction.atomic():
                    if PairingCode.objects.filter(pk=code.pk, reminded_at__isnull=True).update(reminded_at=now):
                        _audit_code(code, Action.PAIRING_CODE_REMINDED, actor=None, system_actor="beat")
                        transaction.on_commit(functools.partial(_deliver_code, code.pk, reminder=True))
                        counts["reminded"] += 1
    finally:
        if own:
            client.close()
    return counts


def _pairing_code_expire(code: PairingCode) -> None:
    pairing_code_invalidate(code=code, reason="expired")


def pairing_codes_expire_due(*, assignment_ids: list[int]) -> int:
    """Expire these assignments' codes whose time has passed, now rather than at the next watch, so the mentor's card
    and the coordinator's view never show a dead code as waiting. Returns how many were expired."""
    due = PairingCode.objects.filter(
        assignment_id__in=assignment_ids, status=PairingCode.Status.ISSUED, expires_at__lte=timezone.now()
    ).select_related("assignment__program", "student")
    count = 0
    for code in due:
        count += pairing_code_invalidate(code=code, reason="expired")
    return count


def pairing_code_invalidate(*, code: PairingCode, reason: str) -> bool:
    """Mark an issued code dead, in one transaction: the ledger (expired), the link (failed, with a sentence for
    the coordinator, whose "Retry now" issues a new code), the assignment's link state, and the audit log.

    `reason`: "expired" (its time passed) or "canvas_refused" (Canvas answered "Invalid pairing code."). A code
    no longer issued is left alone (returns False): one state per code.
    """
    with transaction.atomic():
        _lock_assignment(code.assignment_id)
        if not PairingCode.objects.filter(pk=code.pk, status=PairingCode.Status.ISSUED).update(
            status=PairingCode.Status.EXPIRED
        ):
            return False
        code.status = PairingCode.Status.EXPIRED
        _audit_code(
            code, Action.PAIRING_CODE_EXPIRED, actor=None, system_actor="beat", outcome=Outcome.WARNING, reason=reason
        )
        if reason == "expired":
            expired_on = timezone.localtime(code.expires_at).strftime("%Y-%m-%d")
            error = f"The pairing code expired on {expired_on} before the mentor used it."
        else:
            error = "Canvas no longer accepts the pairing code (used by someone else, or expired in Canvas)."
        ObserverLink.objects.filter(
            assignment_id=code.assignment_id, state=State.AWAITING_REDEMPTION, desired=Desired.PRESENT
        ).update(
            state=State.FAILED,
            last_error=error + " Use \u201cRetry now\u201d to issue a new code.",
            last_error_status=None,
            updated_at=timezone.now(),
        )
        assignment_link_state_refresh(assignment_id=code.assignment_id)
    return True


def _audit_code(
    code: PairingCode, action: str, *, actor: User | None, system_actor: str, outcome: str = Outcome.OK, **details: Any
) -> None:
    """A pairing-code event (the log masks the code to its last two characters); the system actor when no one acted."""
    audit_record(
        action=action,
        actor=actor,
        system_actor="" if actor else system_actor,
        program=code.assignment.program,
        student=code.student,
        obj=code,
        outcome=outcome,
        details={"assignment": code.assignment_id, "code": code.code, **details},
    )
