"""The Keys page's states: signing, published (not yet signing), retired, and when each changes."""

from __future__ import annotations

from service.admin.keys import key_states
from service.signing import keys

T0 = 1_800_000_000.0


def test_a_rotation_moves_each_key_through_its_states() -> None:
    old = keys.generate("ES256", created=T0)
    new = keys.generate("ES256", created=T0 + 1000)
    ring = keys.KeyRing([new, old], window=600, activation_delay=300)

    before = key_states(ring, T0 + 1100)  # the new key is published, not signing yet
    assert [(s.kid, s.state, s.changes_at, s.next_state) for s in before] == [
        (new.kid, "published", T0 + 1300, "signing"),
        (old.kid, "signing", T0 + 1300, "retired"),
    ]
    after = key_states(ring, T0 + 1400)  # the new one signs; the old one is retired
    assert [(s.state, s.changes_at, s.next_state, s.published) for s in after] == [
        ("signing", None, None, True),
        ("retired", T0 + 1900, "unpublished", True),
    ]
    gone = key_states(ring, T0 + 2000)
    assert (gone[1].state, gone[1].published, gone[1].changes_at) == ("retired", False, None)
