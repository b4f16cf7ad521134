"""SMS program › Reassigned-number checks: staff paste numbers with consent dates and read the ledger's answers.

The same answers as `check_numbers` and POST /api/reassigned-numbers/ (reports.reassigned); viewing only.
"""

import re

from django import forms
from django.contrib import admin
from django.urls import path

from contacts.admin_screens import ScreenAdmin
from contacts.models import ReassignedCheck
from reports.reassigned import BATCH, Answer, answers, coverage_start

SEPARATOR = re.compile(r"\s*[,;\t]\s*")


def pasted_questions(text: str) -> list[tuple[str, str]]:
    """`phone,consented_at` a line (comma, semicolon or tab; or the last space); a header line is skipped."""
    questions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.lower().startswith("phone"):
            continue
        parts = SEPARATOR.split(line, maxsplit=1)
        if len(parts) == 1:
            parts = line.rsplit(None, 1)
        questions.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return questions


class CheckForm(forms.Form):
    numbers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60, "placeholder": "(202) 555-0143, 2026-01-15"}),
        help_text=f"One number and consent date (ISO-8601) a line; at most {BATCH:,} lines.",
    )

    def clean_numbers(self) -> list[tuple[str, str]]:
        questions = pasted_questions(self.cleaned_data["numbers"])
        if not questions:
            raise forms.ValidationError("Paste at least one line: a number, a comma, a consent date.")
        if len(questions) > BATCH:
            raise forms.ValidationError(f"{len(questions):,} lines; at most {BATCH:,} at once (use check_numbers).")
        return questions


@admin.register(ReassignedCheck)
class ReassignedCheckAdmin(ScreenAdmin):
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("", wrap(self.changelist_view), name=self.screen_url("changelist"))]

    def changelist_view(self, request, extra_context=None):
        """The paste form; on POST, each line's answer in the order pasted."""
        self.require_view(request)
        form = CheckForm(request.POST or None)
        results = list(answers(form.cleaned_data["numbers"])) if form.is_valid() else []
        counts = {answer.label: sum(r.answer == answer for r in results) for answer in Answer} if results else {}
        return self.render(
            request,
            "admin/contacts/reassignedcheck/check.html",
            "Reassigned-number check",
            form=form,
            results=results,
            counts=counts,
            coverage=coverage_start(),
        )
