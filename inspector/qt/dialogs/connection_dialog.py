"""The connection dialog: create or edit a connection profile (endpoint, secret, headers, subprotocol, TLS), test
it, and choose the subscriptions a capture with it records.

Owns turning the form into a `ConnectionProfile`, storing it with `ProfileStore` and its secret in the OS keyring
with `SecretStore` (or, where no keyring exists, naming an environment variable instead), and saying clearly what is
wrong with a form before anything is saved. The secret is held in memory only long enough to hand it to the keyring
and to the session. **Test connection** runs `services.connection_check` on the form as it stands (through
`qt/bridge.TaskRunner`, off the GUI's way) and shows the server's version or the one-line error. The subscriptions
(GraphQL documents, one or more operations) are kept in the window's settings keyed by the profile's name
(`ConnectionProfile` has no place for them): `saved_subscriptions` gives them to the window when it connects.
"""

from __future__ import annotations

import json
import os

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from inspector.backends.subscriptions import SubscriptionSpec
from inspector.core.connection_profile import ConnectionProfile, parse_header, split_secret_headers
from inspector.qt.bridge import TaskRunner
from inspector.services.connection_check import ConnectionCheck, check_connection
from inspector.services.profiles import NoKeyringError, ProfileStore, SecretStore, resolve_secret


def subscriptions_key(profile_name: str) -> str:
    """Where a profile's subscriptions are kept in the settings (a JSON list of documents)."""
    return f"profiles/{profile_name}/subscriptions"


def split_subscriptions(text: str) -> list[str]:
    """Each subscription operation of `text` as a document of its own (the text may hold several, one after the
    other); ValueError saying what is wrong: not GraphQL, an operation that is not a subscription, fragments."""
    if not text.strip():
        return []
    try:
        document = parse(text)
    except GraphQLError as error:
        raise ValueError(f"Subscriptions: not valid GraphQL: {error.message}") from error
    out = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            raise ValueError("Subscriptions: write each subscription out in full (fragments are not supported here).")
        if definition.operation != OperationType.SUBSCRIPTION:
            raise ValueError(f"Subscriptions: a {definition.operation.value} is not a subscription.")
        assert definition.loc is not None
        out.append(text[definition.loc.start : definition.loc.end].strip())
    return out


def saved_subscriptions(settings: QSettings, profile_name: str) -> tuple[SubscriptionSpec, ...]:
    """The subscriptions chosen for a profile, to run with its capture (none when none were chosen or the setting is
    unreadable)."""
    raw = settings.value(subscriptions_key(profile_name))
    try:
        documents = json.loads(str(raw)) if raw else []
    except ValueError:
        return ()
    return tuple(SubscriptionSpec(str(d)) for d in documents if isinstance(d, str) and d.strip())


