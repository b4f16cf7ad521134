"""Logging a test client in as a staff user of one of the roles' groups (Admin, Operator, Viewer)."""

from django.contrib.auth.models import Group, User


def staff(client, group: str) -> User:
    user = User.objects.create_user(group.lower(), password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user
