"""The back office for sender codes, lists, contacts and their consent (DESIGN.md: the admin is the home).

Subscriptions, opt-out events and suspensions change only through `contacts.services`: their
pages are views, and the actions here hand one batch of signals to `apply_signals`.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import format_html

from contacts import number_search, phones, screens, tallies
from contacts.history import number_history, ref_link
from contacts.models import (
    Carrier,
    CarrierErrorCode,
    Contact,
    ListTally,
    OptOutEvent,
    OptOutTally,
    Reason,
    SenderCode,
    Source,
    SubscriberList,
    Subscription,
    Suspension,
)
from contacts.services import Action, Signal, apply_signals
from transfers.admin_mixins import CSVImportExportMixin, StreamingExportMixin
from transfers.resources import ContactExport, OptOutEventExport, OptOutImport, SubscriptionExport, SubscriptionImport


class NumberSearchMixin:
    """Search by a phone number in any common format, matched exactly on the indexed E.164 column (R11)."""

    number_lookup = "phone"  # the path from this admin's model to Contact.phone
    number_search = True  # the search box posts (templates/admin/search_form.html): no number in a URL (R12)
    search_help_text = "A phone number in any format, e.g. (202) 555-0143, or the start of an email address."

    def changelist_view(self, request, extra_context=None):
        # A posted search, or a number typed into the URL, is answered by a redirect to its token; actions post too.
        if request.method == "GET" or "action" not in request.POST:
            redirect = number_search.redirect_without_number(request, name=SEARCH_VAR)
            if redirect is not None:
                return redirect
        return super().changelist_view(request, extra_context)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if number_search.is_token(changelist.query):
            # The search box shows what was searched; only the URL holds the token.
            changelist.query = number_search.number_for(request, changelist.query) or ""
        return changelist

    def get_search_results(self, request, queryset, search_term):
        if number_search.is_token(search_term):
            search_term = number_search.number_for(request, search_term)
            if search_term is None:
                self.message_user(request, "This number search has expired: search again.", messages.WARNING)
                return queryset.none(), False
        try:
            number = phones.normalize(search_term.strip())
        except phones.InvalidNumber:
            # Not a number: the default search, whose fields never put a wildcard in front of a phone.
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(**{self.number_lookup: number}), False


class ServiceManagedMixin:
    """Rows only the services write: no add, no delete, no edit form; the actions do the work."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The model-level permission gates the actions; a single row is never edited by hand.
        return obj is None and super().has_change_permission(request)


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ("name", "aliases", "supports_suspension")
    list_filter = ("supports_suspension",)
    search_fields = ("name",)


@admin.register(CarrierErrorCode)
class CarrierErrorCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "description", "action", "reason")
    list_editable = ("action", "reason")
    list_filter = ("action", "reason")
    search_fields = ("code__exact", "description")  # an exact code, compared as text so words are safe
    ordering = ("code",)


@admin.register(SenderCode)
class SenderCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "kind", "name", "list_count")
    list_filter = ("kind",)
    search_fields = ("code", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_lists=Count("lists"))

    @admin.display(description="Lists", ordering="n_lists")
    def list_count(self, obj):
        return obj.n_lists


def tally_sum(model, column: str):
    """A list's total in one of the tally tables (contacts.tallies), as a column of the lists' query."""
    rows = model.objects.filter(list_id=OuterRef("pk")).order_by().values("list_id").annotate(n=Sum(column))
    return Coalesce(Subquery(rows.values("n")), 0)


@admin.register(SubscriberList)
class SubscriberListAdmin(admin.ModelAdmin):
    list_display = ("name", "sender_code", "opted_in", "opted_out")
    list_filter = ("sender_code",)
    list_select_related = ("sender_code",)
    search_fields = ("name", "sender_code__code")

    def get_queryset(self, request):
        # The tallies the triggers keep (a few rows per list), never a count of the list's subscriptions.
        return (
            super()
            .get_queryset(request)
            .annotate(n_opted_in=tally_sum(ListTally, "subscribers"), n_opted_out=tally_sum(OptOutTally, "count"))
        )

    def get_readonly_fields(self, request, obj=None):
        # The list's consents were given to this sender code; moving it would move them (R4).
        return ("sender_code",) if obj else ()

    @admin.display(description="Opted in", ordering="n_opted_in")
    def opted_in(self, obj):
        return obj.n_opted_in

    @admin.display(description="Opted out", ordering="n_opted_out")
    def opted_out(self, obj):
        return obj.n_opted_out


