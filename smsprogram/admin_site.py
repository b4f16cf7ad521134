"""The admin site every screen is registered on, our own and third-party ones (django-axes, django-celery-beat).

It differs from Django's in two things. A list's filter or date drill-down value that cannot be a date or a
number in range (`occurred_at__year=99999999999999999999`, `…__year=9999` whose next year is past datetime's)
answers with the unfiltered list and a message, where Django's ChangeList lets OverflowError or ValueError
through as a 500; and a blank `_to_field` means the primary key, where Django looks up a field named "" (a
500 on every change and delete page). Both found by tests/reliability/test_security_params.py (issue 13). Every
ModelAdmin is registered through BoundedLookups, whoever wrote it.
"""

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList

BAD_FILTER = "A filter value in the address was not valid, so the list is shown unfiltered."


class BoundedChangeList(ChangeList):
    """Django's ChangeList, with values it cannot turn into a lookup refused the way it refuses unknown fields."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


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
