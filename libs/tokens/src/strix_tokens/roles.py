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
