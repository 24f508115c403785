"""Frozen records: the value type of everything ``setup()`` and the launcher build.

``@record`` gives a class what ``@dataclass(frozen=True)`` gives it (an ``__init__``
over the annotated fields with their defaults, ``__repr__``, ``__eq__``, ``__hash__``,
``__match_args__``, and assignment that raises), and ``replace``, ``fields`` and
``asdict`` work as their ``dataclasses`` namesakes do.

Why not ``dataclasses``: before Python 3.13 it compiles every generated method from
source, about 70 µs each and five or six per frozen class. The two dozen records on
``setup()``'s path cost ~10 ms that way, a third of a cold ``setup()`` in a fresh
kernel, and importing ``dataclasses`` pulls in ``inspect`` (another ~5 ms in a bare
interpreter). A record's methods are written once, here, and read the class's field
table at call time: building a record class costs a few microseconds, and
constructing one about a microsecond more than a dataclass.

To ``dataclasses`` itself a record is a frozen dataclass: ``dataclasses.is_dataclass``,
``fields``, ``asdict``, ``astuple`` and ``replace`` accept one. The
``__dataclass_fields__`` and ``__dataclass_params__`` they read are made at their first
use (from a dataclass with the same fields, so ``dataclasses`` is imported only then).
Not for a record whose repr hides something (its own ``__repr__``, one that masks
secrets, or a ``field(repr=False)``): code that serialises any dataclass field by field
(MLflow's trace encoder does) would otherwise show what the repr hides, so such a
record stays opaque to ``dataclasses`` and is shown through its repr.

Differences from dataclasses, on purpose:

- ``asdict`` recurses into records, lists, tuples and dicts, but does not deep-copy
  other values (records hold strings, numbers and paths);
- any assignment to a record's attribute raises ``FrozenInstanceError``, also from a
  subclass that is not a record;
- no ``order``, ``slots``, ``kw_only``, ``InitVar`` or ``__post_init__``: nothing here
  uses them (mutable state holders, like the doctor's context, stay dataclasses).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (~3 ms cold; mypy honours this)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    from typing_extensions import dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda f: f


__all__ = ["FrozenInstanceError", "asdict", "field", "fields", "record", "replace"]


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a record (the name ``dataclasses`` uses)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """One field of a record: its name, default (or default factory), and whether
    ``repr`` shows it."""

    __slots__ = ("default", "default_factory", "name", "repr")

    def __init__(self, name: str, default: Any, default_factory: Any, repr: bool) -> None:
        self.name = name
        self.default = default
        self.default_factory = default_factory
        self.repr = repr

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, repr={self.repr})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    repr: bool = True,
) -> Any:
    """A field with a default, a default factory, or hidden from ``repr``."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field("", default, default_factory, repr)  # named by @record


_FIELDS = "__record_fields__"


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in declaration order."""
    try:
        return getattr(obj, _FIELDS)  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of the record ``obj`` with ``changes`` applied, through its ``__init__``."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def asdict(obj: Any) -> dict[str, Any]:
    """The record ``obj`` as a dict, recursing into records, lists, tuples and dicts."""
    if not hasattr(type(obj), _FIELDS):
        raise TypeError("asdict() should be called on record instances")
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}


def _plain(value: Any) -> Any:
    if hasattr(type(value), _FIELDS):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


class _DataclassView:
    """One of the attributes ``dataclasses`` reads (``__dataclass_fields__``,
    ``__dataclass_params__``), made at first use from a frozen dataclass with the record
    class's fields, and kept on that class."""

    __slots__ = ("attr", "eq")

    def __init__(self, attr: str, eq: bool) -> None:
        self.attr = attr
        self.eq = eq

    def __get__(self, obj: object, owner: type) -> Any:
        shown_by: object = owner.__repr__
        if shown_by is not _repr or not all(f.repr for f in fields(owner)):
            # the repr hides something (also in a subclass that masks): not a dataclass
            raise AttributeError(self.attr)
        shadow = owner.__dict__.get("__record_dataclass__")
        if shadow is None:
            try:
                shadow = _as_dataclass(owner, self.eq)
            except Exception as exc:  # dataclasses refuses it: is_dataclass() says False
                raise AttributeError(self.attr) from exc
            type.__setattr__(owner, "__record_dataclass__", shadow)
        return getattr(shadow, self.attr)


