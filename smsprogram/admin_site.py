"""The admin site every screen is registered on, our own and third-party ones (django-axes, django-celery-beat).

It differs from Django's in two things. A list's filter or date drill-down value that cannot be a date or a
number in range (`occurred_at__year=99999999999999999999`, `…__year=9999` whose next year is past datetime's)
answers with the unfiltered list and a message, where Django's ChangeList lets OverflowError or ValueError
through as a 500; and a blank `_to_field` means the primary key, where Django looks up a field named "" (a
500 on every change and delete page). Both found by tests/reliability/test_security_params.py (issue 13). Every
ModelAdmin is registered through BoundedLookups, whoever wrote it.
"""

from datetime import date

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, ChangeList
from django.core.paginator import InvalidPage
from django.db import models

from smsprogram import admin_counts

FIRST_DAY, LAST_DAY = date(2, 1, 1), date(9998, 12, 31)  # a day either side of datetime's range, and a year
BAD_FILTER = "A filter value in the address was not valid, so the list is shown unfiltered."


class BoundedChangeList(ChangeList):
    """Django's ChangeList, with values it cannot turn into a lookup refused the way it refuses unknown fields,
    and its counts, pages and date drill-down bounded however large the table (smsprogram/admin_counts.py)."""

    def get_filters_params(self, params=None):
        lookups = super().get_filters_params(params)
        lookups.pop(admin_counts.EXACT_VAR, None)  # asks for an exact count; filters nothing
        return lookups

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        return admin_counts.spanning_dates(queryset) if self.date_hierarchy else queryset

    def get_results(self, request):
        """Django's, with the counts of admin_counts: no COUNT(*) of a large table unless staff ask for one."""
        exact = request.GET.get(admin_counts.EXACT_VAR) == "exact"
        whole = not (self.has_active_filters or self.query) and admin_counts.is_whole_table(self.root_queryset)
        tallied = getattr(self.model_admin, "tallied_count", lambda request, changelist: None)(request, self)
        count = admin_counts.count_rows(self.queryset, whole_table=whole, exact=exact, tallied=tallied)
        if not whole and tallied is None and count.kind == "exact" and count.n <= admin_counts.FEW:
            # Few rows match: name them, so the page is read by id. Otherwise the planner may walk the ordering's
            # index through millions of rows hoping to meet them soon (a search by email prefix: 10 s at 20M).
            ids = list(self.queryset.order_by().values_list("pk", flat=True)[: admin_counts.FEW])
            self.queryset = self.queryset.filter(pk__in=ids)
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        paginator.count = min(count.n, admin_counts.COUNT_CAP)  # pages stop at the cap: OFFSET reads no further
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.full_result_count = None
        if self.show_full_result_count:
            full = admin_counts.count_rows(
                self.root_queryset, whole_table=admin_counts.is_whole_table(self.root_queryset)
            )
            self.show_full_result_count = full.kind == "exact"  # else the search box offers "Show all"
            self.full_result_count = full.n if self.show_full_result_count else None
        self.show_admin_actions = not self.show_full_result_count or bool(self.full_result_count)
        self.result_count = count.n
        self.can_show_all = count.kind == "exact" and count.n <= self.list_max_show_all
        self.multi_page = count.n > self.list_per_page
        if (self.show_all and self.can_show_all) or not self.multi_page:
            self.result_list = self.queryset._clone()
        else:
            try:
                self.result_list = paginator.page(self.page_num).object_list
            except InvalidPage:
                raise IncorrectLookupParameters from None
        self.paginator = paginator
        self.count_label = count.label(str(self.opts.verbose_name), str(self.opts.verbose_name_plural))
        self.count_is_exact = count.kind == "exact"
        self.exact_count_url = "" if exact else self.get_query_string({admin_counts.EXACT_VAR: "exact"}, [PAGE_VAR])
        self.pages_stop_at = admin_counts.COUNT_CAP if count.n > admin_counts.COUNT_CAP else None

    def get_filters(self, request):
        self.refuse_nul()
        self.refuse_far_dates()
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc

    def refuse_nul(self) -> None:
        """A NUL in a filter value (`action__exact=%00`): PostgreSQL text cannot hold one, so the query would fail
        only while the page renders (ValueError, a 500); SQLite would just find nothing."""
        for name, values in self.get_filters_params().items():
            if any("\x00" in str(value) for value in values):
                raise IncorrectLookupParameters(f"{name}: a NUL character")

    def refuse_far_dates(self) -> None:
        """A date filter (`attempt_time__gte=9999-12-31`, `…=0001-01-01`) past what a time zone shift or the
        next day can reach: the query would fail only while the page renders (OverflowError, a 500)."""
        for name, values in self.get_filters_params().items():
            try:
                field = get_fields_from_path(self.model, name.split("__")[0])[-1]
            except Exception:
                continue  # not a field: Django's own checks answer it
            if not isinstance(field, models.DateField):
                continue
            for value in values:
                text = str(value)[:10]
                try:
                    day = date.fromisoformat(text) if len(text) == 10 else None
                except ValueError:
                    continue  # not a date at all: Django refuses it as a bad lookup
                if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                    raise IncorrectLookupParameters(f"{name}: {text} is out of range")


class BoundedLookups:
    """Mixed into every registered ModelAdmin by BackOffice.register."""

    _changelists: dict[type, type] = {}

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)
        if issubclass(base, BoundedChangeList):
            return base
        if base not in self._changelists:
            self._changelists[base] = type(f"Bounded{base.__name__}", (BoundedChangeList, base), {})
        return self._changelists[base]

    def get_object(self, request, object_id, from_field=None):
        # `?_to_field=` (empty) passes Django's allowed-field check, which skips a blank name, and then names no
        # field: FieldDoesNotExist, a 500 on every change and delete page. Blank means the primary key.
        return super().get_object(request, object_id, from_field or None)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if response.status_code == 302 and response["Location"].endswith(f"?{ERROR_FLAG}=1"):
            # Django answers a bad lookup with the bare list (`?e=1`); say why the filters are gone.
            messages.warning(request, BAD_FILTER)
        return response


class BackOffice(admin.AdminSite):
    site_header = site_title = "smsprogram"
    index_title = "SMS program back office"

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, BoundedLookups):
            admin_class = type(admin_class.__name__, (BoundedLookups, admin_class),
                               {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__})  # fmt: skip
        super().register(model_or_iterable, admin_class, **options)


class ReadOnlyAdmin:
    """A ModelAdmin whose rows staff look at but never add, edit or delete here (screens, signal records, jobs):
    something else writes them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
