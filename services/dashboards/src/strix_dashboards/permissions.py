"""Who may do what to a dashboard: pure rules over the stored record and the caller.

- *view*: its owner, whoever it is shared with (a user by subject, a role, everyone signed in), the public link
  of that one dashboard, and admins;
- *edit* (title, description, panels; restore a revision): its owner, shares with `edit`, admins;
- *manage* (share, unshare, revoke the link, transfer, delete): its owner and admins;
- *make a public link*: its owner only, because the link reads with the owner's roles and attributes ("a public
  link shows what its owner saw"): an admin's link on someone else's dashboard would show what the admin sees.

A caller who may not view a dashboard is told it does not exist (NotFound), so ids cannot be probed; one who may
view but not change it is told why (Forbidden). A public link's caller only views.
"""

from __future__ import annotations

from strix_contracts.caller import Caller
from strix_contracts.dashboards import ListScope, Permission
from strix_contracts.errors import Forbidden, NotFound
from strix_dashboards.records import StoredDashboard


def is_owner(stored: StoredDashboard, caller: Caller) -> bool:
    return caller.kind != "public_link" and stored.owner == caller.subject


def shared_permission(stored: StoredDashboard, caller: Caller, everyone: bool = True) -> Permission | None:
    """The widest permission a share gives the caller (None: no share names it); `everyone=False` counts only
    the shares naming the caller or one of its roles."""
    if caller.kind == "public_link":
        return None
    best: Permission | None = None
    for share in stored.shares:
        applies = (
            (share.kind == "user" and share.name == caller.subject)
            or (share.kind == "role" and share.name in caller.roles)
            or (share.kind == "everyone" and everyone)
        )
        if applies and (best is None or share.permission == "edit"):
            best = share.permission
    return best


def may_view(stored: StoredDashboard, caller: Caller) -> bool:
    if caller.kind == "public_link":
        return caller.dashboard == stored.id and stored.link is not None
    return caller.is_admin or is_owner(stored, caller) or shared_permission(stored, caller) is not None


def may_edit(stored: StoredDashboard, caller: Caller) -> bool:
    if caller.kind == "public_link":
        return False
    return caller.is_admin or is_owner(stored, caller) or shared_permission(stored, caller) == "edit"


def may_manage(stored: StoredDashboard, caller: Caller) -> bool:
    return caller.kind != "public_link" and (caller.is_admin or is_owner(stored, caller))


def _not_found(stored: StoredDashboard) -> NotFound:
    return NotFound(f"no dashboard {stored.id}", argument="id")


def require_view(stored: StoredDashboard, caller: Caller) -> None:
    if not may_view(stored, caller):
        raise _not_found(stored)


def require_edit(stored: StoredDashboard, caller: Caller) -> None:
    require_view(stored, caller)
    if not may_edit(stored, caller):
        raise Forbidden(
            f"{caller.subject} may view dashboard {stored.id} but not edit it",
            argument="id",
            hint="ask its owner to share it with you for edit, or duplicate it",
        )


def require_manage(stored: StoredDashboard, caller: Caller, action: str) -> None:
    require_view(stored, caller)
    if not may_manage(stored, caller):
        raise Forbidden(
            f"only the owner of dashboard {stored.id} ({stored.owner}) or an admin may {action} it",
            argument="id",
            hint="duplicate it to get a dashboard of your own",
        )


def require_owner(stored: StoredDashboard, caller: Caller, action: str) -> None:
    require_view(stored, caller)
    if not is_owner(stored, caller):
        raise Forbidden(
            f"only the owner of dashboard {stored.id} ({stored.owner}) may {action}",
            argument="id",
            hint="a public link reads with its maker's roles and attributes, so its owner makes it",
        )


def require_person(caller: Caller, action: str) -> None:
    """A signed-in user or an API key: a public link only views the one dashboard it opens."""
    if caller.kind == "public_link":
        raise Forbidden(f"a public link may not {action}", hint="sign in to change dashboards")


def listed(stored: StoredDashboard, caller: Caller, scope: ListScope) -> bool:
    """Whether the dashboard is in the caller's `scope` list: `mine` (owned), `shared` (shared with the caller
    or one of its roles, not owned), `public` (shared with everyone, neither owned nor shared with the caller by
    name or role), `all` (every dashboard; admins only)."""
    if caller.kind == "public_link":
        return False
    if scope == "all":
        return caller.is_admin
    if scope == "mine":
        return is_owner(stored, caller)
    if is_owner(stored, caller):
        return False
    named = shared_permission(stored, caller, everyone=False)
    if scope == "shared":
        return named is not None
    return named is None and any(share.kind == "everyone" for share in stored.shares)


def require_list(caller: Caller, scope: ListScope) -> None:
    require_person(caller, "list dashboards")
    if scope == "all" and not caller.is_admin:
        raise Forbidden("listing every dashboard needs the admin scope", argument="scope")
