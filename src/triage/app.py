"""The triage web app (FastAPI): pages, HTML fragments, the SSE stream and the action API.

Routes::

    GET  /                  the queue page (filters in the query string)
    GET  /fragments/live    stats + incident banner + queue, re-fetched on every change
    GET  /events            server-sent events: ``change`` whenever the store changed
    POST /api/actions/{a}   claim | release | resolve | snooze | not_complaint | reopen
    POST /api/feedback      a label correction
    GET  /api/queue         the queue as JSON (for scripts, with the token)
    GET  /report            the brand report
    GET|POST /login         token mode only

Security: Jinja autoescape on every template, only http(s) post links become links, a
strict Content-Security-Policy (scripts and styles from /static only, no inline
script), no-referrer, no framing, and the token never appears in a page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from klachtradar.contract import Cue, Intent, Priority, Sentiment
from klachtradar.errors import KlachtradarError
from klachtradar.settings import TriageSettings
from triage.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Authenticator,
    Identity,
    actor,
    session_value,
)
from triage.clock import Clock
from triage.feedback import FeedbackStore
from triage.live import ChangeFeed
from triage.templating import PACKAGE_DIR, templates
from triage.views import card_view, epoch_ms, format_duration
from triage.workflow import ACTIVE, STATUSES, QueueFilter, Workflow, WorkflowError

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_PUBLIC = ("/static/", "/login", "/healthz")


class ActionBody(BaseModel):
    doc_id: str = Field(min_length=1, max_length=600)
    minutes: float | None = None
    responded_at: datetime | None = None
    note: str = Field(default="", max_length=2000)


class FeedbackBody(BaseModel):
    doc_id: str = Field(min_length=1, max_length=600)
    sentiment: Sentiment
    intent: Intent
    cues: list[Cue] = Field(default_factory=list)


def dutch_validation_error(errors: Sequence[Any]) -> str:
    """A refused request body in words an agent reads: which field, not pydantic's
    English ("Input should be …")."""
    fields = sorted(
        {".".join(str(p) for p in e.get("loc", ()) if p != "body") or "verzoek" for e in errors}
    )
    return "ongeldig verzoek: controleer " + ", ".join(fields)


def parse_filter(params: dict[str, str], limit: int) -> QueueFilter:
    """Query-string filters to a :class:`QueueFilter`; unknown values are ignored."""
    priorities = tuple(
        Priority(p) for p in params.get("priority", "").split(",") if p in Priority.__members__
    )
    intent_raw = params.get("intent", "")
    status_raw = params.get("status", "active")
    if status_raw == "all":
        statuses: tuple[Any, ...] = ()
    elif status_raw in STATUSES:
        statuses = (status_raw,)
    else:
        statuses = ACTIVE
    return QueueFilter(
        brand=params.get("brand") or None,
        priorities=priorities,
        intent=Intent(intent_raw) if intent_raw in {i.value for i in Intent} else None,
        statuses=statuses,
        text=(params.get("q") or "")[:200] or None,
        limit=limit,
    )


class TriageApp:
    """The app's parts, wired once: used by the routes below."""

    def __init__(
        self,
        settings: TriageSettings,
        workflow: Workflow,
        feedback: FeedbackStore,
        feed: ChangeFeed,
        clock: Clock,
        *,
        report_view: Callable[[dict[str, str]], str] | None = None,
        demo: bool = False,
        on_startup: Callable[[], None] | None = None,
        on_shutdown: Callable[[], None] | None = None,
        notice: Callable[[], str | None] | None = None,
        served_model: Callable[[], str] | None = None,
        demo_done: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.workflow = workflow
        self.feedback = feedback
        self.feed = feed
        self.clock = clock
        self.sla = workflow.sla
        self.auth = Authenticator(settings)
        self.env = templates(settings.timezone)
        self.zone = ZoneInfo(settings.timezone)
        self.report_view = report_view
        self.demo = demo
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.notice = notice
        self.served_model = served_model
        """``name@version`` the pipeline serves, asked per page (a promotion shows on reload)."""
        self.demo_done = demo_done

    def live_context(self, params: dict[str, str]) -> dict[str, Any]:
        flt = parse_filter(params, self.settings.queue_limit)
        queue = self.workflow.queue_page(flt)
        items = queue.items
        now = self.clock.now()
        corrections = self.feedback.for_posts([item.post.doc_id for item in items])
        escalations = self.workflow.escalations([item.post.doc_id for item in items])
        cards = [
            card_view(
                item,
                now=now,
                sla=self.sla,
                arrived_ms=self.feed.arrival_ms(item.post.doc_id),
                correction=corrections.get(item.post.doc_id),
                zone=self.zone,
                escalation=escalations.get(item.post.doc_id),
            )
            for item in items
        ]
        return {
            "cards": cards,
            "total": queue.conversations,
            "posts_total": queue.posts,
            "stats": self.workflow.stats(),
            "incidents": self.workflow.open_incidents(),
            "now": now,
            "now_ms": epoch_ms(now),
            "read_only": self.settings.read_only,
            "amber": self.settings.amber_fraction,
            "notice": self.notice() if self.notice is not None else None,
        }

    def page_context(self, params: dict[str, str]) -> dict[str, Any]:
        return {
            **self.live_context(params),
            "brands": self.workflow.brands(),
            "params": params,
            "priorities": [p.value for p in Priority],
            "intents": [i.value for i in Intent],
            "sentiments": [s.value for s in Sentiment],
            "cue_names": [c.value for c in Cue],
            "statuses": ["active", *STATUSES, "all"],
            "auth_mode": self.settings.auth,
            "demo": self.demo,
            "served_model": self.served_model() if self.served_model is not None else None,
            "sla_rows": [
                (p.value, format_duration(t) if (t := self.sla.target(None, p)) else "geen")
                for p in Priority
            ],
        }

    def render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**context)