class ContactForm(forms.ModelForm):
    def clean_phone(self):
        try:
            return phones.normalize(self.cleaned_data["phone"])
        except phones.InvalidNumber as exc:
            raise forms.ValidationError(f"Not a valid phone number: {exc}.") from None


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ("list", "status", "opted_in_at", "opt_in_source", "opted_out_at", "opt_out_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("list__sender_code")


@admin.register(Contact)
class ContactAdmin(StreamingExportMixin, NumberSearchMixin, admin.ModelAdmin):
    resource_classes = [ContactExport]
    form = ContactForm
    list_display = ("phone", "carrier", "email", "created_at")
    list_filter = ("carrier",)
    list_select_related = ("carrier",)
    search_fields = ("^email",)
    readonly_fields = ("created_at",)
    show_full_result_count = False  # millions of rows: no second COUNT(*) per page
    inlines = [SubscriptionInline]

    def get_readonly_fields(self, request, obj=None):
        # Consent belongs to the number: a different number is a different contact (R4).
        return ("phone", *self.readonly_fields) if obj else self.readonly_fields

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["history"] = number_history(obj)  # R7: why is this number in or out?
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(Subscription)
class SubscriptionAdmin(CSVImportExportMixin, NumberSearchMixin, ServiceManagedMixin, admin.ModelAdmin):
    resource_classes = [SubscriptionImport, SubscriptionExport]
    number_lookup = "contact__phone"
    list_display = ("contact", "list", "status", "opted_in_at", "opted_out_at", "opt_out_reason")
    list_filter = ("status", "opt_out_reason", "list__sender_code")
    list_select_related = ("contact", "list__sender_code")
    search_fields = ("^contact__email",)
    raw_id_fields = ("contact", "list")  # never a <select> of millions of contacts
    show_full_result_count = False
    actions = ["opt_out_selected"]
    TALLIED_FILTERS = {"status__exact", "opt_out_reason__exact", "list__sender_code__id__exact"}

    def tallied_count(self, request, changelist) -> int | None:
        """The changelist's count from the tallies, when it is filtered by status, reason and code only."""
        params = {name: values[-1] for name, values in changelist.get_filters_params().items()}
        if changelist.query or set(params) - self.TALLIED_FILTERS:
            return None
        status, reason = params.get("status__exact", ""), params.get("opt_out_reason__exact", "")
        if status not in ("", *Subscription.Status.values) or (reason and status == Subscription.Status.OPTED_IN):
            return None
        lists = SubscriberList.objects.all()
        if "list__sender_code__id__exact" in params:
            code = screens.row_id(params["list__sender_code__id__exact"])
            if code is None:
                return None
            lists = lists.filter(sender_code_id=code)
        ids = list(lists.values_list("id", flat=True))
        opted_in = 0
        if not reason and status != Subscription.Status.OPTED_OUT:
            opted_in = sum(totals.subscribers for totals in tallies.list_totals(ids).values())
        opted_out = 0 if status == Subscription.Status.OPTED_IN else tallies.opted_out_count(ids, reason=reason)
        return opted_in + opted_out

    @admin.action(description="Opt out selected (operator)", permissions=["opt_out"])
    def opt_out_selected(self, request, queryset):
        now = timezone.now()
        pairs = set(queryset.values_list("contact__phone", "list__sender_code_id"))
        codes = SenderCode.objects.in_bulk({code_id for _, code_id in pairs})
        # R2: an operator's opt-out is scoped to the sender code; the operator is the carrying record (R7).
        signals = [
            Signal(phone, now, Reason.OPERATOR, sender_code=codes[code_id], ref=request.user)
            for phone, code_id in sorted(pairs)
        ]
        out = apply_signals(signals, source=Source.OPERATOR, now=now)
        self.message_user(
            request,
            f"{out.opted_out} subscription(s) opted out, {out.events} opt-out event(s) recorded, "
            f"{out.already_opted_out} already opted out.",
        )

    def has_opt_out_permission(self, request):
        return request.user.has_perm("contacts.change_subscription")


@admin.register(OptOutEvent)
class OptOutEventAdmin(CSVImportExportMixin, NumberSearchMixin, ServiceManagedMixin, admin.ModelAdmin):
    resource_classes = [OptOutImport, OptOutEventExport]
    number_lookup = "contact__phone"
    list_display = (
        "contact",
        "sender_code",
        "reason",
        "source",
        "error_code",
        "occurred_at",
        "recorded_at",
        "carried_by",
    )
    list_filter = ("reason", "source", "sender_code")
    list_select_related = ("contact", "sender_code", "ref_type")
    date_hierarchy = "occurred_at"
    search_fields = ("^contact__email",)
    show_full_result_count = False
    fields = (
        "contact", "sender_code", "reason", "source", "error_code", "error_description", "occurred_at",
        "recorded_at", "carried_by",
    )  # fmt: skip
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        return False  # an immutable record (R7)

    @admin.display(description="Carrier code meaning")
    def error_description(self, obj):
        code = CarrierErrorCode.objects.filter(code=obj.error_code).first()
        return code.description if code else None

    @admin.display(description="Carried by")
    def carried_by(self, obj):
        label, url = ref_link(obj.ref_type, obj.ref_id)
        if url:
            return format_html('<a href="{}">{}</a>', url, label)
        return label or None


class SuspensionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("ended", "Ended"))

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


@admin.register(Suspension)
class SuspensionAdmin(NumberSearchMixin, ServiceManagedMixin, admin.ModelAdmin):
    number_lookup = "contact__phone"
    list_display = ("contact", "carrier", "started_at", "expires_at", "ended_at", "end_reason", "active")
    list_filter = (SuspensionStateFilter, "end_reason", "carrier")
    list_select_related = ("contact", "carrier")
    search_fields = ("^contact__email",)
    actions = ["end_selected"]

    @admin.display(boolean=True, description="Active", ordering="ended_at")
    def active(self, obj):
        return obj.is_active

    @admin.action(description="End selected suspensions now (reactivated)", permissions=["change"])
    def end_selected(self, request, queryset):
        now = timezone.now()
        numbers = set(queryset.active().values_list("contact__phone", flat=True))
        # A reactivation ends the pause and nothing else: opted-out numbers stay out (R4).
        signals = [Signal(number, now, action=Action.REACTIVATE, ref=request.user) for number in sorted(numbers)]
        out = apply_signals(signals, source=Source.OPERATOR, now=now)
        self.message_user(request, f"{out.reactivated} suspension(s) ended.")


# The screens (SMS Contacts, List Health, audience filters, re-engagement queue) register their own admins.
from contacts import admin_filters, admin_screens, reengagement_admin  # noqa: E402, F401
