"""Provider claims -> Strix roles, by configuration.

The mapping reads `{claim: {value: [roles]}}`, e.g. `{"groups": {"analysts": ["reader"]}}`: a caller whose
`groups` claim holds "analysts" gets the role `reader`. A claim may be a dotted path into nested objects
(Keycloak puts realm roles under `realm_access.roles`) and its value a string or a list of strings; anything
else matches nothing. The result is sorted and deduplicated, so equal inputs give equal tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RoleMapping = Mapping[str, Mapping[str, Sequence[str]]]


def map_roles(claims: Mapping[str, Any], mapping: RoleMapping, default: Sequence[str] = ()) -> tuple[str, ...]:
    roles = set(default)
    for claim, by_value in mapping.items():
        for value in _values(_lookup(claims, claim)):
            roles.update(by_value.get(value, ()))
    return tuple(sorted(roles))


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The string values of a claim (a dotted path into nested objects): a string is one value, a list its
    strings; anything else none."""
    return _values(_lookup(claims, path))


def map_attributes(claims: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Provider claims -> the attributes row filters bind to, by `{claim: attribute}` (`{"brand": "brand"}`);
    a claim the provider did not send gives no attribute (and so, in a row filter, no rows)."""
    attributes: dict[str, set[str]] = {}
    for claim, attribute in mapping.items():
        values = claim_values(claims, claim)
        if values:
            attributes.setdefault(attribute, set()).update(values)
    return {name: tuple(sorted(values)) for name, values in sorted(attributes.items())}


def _lookup(claims: Mapping[str, Any], path: str) -> Any:
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
