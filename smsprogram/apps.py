from django.contrib.admin.apps import AdminConfig


class BackOfficeAdminConfig(AdminConfig):
    """INSTALLED_APPS' admin: Django's, with smsprogram.admin_site.BackOffice as `admin.site`."""

    default_site = "smsprogram.admin_site.BackOffice"
