"""The admin screens: SMS Contacts (by sender code, three tabs) and List Health with its Opt-Out Reasons
chart (audience filters are in admin_filters). Custom admin views the documented way: get_urls() + admin_view +
each_context + TemplateResponse; every view checks the model permissions of its proxy (R12).
"""

from datetime import date

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from contacts import number_search, phones, screens
from contacts.exports import OptedOutFilter, opted_out_export
from contacts.history import number_history
from contacts.models import (
    Contact,
    ListHealth,
    Reason,
    SenderCode,
    SmsContact,
    Source,
    SubscriberList,
    Subscription,
    start_of_day,
)
from contacts.services import list_counts
from smsprogram import admin_counts
from smsprogram.admin_site import ReadOnlyAdmin
from transfers import exports as transfers_exports

EXPORT_PERMISSION = "contacts.export_numbers"


def query(params: QueryDict, **changes) -> str:
    """The query string with some parameters set (or dropped when None), for links that keep the filters."""
    params = params.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value not in (None, ""):
            params[name] = value
    return f"?{params.urlencode()}" if params else "?"


class ScreenAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """A proxy model whose changelist is a screen: viewing only; nothing here adds, edits or deletes."""

    def screen_url(self, name: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{name}"

    def require_view(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def render(self, request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )


# --- SMS Contacts ---

TABS = {"subscribed": "Subscribed", "opted_out": "Opted-Out", "suspended": "Suspended"}
NOUNS = {
    "subscribed": "sendable subscriptions",
    "opted_out": "opted-out subscriptions",
    "suspended": "suspended numbers",
}


class NumberFilters(forms.Form):
    """The filters of an SMS Contacts tab; the Opted-Out tab has them all."""

    q = forms.CharField(required=False, label="Number", max_length=40)
    reason = forms.ChoiceField(required=False, choices=[("", "All reasons"), *Reason.choices])
    source = forms.ChoiceField(required=False, choices=[("", "All sources"), *Source.choices])
    since = forms.DateField(
        required=False,
        label="Opted out from",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=screens.DATE_VALIDATORS,
    )
    until = forms.DateField(
        required=False, label="to", widget=forms.DateInput(attrs={"type": "date"}), validators=screens.DATE_VALIDATORS
    )

    def __init__(self, data, *, lists: list[SubscriberList], tab: str):
        super().__init__(data)
        # Declared here: a class attribute named `list` would shadow the builtin in this class body.
        choices = [("", "All lists"), *((lst.id, lst.name) for lst in lists)]
        self.fields["list"] = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=choices)
        self.order_fields(["q", "list"])
        if tab != "opted_out":
            for name in ("reason", "source", "since", "until"):
                del self.fields[name]

    def clean_q(self) -> str:
        text = self.cleaned_data["q"].strip()
        if not text:
            return ""
        if number_search.is_token(text):
            raise forms.ValidationError("This number search has expired: search again.")
        try:
            return phones.normalize(text)  # R11: any common format finds the stored E.164
        except phones.InvalidNumber as exc:
            raise forms.ValidationError(f"Not a phone number: {exc}.") from None

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def export_filter(self, code: SenderCode, lists: list[SubscriberList]) -> OptedOutFilter:
        """The Opted-Out tab's filters as its export's; filters that are not valid select nothing, as on the tab."""
        if not self.is_valid():
            return OptedOutFilter(sender_code=code, list_ids=[])
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        return OptedOutFilter(
            sender_code=code,
            list_ids=[data["list"]] if data.get("list") else [lst.id for lst in lists],
            since=start_of_day(since) if since else None,
            until=start_of_day(date.fromordinal(until.toordinal() + 1)) if until else None,
            reason=data.get("reason", ""),
            source=data.get("source", ""),
            phone=data.get("q", ""),
        )

    def filter(self, subscriptions):
        """Narrow subscriptions to what the filters ask for; none at all when the filters are not valid."""
        if not self.is_valid():
            return subscriptions.none()
        data, qs = self.cleaned_data, subscriptions
        if data.get("q"):
            qs = qs.filter(contact__phone=data["q"])
        if data.get("list"):
            qs = qs.filter(list_id=data["list"])
        if data.get("reason"):
            qs = qs.filter(opt_out_reason=data["reason"])
        if data.get("source"):
            qs = qs.filter(opt_out_event__source=data["source"])
        if data.get("since"):
            qs = qs.filter(opted_out_at__gte=start_of_day(data["since"]))
        if data.get("until"):
            qs = qs.filter(opted_out_at__lt=start_of_day(date.fromordinal(data["until"].toordinal() + 1)))
        return qs


@admin.register(SmsContact)
class SmsContactsAdmin(ScreenAdmin):
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name=self.screen_url("changelist")),
            path("export.csv", wrap(self.export_view), name=self.screen_url("export")),
            path("number/<int:contact_id>/", wrap(self.number_view), name=self.screen_url("number")),
        ]

    def selection(self, request: HttpRequest, tab: str = ""):
        """The sender code, tab, lists and filters the URL names (or a posted search holds); unknown values fall
        back to the first."""
        data = (request.POST if request.method == "POST" else request.GET).copy()
        if number_search.is_token(data.get("q", "")):
            data["q"] = number_search.number_for(request, data["q"]) or data["q"]
        codes = list(SenderCode.objects.order_by("code"))
        wanted = data.get("sender_code", "")
        code = next((c for c in codes if c.code == wanted), codes[0] if codes else None)
        tab = tab or data.get("tab", "")
        tab = tab if tab in TABS else "subscribed"
        lists = screens.sender_code_lists(code) if code else []
        form = NumberFilters(data, lists=lists, tab=tab)
        return codes, code, tab, lists, form

    def opted_out(self, form: NumberFilters, lists: list[SubscriberList]):
        return form.filter(Subscription.objects.opted_out().filter(list_id__in=[lst.id for lst in lists]))

    def changelist_view(self, request, extra_context=None):
        self.require_view(request)
        # The number box posts; a number (posted, or typed into the URL) moves to the URL as a token only (R12).
        redirect = number_search.redirect_without_number(request)
        if redirect is not None:
            return redirect
        codes, code, tab, lists, form = self.selection(request)
        page = None
        if code is not None:
            cursor, newer = request.GET.get("older", ""), False
            if request.GET.get("newer"):
                cursor, newer = request.GET["newer"], True
            ids = [lst.id for lst in lists]
            count = screens.tallied_count(tab, ids, form.cleaned_data) if form.is_valid() else None
            about = None
            if count is None and tab == "opted_out" and form.is_valid() and form.cleaned_data.get("source"):
                # No tally keeps the source: past the cap, the planner's estimate, where counting up to the cap
                # joins ten thousand opt-outs to their events (seconds at 20M subscriptions); below it, counted.
                estimate = admin_counts.planned_rows(self.opted_out(form, lists))
                if estimate is not None and estimate > screens.COUNT_CAP:
                    count = about = estimate
            if tab == "opted_out":
                page = screens.opted_out_page(self.opted_out(form, lists), cursor, newer, count)
                page.about = about is not None
            elif tab == "subscribed":
                page = screens.subscribed_page(form.filter(screens.sendable_subscriptions(ids)), cursor, newer, count)
            else:
                subs = form.filter(Subscription.objects.opted_in().filter(list_id__in=ids))
                page = screens.suspended_page(subs, cursor, newer, count)
            back = QueryDict(mutable=True)
            back["back"] = request.get_full_path()
            for row in page.rows:
                row.url = reverse(f"admin:{self.screen_url('number')}", args=[row.contact_id]) + "?" + back.urlencode()
        params = request.GET.copy()
        if code is not None:
            params["sender_code"] = code.code  # the chosen code stays in every link, chosen or defaulted
        can_export = request.user.has_perm(EXPORT_PERMISSION)
        return self.render(
            request,
            "admin/contacts/smscontact/screen.html",
            "SMS contacts",
            codes=codes,
            code=code,
            tab=tab,
            noun=NOUNS[tab],
            tabs=[(key, label, query(params, tab=key, older=None, newer=None)) for key, label in TABS.items()],
            form=form,
            page=page,
            older_url=query(params, older=page.older, newer=None) if page and page.older else "",
            newer_url=query(params, newer=page.newer, older=None) if page and page.newer else "",
            export_url=(
                reverse(f"admin:{self.screen_url('export')}") + query(params, older=None, newer=None)
                if can_export and tab == "opted_out" and code
                else ""
            ),
            list_health_url=reverse("admin:contacts_listhealth_changelist"),
        )

    def export_view(self, request):
        """The Opted-Out tab's rows under its filters, one line per opted-out subscription, streamed."""
        self.require_view(request)
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        codes, code, tab, lists, form = self.selection(request, tab="opted_out")
        if code is None:
            raise Http404("No sender code.")
        return transfers_exports.deliver(request, opted_out_export(form.export_filter(code, lists)))

    def number_view(self, request, contact_id: int):
        """A number's history (R7): subscriptions, receipts, notices, opt-out events and suspensions in order."""
        self.require_view(request)
        contact = get_object_or_404(Contact.objects.select_related("carrier"), pk=contact_id)
        contact_url = ""
        if request.user.has_perm("contacts.view_contact") or request.user.has_perm("contacts.change_contact"):
            contact_url = reverse("admin:contacts_contact_change", args=[contact.pk])
        back = request.GET.get("back", "")
        return self.render(
            request,
            "admin/contacts/smscontact/number.html",
            f"History of {phones.display(contact.phone)}",
            contact=contact,
            display=phones.display(contact.phone),
            history=number_history(contact),
            contact_url=contact_url,
            # Only a path inside this screen may be the way back; anything else would be an open redirect.
            back_url=back if back.startswith(reverse(f"admin:{self.screen_url('changelist')}")) else "",
        )


