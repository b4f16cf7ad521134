"""Audience filters in the admin: saved filters with a live count of sendable numbers and a streamed
export; suspended and opted-out contacts are never in them (R5, R12).
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from contacts import screens
from contacts.admin_screens import EXPORT_PERMISSION
from contacts.exports import Column, Export
from contacts.models import HasEmail, SavedFilter, Source
from transfers import exports as transfers_exports


class ListChoices(forms.ModelMultipleChoiceField):
    """Lists by id; an id no bigint can hold is refused as invalid before the database is asked (issue 13)."""

    def _check_values(self, value):
        for pk in value:
            if screens.row_id(str(pk)) is None:
                raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                            params={"pk": str(pk)[:40]})  # fmt: skip
        return super()._check_values(value)


class SavedFilterForm(forms.ModelForm):
    class Meta:
        model = SavedFilter
        field_classes = {"lists": ListChoices}
        fields = ["name", "lists", "opted_in_after", "opted_in_before", "carrier", "has_email", "last_opt_in_source"]
        widgets = {
            "opted_in_after": forms.DateInput(attrs={"type": "date"}),
            "opted_in_before": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        blanks = {
            "has_email": ("With or without", HasEmail.choices),
            "last_opt_in_source": ("Any source", Source.choices),
        }
        for name, (blank, choices) in blanks.items():
            if name in self.fields:  # a view-only user's form has none of the fields
                self.fields[name].choices = [("", blank), *choices]

    def clean(self):
        data = super().clean()
        after, before = data.get("opted_in_after"), data.get("opted_in_before")
        if after and before and after >= before:
            raise forms.ValidationError("“Opted in after” must be earlier than “opted in before”.")
        return data


@admin.register(SavedFilter)
class SavedFilterAdmin(admin.ModelAdmin):
    form = SavedFilterForm
    list_display = ("name", "list_names", "carrier", "has_email", "last_opt_in_source", "updated_at")
    list_select_related = ("carrier",)
    search_fields = ("name",)
    filter_horizontal = ("lists",)
    readonly_fields = ("audience",)
    fieldsets = [
        (None, {"fields": ["name", "audience"]}),
        (
            "Who is in it",
            {
                "description": "Only sendable numbers match: suspended and opted-out numbers are never in an "
                "audience's count or export.",
                "fields": ["lists", "opted_in_after", "opted_in_before", "carrier", "has_email", "last_opt_in_source"],
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lists__sender_code")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<int:pk>/export.csv", wrap(self.export_view), name="{}_{}_export".format(*info)),
            path("count.json", wrap(self.count_view), name="{}_{}_count".format(*info)),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Lists")
    def list_names(self, obj):
        return ", ".join(str(lst) for lst in obj.lists.all()) or "Every list"

    @admin.display(description="Sendable numbers now")
    def audience(self, obj):
        """The live count; suspended and opted-out numbers are never in it (R5)."""
        count_url = reverse("admin:contacts_savedfilter_count")
        count = obj.count() if obj and obj.pk else None
        shown = f"{count:,}" if count is not None else "—"
        return format_html(
            '<strong id="audience-count" data-count-url="{}" aria-live="polite">{}</strong>', count_url, shown
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.user.has_perm(EXPORT_PERMISSION):
            context["export_url"] = reverse("admin:contacts_savedfilter_export", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    @property
    def media(self):
        return super().media + forms.Media(js=["js/audience_count.js"])

    def export_view(self, request, pk: int):
        """The filter's sendable numbers, one E.164 number a line, streamed."""
        saved = get_object_or_404(SavedFilter, pk=pk)
        if not (self.has_view_permission(request, saved) and request.user.has_perm(EXPORT_PERMISSION)):
            raise PermissionDenied
        export = Export("audience", [Column("phone", "phone")], saved.numbers(), title=(saved.name,))
        return transfers_exports.deliver(request, export)

    def count_view(self, request) -> HttpResponse:
        """The live count of an audience being edited, from the form's fields (no save needed)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SavedFilterForm(request.GET)
        form.is_valid()  # the name may be missing or taken while editing; the criteria still count
        data = form.cleaned_data
        fields = ["opted_in_after", "opted_in_before", "carrier", "has_email", "last_opt_in_source"]
        if any(name in form.errors for name in [*fields, "lists"]):
            return JsonResponse({"error": "Some criteria are not valid yet."}, status=400)
        draft = SavedFilter(**{name: data.get(name) or None for name in fields})
        draft.has_email = data.get("has_email") or ""
        draft.last_opt_in_source = data.get("last_opt_in_source") or ""
        return JsonResponse({"count": draft.count([lst.id for lst in data.get("lists", [])])})
