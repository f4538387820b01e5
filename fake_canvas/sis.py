"""SIS imports of user_observers.csv, processed in a background thread like Canvas's job queue.

Row problems follow canvas-lms app/models/sis_batch.rb (docs/canvas-rules.md, section 3): at most 24 pairs in
`processing_warnings` (and `processing_errors`), then an "and N more" pair; the full counts in `data.counts`; every
message in the errors file (`errors_attachment`), which a client downloads with its token or the URL's verifier.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
import zipfile
from collections.abc import Callable
from typing import Any

from .base import Ctx, FakeBase, Reply, ok
from .util import ApiError, iso, not_found

COUNT_KEYS = (
    "accounts",
    "terms",
    "abstract_courses",
    "courses",
    "sections",
    "xlists",
    "users",
    "enrollments",
    "groups",
    "group_memberships",
    "grade_publishing_results",
    "batch_courses_deleted",
    "batch_sections_deleted",
    "batch_enrollments_deleted",
    "error_count",
    "warning_count",
    "admins",
    "change_sis_ids",
    "logins",
    "user_observers",
)
SETTINGS_KEYS = ("sis_paused", "sis_row_delay_ms")
MESSAGES_SHOWN = 24  # SisBatch#populate_old_warnings_and_errors: .limit(24)
VERIFIER_LIFETIME_S = 3600.0  # the errors file's download URL stops working after about an hour


def _csv_files(files: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """The CSV files of an upload: plain ones as they are, a zip's CSV members by their base names."""
    csv_files: list[tuple[str, str]] = []
    for name, data in files:
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member in archive.namelist():
                        if member.lower().endswith(".csv"):
                            text = archive.read(member).decode("utf-8-sig", "replace")
                            csv_files.append((member.rsplit("/", 1)[-1], text))
            except zipfile.BadZipFile:
                csv_files.append((name, ""))
        else:
            csv_files.append((name, data.decode("utf-8-sig", "replace")))
    return csv_files


