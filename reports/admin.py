"""The back office for deactivation reports: what each file did, why a failed one failed, and how to get the next.

Reports are made only by fetching from S3 or by uploading a file, and their counts are the pipeline's record:
no add form, no edits, no deletes (a deleted report could be applied twice, R6). Staff with the add
permission get two buttons on the list: fetch the latest report now, and upload another provider's file.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from reports import services, sources, tasks
from reports.admin_held import HeldReportAdmin
from reports.models import DeactivationReport
from smsprogram.celery import enqueue_on_commit
from smsprogram.uploads import name_refusal, stored_file
from transfers.admin_mixins import StreamingExportMixin
from transfers.resources import ReportSummaryExport

# Starting an ingest creates a report row: the model's add permission is the one that allows it (R12).
INGEST_PERMISSION = "reports.add_deactivationreport"


class ReportUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A deactivation report from any provider: CSV with a phone column (phone, MSISDN…), "
        "one number a line (Twilio), plain, gzip or zip."
    )
    report_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day of rows that carry no date of their own. Needed when the file has no date column.",
    )


@admin.register(DeactivationReport)
class DeactivationReportAdmin(HeldReportAdmin, StreamingExportMixin, admin.ModelAdmin):
    resource_classes = [ReportSummaryExport]
    list_display = (
        "report_date", "name", "origin", "status_badge", "rows", "valid", "invalid", "duplicates",
        "matched_contacts", "opted_out", "stale", "duration_shown", "started_at", "finished_at", "note",
        "would_hit",
    )  # fmt: skip
    list_display_links = ("report_date", "name")
    list_filter = ("status", "origin")
    search_fields = ("key", "file_name")
    fieldsets = (
        (None, {"fields": ("status_badge", "error", "origin", "name", "stored", "bucket", "key", "report_date",
                           "etag", "size", "fingerprint")}),
        ("Held by the mass opt-out guard (R14)", {"fields": ("would_hit", "decided")}),
        ("Counts", {"fields": ("rows", "valid", "invalid", "future", "duplicates", "matched_contacts", "opted_out",
                               "already_opted_out", "stale")}),
        ("Invalid rows", {"fields": ("invalid_rows",)}),
        ("Timings", {"fields": ("created_at", "started_at", "finished_at", "duration_shown", "attempts",
                                "bytes_read")}),
    )  # fmt: skip
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])
    change_list_template = "admin/reports/deactivationreport/change_list.html"
    # Our list template, which shows the library's Export button: its own shows tools only to those who may add.
    import_export_change_list_template = change_list_template

    class Media:
        css = {"all": ["css/reports.css"]}

    def has_add_permission(self, request):
        return False  # reports come from S3 or the upload form, never a blank add form

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Up to 100 samples a report, shown only on its own page (which then loads them in one more query).
        return super().get_queryset(request).defer("invalid_samples")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path(
                "fetch-latest/",
                self.admin_site.admin_view(require_POST(self.fetch_latest_view)),
                name="%s_%s_fetch_latest" % info,
            ),
            path("upload/", self.admin_site.admin_view(self.upload_view), name="%s_%s_upload" % info),
        ]
        return own + self.held_urls() + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_ingest": request.user.has_perm(INGEST_PERMISSION)}
        return super().changelist_view(request, extra_context)

    def fetch_latest_view(self, request):
        """Queue the daily task of each enabled source now, instead of waiting for its schedule."""
        self._require_ingest_permission(request)
        for source in sources.enabled():
            enqueue_on_commit(tasks.ingest_latest_report, source)
        self.message_user(
            request,
            "Fetching the latest deactivation report. It shows in this list once it is read; "
            "a report not published yet is tried again later.",
        )
        return HttpResponseRedirect(reverse("admin:reports_deactivationreport_changelist"))

    def upload_view(self, request):
        """Store another provider's report file and queue it through the same pipeline as S3's."""
        self._require_ingest_permission(request)
        form = ReportUploadForm(request.POST, request.FILES) if request.method == "POST" else ReportUploadForm()
        name_refusal(form, request)
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["file"]
            report = services.report_for_upload(
                upload, file_name=upload.name, report_date=form.cleaned_data["report_date"]
            )
            if report.status == DeactivationReport.Status.SUCCEEDED:
                self.message_user(
                    request, f"This file was already applied as report #{report.pk}; nothing changed.", messages.WARNING
                )
            else:
                enqueue_on_commit(tasks.ingest_report, report.pk)
                self.message_user(request, f"Stored {upload.name} as report #{report.pk}; it is being applied.")
            return HttpResponseRedirect(reverse("admin:reports_deactivationreport_change", args=[report.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Upload a deactivation report",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/reports/deactivationreport/upload.html", context)

    def _require_ingest_permission(self, request) -> None:
        if not request.user.has_perm(INGEST_PERMISSION):
            raise PermissionDenied

    @admin.display(description="Key or file")
    def name(self, obj):
        # The list shows the file's own name; the full key (its country folder) is on the report's page.
        return obj.key.rsplit("/", 1)[-1] if obj.key else obj.file_name

    @admin.display(description="Stored file")
    def stored(self, obj):
        return stored_file(obj)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<span class="report-status report-status--{}">{}</span>', obj.status, obj.get_status_display()
        )

    @admin.display(description="Note")
    def note(self, obj):
        # Why a report failed or is still waiting ("… is not published"), without opening it.
        if not obj.error:
            return ""
        return format_html('<span class="report-error" title="{}">{}</span>', obj.error, Truncator(obj.error).chars(90))

    @admin.display(description="Duration")
    def duration_shown(self, obj):
        return f"{obj.duration.total_seconds():.1f} s" if obj.duration is not None else None

    @admin.display(description="Invalid rows (the first 100)")
    def invalid_rows(self, obj):
        if not obj.invalid_samples:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            ((sample.get("line"), sample.get("reason"), sample.get("value")) for sample in obj.invalid_samples),
        )
        return format_html(
            '<table class="report-samples"><thead><tr><th scope="col">Line</th><th scope="col">Reason</th>'
            '<th scope="col">Value (numbers masked)</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )


from reports import admin_ledger, admin_signals  # noqa: E402, F401
