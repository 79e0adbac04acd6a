"""The runtime: what composes the stages and runs them, in one process or over Kafka.

The pipeline and its runners, the transports (in-memory, Kafka), the long-running
``listen``/``process``/``index`` loops and their CLI, the dead-letter tooling, metrics
and readiness. Stages never import it; see ``docs/architecture.md``.
"""
