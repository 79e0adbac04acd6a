"""Alerts that reach people: Slack, Microsoft Teams, e-mail and signed webhooks.

An edge, like :mod:`sink`: it takes the contract's :class:`~klachtradar.contract.Alert`
and turns it into messages a webcare team reads where it already is. The pieces:

* :mod:`notify.message` — the Dutch message of an alert (text, author and reach, risk
  and reasons, waiting time, the link to the card);
* :mod:`notify.channels` — one interface (:class:`~notify.channels.Channel`), four
  implementations, one error type that says whether a retry can help;
* :mod:`notify.outbox` — the SQLite outbox: what must still be sent, what was sent,
  dedup and thread state, so a restart loses nothing and sends nothing twice;
* :mod:`notify.dispatch` — routing, dedup, rate limits with a digest, quiet hours,
  threads, delivery with backoff and dead letters, and the escalation ladder.
"""
