"""Every upload's size limit (UPLOAD_MAX_MB), enforced while the request body is read, before anything is kept.

Django reads a multipart body through its upload handlers, in order, the first time anything asks for
request.POST or request.FILES (the CSRF check does, before any view runs). SizeLimitUploadHandler comes first:
it counts each file's bytes and stops the upload at the chunk that would pass the limit, so the handlers after
it (memory, then a temporary file) never hold more than the limit, and the partial temporary file is closed and
deleted by Django. A body whose declared length is already too big is stopped at its first file, before any of
its bytes are taken. The view then finds no file; `name_refusal` makes the form say why instead of "required".
"""

import logging
from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

log = logging.getLogger(__name__)

REFUSED = "upload_refused"  # the request attribute that carries the refusal to the view


def max_bytes() -> int:
    return settings.UPLOAD_MAX_MB * 1024 * 1024


def refusal() -> str:
    return (
        f"The file is larger than the upload limit of {settings.UPLOAD_MAX_MB:,} MB (UPLOAD_MAX_MB); "
        "nothing was stored. Split it, or ask an administrator to raise the limit."
    )


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops an upload whose file passes UPLOAD_MAX_MB; the rest of the body is read and dropped, so the
    browser gets the page that says why rather than a reset connection."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # The form's other fields are bounded by DATA_UPLOAD_MAX_MEMORY_SIZE: more than both is a file too big.
        self.declared_too_big = content_length > max_bytes() + (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.declared_too_big:
            self._refuse(self.content_length or 0)

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > max_bytes():
            self._refuse(start + len(raw_data))
        return raw_data

    def file_complete(self, file_size):
        return None  # the handlers after this one keep the file

    def _refuse(self, seen: int) -> None:
        setattr(self.request, REFUSED, refusal())
        log.warning("upload refused path=%s field=%s bytes_seen=%d limit_mb=%d", self.request.path,
                    self.field_name, seen, settings.UPLOAD_MAX_MB)  # fmt: skip
        raise StopUpload(connection_reset=False)


def name_refusal(form: forms.Form, request: HttpRequest) -> forms.Form:
    """Let a form whose file was refused say so: the file is missing, so its "required" error names the limit."""
    message = getattr(request, REFUSED, None)
    if message:
        for field in form.fields.values():
            if isinstance(field, forms.FileField):
                field.required = True
                field.error_messages = {**field.error_messages, "required": message}
    return form


def stored_file(row) -> str:
    """An upload row's file as its page shows it: kept until when, or removed by retention (transfers.retention)."""
    if row.file_removed_at:
        return f"removed by retention on {row.file_removed_at:%Y-%m-%d}; the counts below stay"
    if not row.file:
        return "-"
    until = row.created_at + timedelta(days=settings.UPLOAD_RETENTION_DAYS)
    return f"kept until {until:%Y-%m-%d} (UPLOAD_RETENTION_DAYS={settings.UPLOAD_RETENTION_DAYS})"
