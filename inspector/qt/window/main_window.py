"""The main window: Wireshark's layout for 3factor events.

Owns the arrangement (connection bar, filter bar, the central views as tabs: sources tree | event list / detail pane,
the flow pictures, the subscriptions console and the session log; status bar), its fit to the screen, the window's
actions and shortcuts, files (open, save as, recent, drag and drop, export displayed or marked events as a capture,
JSON Lines, HAR or CSV), the live capture it runs through `TaskRunner`, and the settings kept between runs. It
adapts; the capture file, the session and the models do the work.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import platformdirs
from PySide6.QtCore import QByteArray, QEvent, QModelIndex, QObject, QRect, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from inspector import __version__
from inspector.backends.errors import BackendError
from inspector.backends.subscriptions import SubscriptionSpec
from inspector.core.colouring import DEFAULT_RULES, ColouringError, ColourRule, rules_from_json, rules_to_json
from inspector.core.connection_profile import ConnectionProfile
from inspector.core.filter import FilterError
from inspector.core.graphql_ops import analyse
from inspector.core.time_format import TimeFormat
from inspector.core.wording import counted
from inspector.qt.bridge import TaskRunner
from inspector.qt.detail.detail_pane import DetailPane
from inspector.qt.dialogs.bulk_replay_dialog import FAILED_FILTER, BulkReplayDialog
from inspector.qt.dialogs.colouring_dialog import ColouringDialog
from inspector.qt.dialogs.connection_dialog import ConnectionDialog, saved_subscriptions
from inspector.qt.dialogs.goto_dialog import GoToDialog
from inspector.qt.dialogs.replay_dialog import ReplayDialog
from inspector.qt.event_list.event_table_model import COLUMNS, EventTableModel, LiveTail
from inspector.qt.event_list.filter_bar import FilterBar
from inspector.qt.event_list.sources_tree import SourcesTree
from inspector.qt.help.help_windows import FilterReferenceWindow, ShortcutsWindow, shortcut_rows
from inspector.qt.help.tour import TourPanel
from inspector.qt.pictures.flows_dock import FlowsPanel
from inspector.qt.roles import EVENT_ID_ROLE, MARKED_ROLE
from inspector.qt.statistics.statistics_menu import StatisticsMenu
from inspector.qt.subscriptions.subscriptions_console import SubscriptionsConsole
from inspector.qt.widgets.colour_legend import ColourLegend
from inspector.qt.window.main_toolbar import MainToolbar
from inspector.qt.window.store_capture import close_followed, open_store_capture
from inspector.qt.window.time_menu import TimeFormatMenu
from inspector.services import analysis
from inspector.services.capture_process import CaptureProcess
from inspector.services.capture_session import CaptureOptions, CaptureProgress
from inspector.services.profiles import NoKeyringError, ProfileStore, SecretStore, resolve_secret
from inspector.services.replay.loader import Selection
from inspector.store.capture_file import CaptureFile, CaptureFormatError, copy_events, save_copy
from inspector.store.event_index import EventIndex, export_selection
from inspector.store.exchange import ExchangeError, export_har, export_jsonl
from inspector.store.open import is_store_url
from inspector.store.reader import CaptureReader, StoreError, StoreOperationalError

CAPTURE_SUFFIX = ".inspector"
CAPTURE_FILTER = "Inspector captures (*.inspector *.db *.sqlite);;All files (*)"
EXPORT_FILTER = (
    "Inspector capture (*.inspector);;JSON Lines (*.jsonl);;HAR, HTTP archive (*.har);;CSV, the list's columns (*.csv)"
)
EXPORT_FORMATS = {".jsonl": "JSON Lines", ".har": "HAR", ".csv": "CSV"}
"""Export formats chosen by the file name's suffix; any other suffix writes an Inspector capture."""
RECENT_KEY = "files/recent"
RULES_KEY = "list/colouring_rules"
RECENT_SIZE = 10
REFRESH_MS = 250
EVENTS_VIEW, FLOWS_VIEW, SUBSCRIPTIONS_VIEW, LOG_VIEW = range(4)
VIEW_TIPS = (
    "The event list, the selected event's detail and the sources (triggers, subscriptions, tables)",
    "The selected event's flow as a sequence diagram, the service map, timelines and anomalies",
    "Write and run subscriptions; the messages each one received",
    "Connects, reconnects and errors of the capture session",
)
DEFAULT_SIZE = (1400, 860)
"""The window's size on a screen with room for it; smaller screens get their available area."""
LARGE_SIZE = (1680, 1000)


def captures_directory() -> Path:
    """Where live captures are written until the user saves them elsewhere."""
    path = Path(platformdirs.user_data_dir("inspector")) / "captures"
    path.mkdir(parents=True, exist_ok=True)
    return path