class SisImports(FakeBase):
    config: dict[str, Any]
    sis_cond: threading.Condition
    sleep: Callable[[float], None]
    _mark_dirty: Callable[[], None]
    _authenticate: Callable[[str | None], dict[str, Any]]

    def sis_json(self, rec: dict[str, Any], base: str = "") -> dict[str, Any]:
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        if out.get("errors_attachment"):
            attachment = dict(out["errors_attachment"])
            attachment["url"] = base + attachment["url"]
            out["errors_attachment"] = attachment
        return out

    def sis_import_create(self, ctx: Ctx, account_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        if account["parent_account_id"] is not None:
            raise ApiError(400, {"errors": ["SIS imports can only be executed on root accounts"]})
        p = ctx.params
        files: list[tuple[str, bytes]] = []
        upload = ctx.req.files.get("attachment")
        if upload is not None:
            files.append((upload.filename or "sis_import.csv", upload.read()))
        else:
            body = ctx.req.get_data()
            if body and not ctx.req.mimetype.startswith(("multipart/", "application/x-www-form")):
                files.append((f"sis_import.{p.get('extension') or 'csv'}", body))
        if not files:
            raise ApiError(400, {"errors": [{"message": "No SIS file was attached."}]})
        csv_files = _csv_files(files)
        now = self.clock()
        import_id = self.state.next_id("sis_imports")
        rec: dict[str, Any] = {
            "id": import_id,
            "created_at": iso(now),
            "updated_at": iso(now),
            "ended_at": None,
            "workflow_state": "created",
            "progress": 0,
            "data": {
                "import_type": str(p.get("import_type") or "instructure_csv"),
                "supplied_batches": [],
                "counts": dict.fromkeys(COUNT_KEYS, 0),
            },
            "statistics": {},
            "errors_attachment": None,
            "user": {"id": ctx.user["id"], "name": ctx.user["name"]} if ctx.user else None,
            "processing_warnings": [],
            "processing_errors": [],
            "batch_mode": p.bool("batch_mode") or None,
            "batch_mode_term_id": p.get("batch_mode_term_id"),
            "multi_term_batch_mode": p.bool("multi_term_batch_mode"),
            "skip_deletes": p.bool("skip_deletes"),
            "override_sis_stickiness": p.bool("override_sis_stickiness") or None,
            "add_sis_stickiness": p.bool("add_sis_stickiness") or None,
            "clear_sis_stickiness": p.bool("clear_sis_stickiness") or None,
            "diffing_data_set_identifier": p.get("diffing_data_set_identifier"),
            "diffed_against_import_id": None,
            "csv_attachments": [{"display_name": name} for name, _ in csv_files],
            "account_id": account["id"],
            "_files": csv_files,
            "_warnings": [],
            "_errors": [],
        }
        self.state.sis_imports[import_id] = rec
        threading.Thread(target=self._sis_process, args=(import_id,), name=f"fake-sis-{import_id}", daemon=True).start()
        return ok(self.sis_json(rec))

    def sis_import_show(self, ctx: Ctx, account_id: str, import_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        rec = self.state.sis_imports.get(int(import_id)) if import_id.isdigit() else None
        if rec is None or rec["account_id"] != account["id"]:
            raise not_found()
        return ok(self.sis_json(rec, ctx.base))

    def sis_import_index(self, ctx: Ctx, account_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        states = {str(v) for v in ctx.params.getlist("workflow_state")}
        recs = [
            r
            for r in sorted(self.state.sis_imports.values(), key=lambda r: -r["id"])
            if r["account_id"] == account["id"] and (not states or r["workflow_state"] in states)
        ]
        page, headers = self.paginate(ctx, recs)
        return ok({"sis_imports": [self.sis_json(r, ctx.base) for r in page]}, headers)

    # ---- the background job --------------------------------------------------------------------

    def _sis_process(self, import_id: int) -> None:
        with self.sis_cond:
            state = self.state  # a reset replaces the state; this import then belongs to no one
            while self.config["sis_paused"]:
                self.sis_cond.wait(timeout=0.2)
            if self.state is not state:
                return
            rec = self.state.sis_imports.get(import_id)
            if rec is None:
                return
            rec["workflow_state"] = "importing"
            rec["updated_at"] = iso(self.clock())
            files = rec["_files"]
            parsed: list[tuple[str, list[dict[str, str]]]] = []
            for name, text in files:
                reader = csv.DictReader(io.StringIO(text))
                headers = [h.strip().lower() for h in (reader.fieldnames or [])]
                if "observer_id" in headers and "student_id" in headers:
                    reader.fieldnames = headers
                    parsed.append((name, list(reader)))
                else:
                    rec["_errors"].append((name, "Couldn't find Canvas CSV import headers", None))
            if parsed:
                rec["data"]["supplied_batches"].append("user_observer")
        total = sum(len(rows) for _, rows in parsed) or 1
        done = 0
        done_in = dict.fromkeys((name for name, _ in parsed), 0)
        for name, rows in parsed:
            for row in rows:
                delay = float(self.config["sis_row_delay_ms"]) / 1000.0
                if delay:
                    self.sleep(delay)
                with self.lock:
                    rec = self.state.sis_imports.get(import_id)
                    if rec is None or self.state is not state:
                        return
                    message = self._sis_row(rec, row)
                    done += 1
                    if message is None:
                        rec["data"]["counts"]["user_observers"] += 1
                    else:
                        # The errors file's row: the line in the CSV file, the header being line 1.
                        rec["_warnings"].append((name, message, done_in[name] + 2))
                    done_in[name] += 1
                    rec["progress"] = min(99, int(done * 100 / total))
                    rec["updated_at"] = iso(self.clock())
        with self.lock:
            rec = self.state.sis_imports.get(import_id)
            if rec is None or self.state is not state:
                return
            self._sis_messages(rec)
            if rec["_errors"]:
                rec["workflow_state"] = "failed_with_messages"
            elif rec["_warnings"]:
                rec["workflow_state"] = "imported_with_messages"
            else:
                rec["workflow_state"] = "imported"
            rec["progress"] = 100
            rec["ended_at"] = rec["updated_at"] = iso(self.clock())
            self._mark_dirty()

    def _sis_messages(self, rec: dict[str, Any]) -> None:
        """SisBatch#populate_old_warnings_and_errors and #write_errors_to_file."""
        counts = rec["data"]["counts"]
        for key, kind, noun in (
            ("processing_warnings", "_warnings", "warnings"),
            ("processing_errors", "_errors", "errors"),
        ):
            messages = rec[kind]
            shown = [[file, message] for file, message, _ in messages[:MESSAGES_SHOWN]]
            if len(messages) > MESSAGES_SHOWN:
                shown.append(
                    [
                        f"and {len(messages) - MESSAGES_SHOWN} more {noun} that were not included",
                        f"Download the error file to see all {noun}.",
                    ]
                )
            rec[key] = shown
            counts[noun[:-1] + "_count"] = len(messages)
        if not (rec["_warnings"] or rec["_errors"]):
            return
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["sis_import_id", "file", "message", "row"])
        for file, message, row in [*rec["_errors"], *rec["_warnings"]]:
            writer.writerow([rec["id"], file, message, "" if row is None else row])
        file_id = self.state.next_id("files")
        verifier = secrets.token_urlsafe(16)
        name = f"sis_errors_attachment_{rec['id']}.csv"
        body = out.getvalue()
        rec["_errors_file"] = {"id": file_id, "verifier": verifier, "body": body, "issued": self.clock()}
        rec["errors_attachment"] = {
            "id": file_id,
            "display_name": name,
            "filename": name,
            "content-type": "text/csv",
            "size": len(body.encode()),
            "created_at": iso(self.clock()),
            # The host is filled in per request (sis_json): Canvas answers with its own domain.
            "url": f"/files/{file_id}/download?download_frd=1&verifier={verifier}",
        }

    def sis_errors_file(self, ctx: Ctx, file_id: str) -> Reply:
        """GET /files/:id/download: the errors file, for a valid verifier (about an hour) or an admin's token."""
        found = next(
            (
                r["_errors_file"]
                for r in self.state.sis_imports.values()
                if r.get("_errors_file") and str(r["_errors_file"]["id"]) == file_id
            ),
            None,
        )
        if found is None:
            raise not_found()
        fresh = self.clock() - found["issued"] < VERIFIER_LIFETIME_S
        if not (fresh and ctx.params.get("verifier") == found["verifier"]):
            ctx.user = self._authenticate(ctx.token)
            self.require_admin(ctx)
        return Reply(200, found["body"].encode(), [], content_type="text/csv")

    def _sis_row(self, rec: dict[str, Any], row: dict[str, str]) -> str | None:
        """One user_observers row, with lib/sis/user_observer_importer.rb's checks and messages."""
        observer_sis = (row.get("observer_id") or "").strip()
        student_sis = (row.get("student_id") or "").strip()
        status = (row.get("status") or "").strip()
        if not observer_sis:
            return "No observer_id given for a user observer"
        if not student_sis:
            return "No user_id given for a user observer"
        if observer_sis == student_sis:
            return f"Can't observe yourself user {student_sis}"
        lowered = status.lower()
        if not (lowered.startswith("active") or lowered.startswith("deleted")):
            return f'Improper status "{status}" for a user_observer'
        s = self.state
        observer_id = s.by_sis.get(observer_sis)
        if observer_id is None:
            return f"An observer referenced a non-existent user {observer_sis}"
        student_id = s.by_sis.get(student_sis)
        if student_id is None:
            return f"A student referenced a non-existent user {student_sis}"
        if lowered.startswith("active"):
            # lib/sis/user_observer_importer.rb calls create_or_restore for every active row.
            s.link_create_or_restore(
                observer_id=observer_id, student_id=student_id, sis_batch_id=rec["id"], when_active=True
            )
            return None
        if rec["skip_deletes"]:
            return None
        if not s.link_destroy(observer_id=observer_id, student_id=student_id):
            return f"Can't delete a non-existent observer for observer: {observer_sis}, student: {student_sis}"
        return None
