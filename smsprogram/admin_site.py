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
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.db import models

FIRST_DAY, LAST_DAY = date(2, 1, 1), date(9998, 12, 31)  # a day either side of datetime's range, and a year
BAD_FILTER = "A filter value in the address was not valid, so the list is shown unfiltered."


class BoundedChangeList(ChangeList):
    """Django's ChangeList, with values it cannot turn into a lookup refused the way it refuses unknown fields."""

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
