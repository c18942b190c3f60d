"""The signed-in layout: the navigation a caller may follow, and the current page marked."""

from qtrack.web.render import NavLink, SignedIn, nav_for

LINKS = (
    NavLink("/", "Home", ("item.read",)),
    NavLink("/items", "Items", ("item.read",)),
    NavLink("/items/new", "New item", ("item.create",)),
    NavLink("/admin", "Admin", ("admin.users", "admin.config"), section=True),
)


def _caller(*permissions: str) -> SignedIn:
    return SignedIn("someone", frozenset(permissions), "session-id")


def test_only_links_the_caller_may_follow_are_shown() -> None:
    shown = nav_for(LINKS, _caller("item.read"), "/")
    assert [link["href"] for link in shown] == ["/", "/items"]
    configurer = nav_for(LINKS, _caller("admin.config"), "/admin")
    assert [link["href"] for link in configurer] == ["/admin"]
    assert nav_for(LINKS, _caller(), "/") == []


def test_a_section_owns_its_sub_pages_and_other_links_only_their_own_page() -> None:
    caller = _caller("item.read", "item.create", "admin.users")

    def current(path: str) -> list[str]:
        return [link["href"] for link in nav_for(LINKS, caller, path) if link["current"]]

    assert current("/") == ["/"]
    assert current("/admin/users/bob") == ["/admin"]
    assert current("/items/new") == ["/items/new"]  # not under Items
    assert current("/items/MAT-000001") == []
    assert current("/administrator") == []  # a prefix of the path is not a sub-page
