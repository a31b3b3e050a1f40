"""The connection dialog: create or edit a connection profile (endpoint, secret, headers, subprotocol, TLS).

Owns turning the form into a `ConnectionProfile`, storing it with `ProfileStore` and its secret in the OS keyring
with `SecretStore` (or, where no keyring exists, naming an environment variable instead), and saying clearly what is
wrong with a form before anything is saved. The secret is held in memory only long enough to hand it to the keyring
and to the session.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from inspector.core.connection_profile import ConnectionProfile, parse_header, split_secret_headers
from inspector.services.profiles import NoKeyringError, ProfileStore, SecretStore


class ConnectionDialog(QDialog):
    """Edit one profile; `accepted_profile` and `secret` are set when the user accepts."""

    def __init__(
        self,
        store: ProfileStore,
        secrets: SecretStore,
        profile: ConnectionProfile | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection profile")
        self.store = store
        self.secrets = secrets
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
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Save).setText("Save and connect")
        buttons.accepted.connect(self._on_save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._had_secret = bool(profile and profile.has_secret)
        self.resize(560, 0)

    def _on_save(self) -> None:
        try:
            profile, secret = self._build()
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
