"""A real SMTP server in the test process (aiosmtpd) on a free loopback port, keeping what it receives."""

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """The aiosmtpd handler: every message accepted, parsed and kept in order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        return [message.get_content() for message in self.messages]

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.messages]


class SmtpServer:
    """Open to anyone; with `users`, it offers AUTH (over plain SMTP, as on loopback) and checks passwords."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.users = users or {}
        self.logins: list[str] = []
        auth = {"authenticator": self.authenticate, "auth_require_tls": False} if users else {}
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **auth)

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(user) == password
        if ok:
            self.logins.append(user)
        return AuthResult(success=ok)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
