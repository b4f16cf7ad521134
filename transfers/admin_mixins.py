"""django-import-export's own admin flow on the model admins: its Import and Export buttons, its import page →
preview → confirm (process_import), fed by our resources.

Four things differ from the library's defaults, each for a rule:
- the file reaches our resource as the uploaded bytes (RawCSV), not a tablib Dataset: our reader streams it,
  names each bad row and judges the header (R8), where tablib would refuse the whole file for one ragged row;
- the upload is copied into the library's temporary storage chunk by chunk and read back from it as an open
  file, at the preview and again at the confirm (StreamedTmpStorage): the library adds each chunk to one growing
  bytes object (quadratic) and reads the stored file whole, twice (R10);
- a file over LARGE_ROWS never reaches the library's in-request read: it becomes an ImportJob from the same
  upload and a worker previews it (R10);
- the export button streams our resource's formula-escaped lines (R12) from the changelist's own queryset, where
  the library's export builds the whole file in memory and strips only a leading `=`;
- the file waiting for the confirm step is kept by PendingImportStorage under a name the library generated, and
  the confirm step accepts only a name this user's own preview was given: the library would open, import and
  delete whatever name the form posts back, in the server's temp directory (issue 13).
"""

import io
import re
from functools import cache

from import_export.admin import ExportMixin, ImportMixin
from import_export.formats.base_formats import CSV
from import_export.results import RowResult
from import_export.tmp_storages import MediaStorage, TempFolderStorage

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, SuspiciousFileOperation
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.urls import reverse

from smsprogram.uploads import name_refusal
from transfers import exports, services
from transfers.resources import ExportResource, ImportResource

# Only Operator and Admin hold it (contacts/roles.py): starting and confirming an import (R12).
IMPORT_PERMISSION = "transfers.add_importjob"


PENDING = "import_export_pending"  # the session's list of this user's files awaiting the confirm step
PENDING_KEPT = 10


class PendingImportStorage(MediaStorage):
    """IMPORT_EXPORT_TMP_STORAGE_CLASS: the upload awaiting confirmation, in the media storage's
    `django-import-export/` folder under the uuid4 hex name the library generates; any other name is refused
    before a file is opened, so none can reach a file this storage did not write."""

    GENERATED = re.compile(r"[0-9a-f]{32}")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.name is not None and not self.GENERATED.fullmatch(self.name):
            raise SuspiciousFileOperation("an import file name the import did not generate")


class RawCSV(CSV):
    """CSV, handed over as the uploaded bytes for our resource's own streaming reader."""

    def is_binary(self):
        return True  # kept and read back as bytes: our reader finds the encoding and the BOM

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream):
        # StreamedTmpStorage hands over the stored file, open; bytes come from any other path into the library.
        return in_stream if hasattr(in_stream, "read") else io.BytesIO(in_stream)


class StreamedTmpStorage:
    """Mixed into whichever temporary storage the library is configured with (IMPORT_EXPORT_TMP_STORAGE_CLASS): the
    storage still names, keeps and removes the file; only the bytes go in and come out as a stream."""

    def save_upload(self, upload) -> None:
        self.save(b"")  # the storage names the file (and records it, if it does) as for any save
        with self._stream("wb") as stored:
            for chunk in upload.chunks(services.CHUNK):
                stored.write(chunk)

    def read(self):
        """The stored file, open for reading: our resource reads it in chunks and closes it."""
        return self._stream("rb")

    def _stream(self, mode: str):
        if isinstance(self, MediaStorage):
            return self._storage.open(self.get_full_path(), mode)
        if isinstance(self, TempFolderStorage):
            return open(self.get_full_path(), mode)
        raise ImproperlyConfigured(f"CSV imports stream their file: {type(self).__name__} keeps no file to stream "
                                   "(use TempFolderStorage or MediaStorage)")  # fmt: skip


@cache
def streamed(storage_class: type) -> type:
    return type(f"Streamed{storage_class.__name__}", (StreamedTmpStorage, storage_class), {})


