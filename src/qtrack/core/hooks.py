"""Hooks: how a lower package asks a higher one for something without importing it.

Imports go one way (core <- domains <- app), yet a lower package sometimes needs what only a
higher one knows: a location may be archived only when no item is left there, and items
build on locations. The lower package declares a `Hook` typed with what it needs; the app
factory provides the higher package's implementation (`hook.provide(app, impl)`); a route
asks for it like any dependency (`Depends(hook)`) and passes it to the use case.
"""

from typing import Any, Generic, TypeVar, cast

from starlette.applications import Starlette
from starlette.requests import Request

T = TypeVar("T")


class HookMissing(RuntimeError):
    """The app was built without providing a hook (a wiring mistake, never user input)."""


class Hook(Generic[T]):
    """One thing a lower package needs, provided per app by the app factory."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Hook({self.name!r})"

    def provide(self, app: Starlette, value: T) -> None:
        """Give this app's implementation (the app factory does, before serving)."""
        hooks: dict[str, Any] = getattr(app.state, "hooks", None) or {}
        hooks[self.name] = value
        app.state.hooks = hooks

    def of(self, app: Starlette) -> T:
        """This app's implementation."""
        hooks: dict[str, Any] = getattr(app.state, "hooks", None) or {}
        if self.name not in hooks:
            raise HookMissing(f"the app provides no {self.name!r}")
        return cast(T, hooks[self.name])

    async def __call__(self, request: Request) -> T:
        """The implementation, as a route dependency: `Depends(hook)`."""
        return self.of(request.app)
