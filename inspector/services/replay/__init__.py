"""Replay: send captured events (or edited variants) again, record every attempt, and judge what came back.

The flow, one way down and one way back:

1. The caller (`inspector replay` in `inspector.cli.replay`, or the replay dialog) turns its options into
   `plan.PlanOptions` and a `loader.Selection`, and asks `loader.load_plan` for a plan.
2. `loader.load_plan` reads the capture once, through `inspector.store.replay_records.read_replay_source` (the
   selected events, what Hasura recorded for them, the trigger snapshot, the captured server's version), and builds
   the plan with the pure `plan.build_plan`: targets, orderings, checks, hosts, errors and warnings. Nothing is sent.
3. The caller shows the plan (`ReplayPlan.describe`), checks consent for remote hosts, and runs it with
   `runner.ReplayRunner(capture, plan, ...).run()`. The runner sends (`inspector.backends`: webhook sender, metadata
   API, GraphQL over HTTP), records every attempt and the run's note through `inspector.store.replay_records`
   (`ReplayRecorder`, `save_run_note`) and judges the answers with `plan`'s judges into a `plan.ReplayReport`.
4. The caller renders the report: `report.junit_xml` and `report.html_report`.

Modules: `plan` (pure: plan model, judging, report model), `loader` (capture → plan), `runner` (plan → attempts and
report), `report` (report → JUnit XML or HTML). Importing this package imports none of them: `inspector replay`'s
flags must stay cheap to build.
"""