class CSVImportMixin(ImportMixin):
    """The library's import flow for the admin's ImportResource among its `resource_classes`."""

    import_formats = [RawCSV]
    import_template_name = "admin/transfers/csv_import.html"

    def has_import_permission(self, request):
        return request.user.has_perm(IMPORT_PERMISSION)

    def get_import_resource_classes(self, request):
        return [resource for resource in self.resource_classes if issubclass(resource, ImportResource)]

    def get_confirm_form_initial(self, request, import_form):
        """The preview's confirm form, its file name remembered as this user's pending import."""
        initial = super().get_confirm_form_initial(request, import_form)
        if initial.get("import_file_name"):
            pending = [*request.session.get(PENDING, []), initial["import_file_name"]]
            request.session[PENDING] = pending[-PENDING_KEPT:]
        return initial

    def process_import(self, request, **kwargs):
        """The library's confirm step, for a file this user's own preview stored; any other name is a 400."""
        name = request.POST.get("import_file_name")
        if name is not None and self.has_import_permission(request):
            pending = request.session.get(PENDING, [])
            if name not in pending:
                return HttpResponseBadRequest("This import is not one of your pending imports.")
            request.session[PENDING] = [other for other in pending if other != name]
        return super().process_import(request, **kwargs)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}  # the opt-outs it records name the operator (R7)

    def is_skip_import_confirm_enabled(self):
        # Never, whatever IMPORT_EXPORT_SKIP_ADMIN_CONFIRM says: the preview names bad rows before anything is
        # written (R8), and the library's no-confirm branch builds the whole file in memory by concatenation.
        return False

    def create_import_form(self, request):
        return name_refusal(super().create_import_form(request), request)

    def get_tmp_storage_class(self):
        return streamed(super().get_tmp_storage_class())

    def write_to_tmp_storage(self, import_file, input_format):
        storage = self.get_tmp_storage_class()(read_mode="rb", **self.get_tmp_storage_class_kwargs())
        storage.save_upload(import_file)
        return storage

    def import_action(self, request, **kwargs):
        """The library's import step, except that a file too big for a request becomes a job for a worker."""
        if request.method == "POST" and self.has_import_permission(request):
            form = self.create_import_form(request)
            if form.is_valid():
                upload = form.cleaned_data["import_file"]
                rows = services.count_rows(upload)
                if rows > services.LARGE_ROWS:
                    resource = self.choose_import_resource_class(form, request)
                    job = services.start_import(kind=resource.kind, upload=upload, user=request.user, rows=rows)
                    self.message_user(request, f"{rows:,} rows: a worker is checking the file; this page shows "
                                               "its progress and then the preview to confirm.")  # fmt: skip
                    return HttpResponseRedirect(reverse("admin:transfers_importjob_change", args=[job.pk]))
        return super().import_action(request, **kwargs)

    def add_success_message(self, result, request):
        totals = result.totals
        named = "; ".join(f"line {row.number}: {' '.join(row.error.messages)}" for row in result.invalid_rows[:5])
        text = (f"Import finished: {totals[RowResult.IMPORT_TYPE_NEW]:,} created, "
                f"{totals[RowResult.IMPORT_TYPE_UPDATE]:,} updated, {totals[RowResult.IMPORT_TYPE_SKIP]:,} skipped, "
                f"{totals[RowResult.IMPORT_TYPE_INVALID]:,} invalid.")  # fmt: skip
        messages.success(request, f"{text} Not imported: {named}." if named else text)


class StreamingExportMixin(ExportMixin):
    """The library's Export button for the admin's ExportResource, answered as a formula-escaped stream."""

    def get_export_resource_classes(self, request):
        return [resource for resource in self.resource_classes if issubclass(resource, ExportResource)]

    def has_export_permission(self, request):
        # Raw numbers need contacts.export_numbers; a summary without numbers, viewing its model (R12).
        return all(request.user.has_perm(resource.permission) for resource in self.get_export_resource_classes(request))

    def export_action(self, request):
        """The changelist's rows, its filters and search applied, as CSV."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_export_queryset(request)
        except IncorrectLookupParameters:
            # A filter the list does not have: back to the list, flagged, as the changelist itself answers.
            info = self.opts.app_label, self.opts.model_name
            return HttpResponseRedirect(reverse("admin:%s_%s_changelist" % info) + f"?{ERROR_FLAG}=1")
        resource = self.get_export_resource_classes(request)[0]()
        return exports.deliver(request, resource.export(queryset))


class CSVImportExportMixin(CSVImportMixin, StreamingExportMixin):
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