# --- List Health ---


def period_from(request: HttpRequest) -> tuple[screens.Period, str]:
    """The period the URL asks for, or the default one and the reason the asked one cannot be read."""
    try:
        return screens.Period.from_params(request.GET), ""
    except screens.BadPeriod as exc:
        return screens.Period.from_params({}), str(exc)


@admin.register(ListHealth)
class ListHealthAdmin(ScreenAdmin):
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name=self.screen_url("changelist")),
            path("<int:list_id>/", wrap(self.list_view), name=self.screen_url("list")),
            path("opt-out-reasons/", wrap(self.reasons_view), name=self.screen_url("reasons")),
            path("opt-out-reasons.json", wrap(self.reasons_json), name=self.screen_url("reasons_json")),
        ]

    def changelist_view(self, request, extra_context=None):
        """Every list's subscribers, sendable, suspended and opt-outs in the period."""
        self.require_view(request)
        period, error = period_from(request)
        counts = list_counts(since=period.since, until=period.until)
        return self.render(
            request,
            "admin/contacts/listhealth/overview.html",
            "List health",
            counts=counts,
            period=period,
            period_error=error,
            timeframes=self.timeframes(request, period),
            reasons_url=reverse(f"admin:{self.screen_url('reasons')}") + query(QueryDict(), **period.params()),
        )

    def list_view(self, request, list_id: int):
        """One list's dashboard: its counts and the trend of opt-outs over the period."""
        self.require_view(request)
        subscriber_list = get_object_or_404(SubscriberList.objects.select_related("sender_code"), pk=list_id)
        period, error = period_from(request)
        # An empty window here (since == until): the period's opt-outs are counted once, below, for the
        # total, the reasons and the trend together.
        (counts,) = list_counts(SubscriberList.objects.filter(pk=list_id), since=period.until, until=period.until)
        reasons, trend = screens.list_breakdown([list_id], period, self.scope_of(subscriber_list))
        counts.opted_out = reasons["total"]
        return self.render(
            request,
            "admin/contacts/listhealth/list.html",
            f"List health: {subscriber_list}",
            subscriber_list=subscriber_list,
            counts=counts,
            period=period,
            period_error=error,
            timeframes=self.timeframes(request, period),
            trend=trend,
            trend_total=sum(point["count"] for point in trend["points"]),
            reasons=reasons,
            reasons_url=reverse(f"admin:{self.screen_url('reasons')}")
            + query(QueryDict(), list=str(list_id), **period.params()),
        )

    @staticmethod
    def scope_of(subscriber_list: SubscriberList | None) -> dict:
        """Which opt-outs a chart counts, as its data names them."""
        if subscriber_list is None:
            return {"list": None, "sender_code": None, "label": "All lists"}
        return {
            "list": subscriber_list.id,
            "sender_code": subscriber_list.sender_code.code,
            "label": str(subscriber_list),
        }

    def reasons_for(self, subscriber_list: SubscriberList | None, period: screens.Period) -> dict:
        ids = [subscriber_list.id] if subscriber_list else SubscriberList.objects.values_list("id", flat=True)
        return screens.opt_out_reasons(ids, period, self.scope_of(subscriber_list))

    def chosen_list(self, request: HttpRequest) -> SubscriberList | None:
        text = request.GET.get("list", "")
        if not text:
            return None
        pk = screens.row_id(text)
        if pk is None:
            raise Http404("No such list.")
        return get_object_or_404(SubscriberList.objects.select_related("sender_code"), pk=pk)

    def reasons_view(self, request):
        """List Health → Opt-Out Reasons: the chart, and the same numbers in a table beside it."""
        self.require_view(request)
        chosen = self.chosen_list(request)
        period, error = period_from(request)
        data = self.reasons_for(chosen, period)
        json_url = reverse(f"admin:{self.screen_url('reasons_json')}") + query(
            QueryDict(), list=str(chosen.id) if chosen else None, **period.params()
        )
        return self.render(
            request,
            "admin/contacts/listhealth/opt_out_reasons.html",
            "Opt-out reasons",
            data=data,
            chosen=chosen,
            lists=SubscriberList.objects.select_related("sender_code").order_by("sender_code__code", "name"),
            period=period,
            period_error=error,
            timeframes=self.timeframes(request, period),
            json_url=json_url,
            keep=[("list", chosen.id)] if chosen else [],
        )

    def reasons_json(self, request):
        """The chart's data for staff and scripts: ?list=ID&days=7|30|90 or ?since=D&until=D (inclusive)."""
        self.require_view(request)
        try:
            period = screens.Period.from_params(request.GET)
        except screens.BadPeriod as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        return JsonResponse(self.reasons_for(self.chosen_list(request), period))

    def timeframes(self, request: HttpRequest, period: screens.Period) -> list[tuple[str, str, bool]]:
        """Links to the last 7/30/90 days that keep the other parameters."""
        return [
            (f"Last {days} days", query(request.GET, days=str(days), since=None, until=None), period.days == days)
            for days in screens.TIMEFRAMES
        ]
