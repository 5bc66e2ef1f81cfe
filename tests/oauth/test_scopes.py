"""Scope selection (RFC 6749 §3.3) and audience/resource (RFC 8707)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidRequest
from service.oauth.errors import InvalidScope, InvalidTarget
from service.oauth.scopes import select_audience, select_scope
from tests import strategies

ALLOWED = ("profiles:read", "profiles:write", "orders:read")
AUDIENCES = ("https://api.acme.example", "https://loyalty.acme.example", "crm-api")

allowed_lists = st.lists(strategies.scope_names, min_size=1, max_size=6, unique=True).map(tuple)


@st.composite
def requests(draw: st.DrawFn, allowed: tuple[str, ...]) -> str | None:
    """Anything a client may send: nothing, *, allowed names, strangers, odd spacing."""
    names = st.one_of(st.sampled_from(allowed), strategies.scope_names, st.just("*"))
    shape = draw(st.sampled_from(["absent", "star", "names", "text"]))
    if shape == "absent":
        return None
    if shape == "star":
        return "*"
    if shape == "names":
        return " ".join(draw(st.lists(names, min_size=1, max_size=8)))
    return draw(st.text(max_size=40))


@given(data=st.data(), allowed=allowed_lists)
def test_the_chosen_scope_is_always_a_subset_of_the_allowed(
    data: st.DataObject, allowed: tuple[str, ...]
) -> None:
    requested = data.draw(requests(allowed))
    try:
        chosen = select_scope(requested, allowed)
    except InvalidScope:
        # Refused only when something outside `allowed` (or malformed) was asked for.
        assert requested is not None and requested != "*"
        assert not set(requested.split(" ")) <= set(allowed)
        return
    granted = chosen.split(" ")
    assert set(granted) <= set(allowed)
    assert len(granted) == len(set(granted))
    if requested is None or requested == "*":
        assert granted == list(allowed)
    else:
        assert set(granted) == set(requested.split(" "))


def test_absent_and_star_grant_everything_in_configured_order() -> None:
    assert select_scope(None, ALLOWED) == "profiles:read profiles:write orders:read"
    assert select_scope("*", ALLOWED) == "profiles:read profiles:write orders:read"


def test_a_subset_comes_back_in_configured_order_without_duplicates() -> None:
    assert select_scope("orders:read profiles:read orders:read", ALLOWED) == (
        "profiles:read orders:read"
    )


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("admin", "may not have `admin`"),
        ("profiles:read admin", "`admin`"),
        ("* profiles:read", r"or \* alone"),
        ("profiles:read  orders:read", "space-separated"),
        (" profiles:read", "space-separated"),
        ("profiles:read\torders:read", "space-separated"),
        ('say"hi', "space-separated"),
        ("é", "space-separated"),
        ("x" * 65, "a requested scope"),
    ],
)
def test_refused_scopes(requested: str, message: str) -> None:
    with pytest.raises(InvalidScope, match=message):
        select_scope(requested, ALLOWED)


def test_audience_defaults_to_the_first() -> None:
    assert select_audience(None, None, AUDIENCES) == "https://api.acme.example"


def test_audience_or_resource_picks_an_allowed_one() -> None:
    assert select_audience("crm-api", None, AUDIENCES) == "crm-api"
    assert select_audience(None, "https://loyalty.acme.example", AUDIENCES) == (
        "https://loyalty.acme.example"
    )
    same = "https://loyalty.acme.example"
    assert select_audience(same, same, AUDIENCES) == same


@pytest.mark.parametrize(
    ("audience", "resource"),
    [
        ("https://evil.example", None),
        (None, "https://evil.example"),
        (None, "https://api.acme.example/"),  # exact match only
        (None, "crm-api"),  # RFC 8707 §2: a resource is an absolute URI
        (None, "https://api.acme.example#frag"),
    ],
)
def test_a_target_the_client_may_not_have_is_invalid_target(
    audience: str | None, resource: str | None
) -> None:
    with pytest.raises(InvalidTarget):
        select_audience(audience, resource, AUDIENCES)


def test_two_different_values_are_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        select_audience("crm-api", "https://api.acme.example", AUDIENCES)
