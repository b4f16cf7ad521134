from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "smsprogram"
admin.site.site_title = "smsprogram"
admin.site.index_title = "SMS program back office"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
