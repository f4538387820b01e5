"""The keyed chain and its signed checkpoints: what someone with the table but without the keys cannot hide.

The attacker here has the table owner's rights (the maintenance switch), recomputes the SHA-256 links after an edit
(anyone can), but holds neither AUDIT_HMAC_KEYS nor AUDIT_SIGNING_KEY.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json

import pytest
from django.db import transaction
from django.utils import timezone

from mentorship.audit import checkpoints
from mentorship.audit.actions import Action
from mentorship.audit.chain import CANONICAL_FIELDS, GENESIS_HASH, canonical_values
from mentorship.audit.checkpoints import checkpoint_path, checkpoint_write, checkpoints_read
from mentorship.audit.keys import mac_keys
from mentorship.audit.maintenance import audit_maintenance
from mentorship.audit.models import AuditChainHead, AuditEvent
from mentorship.audit.sequencer import sequence_pending
from mentorship.audit.services import audit_record
from mentorship.audit.verification import chain_check

pytestmark = pytest.mark.django_db

KEY_ONE = "k1:" + base64.b64encode(b"1" * 32).decode()
KEY_TWO = "k2:" + base64.b64encode(b"2" * 32).decode()


def _record(n: int, **details: object) -> None:
    for i in range(n):
        audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor="worker", details={"i": i, **details})


@pytest.fixture
def chain():
    _record(10)
    sequence_pending()


def _rewrite_and_recompute(seq: int, *, with_stolen_mac_key: bool = False) -> None:
    """Change event ``seq``'s actor, then recompute every later link as someone with the table can."""
    with transaction.atomic(), audit_maintenance():
        AuditEvent.objects.filter(seq=seq).update(actor_label="someone-else")
        previous = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else GENESIS_HASH
        for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
            values = [getattr(event, name) for name in CANONICAL_FIELDS]
            new_hash = hashlib.sha256(canonical_values(*values) + previous.encode()).hexdigest()
            fields = {"prev_hash": previous, "hash": new_hash}
            if with_stolen_mac_key:
                fields["mac"] = mac_keys().mac(new_hash)
            AuditEvent.objects.filter(pk=event.pk).update(**fields)
            previous = new_hash
        AuditChainHead.objects.filter(pk=1).update(hash=previous)


def test_a_recomputed_chain_without_the_key_fails_at_the_changed_event(chain):
    assert chain_check().ok
    _rewrite_and_recompute(4)
    result = chain_check()
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "MAC does not match" in result.message


def test_a_recomputed_chain_with_the_mac_key_is_caught_by_the_signed_checkpoint(chain):
    """Even someone who also stole the MAC key cannot sign: the checkpoint at #10 names the rewrite."""
    assert checkpoint_write() is not None
    _rewrite_and_recompute(4, with_stolen_mac_key=True)
    result = chain_check()
    assert not result.ok
    assert result.first_broken_seq == 10
    assert "differs from the signed checkpoint" in result.message


def test_an_altered_checkpoint_file_is_detected(chain):
    checkpoint_write()
    path = checkpoint_path()
    line = json.loads(path.read_bytes())
    line["seq"] = 9  # a truncated log would want the checkpoint to say less
    path.write_text(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
    result = chain_check()
    assert not result.ok
    assert "signature does not match" in result.message
    assert "line 1" in result.message
    # The next checkpoint is still written after it, and signing later lines does not launder the edited one.
    _record(1)
    sequence_pending()
    assert checkpoint_write(force=True) is not None
    assert len(path.read_bytes().splitlines()) == 2
    assert "line 1" in chain_check().message


def test_a_removed_checkpoint_line_is_detected(chain, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 2
    checkpoint_write()
    _record(3)
    sequence_pending()
    checkpoint_write()
    _record(3)
    sequence_pending()
    checkpoint_write()
    path = checkpoint_path()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    path.write_bytes(lines[0] + b"\n" + lines[2] + b"\n")
    result = chain_check()
    assert not result.ok
    assert "line 2" in result.message and "does not follow" in result.message


def test_events_removed_after_a_checkpoint_are_detected(chain):
    checkpoint_write()
    with transaction.atomic(), audit_maintenance():
        AuditEvent.objects.filter(seq__gte=8).delete()
        AuditChainHead.objects.filter(pk=1).update(seq=7, hash=AuditEvent.objects.get(seq=7).hash)
    result = chain_check()
    assert not result.ok
    assert result.first_broken_seq == 8
    assert "signed checkpoint records #10" in result.message


def test_checkpoints_come_every_n_events(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    _record(3)
    sequence_pending()
    assert checkpoint_write() is not None  # the first one: nothing signed yet
    _record(3)
    sequence_pending()
    assert checkpoint_write() is None  # 3 events since: not due
    _record(2)
    sequence_pending()
    written = checkpoint_write()
    assert written is not None and written.seq == 8
    found = checkpoints_read()
    assert not found.fault and [mark.seq for mark in found.checkpoints] == [3, 8]
    assert chain_check().ok


def test_a_checkpoint_is_due_after_the_interval_whatever_the_count(settings, monkeypatch):
    settings.AUDIT_CHECKPOINT_EVERY = 1000
    _record(2)
    sequence_pending()
    checkpoint_write()
    _record(1)
    sequence_pending()
    assert checkpoint_write() is None
    later = timezone.now() + datetime.timedelta(seconds=settings.AUDIT_CHECKPOINT_SECONDS + 1)
    monkeypatch.setattr(checkpoints.timezone, "now", lambda: later)
    assert checkpoint_write() is not None


def test_keys_rotate_old_events_still_verify(settings):
    settings.AUDIT_HMAC_KEYS = [KEY_ONE]
    _record(3)
    sequence_pending()
    settings.AUDIT_HMAC_KEYS = [KEY_TWO, KEY_ONE]
    _record(3)
    sequence_pending()
    assert list(AuditEvent.objects.order_by("seq").values_list("key_id", flat=True)) == ["k1"] * 3 + ["k2"] * 3
    assert chain_check().ok
    settings.AUDIT_HMAC_KEYS = [KEY_TWO]  # the old key dropped too early
    result = chain_check()
    assert result.first_broken_seq == 1
    assert "'k1', which is not in AUDIT_HMAC_KEYS" in result.message


def test_an_event_left_pending_too_long_is_a_fault(settings):
    _record(2)
    sequence_pending()
    audit_record(action=Action.SIGN_IN, system_actor="late")
    assert chain_check().ok  # pending for a moment is normal
    settings.AUDIT_SEQUENCE_MAX_LAG_SECONDS = 0
    result = chain_check()
    assert not result.ok
    assert "still not chained" in result.message


def test_the_sequencer_chains_in_batches_and_is_idempotent():
    _record(7)
    assert sequence_pending(batch_size=3) == 7
    assert sequence_pending() == 0
    assert AuditChainHead.objects.get(pk=1).seq == 7
    assert chain_check().ok


def test_the_sequencer_task_chains_and_signs(settings):
    from mentorship.audit.tasks import sequence

    settings.AUDIT_CHECKPOINT_EVERY = 1
    _record(4)
    assert sequence() == 4
    assert [mark.seq for mark in checkpoints_read().checkpoints] == [4]
    assert sequence() == 0


def test_one_sequencer_kick_per_transaction(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        _record(50)
    kicks = [c for c in callbacks if getattr(c, "__name__", "") == "sequencer_kick"]
    assert len(kicks) == 1
