"""The back office for delivery receipts and carrier notices: read-only records of what each said and what
it caused (R7). They are written only by the intake (API and commands), so a replay stays a replay (R6)."""

import re

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from contacts.admin import NumberSearchMixin
from contacts.models import CarrierErrorCode, OptOutEvent, Suspension
from reports.models import CarrierNotice, DeliveryReceipt
from smsprogram.admin_site import ReadOnlyAdmin
from transfers.admin_mixins import CSVImportMixin
from transfers.resources import NoticeImport, ReceiptImport

CODE = re.compile(r"[0-9]{1,9}")


class ErrorCodeFilter(admin.SimpleListFilter):
    """The codes of the table by name, and the rest together: never a DISTINCT over millions of receipts."""

    title = "error code"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        codes = [(str(code.code), f"{code.code} {code.description}") for code in CarrierErrorCode.objects.all()]
        return [("delivered", "Delivered (no code)"), *codes, ("other", "Other codes (temporary failures)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "delivered":
            return queryset.filter(error_code__isnull=True)
        if value == "other":
            known = CarrierErrorCode.objects.values("code")
            return queryset.filter(error_code__isnull=False).exclude(error_code__in=known)
        # ASCII digits only: "²".isdigit() is true, and int() of it raises (issue 13).
        return queryset.filter(error_code=int(value)) if CODE.fullmatch(value) else queryset.none()


class SignalRecordAdmin(ReadOnlyAdmin, NumberSearchMixin, admin.ModelAdmin):
    """Read-only: staff look, the intake writes."""

    date_hierarchy = "occurred_at"
    show_full_result_count = False  # millions of rows: no second COUNT(*) per page

    @admin.display(description="What it caused")
    def caused(self, obj):
        ref = {"ref_type": ContentType.objects.get_for_model(obj), "ref_id": obj.pk}
        links = [
            (reverse("admin:contacts_optoutevent_change", args=[event.pk]),
             f"Opted out of {event.sender_code.code}: {event.get_reason_display()}")
            for event in OptOutEvent.objects.filter(**ref).select_related("sender_code")
        ] + [
            (reverse("admin:contacts_suspension_change", args=[suspension.pk]),
             f"Suspended until {suspension.expires_at:%Y-%m-%d %H:%M} UTC")
            for suspension in Suspension.objects.filter(**ref)
        ]  # fmt: skip
        if not links:
            return obj.get_outcome_display()
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a>', links)


@admin.register(DeliveryReceipt)
class DeliveryReceiptAdmin(CSVImportMixin, SignalRecordAdmin):
    resource_classes = [ReceiptImport]
    list_display = ("phone", "sender_code", "error_code", "outcome", "carrier", "occurred_at", "received_at", "source")
    list_filter = (ErrorCodeFilter, "outcome", "source", "sender_code", "carrier")
    list_select_related = ("sender_code", "carrier")
    search_fields = ("=message_id",)
    search_help_text = "A phone number in any format, e.g. (202) 555-0143, or a provider's message id."
    fields = (
        "phone", "sender_code", "carrier", "error_code", "code_meaning", "occurred_at", "message_id", "source",
        "received_at", "outcome", "caused",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Code meaning")
    def code_meaning(self, obj):
        if obj.error_code is None:
            return "Delivered"
        code = CarrierErrorCode.objects.filter(code=obj.error_code).first()
        return f"{code.description} ({code.get_action_display()})" if code else "Not in the code table: recorded only"


@admin.register(CarrierNotice)
class CarrierNoticeAdmin(CSVImportMixin, SignalRecordAdmin):
    resource_classes = [NoticeImport]
    list_display = ("phone", "carrier", "event", "status", "outcome", "occurred_at", "received_at", "source")
    list_filter = ("event", "status", "outcome", "source", "carrier")
    list_select_related = ("carrier",)
    search_fields = ("=phone",)
    fields = (
        "phone", "carrier", "event", "occurred_at", "source", "received_at", "status", "rejection_reason", "outcome",
        "caused",
    )  # fmt: skip
    readonly_fields = fields
