"""The dashboard's form bodies: bounded, strict, several values per name allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request

from service.errors import InvalidRequest, UnsupportedMediaType
from service.store.stk import (
    ADMIN_SCOPE,
    DEFAULT_EXPIRY,
    NEVER,
    TokenInputError,
    check_name,
    check_scopes,
    parse_expiry,
)
from service.web.http import FORM_TYPE, form_pairs, read_body

#: The largest form: a name, every scope's checkbox, an expiry and two hidden fields.
MAX_FORM = 8192
MAX_FIELDS = 64
#: The Add-token form's expiry choices, as shown (DEFAULT_EXPIRY preselected).
EXPIRY_CHOICES = {
    "7d": "7 days",
    "30d": "30 days",
    "90d": "90 days",
    "1y": "1 year",
    NEVER: "Never",
}

Form = Mapping[str, Sequence[str]]


async def read_form(request: Request, *, timeout: float) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body; 413 over 8 KiB, 415 for others."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = await read_body(request.scope, request.receive, timeout=timeout, limit=MAX_FORM)
    if kind != FORM_TYPE and (kind or body):
        # (No type and no body is an empty form: it then fails its CSRF check, 403.)
        raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The form is not valid UTF-8.") from exc
    form: dict[str, list[str]] = {}
    for name, value in form_pairs(text, MAX_FIELDS):
        form.setdefault(name, []).append(value)
    return form


def single(form: Form, name: str) -> str:
    """The one value of ``name``, or "" when absent or repeated."""
    values = form.get(name, [])
    return values[0] if len(values) == 1 else ""


@dataclass
class NewToken:
    """The Add-token form: what was typed, and what is wrong with it, by field."""

    name: str = ""
    scopes: list[str] = field(default_factory=list)
    expires: str = DEFAULT_EXPIRY
    #: The box that confirms an ``admin`` token (it can do all this dashboard does).
    confirm_admin: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, form: Form, allowed: Sequence[str]) -> NewToken:
        values = cls(name=single(form, "name")[:200], scopes=list(form.get("scope", [])))
        values.expires = single(form, "expires")
        values.confirm_admin = single(form, "confirm_admin") == "on"
        try:
            check_name(values.name)
        except TokenInputError as exc:
            values.errors["name"] = exc.message
        try:
            check_scopes(values.scopes, (*allowed, ADMIN_SCOPE))
        except TokenInputError as exc:
            values.errors["scope"] = exc.message
        if ADMIN_SCOPE in values.scopes and not values.confirm_admin:
            values.errors["admin"] = (
                "tick the confirmation: an admin token can do everything this dashboard does"
            )
        if values.expires not in EXPIRY_CHOICES:
            values.errors["expires"] = "choose one of the listed lifetimes"
            values.expires = DEFAULT_EXPIRY
        return values

    @property
    def expires_in(self) -> int | None:
        return parse_expiry(self.expires)
