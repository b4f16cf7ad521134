from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from contacts.reconsent import reconsent
from reports import health_views


def favicon(request):
    """Browsers ask for /favicon.ico on every page; resolved per request so the manifest is read lazily."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("healthz", health_views.healthz, name="healthz"),
    path("healthz/ingestion", health_views.ingestion, name="healthz-ingestion"),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("reports.urls")),
    path("reconsent/<str:token>/", reconsent, name="reconsent"),  # public: the emailed re-engagement links
]