def create_app(triage: TriageApp) -> FastAPI:
    """The FastAPI application; the live feed runs as a task of its event loop."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(triage.feed.run())
        if triage.on_startup is not None:
            triage.on_startup()  # e.g. the demo replay, once the live feed listens
        try:
            yield
        finally:
            if triage.on_shutdown is not None:
                triage.on_shutdown()  # e.g. the Elasticsearch sync thread
            triage.feed.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="klachtradar triage",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.triage = triage
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        identity = triage.auth.identify(dict(request.headers), dict(request.cookies))
        if identity is None and not path.startswith(_PUBLIC):
            response = _unauthenticated(triage, request)
        elif (
            request.method == "POST"
            and path.startswith("/api/")
            and not request.headers.get(CSRF_HEADER)
        ):
            response = JSONResponse(
                {"error": "verzoek geweigerd: de X-Klachtradar-Request-header ontbreekt"}, 403
            )
        else:
            request.state.identity = identity or Identity(None)
            response = await call_next(request)
        _secure(response)
        return response

    _page_routes(app, triage)
    _api_routes(app, triage)
    return app


def _unauthenticated(triage: TriageApp, request: Request) -> Response:
    if triage.auth.mode == "basic":
        return Response(
            "inloggen vereist",
            401,
            headers={"WWW-Authenticate": 'Basic realm="klachtradar", charset="UTF-8"'},
        )
    if request.url.path.startswith(("/api/", "/events", "/fragments/")):
        return JSONResponse({"error": "inloggen vereist"}, 401)
    return RedirectResponse("/login", 303)


def _secure(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")


def _page_routes(app: FastAPI, triage: TriageApp) -> None:
    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> str:
        return triage.render("index.html", triage.page_context(dict(request.query_params)))

    @app.get("/fragments/live", response_class=HTMLResponse)
    def live(request: Request) -> str:
        return triage.render("_live.html", triage.live_context(dict(request.query_params)))

    @app.get("/report", response_class=HTMLResponse)
    def report(request: Request) -> str:
        if triage.report_view is None:
            raise HTTPException(404, "geen rapport beschikbaar")
        return triage.report_view(dict(request.query_params))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Up; with a demo replay also whether it has played to the end (tests wait on it)."""
        if triage.demo_done is None:
            return {"status": "ok"}
        return {"status": "ok", "demo": "done" if triage.demo_done() else "running"}

    @app.get("/login", response_class=HTMLResponse)
    def login_form() -> str:
        return triage.render("login.html", {"error": False})

    @app.post("/login", response_model=None)
    async def login(request: Request) -> Response:
        body = (await request.body())[:4096].decode("utf-8", errors="replace")
        given = parse_qs(body).get("token", [""])[0]  # no multipart dependency for one field
        if triage.auth.mode != "token" or not triage.auth.token_matches(given):
            return HTMLResponse(triage.render("login.html", {"error": True}), 401)
        response = RedirectResponse("/", 303)
        response.set_cookie(
            SESSION_COOKIE,
            session_value(triage.settings.token),
            httponly=True,
            samesite="strict",
            max_age=12 * 3600,
        )
        return response

    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        queue = triage.feed.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\nevent: hello\ndata: {}\n\n"
                while not triage.feed.closed:
                    try:
                        change = await asyncio.wait_for(queue.get(), timeout=15.0)
                    except TimeoutError:
                        if await request.is_disconnected():
                            break
                        yield ": keep-alive\n\n"
                        continue
                    if change is None:
                        break
                    yield change.as_sse()
            finally:
                triage.feed.unsubscribe(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _api_routes(app: FastAPI, triage: TriageApp) -> None:
    def who(request: Request) -> str:
        if triage.settings.read_only:
            raise HTTPException(403, "alleen lezen: acties staan uit")
        name = actor(request.state.identity, dict(request.headers))
        if name is None:
            raise HTTPException(400, "vul eerst je naam in (rechtsboven, bij Agent)")
        return name

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": dutch_validation_error(exc.errors())}, 422)

    @app.exception_handler(WorkflowError)
    async def workflow_error(_: Request, exc: WorkflowError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 404 if exc.not_found else 409)

    @app.exception_handler(KlachtradarError)
    async def klachtradar_error(_: Request, exc: KlachtradarError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 400)

    @app.post("/api/actions/{action}")
    def act(action: str, body: ActionBody, request: Request) -> dict[str, Any]:
        user = who(request)
        wf = triage.workflow
        if action == "claim":
            item = wf.claim(body.doc_id, user)
        elif action == "release":
            item = wf.release(body.doc_id, user)
        elif action == "resolve":
            responded = body.responded_at
            if responded is not None and responded.tzinfo is None:  # the form's wall time
                responded = responded.replace(tzinfo=triage.zone)
            item = wf.resolve(body.doc_id, user, responded_at=responded, note=body.note)
        elif action == "snooze":
            item = wf.snooze(body.doc_id, user, body.minutes or 60.0)
        elif action == "not_complaint":
            item = wf.not_complaint(body.doc_id, user)
        elif action == "reopen":
            item = wf.reopen(body.doc_id, user)
        else:
            raise HTTPException(404, f"onbekende actie {action!r}")
        triage.feed.notify()
        return {"doc_id": body.doc_id, "status": item.status, "assignee": item.assignee}

    @app.post("/api/feedback")
    def feedback(body: FeedbackBody, request: Request) -> dict[str, Any]:
        user = who(request)
        correction = triage.feedback.correct(
            triage.workflow,
            body.doc_id,
            user,
            sentiment=body.sentiment,
            intent=body.intent,
            cues=body.cues,
        )
        triage.feed.notify()
        return correction.training_record()

    @app.get("/api/queue")
    def queue(request: Request) -> dict[str, Any]:
        flt = parse_filter(dict(request.query_params), triage.settings.queue_limit)
        queue = triage.workflow.queue_page(flt)
        items = queue.items
        return {
            "total": queue.posts,
            "conversations": queue.conversations,
            "now": triage.clock.now().isoformat(),
            "posts": [
                {
                    "doc_id": i.post.doc_id,
                    "status": i.status,
                    "assignee": i.assignee,
                    "priority": i.post.risk.priority.value,
                    "risk": i.post.risk.score,
                    "brands": i.post.brand_names,
                    "author": i.post.post.author.handle,
                    "created_at": i.post.post.created_at.isoformat(),
                    "responded_at": i.responded_at.isoformat() if i.responded_at else None,
                    "first_response_minutes": (
                        i.post.response.first_response_minutes if i.post.response else None
                    ),
                    "reasons": i.post.risk.reasons,
                    "also_open": i.also_open,
                }
                for i in items
            ],
        }

    @app.get("/api/posts/history")
    def history(doc_id: str) -> list[dict[str, Any]]:
        return [
            {"action": a.action, "user": a.user, "at": a.at.isoformat(), "detail": a.detail}
            for a in triage.workflow.history(doc_id)
        ]


__all__ = ["CSP", "TriageApp", "create_app", "parse_filter"]
