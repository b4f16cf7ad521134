"""Things the mass opt-out guard held (R14) in the admin: a deactivation report or an import job (a notice,
receipts or opt-out file). *Apply anyway* and *Discard* on its page, for Admins only, each after a confirmation
that states the numbers; the list shows which lists a held one would hit. Held reports come first in theirs."""

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

# Only Admins decide on something held (Operators and Viewers see it): the roles give this to Admin alone.
RELEASE_PERMISSION = "reports.release_report"
DECISIONS = {"release": "Apply anyway", "discard": "Discard"}
HELD = "held"  # the status a report and an import job share while the guard holds them


class HeldDecisionsAdmin:
    """Mixed into a ModelAdmin whose rows the guard may hold (status, held_lists). A subclass says how to decide
    (`decide`), what it reports afterwards (`decided_message`) and what to call a row (`held_name`)."""

    def decide(self, pk: int, decision: str, user):
        """Apply or discard the held row once (a second decision raises lifecycle.NotHeld); the row after."""
        raise NotImplementedError

    def decided_message(self, obj, decision: str) -> str:
        raise NotImplementedError

    def held_name(self, obj) -> str:
        """`Report #5 (key)`: how the pages name a row."""
        raise NotImplementedError

    def held_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                f"<int:object_id>/{decision}/",
                self.admin_site.admin_view(self.decide_view),
                {"decision": decision},
                name=f"%s_%s_{decision}" % info,
            )  # fmt: skip
            for decision in DECISIONS
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_release": request.user.has_perm(RELEASE_PERMISSION)}
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request, object_id: int, decision: str):
        """GET: the confirmation with the numbers; POST: the decision, once (a second one is refused)."""
        if not request.user.has_perm(RELEASE_PERMISSION):
            raise PermissionDenied
        obj = get_object_or_404(self.model, pk=object_id)
        page = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        if request.method == "POST":
            try:
                obj = self.decide(obj.pk, decision, request.user)
            except lifecycle.NotHeld as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(page)
            self.message_user(request, self.decided_message(obj, decision))
            return HttpResponseRedirect(page)
        if obj.status != HELD:
            self.message_user(request, f"{self.held_name(obj)} is not held.", messages.WARNING)
            return HttpResponseRedirect(page)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{DECISIONS[decision]}: {self.held_name(obj)}?",
            "held": obj,
            "name": self.held_name(obj),
            "decision": decision,
            "button": DECISIONS[decision],
            "total": sum(hit["would_opt_out"] for hit in obj.held_lists),
        }
        return TemplateResponse(request, "admin/held_decide.html", context)

    def would_hit(self, obj):
        """The lists a held row would opt out wholesale, with its numbers."""
        if obj.status != HELD or not obj.held_lists:
            return ""
        return format_html_join(
            mark_safe("<br>"),  # a constant separator
            "{}/{}: {} of {} ({}%)",
            ((hit["sender_code"], hit["list"], hit["would_opt_out"], hit["subscribers"], hit["percent"])
             for hit in obj.held_lists),
        )  # fmt: skip

    would_hit.short_description = "Would opt out (held)"


class HeldReportAdmin(HeldDecisionsAdmin):
    """Mixed into the reports' ModelAdmin."""

    def get_ordering(self, request):
        # Held reports first: they wait for someone; then the newest.
        held_first = Case(When(status=DeactivationReport.Status.HELD, then=Value(0)), default=Value(1),
                          output_field=IntegerField())  # fmt: skip
        return [held_first.asc(), "-created_at"]

    def decide(self, pk: int, decision: str, user) -> DeactivationReport:
        return (lifecycle.release if decision == "release" else lifecycle.discard)(pk, user=user)

    def decided_message(self, report: DeactivationReport, decision: str) -> str:
        if decision == "release":
            return (f"Report #{report.pk} applied: {report.opted_out} subscriptions opted out (status "
                    f"{report.get_status_display()}).")  # fmt: skip
        return f"Report #{report.pk} discarded; nothing was applied."

    def held_name(self, report: DeactivationReport) -> str:
        return f"Report #{report.pk} ({report.key or report.file_name})"

    def decided(self, obj):
        if obj.decided_at is None:
            return ""
        who = obj.decided_by.get_username() if obj.decided_by else "a command"
        return format_html("{} by {}", obj.decided_at.strftime("%Y-%m-%d %H:%M UTC"), who)

    decided.short_description = "Released or discarded"
