"""`inspector relay`: Inspector in the delivery path, between the engine (Hasura, or the sandbox's delivery worker)
and the handlers, with fault rules and breakpoints on real deliveries.

By job:

- `server`: the aiohttp relay (`Relay`, `RelayConfig`): routes `TRIGGER=URL`, forwards each delivery unchanged
  (hop-by-hop headers aside) and returns the handler's answer, so the engine's own retries apply; records every
  delivery through `inspector.store.relay_records`;
- `rules`: `FILTER -> ACTION` fault rules (the display filter, evaluated in memory on the delivery; actions `respond`,
  `delay`, `duplicate`, `drop`, `edit`, `pass`; `--times N`);
- `breakpoints`: filters that hold a matching delivery until a user (the window's Breakpoints panel, or a test)
  decides: Continue, Edit and continue, Respond, Delay, Drop, Continue all; a held delivery never blocks others and
  is released with its original behaviour when its user goes away;
- `rewire`: point triggers' webhooks at the relay through the metadata API and put them back (`--rewire`,
  `--restore CAPTURE`).

GUI-free: `inspector relay`, `inspector demo --relay`, the window and `benchmarks/relay.py` drive it.
"""

from inspector.services.relay.breakpoints import CONTINUE, Breakpoint, Breakpoints, Decision, HeldDelivery
from inspector.services.relay.rules import Rule, RuleError, parse_action, parse_duration, parse_rule
from inspector.services.relay.server import Outcome, Relay, RelayConfig, RouteRefused, check_routes

__all__ = [
    "CONTINUE",
    "Breakpoint",
    "Breakpoints",
    "Decision",
    "HeldDelivery",
    "Outcome",
    "Relay",
    "RelayConfig",
    "RouteRefused",
    "Rule",
    "RuleError",
    "check_routes",
    "parse_action",
    "parse_duration",
    "parse_rule",
]