def _as_dataclass(cls: type, eq: bool) -> type:
    import dataclasses  # only here: ~5 ms cold with inspect (see the module docstring)

    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        hints.update(base.__dict__.get("__annotations__", {}))  # noqa: RUF063 (as _build)
    specs = []
    for f in fields(cls):  # every one shown by repr (see _DataclassView)
        kw: dict[str, Any] = {}
        if f.default is not MISSING:
            kw["default"] = f.default
        elif f.default_factory is not MISSING:
            kw["default_factory"] = f.default_factory
        specs.append((f.name, hints.get(f.name, "Any"), dataclasses.field(**kw)))
    return dataclasses.make_dataclass(cls.__name__, specs, frozen=True, eq=eq)


# The shared methods. Each reads the field table of the instance's class.


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    table: tuple[Field, ...] = getattr(type(self), _FIELDS)
    if len(args) > len(table):
        raise TypeError(
            f"{type(self).__qualname__}() takes {len(table)} positional arguments "
            f"but {len(args)} were given"
        )
    put = object.__setattr__
    for i, f in enumerate(table):
        if i < len(args):
            if f.name in kwargs:
                raise TypeError(
                    f"{type(self).__qualname__}() got multiple values for argument {f.name!r}"
                )
            put(self, f.name, args[i])
        elif f.name in kwargs:
            put(self, f.name, kwargs.pop(f.name))
        elif f.default is not MISSING:
            put(self, f.name, f.default)
        elif f.default_factory is not MISSING:
            put(self, f.name, f.default_factory())
        else:
            raise TypeError(f"{type(self).__qualname__}() missing required argument: {f.name!r}")
    if kwargs:  # a name given both ways was reported above: these are unknown
        raise TypeError(
            f"{type(self).__qualname__}() got an unexpected keyword argument {next(iter(kwargs))!r}"
        )


def _repr(self: Any) -> str:
    table: tuple[Field, ...] = getattr(type(self), _FIELDS)
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in table if f.repr)
    return f"{type(self).__qualname__}({inner})"


def _key(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in getattr(type(self), _FIELDS))


def _eq(self: Any, other: object) -> Any:  # a bool, or NotImplemented
    if other.__class__ is self.__class__:
        return bool(_key(self) == _key(other))
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_key(self))


def _setattr(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _build(cls: type[_T], eq: bool, repr: bool) -> type[_T]:
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get(_FIELDS, ()):
            inherited[f.name] = f
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (no inspect: see above)
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, Field):
            f = Field(name, value.default, value.default_factory, value.repr)
        else:
            f = Field(name, value, MISSING, True)
        if f.default is MISSING and name in cls.__dict__:
            delattr(cls, name)  # a field(default_factory=...) or field(repr=False) marker
        elif f.default is not MISSING:
            setattr(cls, name, f.default)  # as dataclasses: the default is a class attribute
        if isinstance(f.default, (list, dict, set)):  # shared by every instance: refused
            raise ValueError(
                f"mutable default {type(f.default).__name__} for field {name} is not "
                "allowed: use default_factory"
            )
        inherited[name] = f  # a redeclared field keeps its place, as in dataclasses
    table = tuple(inherited.values())
    seen_default = False
    for f in table:
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has_default
    setattr(cls, _FIELDS, table)
    for attr in ("__dataclass_fields__", "__dataclass_params__"):
        setattr(cls, attr, _DataclassView(attr, eq))
    body = cls.__dict__
    added: dict[str, object] = {"__init__": _init}
    if repr:
        added["__repr__"] = _repr
    if eq:
        added["__eq__"] = _eq
        if body.get("__hash__") is None:  # unset, or None because the body defines __eq__
            added["__hash__"] = _hash
    for name, method in added.items():
        if body.get(name) is None:  # the class body's own method wins, as in dataclasses
            setattr(cls, name, method)
    for name, method in (("__setattr__", _setattr), ("__delattr__", _delattr)):
        setattr(cls, name, method)  # frozen, always
    setattr(cls, "__match_args__", tuple(f.name for f in table))  # noqa: B010 (mypy: a class)
    return cls


if TYPE_CHECKING:

    @overload
    def record(cls: type[_T], /) -> type[_T]: ...
    @overload
    def record(*, eq: bool = True, repr: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(
    cls: type[_T] | None = None,
    /,
    *,
    eq: bool = True,
    repr: bool = True,
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Make ``cls`` a frozen record: ``@record`` or ``@record(eq=False, repr=False)``.

    ``eq=False`` keeps identity equality and hashing (for declarations and one-off
    reports); ``repr=False``, or a ``__repr__`` in the class body, keeps the class's own.
    """
    if cls is None:
        return lambda c: _build(c, eq, repr)
    return _build(cls, eq, repr)
