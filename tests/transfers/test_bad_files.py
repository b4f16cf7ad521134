"""Bad files through the admin's preview: each named as it should be, and nothing written that should not be."""

import pytest

from contacts.models import Contact, Subscription
from tests.transfers.conftest import SUBSCRIPTIONS_HEADER, upload
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db
GOOD = "+12025550143,45678,Flash,2026-01-01T00:00:00Z,,\n"


def preview(client, content: bytes) -> ImportJob:
    response, job = upload(client, "subscriptions", content)
    assert response.status_code == 302
    assert Contact.objects.count() == 0  # a preview writes nothing (R8)
    return job


@pytest.mark.parametrize(
    "content, message",
    [
        (b"number,code,list,date\n2025550143,45678,Flash,2026-01-01\n", "header must be"),
        (b"phone;sender_code;list;opted_in_at\n2025550143;45678;Flash;2026-01-01\n", "missing phone"),
        (b"\n\n  \n", "empty"),
        (b"\x00\x01\x02PK binary", "binary"),
    ],
    ids=["wrong header", "wrong delimiter", "empty", "binary"],
)
def test_a_file_that_is_not_a_subscriptions_csv_fails_whole(operator_client, flash, content, message):
    job = preview(operator_client, content)

    assert job.status == ImportJob.Status.FAILED
    assert message in job.error
    assert Subscription.objects.count() == 0


def test_an_empty_file_is_refused_by_the_form(operator_client, flash):
    response, job = upload(operator_client, "subscriptions", b"")

    assert response.status_code == 200
    assert "The submitted file is empty." in response.content.decode()
    assert job is None


def test_latin1_row_is_named_and_the_utf8_rows_still_preview(operator_client, flash):
    content = (SUBSCRIPTIONS_HEADER + GOOD).encode() + b"+12025550144,45678,Caf\xe9,2026-01-01,,\n"

    job = preview(operator_client, content)

    assert job.status == ImportJob.Status.PREVIEWED
    assert (job.preview["created"], job.preview["invalid"]) == (1, 1)
    assert job.samples == [{"line": 3, "reason": "not UTF-8 text"}]


def test_a_byte_order_mark_is_not_part_of_the_header(operator_client, flash):
    job = preview(operator_client, "\ufeff".encode() + (SUBSCRIPTIONS_HEADER + GOOD).encode())

    assert (job.status, job.preview["created"], job.preview["invalid"]) == (ImportJob.Status.PREVIEWED, 1, 0)


def test_a_header_alone_previews_nothing_to_do(operator_client, flash):
    job = preview(operator_client, SUBSCRIPTIONS_HEADER.encode())

    assert (job.status, job.preview["rows"], job.samples) == (ImportJob.Status.PREVIEWED, 0, [])


def test_a_10000_column_row_is_invalid_not_fatal(operator_client, flash):
    wide = "+12025550144,45678,Flash,2026-01-01" + ",x" * 9996 + "\n"

    job = preview(operator_client, (SUBSCRIPTIONS_HEADER + GOOD + wide).encode())

    assert (job.preview["created"], job.preview["invalid"]) == (1, 1)
    assert job.samples == [{"line": 3, "reason": "10000 fields; the header has 6"}]


def test_formula_payloads_are_refused_where_they_cannot_be_data(operator_client, flash):
    content = (
        SUBSCRIPTIONS_HEADER
        + GOOD
        + (
            '"=HYPERLINK(""http://x"",""y"")",45678,Flash,2026-01-01,,\n'
            "+12025550144,45678,=1+2,2026-01-01,,\n"
            "+12025550145,45678,Flash,@SUM(A1),,\n"
            "+12025550146,45678,Flash,2026-01-01,,-cmd\n"
        )
    )

    job = preview(operator_client, content.encode())

    assert (job.preview["created"], job.preview["invalid"]) == (1, 4)
    reasons = [sample["reason"] for sample in job.samples]
    assert reasons[0].startswith("invalid phone number")
    assert reasons[1] == "unknown list '=1+2' of sender code '45678'"
    assert reasons[2].startswith("opted_in_at is not an ISO-8601 timestamp")
    assert reasons[3] == "unknown carrier '-cmd'"


def test_duplicate_rows_count_once(operator_client, flash):
    job = preview(operator_client, (SUBSCRIPTIONS_HEADER + GOOD + GOOD + GOOD).encode())

    assert (job.preview["rows"], job.preview["created"], job.preview["skipped"]) == (3, 1, 2)


def test_numbers_in_every_common_format_are_one_contact(operator_client, flash):
    formats = ["2025550143", "(202) 555-0143", "+1 202-555-0143", "202.555.0143", "1-202-555-0143",
               "+12025550143", "1 (202) 555 0143", "+1 (202) 555-0143", "202 555 0143"]  # fmt: skip
    rows = "".join(f'"{number}",45678,Flash,2026-01-0{i + 1},,\n' for i, number in enumerate(formats))
    rows += "555-0143,45678,Flash,2026-01-01,,\n"

    job = preview(operator_client, (SUBSCRIPTIONS_HEADER + rows).encode())

    assert (job.preview["created"], job.preview["skipped"], job.preview["invalid"]) == (1, len(formats) - 1, 1)
    assert job.samples[0]["line"] == len(formats) + 2
    assert job.preview["details"]["contacts_created"] == 1