class MessageBanner(QWidget):
    """A dismissible line above the list for errors and notices: readable, actionable, never a traceback."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss", self)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.setAutoFillBackground(True)
        # A plain QWidget paints no style-sheet background without this: the banner's dark text then sat on a dark
        # palette's window colour, unreadable.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.hide()
        self.level = ""

    def show_message(self, text: str, level: str = "error") -> None:
        colours = {"error": ("#ffdede", "#5c1f1f"), "warning": ("#fff4cc", "#4d3d00"), "info": ("#e1efff", "#1d3557")}
        background, foreground = colours.get(level, colours["info"])
        self.setStyleSheet(f"MessageBanner {{ background: {background}; }} QLabel {{ color: {foreground}; }}")
        self.label.setText(text)
        self.level = level
        self.show()


class MainWindow(QMainWindow):
    """Inspector's window. `open_capture(path)` shows a file; `connect_profile(profile, secret)` captures live."""

    captureOpened = Signal(str)
    """A capture file is now shown (its path)."""
    captureStarted = Signal()
    captureStopped = Signal()
    windowClosed = Signal()
    """The user closed the window (the application then stops its tasks and quits)."""

    def __init__(
        self,
        settings: QSettings | None = None,
        profiles: ProfileStore | None = None,
        secrets: SecretStore | None = None,
        capture_directory: Path | None = None,
    ) -> None:
        super().__init__()
        self.capture_directory = capture_directory
        self.settings = settings or QSettings()
        self.profiles = profiles or ProfileStore()
        self.secrets = secrets or SecretStore()
        self.tasks = TaskRunner(self)
        self.tasks.taskFailed.connect(self._on_tasks_task_failed)
        self.capture: CaptureFile | None = None
        self.reader: CaptureReader | None = None
        self.model: EventTableModel | None = None
        self.session: CaptureProcess | None = None
        """The running capture: a `CaptureSession` in a process of its own, so the GUI thread never records."""
        self.session_profile: ConnectionProfile | None = None
        self.transient_profiles: dict[str, tuple[ConnectionProfile, str | None]] = {}
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=40)
        self._total_events = 0
        self._data_version = -1
        self._selected_event: str | None = None
        self.replay_dialog: ReplayDialog | None = None
        self._pending_subscriptions: list[SubscriptionSpec] = []
        self.quitting = False
        """Set to close without asking (the application is quitting anyway: `--quit-after`, the end of a test)."""
        self.setWindowTitle("Inspector")
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        if not self._restore_settings():
            self.fit_to_screen()
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        self.refresh_timer.start()
        self._tick = 0
        self._show_empty_state()

    # --- building --------------------------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.connection_bar = QToolBar("Connection", self)
        self.connection_bar.setObjectName("connection_bar")
        self.connection_bar.setMovable(False)
        self.profile_picker = QComboBox(self)
        self.profile_picker.setMinimumWidth(200)
        self.profile_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.profile_picker.setMinimumContentsLength(22)
        self.profile_picker.setToolTip("Connection profile (Capture ▸ Manage profiles)")
        self.connect_button = QPushButton("Start capture", self)
        self.connect_button.setToolTip("Connect and record events, invocations and subscriptions (Ctrl+E)")
        self.connect_button.clicked.connect(self.toggle_capture)
        self.state_label = QLabel("Not connected", self)
        self.state_label.setMinimumWidth(120)
        self.connection_bar.addWidget(QLabel(" Backend: ", self))
        self.connection_bar.addWidget(self.profile_picker)
        self.connection_bar.addWidget(self.connect_button)
        self.connection_bar.addSeparator()
        self.connection_bar.addWidget(self.state_label)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.connection_bar)

        self.filter_bar = FilterBar(self.settings, self)
        self.filter_bar.filterApplied.connect(self._on_filter_bar_filter_applied)
        self.banner = MessageBanner(self)
        self.sources = SourcesTree(self)
        self.sources.filterRequested.connect(self.apply_filter)
        self.sources.operationSelected.connect(self._on_sources_operation_selected)
        self.table = QTableView(self)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(False)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        # By pixel: rows appended below leave the rows in view exactly where they were (by item, the bottom row's
        # alignment shifts them a part of a row).
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionsMovable(True)
        self.table.horizontalHeader().setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.horizontalHeader().customContextMenuRequested.connect(self._on_header_context_menu_requested)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        # While the pointer is over the list, new events do not scroll it: the row under the pointer stays there, so
        # a click lands on the event the user aimed at; a click (a selection) stops following altogether.
        self.table.viewport().installEventFilter(self)
        self.detail = DetailPane(self)
        self.detail.filterRequested.connect(self.apply_filter)
        self.empty_hint = QLabel(self)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)

        right = QSplitter(Qt.Orientation.Vertical, self)
        right.setObjectName("list_detail_splitter")
        list_box = QWidget(self)
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addWidget(self.empty_hint)
        list_layout.addWidget(self.table, 1)
        right.addWidget(list_box)
        right.addWidget(self.detail)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        # Explicit minimums: the splitter would otherwise honour the detail pane's (tall) minimum size hint and leave
        # the list a couple of rows.
        self.detail.setMinimumSize(200, 160)
        self.table.setMinimumHeight(120)
        right.setSizes([430, 330])
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.main_splitter.setObjectName("sources_splitter")
        self.main_splitter.addWidget(self.sources)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(1, 4)
        self.main_splitter.setSizes([330, 1070])
        self.list_detail_splitter = right
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.banner)
        self.tour = TourPanel(self.settings, self)  # shown on the first run only
        layout.addWidget(self.tour)
        self.setCentralWidget(central)

        self.console = SubscriptionsConsole(self)
        self.console.runRequested.connect(self._on_console_run_requested)
        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.flows = FlowsPanel(self)
        self.flows.eventSelected.connect(self.select_event)
        self.flows.anomalies.eventSelected.connect(lambda _event_id: self.show_view(EVENTS_VIEW))
        self.flows.filterRequested.connect(self.apply_filter)
        self.flows.filterRequested.connect(lambda _text: self.show_view(EVENTS_VIEW))
        self.flows.pictureExported.connect(lambda path: self.statusBar().showMessage(f"Saved {path}", 4000))
        # The views share the central area as tabs (not short bottom docks): each gets the window's whole height, so
        # the list and its detail pane stay readable on a 1366x768 screen and a flow's sequence diagram shows the
        # whole order.
        self.views = QTabWidget(self)
        self.views.setObjectName("views")
        self.views.setDocumentMode(True)
        self.views.addTab(self.main_splitter, "Events")
        self.views.addTab(self.flows, "Flows")
        self.views.addTab(self.console, "Subscriptions")
        self.views.addTab(self.log_view, "Session log")
        for index, tip in enumerate(VIEW_TIPS):
            self.views.setTabToolTip(index, tip)
        self.views.currentChanged.connect(self._on_views_current_changed)
        layout.addWidget(self.views, 1)
        self._analysed_version = -1
        self._last_log_seq = 0

        self.displayed_label = QLabel(self)
        self.file_label = QLabel(self)
        self.rate_label = QLabel(self)
        self.legend = ColourLegend(self)  # the swatches that fit, and Legend… listing every rule
        self.statusBar().addWidget(self.displayed_label)
        self.statusBar().addWidget(self.file_label, 1)
        self.load_progress = QProgressBar(self)
        self.load_progress.setMaximumWidth(180)
        self.load_progress.setFormat("loading %v rows")
        self.load_progress.hide()
        self.load_cancel = QPushButton("Cancel filter", self)
        self.load_cancel.setToolTip("Stop applying this filter and show all events")
        self.load_cancel.clicked.connect(lambda: self.apply_filter(""))
        self.load_cancel.hide()
        self.statusBar().addPermanentWidget(self.load_progress)
        self.statusBar().addPermanentWidget(self.load_cancel)
        self.statusBar().addPermanentWidget(self.legend)
        self.statusBar().addPermanentWidget(self.rate_label)
        self._reload_profiles()

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_action = self._action(file_menu, "&Open capture…", QKeySequence.StandardKey.Open, self.choose_capture)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.save_action = self._action(file_menu, "Save capture &as…", QKeySequence("Ctrl+Shift+S"), self.save_as)
        file_menu.addSeparator()
        self.export_displayed_action = self._action(
            file_menu, "Export &displayed events…", None, lambda: self.start_export(marked=False)
        )
        self.export_marked_action = self._action(
            file_menu, "Export &marked events…", None, lambda: self.start_export(marked=True)
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        capture_menu = menu.addMenu("&Capture")
        self.capture_action = self._action(
            capture_menu, "&Start / stop capture", QKeySequence("Ctrl+E"), self.toggle_capture
        )
        self._action(capture_menu, "&New connection profile…", None, lambda: self.edit_profile(None))
        self._action(capture_menu, "&Edit this profile…", None, self.edit_current_profile)
        relay_menu = menu.addMenu("&Relay")
        self.start_relay_action = self._action(relay_menu, "&Start relay…", None, self.start_relay)
        edit_menu = menu.addMenu("&Edit")
        self.mark_action = self._action(edit_menu, "&Mark / unmark event", QKeySequence("Ctrl+M"), self.toggle_mark)
        self._action(edit_menu, "&Find (display filter)", QKeySequence("Ctrl+/"), self.filter_bar.focus_filter)
        self._action(edit_menu, "Clear display filter", QKeySequence("Ctrl+Shift+/"), lambda: self.apply_filter(""))
        edit_menu.addSeparator()
        self.replay_action = self._action(edit_menu, "Edit and &replay…", QKeySequence("Ctrl+R"), self.edit_and_replay)
        self.replay_action.setEnabled(False)
        self.replay_now_action = self._action(
            edit_menu, "Re&play selected events…", QKeySequence("Ctrl+Shift+R"), self.replay_selected
        )
        self.retry_failed_action = self._action(edit_menu, "Retry all &failed…", None, self.retry_all_failed)
        view_menu = menu.addMenu("&View")
        self.columns_menu = view_menu.addMenu("&Columns")
        self.time_menu = TimeFormatMenu(self.settings, self)
        self.time_menu.formatChosen.connect(self.set_time_format)
        view_menu.addMenu(self.time_menu)
        self.view_actions: list[QAction] = []
        for index in range(self.views.count()):
            action = self._action(
                view_menu,
                f"&{index + 1} {self.views.tabText(index)}",
                QKeySequence(f"Ctrl+{index + 1}"),
                lambda i=index: self.show_view(i),
            )
            self.view_actions.append(action)
        view_menu.addSeparator()
        self._action(view_menu, "Colouring &rules…", None, self.edit_colouring_rules)
        self.follow_action = self._action(
            view_menu, "&Follow new events", QKeySequence("Ctrl+Shift+F"), self._toggle_follow
        )
        self.follow_action.setCheckable(True)
        self.follow_action.setChecked(True)
        self.follow_action.setToolTip(
            "Follow new events: keep the newest event in view (scrolling up, or selecting an event, stops following)"
        )
        # On the connection bar too, beside Start capture: the switch a user reaches for while events stream in.
        self.connection_bar.addSeparator()
        self.connection_bar.addAction(self.follow_action)
        go_menu = menu.addMenu("&Go")
        self._action(go_menu, "&Next event", QKeySequence("Ctrl+Down"), lambda: self._move(1))
        self._action(go_menu, "&Previous event", QKeySequence("Ctrl+Up"), lambda: self._move(-1))
        self._action(go_menu, "&First event", QKeySequence("Ctrl+Home"), lambda: self._move_to(0))
        self._action(go_menu, "&Last event", QKeySequence("Ctrl+End"), lambda: self._move_to(-1))
        go_menu.addSeparator()
        self.goto_action = self._action(go_menu, "&Go to event…", QKeySequence("Ctrl+G"), self.choose_event_number)
        self.statistics_menu = StatisticsMenu(
            self.tasks,
            lambda: None if self.capture is None else self.capture.path,
            lambda: "" if self.model is None else self.model.filter_text,
            self,
        )
        self.statistics_menu.filterRequested.connect(self.apply_filter)
        self.statistics_menu.flowsRequested.connect(lambda: self.show_view(FLOWS_VIEW))
        menu.addMenu(self.statistics_menu)
        help_menu = menu.addMenu("&Help")
        self._action(
            help_menu, "Display &filter reference", QKeySequence.StandardKey.HelpContents, self.show_filter_reference
        )
        self._action(help_menu, "&Keyboard shortcuts", None, self.show_shortcuts)
        self._action(help_menu, "&Tour", None, self.tour.restart)
        help_menu.addSeparator()
        self._action(help_menu, "&About Inspector", None, self._about)
        self._rebuild_recent_menu()
        self._rebuild_columns_menu()
        # Wireshark's main toolbar, right of the connection bar (which keeps Start / Stop capture and Follow): in a
        # window too narrow for both, it is this one that folds into its » menu, never Start capture.
        self.main_toolbar = MainToolbar(
            [
                [("open", self.open_action, "Open"), ("save", self.save_action, "Save")],
                [
                    ("replay", self.replay_now_action, "Replay"),
                    ("retry_failed", self.retry_failed_action, "Retry failed"),
                ],
                [
                    ("go_to", self.goto_action, "Go to"),
                    ("statistics", self.statistics_menu.figures_action, "Statistics"),
                ],
            ],
            self,
        )
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.main_toolbar)

    def _action(self, menu: QMenu, text: str, shortcut: Any, slot: Any) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    # --- settings --------------------------------------------------------------------------------------------------

    def fit_to_screen(self, available: QRect | None = None) -> None:
        """Size and place the window inside the screen's available area (`available`; default: the screen the window
        is on), at `DEFAULT_SIZE` (`LARGE_SIZE` on a large screen) or smaller, so every bar and button is on screen.
        The splitters are shared out for that height."""
        if available is None:
            screen = self.screen() or QGuiApplication.primaryScreen()
            available = screen.availableGeometry() if screen is not None else QRect(0, 0, *DEFAULT_SIZE)
        # The frame (title bar, borders) is not known before the window is shown: leave room for a usual one.
        frame_w, frame_h = 16, 40
        wanted_w, wanted_h = LARGE_SIZE if available.width() >= 1800 and available.height() >= 1000 else DEFAULT_SIZE
        width = max(640, min(wanted_w, available.width() - frame_w))
        height = max(480, min(wanted_h, available.height() - frame_h))
        self.resize(width, height)
        left = available.left() + max(0, (available.width() - width - frame_w) // 2)
        top = available.top() + max(0, (available.height() - height - frame_h) // 2)
        self.move(left, top)
        # The sources tree gets room for a long trigger name beside its counts (more at 200 % scaling), up to 2/5.
        sources = min(max(min(340, max(240, width // 4)), self.sources.sizeHint().width()), width * 2 // 5)
        self.main_splitter.setSizes([sources, width - sources])
        # The detail pane gets a little more than the list: a request and its response must be readable there.
        list_height = max(160, int(height * 0.36))
        self.list_detail_splitter.setSizes([list_height, max(200, height - list_height)])

    def _restore_settings(self) -> bool:
        """The layout the user left (True), or False when there is none or it does not fit this screen any more."""
        geometry = self.settings.value("window/geometry")
        restored = False
        if isinstance(geometry, QByteArray):
            restored = self.restoreGeometry(geometry) and self._fits_on_a_screen()
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for key, splitter in (("window/sources", self.main_splitter), ("window/detail", self.list_detail_splitter)):
            value = self.settings.value(key)
            if isinstance(value, QByteArray):
                splitter.restoreState(value)
        return restored

    def _fits_on_a_screen(self) -> bool:
        """Whether the restored geometry lies inside one screen's available area (a laptop after a big monitor)."""
        frame = self.frameGeometry()
        for screen in QGuiApplication.screens():
            if screen.availableGeometry().adjusted(-8, -8, 8, 8).contains(frame):
                return True
        return False

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/sources", self.main_splitter.saveState())
        self.settings.setValue("window/detail", self.list_detail_splitter.saveState())
        if self.model is not None:
            self.settings.setValue("list/columns", self.model.columns)
        self.settings.sync()

    def _stored_columns(self) -> list[str] | None:
        value = self.settings.value("list/columns")
        if isinstance(value, list) and value:
            return [str(v) for v in value if str(v) in COLUMNS]
        return None

    # --- captures --------------------------------------------------------------------------------------------------

    def choose_capture(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open capture", str(Path.home()), CAPTURE_FILTER)
        if path:
            self.open_capture(path)

    def open_capture(self, path: str | Path) -> bool:
        """Show a capture file; a clear message (and the previous capture kept) when it cannot be read."""
        if is_store_url(path):  # postgresql://...?capture=NAME: a local copy that follows the store
            return open_store_capture(self, str(path))
        path = Path(path)
        if self.session is not None and self.session.running:
            self.banner.show_message("Stop the running capture before opening another file.", "warning")
            return False
        try:
            capture = CaptureFile.open(path)
        except (CaptureFormatError, FileNotFoundError, OSError) as error:
            self.banner.show_message(f"Cannot open {path.name}: {error}", "error")
            return False
        self._show_capture(capture)
        self._remember_recent(path)
        return True

    def _show_capture(
        self, capture: CaptureFile, reader: CaptureReader | None = None, index: EventIndex | None = None
    ) -> None:
        # `reader`, `index`: a store capture's reads from the server (qt/window/store_capture.py); else the file's
        self._close_capture()
        self.capture = capture
        self.reader = reader if reader is not None else CaptureReader.open(capture.path)
        self.model = EventTableModel(capture.path, rules=self.colouring_rules(), parent=self, index=index)
        stored = self._stored_columns()
        if stored:
            self.model.set_columns(stored)
        self.model.set_time_format(self.time_menu.current())
        self.detail.set_time_format(self.time_menu.current(), self.model)
        self.table.setModel(self.model)
        self.tail = LiveTail(self.table, self.model, following=self.follow_action.isChecked())
        self.tail.followingChanged.connect(self.follow_action.setChecked)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.model.filterFailed.connect(self._on_model_filter_failed)
        self.model.loadingChanged.connect(self._on_model_loading_changed)
        self.model.rowsLoaded.connect(self._on_model_rows_loaded)
        self.model.modelReset.connect(self._update_status)
        self.model.rowsInserted.connect(self._update_status)
        self._resize_columns()
        self._show_legend()
        self.detail.clear()
        self._selected_event = None
        self.replay_action.setEnabled(False)
        self._last_log_seq = 0
        self.log_view.clear()
        self._rate_samples.clear()
        self.banner.hide()
        text = self.filter_bar.edit.text().strip()
        if text:
            self.apply_filter(text)
        self.file_label.setText(f"  {capture.path}")
        self.setWindowTitle(f"{capture.path.name} — Inspector")
        self._show_empty_state()
        self._on_refresh_timer_timeout(force=True)
        self.captureOpened.emit(str(capture.path))

    def close_files(self) -> None:
        """Close every capture file the window holds (at exit, once the capture session has ended): each closed
        file folds its WAL in, so the file alone holds the whole capture."""
        session, self.session = self.session, None
        self._close_capture()
        if session is not None:
            session.capture.close()

    def _close_capture(self) -> None:
        if self.model is not None:
            self.table.setModel(None)
            self.model.close()
            self.model.deleteLater()
            self.model = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.capture is not None and (self.session is None or self.session.capture is not self.capture):
            self.capture.close()
        self.capture = None
        close_followed(self)

    def _resize_columns(self) -> None:
        if self.model is None:
            return
        widths = {
            "no": 64,
            "time": 100,
            "relative": 90,
            "trigger": 160,
            "table": 90,
            "op": 70,
            "row_key": 260,
            "status": 90,
            "tries": 50,
            "attempts": 70,
            "latency": 90,
            "http_status": 80,
        }
        for column, key in enumerate(self.model.columns):
            self.table.setColumnWidth(column, widths.get(key, 120))

    def colouring_rules(self) -> list[ColourRule]:
        """The user's colouring rules (QSettings), or the defaults."""
        stored = self.settings.value(RULES_KEY)
        if isinstance(stored, str) and stored:
            try:
                return rules_from_json(stored)
            except ColouringError:
                self.banner.show_message("The stored colouring rules could not be read; using the defaults.", "warning")
        return list(DEFAULT_RULES)

    def edit_colouring_rules(self) -> None:
        dark = self.palette().color(self.backgroundRole()).lightness() < 128
        dialog = ColouringDialog(self.model.rules if self.model is not None else self.colouring_rules(), dark, self)
        if dialog.exec():
            self.apply_colouring_rules(dialog.rules())

    def apply_colouring_rules(self, rules: list[ColourRule]) -> None:
        self.settings.setValue(RULES_KEY, rules_to_json(rules))
        if self.model is not None:
            self.model.set_rules(rules)
        self._show_legend()
        broken = [f"{r.name}: {r.error}" for r in rules if r.error]
        if broken:
            self.banner.show_message("Some colouring rules were turned off: " + "; ".join(broken), "warning")

    def _show_legend(self) -> None:
        """The colouring rules as small swatches in the status bar, so a newcomer can read the colours."""
        dark = self.palette().color(self.backgroundRole()).lightness() < 128
        self.legend.set_rules(() if self.model is None else self.model.rules, dark)

    def save_as(self) -> None:
        if self.capture is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save capture as", str(Path.home() / f"capture{CAPTURE_SUFFIX}"), CAPTURE_FILTER
        )
        if not path:
            return
        try:
            save_copy(self.capture, path)
        except (OSError, StoreError) as error:
            self.banner.show_message(f"Could not save {path}: {error}", "error")
            return
        self._remember_recent(Path(path))
        self.statusBar().showMessage(f"Saved {path}", 5000)

    def _export_selection(self, marked: bool) -> tuple[str, list[Any]]:
        assert self.model is not None
        return export_selection(self.model.filter_text, marked)

    def start_export(self, marked: bool) -> None:
        """Export in the background with a progress dialog whose Cancel stops the copy (nothing half-written stays)."""
        if self.capture is None or self.model is None:
            return
        suggestion = str(Path.home() / f"{'marked' if marked else 'displayed'}-events{CAPTURE_SUFFIX}")
        path, chosen = QFileDialog.getSaveFileName(self, "Export events", suggestion, EXPORT_FILTER)
        if not path:
            return
        path = _with_suffix_of(path, chosen)
        if Path(path).suffix.lower() in EXPORT_FORMATS:
            self.export_events(marked, path)
            return
        where, params = self._export_selection(marked)
        if self.session is not None:
            self.session.flush()
        connections: list[Any] = []  # the copy's connection, to interrupt
        progress = QProgressDialog(f"Exporting to {Path(path).name}…", "Cancel", 0, 0, self)
        progress.setWindowTitle("Export events")
        progress.setMinimumDuration(300)

        def cancel() -> None:
            for connection in connections:
                connection.interrupt()

        progress.canceled.connect(cancel)
        source = self.capture.path

        def done(count: Any) -> None:
            progress.reset()
            self.statusBar().showMessage(f"Exported {count} events to {path}", 8000)

        async def export() -> int:
            try:
                return await self.tasks.in_thread(copy_events, source, path, where, params, True, connections.append)
            except StoreOperationalError as error:
                progress.reset()
                if "interrupt" in str(error):
                    raise BackendError("Export cancelled; nothing was written.") from error
                raise BackendError(f"Could not export to {path}: {error}") from error
            except OSError as error:
                progress.reset()
                raise BackendError(f"Could not export to {path}: {error}") from error

        self.tasks.start("export", export(), on_result=done)

    def export_events(self, marked: bool, path: str | None = None) -> int | None:
        """Write the displayed (or marked) events to `path`, in the format its suffix names: `.jsonl` (JSON Lines,
        as `inspector export`), `.har` (one entry per invocation), `.csv` (the list's columns, as shown), anything
        else a new capture file with their invocations. The number of events written, or None."""
        if self.capture is None or self.model is None:
            return None
        if path is None:
            suggestion = str(Path.home() / f"{'marked' if marked else 'displayed'}-events{CAPTURE_SUFFIX}")
            path, chosen = QFileDialog.getSaveFileName(self, "Export events", suggestion, EXPORT_FILTER)
            if not path:
                return None
            path = _with_suffix_of(path, chosen)
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            return self._export_csv(marked, Path(path))
        where, params = self._export_selection(marked)
        if self.session is not None:
            self.session.flush()
        try:
            if suffix in EXPORT_FORMATS:
                count = _export_exchange(self.capture.path, Path(path), where, params, har=suffix == ".har")
            else:
                count = copy_events(self.capture.path, path, where, params, overwrite=True)
        except (OSError, StoreError, FilterError, ExchangeError) as error:
            self.banner.show_message(f"Could not export to {path}: {error}", "error")
            return None
        kind = EXPORT_FORMATS.get(suffix, "an Inspector capture")
        self.statusBar().showMessage(f"Exported {count} events as {kind} to {path}", 8000)
        return count

    def _export_csv(self, marked: bool, path: Path) -> int | None:
        """The list as shown (its columns, in order, as displayed) for the displayed or the marked rows."""
        assert self.model is not None
        model = self.model
        rows = [r for r in range(model.rowCount()) if not marked or model.index(r, 0).data(MARKED_ROLE)]
        headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
        try:
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(["event_id", *headers])
                for row in rows:
                    cells = [model.index(row, c).data() for c in range(model.columnCount())]
                    event_id = model.index(row, 0).data(EVENT_ID_ROLE)
                    writer.writerow([event_id, *("" if cell is None else cell for cell in cells)])
        except OSError as error:
            self.banner.show_message(f"Could not export to {path}: {error}", "error")
            return None
        self.statusBar().showMessage(f"Exported {len(rows)} events as CSV to {path}", 8000)
        return len(rows)

    def _remember_recent(self, path: Path) -> None:
        recent = self.recent_files()
        text = str(path.resolve())
        if text in recent:
            recent.remove(text)
        recent.insert(0, text)
        self.settings.setValue(RECENT_KEY, recent[:RECENT_SIZE])
        self._rebuild_recent_menu()

    def recent_files(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        items = value if isinstance(value, list) else [value] if value else []
        return [str(v) for v in items]

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        if not recent:
            self.recent_menu.addAction("No recent captures").setEnabled(False)
        for text in recent:
            action = self.recent_menu.addAction(text)
            action.triggered.connect(lambda _=False, p=text: self.open_capture(p))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_capture(url.toLocalFile())
                event.acceptProposedAction()
                return

    # --- live capture ----------------------------------------------------------------------------------------------

    def _reload_profiles(self, select: str | None = None) -> None:
        current = select or self.profile_picker.currentText()
        self.profile_picker.clear()
        for name in self.transient_profiles:
            self.profile_picker.addItem(name)
        try:
            stored = self.profiles.list()
        except Exception as error:  # a damaged profiles file must not stop the window
            self.banner.show_message(f"Could not read the connection profiles: {error}", "warning")
            stored = []
        for profile in stored:
            if profile.name not in self.transient_profiles:
                self.profile_picker.addItem(profile.name)
        if self.profile_picker.count() == 0:
            self.profile_picker.addItem("(no profile yet: Capture ▸ New connection profile)")
        index = self.profile_picker.findText(current)
        if index >= 0:
            self.profile_picker.setCurrentIndex(index)

    def add_transient_profile(self, profile: ConnectionProfile, secret: str | None) -> None:
        """A profile for this run only (the demo's sandbox), never saved."""
        self.transient_profiles[profile.name] = (profile, secret)
        self._reload_profiles(select=profile.name)

    def _current_profile(self) -> tuple[ConnectionProfile, str | None] | None:
        name = self.profile_picker.currentText()
        if name in self.transient_profiles:
            return self.transient_profiles[name]
        profile = self.profiles.get(name)
        if profile is None:
            return None
        try:
            secret = resolve_secret(profile, self.secrets, os.environ)
        except NoKeyringError as error:
            self.banner.show_message(str(error), "error")
            return None
        return profile, secret

    def edit_current_profile(self) -> None:
        name = self.profile_picker.currentText()
        self.edit_profile(self.profiles.get(name))

    def edit_profile(self, profile: ConnectionProfile | None) -> None:
        dialog = ConnectionDialog(self.profiles, self.secrets, profile, self, settings=self.settings, tasks=self.tasks)
        if dialog.exec() and dialog.accepted_profile is not None:
            self._reload_profiles(select=dialog.accepted_profile.name)
            self.connect_profile(dialog.accepted_profile, dialog.secret, dialog.subscriptions)

    def toggle_capture(self) -> None:
        if self.session is not None and self.session.running:
            self.stop_capture()
            return
        chosen = self._current_profile()
        if chosen is None:
            self.edit_profile(None)
            return
        self.connect_profile(*chosen)

    def connect_profile(
        self,
        profile: ConnectionProfile,
        secret: str | None,
        subscriptions: tuple[SubscriptionSpec, ...] = (),
        prefix: str = "capture-",
    ) -> None:
        """Start capturing `profile` into a new capture file (named `prefix` + the time) and show it live, with
        `subscriptions` (by default those chosen for the profile in its dialog)."""
        subscriptions = subscriptions or saved_subscriptions(self.settings, profile.name)
        if self.session is not None and self.session.running:
            self.stop_capture()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        directory = self.capture_directory or captures_directory()
        path = directory / f"{prefix}{stamp}{CAPTURE_SUFFIX}"
        counter = 1
        while path.exists():
            counter += 1
            path = directory / f"{prefix}{stamp}-{counter}{CAPTURE_SUFFIX}"
        capture = CaptureFile.create(path)
        session = CaptureProcess(
            profile,
            secret,
            capture,
            CaptureOptions(subscriptions=subscriptions, poll_interval=0.5),
            on_progress=self._on_session_progress,
        )
        self.session = session
        self.session_profile = profile
        self._show_capture(capture)
        self._remember_recent(path)
        self.state_label.setText(f"Connecting to {profile.redacted_endpoint}…")
        self.connect_button.setText("Stop capture")
        self.console.set_connected(True)
        self.captureStarted.emit()

        def finished(_result: Any) -> None:
            self._on_session_ended(None)

        self.tasks.start("capture", session.run(), on_result=finished)
        self._fetch_schema_words(profile, secret)

    def stop_capture(self) -> None:
        if self.session is not None:
            self.session.stop()

    def _on_session_progress(self, progress: CaptureProgress) -> None:
        endpoint = self.session_profile.redacted_endpoint if self.session_profile else ""
        state = {
            "capturing": "Capturing",
            "reconnecting": "Reconnecting to",
            "starting": "Connecting to",
            "stopped": "Stopped:",
        }.get(progress.state, progress.state)
        self.state_label.setText(f"● {state} {endpoint}")
        if progress.state == "reconnecting" and progress.last_error:
            self.state_label.setToolTip(progress.last_error)

    def _on_session_ended(self, error: str | None) -> None:
        self.connect_button.setText("Start capture")
        self.console.set_connected(False)
        self.state_label.setText("Not connected" if error is None else "Capture stopped: error")
        if self.session is not None and self.session.capture is not self.capture:
            self.session.capture.close()
        self.session = None
        self._on_refresh_timer_timeout(force=True)
        self.captureStopped.emit()

    def _on_tasks_task_failed(self, name: str, message: str) -> None:
        if name == "capture":
            self.banner.show_message(f"Capture stopped: {message}", "error")
            self._on_session_ended(message)
        elif name != "schema":
            self.banner.show_message(message, "error")

    def _fetch_schema_words(self, profile: ConnectionProfile, secret: str | None) -> None:
        async def fetch() -> list[str]:
            import aiohttp

            query = "{ __schema { types { name fields { name } } } }"
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    profile.graphql_http_url,
                    json={"query": query},
                    headers=profile.request_headers(secret),
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as answer,
            ):
                body = await answer.json(content_type=None)
            types = ((body or {}).get("data") or {}).get("__schema", {}).get("types", [])
            words = {t["name"] for t in types if not t["name"].startswith("__")}
            words |= {f["name"] for t in types for f in (t.get("fields") or [])}
            return sorted(words)

        self.tasks.start("schema", fetch(), on_result=self.console.editor.set_words)

    def _on_console_run_requested(self, text: str) -> None:
        if self.session is None or not self.session.running:
            self.banner.show_message("Start a capture first: subscriptions are recorded into it.", "warning")
            return
        info = analyse(text)
        self.session.add_subscription(SubscriptionSpec(text, name=info.name))
        self.statusBar().showMessage("Subscription started", 4000)

    # --- list, filter, detail ----------------------------------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        self.filter_bar.set_text(text, apply=False)
        self._on_filter_bar_filter_applied(text)

    def _on_filter_bar_filter_applied(self, text: str) -> None:
        if self.model is None:
            return
        self.model.set_filter(text)
        if not self.model.loading:
            self._forget_hidden_selection()
        self._update_status()

    def _on_model_loading_changed(self, loading: bool) -> None:
        """A progress bar while a large capture or a slow filter loads, with a way out of the filter."""
        self.load_progress.setVisible(loading)
        self.load_cancel.setVisible(loading and bool(self.model is not None and self.model.filter_text))
        if loading:
            self.load_progress.setRange(0, 0)
        else:
            self._forget_hidden_selection()

    def _forget_hidden_selection(self) -> None:
        """The detail pane shows only an event the list shows: one the filter now hides is cleared from it."""
        if self.model is None or self._selected_event is None:
            return
        if self.model.row_for_event_id(self._selected_event) is None:
            self._selected_event = None
            self.replay_action.setEnabled(False)
            self.detail.clear("The selected event is hidden by the display filter.")

    def _on_model_rows_loaded(self, loaded: int, total: int) -> None:
        if total > 0:
            self.load_progress.setRange(0, total)
            self.load_progress.setValue(loaded)
        else:
            self.load_progress.setRange(0, 0)
        self._update_status()

    def _on_model_filter_failed(self, message: str, _start: int, _end: int) -> None:
        self.banner.show_message(f"Filter not applied: {message}", "warning")

    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.model is None or not current.isValid() or self.reader is None:
            return
        event_id = self.model.data(self.model.index(current.row(), 0), EVENT_ID_ROLE)
        if event_id and event_id != self._selected_event:
            self._selected_event = str(event_id)
            self.replay_action.setEnabled(True)
            self.detail.show_event(self.reader, str(event_id))
            self._show_flow_of(str(event_id))

    def _on_sources_operation_selected(self, operation_id: int) -> None:
        self.show_view(SUBSCRIPTIONS_VIEW)
        self.console.select_operation(operation_id)

    def show_view(self, index: int) -> None:
        """Raise one of the central views: EVENTS_VIEW, FLOWS_VIEW, SUBSCRIPTIONS_VIEW or LOG_VIEW."""
        self.views.setCurrentIndex(index)

    def _on_views_current_changed(self, index: int) -> None:
        if index == FLOWS_VIEW:
            self.refresh_analysis()
            if self._selected_event is not None:
                self._show_flow_of(self._selected_event)

    def _show_flow_of(self, event_id: str) -> None:
        """The selected event's flow as a sequence diagram (cheap: a few indexed queries)."""
        if self.reader is None:
            return
        try:
            flow = analysis.flow_for_event(self.reader.connection, event_id)
        except (KeyError, StoreError):
            return
        self.flows.show_flow(flow)
        self.flows.select_event(event_id)

    def refresh_analysis(self) -> None:
        """Analyse the capture in a worker thread (its own connection: a large capture takes seconds) and show the
        service map, timeline and anomalies; also writes the anomaly flags the colouring rules use."""
        if self.capture is None or self.tasks.running("analysis"):
            return
        path = str(self.capture.path)

        def work() -> Any:
            reader = CaptureReader.open(path)
            try:
                report = analysis.analyse(reader.connection)
                analysis.mark_flags(reader.connection, report)
                return report
            finally:
                reader.close()

        self.tasks.start("analysis", self.tasks.in_thread(work), on_result=self._on_analysis_done)

    def _on_analysis_done(self, report: Any) -> None:
        # The timeline is read when its tab asks for it: through the window's own (GUI-thread) connection.
        report.connection = None if self.reader is None else self.reader.connection
        if self.reader is not None:
            self.flows.show_report(report)

    def select_event(self, event_id: str) -> bool:
        if self.model is None:
            return False
        row = self.model.row_for_event_id(event_id)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def choose_event_number(self) -> None:
        """Go ▸ Go to event (Ctrl+G): ask for an event's number, as Wireshark's Go to Packet."""
        if self.model is None or self.model.rowCount() == 0:
            self.statusBar().showMessage("No events to go to", 4000)
            return
        current = self.model.seq_at(self.table.currentIndex().row()) if self.table.currentIndex().isValid() else None
        last = self.model.seq_at(self.model.rowCount() - 1) or 1
        dialog = GoToDialog(1, max(last, self._total_events), current, self)
        if dialog.exec():
            self.go_to_event(dialog.number())

    def go_to_event(self, number: int) -> bool:
        """Select the event numbered `number` (the No. column); says so in the status bar when the display filter
        hides it or the capture has none."""
        if self.model is None:
            return False
        row = self.model.row_for_seq(number)
        if row is None:
            message = f"Event {number:,} is not displayed (no such event, or the filter hides it)"
            self.statusBar().showMessage(message, 6000)
            return False
        if hasattr(self, "tail"):
            self.tail.set_following(False)  # going somewhere means looking at it, not at the newest event
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def set_time_format(self, fmt: TimeFormat) -> None:
        """View ▸ Time display format: the list's Time column and the detail pane's times (kept in settings by the
        menu)."""
        if self.model is not None:
            self.model.set_time_format(fmt)
        self.detail.set_time_format(fmt, self.model)

    def edit_and_replay(self, event_id: str | None = None) -> ReplayDialog | None:
        """Open the editor on `event_id` (default: the selected event) to edit it and replay it to a handler."""
        event_id = event_id or self._selected_event
        if self.capture is None or not event_id:
            return None
        if self.replay_dialog is not None:
            self.replay_dialog.close()
        try:
            dialog = ReplayDialog(self.capture.path, event_id, self.tasks, self)
        except (KeyError, OSError, CaptureFormatError, StoreError) as error:
            self.banner.show_message(f"Cannot edit event {event_id}: {error}", "error")
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.replayed.connect(self._on_replay_dialog_replayed)
        dialog.destroyed.connect(lambda _=None, d=dialog: self._forget_replay_dialog(d))
        self.replay_dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def replay_selected(self) -> BulkReplayDialog | None:
        """Edit ▸ Replay selected events: the selected events, unchanged, each to its trigger's webhook (plan first)."""
        if self.model is None:
            return None
        ids = [str(i.data(EVENT_ID_ROLE)) for i in self.table.selectionModel().selectedRows() if i.data(EVENT_ID_ROLE)]
        if not ids:
            self.statusBar().showMessage("Select the events to replay first", 4000)
            return None
        return self.replay_events(Selection(event_ids=tuple(ids)), f"Replay {counted(len(ids), 'event')}")

    def retry_all_failed(self) -> BulkReplayDialog | None:
        """Edit ▸ Retry all failed: every event Hasura gave up on, as Hookdeck's bulk retry (plan, progress, cancel)."""
        return self.replay_events(Selection(filter=FAILED_FILTER), "Retry all failed events")

    def replay_events(
        self, selection: Selection, title: str, targets: dict[str, str] | None = None
    ) -> BulkReplayDialog | None:
        """The plan for `selection` in a dialog that runs it; `targets` overrides webhooks (trigger or * → URL)."""
        if self.capture is None:
            return None
        if self.session is not None:
            self.session.flush()
        try:
            dialog = BulkReplayDialog(self.capture.path, selection, title, self.tasks, self, targets=targets)
        except (OSError, CaptureFormatError, StoreError, FilterError) as error:
            self.banner.show_message(f"Cannot plan the replay: {error}", "error")
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.replayed.connect(lambda: self._on_refresh_timer_timeout(force=True))
        dialog.show()
        return dialog

    def _forget_replay_dialog(self, dialog: ReplayDialog) -> None:
        if self.replay_dialog is dialog:
            self.replay_dialog = None

    def _on_replay_dialog_replayed(self, event_id: str) -> None:
        """A replay was recorded: show the event (a new variant appears in the list) with its new attempt."""
        self._on_refresh_timer_timeout(force=True)
        self.select_event(event_id)
        if self.reader is not None:
            self._selected_event = event_id
            self.replay_action.setEnabled(True)
            self.detail.show_event(self.reader, event_id)

    def toggle_mark(self) -> None:
        if self.model is None:
            return
        for index in self.table.selectionModel().selectedRows():
            self.model.toggle_mark(index.row())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and hasattr(self, "tail"):
            kind = event.type()
            if kind == QEvent.Type.Enter:
                self.tail.set_held(True)
            elif kind == QEvent.Type.Leave:
                self.tail.set_held(False)
            elif kind == QEvent.Type.MouseButtonPress:
                self.tail.set_following(False)
        return super().eventFilter(watched, event)

    def _toggle_follow(self) -> None:
        if hasattr(self, "tail"):
            self.tail.set_following(self.follow_action.isChecked())

    def _move(self, step: int) -> None:
        if self.model is None or self.model.rowCount() == 0:
            return
        row = max(0, min(self.model.rowCount() - 1, self.table.currentIndex().row() + step))
        self.table.selectRow(row)

    def _move_to(self, row: int) -> None:
        if self.model is None or self.model.rowCount() == 0:
            return
        self.table.selectRow(row if row >= 0 else self.model.rowCount() - 1)

    def _on_table_context_menu_requested(self, position: Any) -> None:
        index = self.table.indexAt(position)
        if self.model is None or not index.isValid():
            return
        menu = QMenu(self)
        menu.addAction("Mark / unmark (Ctrl+M)", self.toggle_mark)
        event_id = self.model.data(self.model.index(index.row(), 0), EVENT_ID_ROLE)
        row = self.model.row_dict(index.row()) if hasattr(self.model, "row_dict") else None
        if row:
            for field, key in (("trigger", "trigger_name"), ("row_key", "row_key"), ("status", "status")):
                value = row.get(key)
                if value is not None:
                    expression = f"{field} == {_quote(str(value))}"
                    action = menu.addAction(f"Filter: {expression}")
                    action.triggered.connect(lambda _=False, e=expression: self.apply_filter(e))
        if event_id:
            menu.addAction("Copy event id", lambda: self._copy(str(event_id)))
            menu.addAction("Edit and replay… (Ctrl+R)", lambda: self.edit_and_replay(str(event_id)))
        menu.exec(self.table.viewport().mapToGlobal(position))

    def _copy(self, text: str) -> None:
        from PySide6.QtWidgets import QApplication

        QApplication.clipboard().setText(text)

    def _on_header_context_menu_requested(self, position: Any) -> None:
        self.columns_menu.exec(self.table.horizontalHeader().mapToGlobal(position))

    def _rebuild_columns_menu(self) -> None:
        self.columns_menu.clear()
        shown = self.model.columns if self.model is not None else (self._stored_columns() or [])
        for key, column in COLUMNS.items():
            action = self.columns_menu.addAction(column.header)
            action.setCheckable(True)
            action.setChecked(key in shown)
            action.toggled.connect(lambda checked, k=key: self._set_column_shown(k, checked))

    def _set_column_shown(self, key: str, shown: bool) -> None:
        if self.model is None:
            return
        columns = list(self.model.columns)
        if shown and key not in columns:
            order = list(COLUMNS)
            columns.append(key)
            columns.sort(key=order.index)
        elif not shown and key in columns and len(columns) > 1:
            columns.remove(key)
        self.model.set_columns(columns)
        self.settings.setValue("list/columns", columns)
        self._resize_columns()

    # --- refreshing --------------------------------------------------------------------------------------------

    def _on_refresh_timer_timeout(self, force: bool = False) -> None:
        self._tick += 1
        if self.model is not None:
            self.model.refresh()
        slow = force or self._tick % 4 == 0
        changed = False
        if self.reader is not None:
            try:
                version = self.reader.data_version()
                if force or version != self._data_version:  # count again only when someone wrote
                    self._data_version = version
                    self._total_events = self.reader.event_count()
                    changed = True
            except StoreError:
                return
        flows_shown = self.views.currentIndex() == FLOWS_VIEW
        if self._tick % 20 == 0 and flows_shown and self._data_version != self._analysed_version:
            self._analysed_version = self._data_version
            self.refresh_analysis()
        if (changed or slow) and self.reader is not None:
            # At every tick that brought something: the tree reads only what was written since its last refresh, so
            # small steps keep each one short while a capture grows fast.
            self.sources.refresh(self.reader)
        if slow and self.reader is not None:
            self.console.refresh(self.reader)
            self._append_log()
            self._rate_samples.append((time.monotonic(), self._total_events))
            self._show_empty_state()
        self._update_status()

    def _append_log(self) -> None:
        assert self.reader is not None
        for entry in self.reader.session_log(self._last_log_seq, limit=500):
            stamp = time.strftime("%H:%M:%S", time.localtime(entry.at))
            self.log_view.appendPlainText(f"{stamp}  {entry.level:<7} {entry.source}: {entry.message}")
            self._last_log_seq = entry.seq

    def _update_status(self, *_args: Any) -> None:
        if self.model is None:
            self.displayed_label.setText("No capture open")
            self.rate_label.setText("")
            return
        displayed = self.model.rowCount()
        suffix = " (loading…)" if getattr(self.model, "loading", False) else ""
        self.displayed_label.setText(f"Displayed: {displayed:,} of {self._total_events:,}{suffix}")
        if len(self._rate_samples) >= 2 and self.session is not None:
            (t0, n0), (t1, n1) = self._rate_samples[0], self._rate_samples[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
            self.rate_label.setText(f"{rate:.1f} events/s  ")
        else:
            self.rate_label.setText("")

    def _show_empty_state(self) -> None:
        if self.capture is None:
            self.empty_hint.setText(
                "<h3>No capture open</h3><p>Start a capture with <b>Start capture</b> (Ctrl+E) to record a backend's "
                "event triggers, invocations and subscriptions, or open a capture file (Ctrl+O, or drop it here).</p>"
            )
            self.empty_hint.show()
            self.table.hide()
        elif self._total_events == 0 and (self.model is None or self.model.rowCount() == 0):
            waiting = self.session is not None and self.session.running
            self.empty_hint.setText(
                "<p>Waiting for events… they appear here as the backend's triggers fire.</p>"
                if waiting
                else "<p>This capture holds no events.</p>"
            )
            self.empty_hint.show()
            self.table.show()
        else:
            self.empty_hint.hide()
            self.table.show()

    def show_filter_reference(self) -> FilterReferenceWindow:
        """Help ▸ Display filter reference (F1): every field, operator and an example to click."""
        if getattr(self, "filter_reference", None) is None:
            self.filter_reference = FilterReferenceWindow(self)
            self.filter_reference.filterRequested.connect(self.apply_filter)
        self.filter_reference.show()
        self.filter_reference.raise_()
        return self.filter_reference

    def show_shortcuts(self) -> ShortcutsWindow:
        """Help ▸ Keyboard shortcuts, listed from the menus' actions."""
        window = ShortcutsWindow(shortcut_rows(self.findChildren(QAction)), self)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.show()
        return window

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Inspector",
            f"<h3>Inspector {__version__}</h3><p>A debugger for event-driven 3factor backends: "
            "Hasura event triggers, their invocations and subscriptions.</p>",
        )

    # --- the relay (`inspector demo --relay`) ---------------------------------------------------------------------

    def start_relay(self) -> None:
        """Relay > Start relay…: ask where to listen and route (`inspector.qt.relay.start_dialog`), start the relay in
        this process and dock its Breakpoints panel."""
        from inspector.qt.relay.start_dialog import RelayStartDialog, start_relay

        dialog = RelayStartDialog(self)
        if dialog.exec() != RelayStartDialog.DialogCode.Accepted or dialog.settings is None:
            return
        settings = dialog.settings

        def started(running: Any) -> None:
            self.relay = running
            self.statusBar().showMessage(f"Relay listening on {running.relay.base_url}", 10000)

        self.tasks.start("relay", start_relay(self, settings), started)  # a failure: the window's taskFailed message

    def add_breakpoints_panel(self, breakpoints: Any, rules: list[Any]) -> Any:
        """Dock the relay's Breakpoints panel (`inspector.qt.relay.breakpoints_panel`); detached when the window
        closes, so held deliveries continue."""
        from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea

        from inspector.qt.relay.breakpoints_panel import BreakpointsPanel

        self.breakpoints_panel = BreakpointsPanel(breakpoints, rules, self)
        dock = QDockWidget("Breakpoints", self)
        dock.setObjectName("breakpoints_dock")
        # In a scroll area: the panel's own minimum height (about 330 px) pushed the window past a 1366x768 screen,
        # status bar and all. The dock starts at a quarter of the window; drag it taller or float it to work on a held
        # delivery.
        scroll = QScrollArea(dock)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.breakpoints_panel)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [max(180, self.height() // 4)], Qt.Orientation.Vertical)
        return self.breakpoints_panel

    # --- closing -----------------------------------------------------------------------------------------------

    def confirm_quit(self) -> bool:
        """During a live capture, ask before closing (the capture stops; its file is kept). True: close."""
        if self.session is None or not self.session.running or self.capture is None:
            return True
        answer = QMessageBox.question(
            self,
            "Quit Inspector",
            f"A capture is running. Stop it and quit?\n\nWhat it recorded stays in {self.capture.path}.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.quitting and not self.confirm_quit():
            event.ignore()
            return
        if getattr(self, "breakpoints_panel", None) is not None:
            self.breakpoints_panel.detach()  # held deliveries continue with their original behaviour
        self._save_settings()
        if self.session is not None:
            self.session.stop()
        self.refresh_timer.stop()
        super().closeEvent(event)
        self.windowClosed.emit()


def _with_suffix_of(path: str, chosen_filter: str) -> str:
    """`path`, given the suffix of the chosen file type when the user typed a name without one."""
    if Path(path).suffix:
        return path
    for suffix in (*EXPORT_FORMATS, CAPTURE_SUFFIX):
        if f"*{suffix})" in chosen_filter:
            return path + suffix
    return path + CAPTURE_SUFFIX


def _export_exchange(source: Path, path: Path, where: str, params: list[Any], *, har: bool) -> int:
    """The selected events as JSON Lines or HAR (as `inspector export` writes them): copied to a temporary capture
    first, then written out; returns the number of events."""
    with tempfile.TemporaryDirectory(prefix="inspector-export-") as folder:
        selected = Path(folder) / "selected.inspector"
        count = copy_events(source, selected, where, params)
        capture = CaptureFile.open(selected)
        try:
            with path.open("w", encoding="utf-8", newline="\n") as out:
                (export_har if har else export_jsonl)(capture, out)
        finally:
            capture.close()
    return count


def _quote(text: str) -> str:
    import json

    return json.dumps(text)
