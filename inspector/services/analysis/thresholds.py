"""`Thresholds`: what counts as an anomaly. Read by every detector (`detectors/`), the flows and `inspector stats`
(its `--threshold NAME=VALUE` options are these fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """What counts as an anomaly; see the package docstring for the definitions."""

    pending_s: float = 60.0
    """Not delivered this long after creation (before the capture's last activity): pending too long."""
    cold_start_idle_s: float = 30.0
    """Idle time after which a handler may be cold (the sandbox's default; AWS Lambda keeps functions a few minutes)."""
    cold_start_factor: float = 3.0
    """A cold start's first attempt takes more than this many times the warm median."""
    cold_start_min_ms: float = 500.0
    """A cold start must also be this much slower than the warm median (absolute floor)."""
    cold_start_baseline: int = 200
    """The warm median is taken over up to this many events of the trigger."""
    cold_start_min_samples: int = 3
    """Fewer warm events than this before an event: the median is taken over those after it."""
    near_timeout_ratio: float = 0.8
    """An attempt taking this share of the trigger's `timeout_sec` breaks the handler's contract."""
    default_timeout_s: float = 60.0
    """Hasura's default `timeout_sec`, used when the capture holds no trigger snapshot."""
    max_anomalies_per_kind: int = 500
    """How many anomalies of each kind `AnalysisReport.anomalies` keeps (counts are always exact)."""
    flow_message_window_s: float = 30.0
    """Subscription messages this long after a flow's last step still belong to it."""
