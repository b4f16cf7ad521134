"""Issue 13, point 2: every upload is refused past UPLOAD_MAX_MB while it is read, with a message naming the limit,
leaving no file and no row; and every upload path streams the stored file instead of holding it whole."""

import tempfile
import tracemalloc
from pathlib import Path

import pytest

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_started
from django.urls import reverse

from contacts.models import Subscription
from reports.models import DeactivationReport
from tests.factories import SenderCodeFactory, SubscriberListFactory
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db
MB = 1 << 20
REFUSED = "larger than the upload limit of 1 MB (UPLOAD_MAX_MB); nothing was stored"
HEADER = b"phone,sender_code,list,opted_in_at,email,carrier\n"
REPORT_UPLOAD = reverse("admin:reports_deactivationreport_upload")
CSV_IMPORT = reverse("admin:transfers_importjob_import")
LIBRARY_IMPORT = reverse("admin:contacts_subscription_import")
LIBRARY_CONFIRM = reverse("admin:contacts_subscription_process_import")


@pytest.fixture
def places(settings, tmp_path, monkeypatch) -> Path:
    """A 1 MB limit, and every place an upload can be kept under tmp_path: media, Django's temporary upload
    files (spilled to disk past 64 kB, as any real upload past 2.5 MB is), the library's temporary folder."""
    settings.UPLOAD_MAX_MB = 1
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "upload-tmp").mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    (tmp_path / "library-tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "library-tmp"))
    return tmp_path


def kept(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def csv_of(size: int) -> bytes:
    """A subscriptions CSV of exactly `size` bytes: one good row, then a few hundred rows each too long to read
    (under the admin's row threshold, so the Import buttons keep it in the request)."""
    good = HEADER + b"+12025550143,45678,Flash,2026-01-01,,\n"
    filler = b"x" * 69_999 + b"\n"
    body = good + filler * ((size - len(good)) // len(filler))
    return body + b"x" * (size - len(body) - 1) + b"\n"


def post(client, url: str, size: int):
    file = SimpleUploadedFile("big.csv", csv_of(size), "text/csv")
    data = {
        REPORT_UPLOAD: {"file": file, "report_date": "2026-11-20"},
        CSV_IMPORT: {"kind": "subscriptions", "file": file},
        LIBRARY_IMPORT: {"resource": "0", "format": "0", "import_file": file},
    }[url]
    return client.post(url, data)


@pytest.mark.parametrize("url", [REPORT_UPLOAD, CSV_IMPORT, LIBRARY_IMPORT])
def test_an_upload_over_the_limit_is_refused_naming_it_and_leaves_no_file_and_no_row(admin_client, places, url):
    response = post(admin_client, url, MB + 1)

    assert response.status_code == 200  # the form again, not a stored upload
    assert REFUSED in response.content.decode()
    assert kept(places) == []
    assert DeactivationReport.objects.count() == 0 and ImportJob.objects.count() == 0


@pytest.mark.parametrize("url", [REPORT_UPLOAD, CSV_IMPORT, LIBRARY_IMPORT])
def test_an_upload_of_exactly_the_limit_is_taken(admin_client, places, url):
    SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Flash")

    response = post(admin_client, url, MB)

    assert REFUSED not in response.content.decode()
    assert response.status_code == (200 if url == LIBRARY_IMPORT else 302)  # its preview, or the new row's page
    assert kept(places)  # the stored upload (media) or the library's temporary file


def test_a_body_declared_too_big_is_stopped_before_any_of_it_is_kept(admin_client, places, settings):
    # A temporary folder that does not exist: taking any byte of the file into a temporary file would fail the
    # request, so a 200 with the refusal shows the upload was stopped on the declared length, at the file's start.
    settings.FILE_UPLOAD_TEMP_DIR = str(places / "absent")

    response = post(admin_client, CSV_IMPORT, 4 * MB)

    assert REFUSED in response.content.decode()
    assert ImportJob.objects.count() == 0


class Peak:
    """The most memory the request's own handling allocated, from when the server starts on it (the test client
    has built the whole body by then) to its answer."""

    def __init__(self):
        self.bytes = 0

    def __enter__(self):
        tracemalloc.start()
        request_started.connect(self._reset)
        return self

    def __exit__(self, *exc):
        request_started.disconnect(self._reset)
        self.bytes = tracemalloc.get_traced_memory()[1] - self.start
        tracemalloc.stop()

    def _reset(self, **kwargs):
        tracemalloc.reset_peak()
        self.start = tracemalloc.get_traced_memory()[0]


SIZE = 24 * MB


@pytest.mark.slow
def test_the_import_buttons_stream_the_stored_file_at_preview_and_confirm(admin_client, places, settings):
    settings.UPLOAD_MAX_MB = 64
    SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Flash")

    with Peak() as preview_peak:
        preview = post(admin_client, LIBRARY_IMPORT, SIZE)
    form = preview.context["confirm_form"]
    with Peak() as confirm_peak:
        admin_client.post(LIBRARY_CONFIRM, {name: form.initial[name] for name in form.fields})

    # The library holds the file whole at least once at each step (and builds it by repeated concatenation).
    assert preview_peak.bytes < SIZE / 4, f"preview peak {preview_peak.bytes / MB:.1f} MB"
    assert confirm_peak.bytes < SIZE / 4, f"confirm peak {confirm_peak.bytes / MB:.1f} MB"
    assert Subscription.objects.filter(contact__phone="+12025550143").count() == 1
    assert kept(places / "library-tmp") == []  # the confirm removed the library's temporary file


@pytest.mark.slow
@pytest.mark.parametrize("url", [REPORT_UPLOAD, CSV_IMPORT])
def test_the_upload_pages_stream_the_file_into_storage(admin_client, places, settings, url):
    settings.UPLOAD_MAX_MB = 64
    SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Flash")

    with Peak() as peak:
        response = post(admin_client, url, SIZE)

    assert response.status_code == 302
    assert peak.bytes < SIZE / 4, f"peak {peak.bytes / MB:.1f} MB"


@pytest.mark.parametrize(
    "storage", ["import_export.tmp_storages.TempFolderStorage", "import_export.tmp_storages.MediaStorage"]
)
def test_the_import_buttons_stream_through_either_file_backed_temporary_storage(
    admin_client, places, settings, storage
):
    settings.IMPORT_EXPORT_TMP_STORAGE_CLASS = storage
    SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Flash")

    preview = post(admin_client, LIBRARY_IMPORT, 300_000)
    assert kept(places)  # the library's temporary copy, in its folder or under media
    form = preview.context["confirm_form"]
    admin_client.post(LIBRARY_CONFIRM, {name: form.initial[name] for name in form.fields})

    assert Subscription.objects.filter(contact__phone="+12025550143").count() == 1
    assert kept(places) == []  # removed by the confirm


def test_the_import_buttons_keep_their_streamed_preview_even_when_the_library_is_told_to_skip_it(
    admin_client, places, settings
):
    settings.IMPORT_EXPORT_SKIP_ADMIN_CONFIRM = True  # the library's branch that concatenates the whole file

    preview = post(admin_client, LIBRARY_IMPORT, 300_000)

    assert "confirm_form" in preview.context
    assert Subscription.objects.count() == 0
