"""Exports written by a worker (transfers.exports): their progress, and the file once it is ready.

The file holds raw numbers, so the download checks the export's own permission (contacts.export_numbers for
every export with numbers) on each request, as the streamed export does; the list shows who asked for what.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from contacts.csvio import download_name
from smsprogram.admin_site import ReadOnlyAdmin
from smsprogram.uploads import stored_file
from transfers.models import ExportJob

EXPORT_PERMISSION = "contacts.export_numbers"


class JobPages(ReadOnlyAdmin):
    """What an import's and an export's job pages share: read-only rows (a job starts from its own form or
    button, never a blank add form), their status and their stored file."""

    @admin.display(description="Status", ordering="status")
    def status_shown(self, obj):
        return obj.get_status_display()

    @admin.display(description="Stored file")
    def stored(self, obj):
        return stored_file(obj)


@admin.register(ExportJob)
class ExportJobAdmin(JobPages, admin.ModelAdmin):
    list_display = ("created_at", "name", "title", "status_shown", "progress", "download", "created_by")
    list_filter = ("status", "name")
    list_select_related = ("created_by",)
    fields = ("name", "title", "status_shown", "progress", "download", "stored", "size", "error", "created_by",
              "created_at", "started_at", "finished_at")  # fmt: skip
    readonly_fields = fields
    change_form_template = "admin/transfers/exportjob/change_form.html"

    def has_view_permission(self, request, obj=None):
        # Whoever may export numbers is sent here by a big export, even without the model's view permission.
        return super().has_view_permission(request, obj) or request.user.has_perm(EXPORT_PERMISSION)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [path("<int:job_id>/download/", self.admin_site.admin_view(self.download_view),
                    name="%s_%s_download" % info)]  # fmt: skip
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        running = job is not None and job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "running": running})

    def download_view(self, request, job_id: int):
        """The finished file, to staff who may have the export (its permission, checked now)."""
        job = get_object_or_404(ExportJob, pk=job_id)
        if not (self.has_view_permission(request, job) and request.user.has_perm(job.permission)):
            raise PermissionDenied
        if job.status != ExportJob.Status.READY or not job.file:
            raise Http404("This export has no file: not written yet, failed, or removed by retention.")
        # FileResponse hands the open file to the server (sendfile under gunicorn): no Python per byte.
        return FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=download_name(job.name, *job.title.split()),
            content_type="text/csv; charset=utf-8",
        )

    @admin.display(description="Progress")
    def progress(self, obj):
        return format_html("{} / about {} rows ({}%)", f"{obj.rows_done:,}", f"{obj.rows_total:,}", obj.percent)

    @admin.display(description="File")
    def download(self, obj):
        if obj.status != ExportJob.Status.READY or not obj.file:
            return "-"
        url = reverse("admin:transfers_exportjob_download", args=[obj.pk])
        return format_html('<a href="{}" class="export-download">Download CSV</a>', url)
