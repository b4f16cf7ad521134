"""Held reports in the admin (R14): first in the list with the lists they would hit; *Apply anyway* (Admins
only, after a confirmation that states the numbers) and *Discard* on the report's page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from reports import lifecycle
from reports.models import DeactivationReport

# Only Admins decide on a held report (Operators and Viewers see it): the roles give this to Admin alone.
RELEASE_PERMISSION = "reports.release_report"
DECISIONS = {"release": "Apply anyway", "discard": "Discard"}


class HeldReportAdmin:
    """Mixed into the reports' ModelAdmin."""

    def get_ordering(self, request):
        # Held reports first: they wait for someone; then the newest.
        held_first = Case(When(status=DeactivationReport.Status.HELD, then=Value(0)), default=Value(1),
                          output_field=IntegerField())  # fmt: skip
        return [held_first.asc(), "-created_at"]

    def held_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                f"<int:report_id>/{decision}/",
                self.admin_site.admin_view(self.decide_view),
                {"decision": decision},
                name=f"%s_%s_{decision}" % info,
            )  # fmt: skip
            for decision in DECISIONS
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_release": request.user.has_perm(RELEASE_PERMISSION)}
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request, report_id: int, decision: str):
        """GET: the confirmation with the numbers; POST: the decision, once (a second one is refused)."""
        if not request.user.has_perm(RELEASE_PERMISSION):
            raise PermissionDenied
        report = get_object_or_404(DeactivationReport, pk=report_id)
        page = reverse("admin:reports_deactivationreport_change", args=[report.pk])
        if request.method == "POST":
            act = lifecycle.release if decision == "release" else lifecycle.discard
            try:
                report = act(report.pk, user=request.user)
            except lifecycle.NotHeld as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(page)
            if decision == "release":
                self.message_user(request, f"Report #{report.pk} applied: {report.opted_out} subscriptions opted "
                                  f"out (status {report.get_status_display()}).")  # fmt: skip
            else:
                self.message_user(request, f"Report #{report.pk} discarded; nothing was applied.")
            return HttpResponseRedirect(page)
        if report.status != DeactivationReport.Status.HELD:
            self.message_user(request, f"Report #{report.pk} is not held.", messages.WARNING)
            return HttpResponseRedirect(page)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{DECISIONS[decision]}: report #{report.pk}?",
            "report": report,
            "decision": decision,
            "button": DECISIONS[decision],
            "total": sum(hit["would_opt_out"] for hit in report.held_lists),
        }
        return TemplateResponse(request, "admin/reports/deactivationreport/decide.html", context)

    def would_hit(self, obj):
        """The lists a held report would opt out wholesale, with its numbers."""
        if obj.status != DeactivationReport.Status.HELD or not obj.held_lists:
            return ""
        return format_html_join(
            mark_safe("<br>"),  # a constant separator
            "{}/{}: {} of {} ({}%)",
            ((hit["sender_code"], hit["list"], hit["would_opt_out"], hit["subscribers"], hit["percent"])
             for hit in obj.held_lists),
        )  # fmt: skip

    would_hit.short_description = "Would opt out (held)"

    def decided(self, obj):
        if obj.decided_at is None:
            return ""
        who = obj.decided_by.get_username() if obj.decided_by else "a command"
        return format_html("{} by {}", obj.decided_at.strftime("%Y-%m-%d %H:%M UTC"), who)

    decided.short_description = "Released or discarded"
