"""The re-engagement queue screen: opted-out subscriptions worth asking about by email, their state, the counts,
and the CSV export that invites them (Operators and Admins). Viewing never changes anything; the export does, so it
is a POST."""

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from contacts import phones, reengagement
from contacts.admin_screens import ScreenAdmin
from contacts.csvio import csv_download, csv_lines
from contacts.reengagement_models import REENGAGE_REASONS, Reengagement, ReengagementQueue

INVITE_PERMISSION = "contacts.change_subscription"  # Operator and Admin (contacts/roles.py)


class ReasonFilter(admin.SimpleListFilter):
    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return [(reason.value, reason.label) for reason in REENGAGE_REASONS]

    def queryset(self, request, queryset):
        return queryset.filter(opt_out_reason=self.value()) if self.value() else queryset


class StateFilter(admin.SimpleListFilter):
    title = "re-engagement"
    parameter_name = "state"
    NOT_ASKED = "not_asked"

    def lookups(self, request, model_admin):
        # A re-consented subscription is opted in again, so it has left the queue: no choice for it here.
        asked = [Reengagement.Status.INVITED, Reengagement.Status.DECLINED]
        return [(self.NOT_ASKED, "Not asked yet"), *((status.value, status.label) for status in asked)]

    def queryset(self, request, queryset):
        if self.value() == self.NOT_ASKED:
            return queryset.filter(reengagement="")
        return queryset.filter(reengagement=self.value()) if self.value() else queryset


@admin.register(ReengagementQueue)
class ReengagementQueueAdmin(ScreenAdmin):
    list_display = ("masked_phone", "email", "list", "sender_code", "opt_out_reason", "opted_out_at", "state")
    list_filter = ("list__sender_code", "list", ReasonFilter, "opted_out_at", StateFilter)
    list_display_links = None
    list_select_related = ("contact", "list__sender_code")
    search_fields = ("^contact__email",)
    search_help_text = "The start of an email address."
    ordering = ("-opted_out_at", "-id")
    show_full_result_count = False
    change_list_template = "admin/contacts/reengagementqueue/change_list.html"

    def get_queryset(self, request):
        return reengagement.queue(super().get_queryset(request)).annotate(reengagement=reengagement.state())

    def has_invite_permission(self, request) -> bool:
        return request.user.has_perm(INVITE_PERMISSION)

    @admin.display(description="number")
    def masked_phone(self, obj):
        return phones.masked_display(obj.contact.phone)

    @admin.display(description="email", ordering="contact__email")
    def email(self, obj):
        return obj.contact.email

    @admin.display(description="sender code", ordering="list__sender_code__code")
    def sender_code(self, obj):
        return obj.list.sender_code.code

    @admin.display(description="re-engagement", ordering="reengagement")
    def state(self, obj):
        return Reengagement.Status(obj.reengagement).label if obj.reengagement else "Not asked yet"

    def get_urls(self):
        # A list and its export only: a row is a subscription, opened from SMS contacts, never edited here.
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name="%s_%s_changelist" % info),
            path("export/", wrap(require_POST(self.export_view)), name="%s_%s_export" % info),
        ]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, {**(extra_context or {}), "can_invite": self.has_invite_permission(request)}
        )

    def export_view(self, request):
        """The filtered queue as invitations CSV; those in it are marked invited (R4: nothing is opted in here)."""
        if not (self.has_view_permission(request) and self.has_invite_permission(request)):
            raise PermissionDenied
        changelist = reverse("admin:contacts_reengagementqueue_changelist")
        try:
            subscriptions = self.get_changelist_instance(request).get_queryset(request)
            batch = reengagement.invite(subscriptions, again=request.POST.get("again") == "1")
        except IncorrectLookupParameters:
            return HttpResponseRedirect(changelist + "?e=1")
        except reengagement.NoBaseUrl as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(changelist)
        rows = (invitation.row() for invitation in reengagement.invitations(batch))
        return csv_download(csv_lines(reengagement.EXPORT_HEADER, rows), "reengagement")
