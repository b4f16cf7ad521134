"""CSV import and export in the admin: choose a file → preview with each invalid row named → confirm.

The pages follow django-import-export's own admin (get_urls + admin_view + TemplateResponse, its
templates' look), but the file is kept on an ImportJob instead of a temporary file, so a worker can
preview and apply what a request cannot (R10), and staff watch its progress on the job's page.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from reports.admin_held import HeldDecisionsAdmin
from smsprogram.uploads import name_refusal
from transfers import exports, services
from transfers.admin_exports import JobPages
from transfers.admin_mixins import IMPORT_PERMISSION
from transfers.models import ImportJob, ImportKind
from transfers.resources import EXPORTS, IMPORTS, may_create_lists


class ImportForm(forms.Form):
    kind = forms.ChoiceField(choices=ImportKind.choices)
    file = forms.FileField(help_text="A CSV file, UTF-8, with a header row.")
    create_lists = forms.BooleanField(
        required=False, label="Create unknown sender codes and lists", help_text="Subscriptions only."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_create_lists(user):
            del self.fields["create_lists"]  # not offered: their rows are refused as unknown (issue 13)


@admin.register(ImportJob)
class ImportJobAdmin(JobPages, HeldDecisionsAdmin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "file_name", "status_shown", "progress", "counts", "created_by")
    list_filter = ("status", "kind")
    list_select_related = ("created_by",)
    fields = ("kind", "file_name", "stored", "size", "create_lists", "status_shown", "would_hit", "progress",
              "error", "created_by", "created_at", "confirmed_at", "finished_at")  # fmt: skip
    readonly_fields = fields
    change_list_template = "admin/transfers/importjob/change_list.html"
    change_form_template = "admin/transfers/importjob/change_form.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="%s_%s_import" % info),
            path("<int:job_id>/confirm/", self.admin_site.admin_view(require_POST(self.confirm_view)),
                 name="%s_%s_confirm" % info),
            path("export/<str:name>/", self.admin_site.admin_view(self.export_view), name="%s_%s_export" % info),
        ]  # fmt: skip
        return own + self.held_urls() + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        exports = [(name, name.replace("_", " ")) for name, resource in EXPORTS.items()
                   if request.user.has_perm(resource.permission)]  # fmt: skip
        extra = {"can_import": request.user.has_perm(IMPORT_PERMISSION), "exports": exports}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # get_object: None for a missing or malformed id, which Django's view then answers after its permission
        # check (403, or "doesn't exist"), never a 404 that tells a stranger which jobs exist, nor a 500.
        job = self.get_object(request, unquote(object_id))
        if job is None:
            return super().change_view(request, object_id, form_url, extra_context)
        extra = {
            "job": job,
            "summary": job.result or job.preview,
            "can_confirm": job.status == ImportJob.Status.PREVIEWED and request.user.has_perm(IMPORT_PERMISSION),
            "running": job.status in (ImportJob.Status.VALIDATING, ImportJob.Status.CONFIRMED),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def import_view(self, request):
        """Upload a file; small ones come back previewed at once, big ones once a worker has read them."""
        self._require_import_permission(request)
        bound = (request.POST, request.FILES) if request.method == "POST" else ()
        form = ImportForm(*bound, user=request.user)
        name_refusal(form, request)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            job = services.start_import(kind=data["kind"], upload=data["file"], user=request.user,
                                        create_lists=data.get("create_lists", False))  # fmt: skip
            if job.status == ImportJob.Status.FAILED:
                self.message_user(request, f"Nothing was imported: {job.error}", messages.ERROR)
            elif job.in_background:
                self.message_user(request, f"{job.rows_total:,} rows: a worker is checking the file; "
                                           "this page shows its progress and then the preview.")  # fmt: skip
            return HttpResponseRedirect(reverse("admin:transfers_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import a CSV file",
            "form": form,
            "imports": [(r.kind.label, r.header) for r in IMPORTS.values()],
            "large_rows": services.LARGE_ROWS,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/transfers/importjob/import.html", context)

    def confirm_view(self, request, job_id: int):
        """Write what the preview showed, in one transaction."""
        self._require_import_permission(request)
        job = get_object_or_404(ImportJob, pk=job_id)
        if not services.confirm(job, now=timezone.now()):
            self.message_user(request, "This import is not waiting for confirmation.", messages.WARNING)
        else:
            job.refresh_from_db()
            if job.status == ImportJob.Status.APPLIED:
                self.message_user(request, f"Imported {job.file_name}: {_counts(job.result)}.")
            elif job.status == ImportJob.Status.FAILED:
                self.message_user(request, job.error, messages.ERROR)
            else:
                self.message_user(request, "Confirmed: a worker is applying the file.")
        return HttpResponseRedirect(reverse("admin:transfers_importjob_change", args=[job.pk]))

    def export_view(self, request, name: str):
        """One of the exports as a CSV download, streamed and formula-escaped; raw numbers need their permission."""
        resource = EXPORTS.get(name)
        if resource is None:
            raise Http404("No such export.")
        if not request.user.has_perm(resource.permission):
            raise PermissionDenied
        sender_code = request.GET.get("sender_code") or None
        return exports.deliver(request, resource().export(resource().queryset(sender_code)))

    def decide(self, pk: int, decision: str, user) -> ImportJob:
        """A held notice, receipts or opt-out file: the service `release_report --import` calls (exactly once)."""
        return (services.release_held if decision == "release" else services.discard_held)(pk, user=user)

    def decided_message(self, job: ImportJob, decision: str) -> str:
        if decision == "discard":
            return f"Import #{job.pk} discarded; nothing was applied."
        if job.status != ImportJob.Status.APPLIED:
            return f"Import #{job.pk} was released but is {job.get_status_display()}: {job.error}"
        details = " ".join(f"{name}={value}" for name, value in job.result.get("details", {}).items() if value)
        return f"Import #{job.pk} applied: {_counts(job.result)}" + (f" ({details})." if details else ".")

    def held_name(self, job: ImportJob) -> str:
        return f"Import #{job.pk} ({job.get_kind_display()}, {job.file_name})"

    def _require_import_permission(self, request) -> None:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    @admin.display(description="Progress")
    def progress(self, obj):
        return format_html("{} / {} rows ({}%)", f"{obj.rows_done:,}", f"{obj.rows_total:,}", obj.percent)

    @admin.display(description="Counts")
    def counts(self, obj):
        return _counts(obj.result or obj.preview)


def _counts(summary: dict) -> str:
    names = ("created", "updated", "skipped", "invalid")
    return ", ".join(f"{summary[name]:,} {name}" for name in names if name in summary) or "-"
