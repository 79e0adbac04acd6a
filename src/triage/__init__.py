"""The webcare triage web app: live queue, workflow, SLA timers, label feedback, report.

Reads the embedded SQLite store the pipeline writes (``sink.store``) and keeps its own
tables (actions, workflow state, label feedback) in the same file. Heavy web libraries
are imported only by :mod:`triage.app` and :mod:`triage.report_html`.
"""