class ConnectionDialog(QDialog):
    """Edit one profile; `accepted_profile` and `secret` are set when the user accepts."""

    def __init__(
        self,
        store: ProfileStore,
        secrets: SecretStore,
        profile: ConnectionProfile | None = None,
        parent: QWidget | None = None,
        *,
        settings: QSettings | None = None,
        tasks: TaskRunner | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection profile")
        self.store = store
        self.secrets = secrets
        self.settings = settings if settings is not None else QSettings()
        self.tasks = tasks if tasks is not None else TaskRunner(self)
        self.subscriptions: tuple[SubscriptionSpec, ...] = ()
        """The subscriptions chosen, set when the user accepts."""
        self.check: ConnectionCheck | None = None
        """What the last Test connection found."""
        self.accepted_profile: ConnectionProfile | None = None
        self.secret: str | None = None
        self.name = QLineEdit(profile.name if profile else "local sandbox", self)
        self.endpoint = QLineEdit(profile.endpoint if profile else "http://localhost:8080/v1/graphql", self)
        self.endpoint.setPlaceholderText("http(s)://host:8080/v1/graphql or ws(s)://…")
        self.secret_edit = QLineEdit(self)
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText(
            "stored in the OS keyring" if profile and profile.has_secret else "x-hasura-admin-secret (optional)"
        )
        self.secret_env = QLineEdit(profile.secret_env or "" if profile else "", self)
        self.secret_env.setPlaceholderText("or the name of an environment variable holding it")
        self.headers = QPlainTextEdit(self)
        self.headers.setPlaceholderText("x-hasura-role: user\nAuthorization: Bearer … (kept in the keyring)")
        self.headers.setPlainText("\n".join(f"{n}: {v}" for n, v in (profile.headers if profile else ())))
        self.headers.setMaximumHeight(80)
        self.subprotocol = QComboBox(self)
        self.subprotocol.addItems(["auto", "graphql-transport-ws", "graphql-ws"])
        if profile:
            self.subprotocol.setCurrentText(profile.subprotocol)
        self.verify_tls = QCheckBox("Verify TLS certificates", self)
        self.verify_tls.setChecked(profile.verify_tls if profile else True)
        self.subscription_edit = QPlainTextEdit(self)
        self.subscription_edit.setPlaceholderText(
            "subscription to record with every capture, e.g.\nsubscription orders { orders { order_id status } }"
        )
        self.subscription_edit.setToolTip(
            "GraphQL subscriptions recorded with each capture of this profile, one after the other "
            "(live queries and Hasura streams)"
        )
        saved = saved_subscriptions(self.settings, profile.name) if profile else ()
        self.subscription_edit.setPlainText("\n\n".join(spec.query for spec in saved))
        self.subscription_edit.setMaximumHeight(90)
        self.test_button = QPushButton("Test connection", self)
        self.test_button.setToolTip("Ask the server its version and check the admin secret, without saving")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel(self)
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828")
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("GraphQL endpoint", self.endpoint)
        form.addRow("Admin secret", self.secret_edit)
        form.addRow("", self.secret_env)
        form.addRow("Headers", self.headers)
        form.addRow("WebSocket subprotocol", self.subprotocol)
        form.addRow("", self.verify_tls)
        form.addRow("Subscriptions", self.subscription_edit)
        form.addRow("", test_row)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Save).setText("Save and connect")
        buttons.accepted.connect(self._on_save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._had_secret = bool(profile and profile.has_secret)
        self.resize(560, 0)

    def test_connection(self) -> None:
        """Check the form's profile against its server in the background; the result shows beside the button."""
        try:
            profile, typed = self._build()
            secret = typed or resolve_secret(profile, self.secrets, os.environ)
        except (ValueError, NoKeyringError) as error:
            self._show_check(ConnectionCheck(False, str(error)))
            return
        self.error.setText("")
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText(f"Testing {profile.redacted_endpoint}…")
        self.tasks.start("test-connection", check_connection(profile, secret), on_result=self._show_check)

    def _show_check(self, check: ConnectionCheck) -> None:
        self.check = check
        self.test_button.setEnabled(True)
        self.test_result.setStyleSheet("color: #2e7d32" if check.ok else "color: #c62828")
        self.test_result.setText(check.message)

    def reject(self) -> None:
        self.tasks.cancel("test-connection")
        super().reject()

    def _on_save(self) -> None:
        try:
            profile, secret = self._build()
            documents = split_subscriptions(self.subscription_edit.toPlainText())
        except ValueError as error:
            self.error.setText(str(error))
            return
        if secret:
            try:
                self.secrets.set(profile.name, secret)
            except NoKeyringError as error:
                if not profile.secret_env:
                    self.error.setText(str(error))
                    return
            else:
                profile = ConnectionProfile.from_json({**profile.to_json(), "has_secret": True})
        self.store.save(profile)
        self.settings.setValue(subscriptions_key(profile.name), json.dumps(documents))
        self.subscriptions = tuple(SubscriptionSpec(d) for d in documents)
        self.tasks.cancel("test-connection")
        self.accepted_profile, self.secret = profile, secret
        self.accept()

    def _build(self) -> tuple[ConnectionProfile, str | None]:
        name = self.name.text().strip()
        if not name:
            raise ValueError("Give the profile a name.")
        lines = [line for line in self.headers.toPlainText().splitlines() if line.strip()]
        headers = [parse_header(line) for line in lines]
        plain, header_secret, secret_header = split_secret_headers(headers)
        typed = self.secret_edit.text() or None
        if header_secret is not None and typed is not None:
            raise ValueError("Give either an admin secret or an Authorization header, not both.")
        secret = typed or header_secret
        profile = ConnectionProfile.from_endpoint(
            name,
            self.endpoint.text().strip(),
            headers=plain,
            secret_env=self.secret_env.text().strip() or None,
            secret_header=secret_header or "x-hasura-admin-secret",
            subprotocol=self.subprotocol.currentText(),  # type: ignore[arg-type]
            verify_tls=self.verify_tls.isChecked(),
            has_secret=self._had_secret and secret is None,
        )
        return profile, secret
