"""``records.record``: the frozen value type ``setup()`` builds, compared with what
``@dataclass(frozen=True)`` gives the same class body (dataclasses is the reference)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_client_env.records import FrozenInstanceError, asdict, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default=())
    secret: str = field(default="", repr=False)


@record
class Box:
    corner: Point
    items: list[Point] = field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = dataclasses.field(default=())
    secret: str = dataclasses.field(default="", repr=False)


@record(eq=False)
class Declaration:
    name: str


@record(repr=False)
class Quiet:
    token: str

    def __repr__(self) -> str:
        return "Quiet(token=***)"


def test_init_repr_eq_hash_match_as_dataclasses_do() -> None:
    for args, kwargs in [((1,), {}), ((1, 2), {}), ((), {"x": 3, "tags": ("a",)})]:
        p, d = Point(*args, **kwargs), DPoint(*args, **kwargs)
        assert repr(p).replace("Point", "DPoint") == repr(d)
        assert (p.x, p.y, p.tags, p.secret) == (d.x, d.y, d.tags, d.secret)
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1) != DPoint(1)  # another class: never equal, as dataclasses
    assert Point.__match_args__ == DPoint.__match_args__
    match Point(5, 6):
        case Point(a, b):
            assert (a, b) == (5, 6)
    assert Point.y == 0  # a default is a class attribute, as in dataclasses


def test_bad_arguments_raise_type_error_like_dataclasses() -> None:
    for call in (
        lambda c: c(),
        lambda c: c(1, 2, (), "", 5),
        lambda c: c(1, x=2),
        lambda c: c(1, z=2),
    ):
        with pytest.raises(TypeError):
            call(DPoint)
        with pytest.raises(TypeError):
            call(Point)


def test_frozen() -> None:
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.x  # type: ignore[misc]
    with pytest.raises(AttributeError):  # the dataclasses' type is an AttributeError too
        p.y = 1  # type: ignore[misc]


def test_default_factory_gives_each_instance_its_own() -> None:
    a, b = Box(Point(1)), Box(Point(2))
    assert a.items == [] and a.items is not b.items


def test_replace_fields_asdict() -> None:
    p = Point(1, 2, ("t",), "s")
    assert replace(p, y=5) == Point(1, 5, ("t",), "s")
    assert [f.name for f in fields(Point)] == ["x", "y", "tags", "secret"]
    assert [f.name for f in fields(p)] == ["x", "y", "tags", "secret"]
    box = Box(p, [Point(3)])
    assert asdict(box) == {
        "corner": {"x": 1, "y": 2, "tags": ("t",), "secret": "s"},
        "items": [{"x": 3, "y": 0, "tags": (), "secret": ""}],
    }
    with pytest.raises(TypeError):
        fields(object())
    with pytest.raises(TypeError):
        asdict({"x": 1})


def test_eq_false_keeps_identity_and_own_repr_wins() -> None:
    a, b = Declaration("n"), Declaration("n")
    assert a != b and a == a and hash(a) != hash(b)
    assert repr(Quiet("hunter2")) == "Quiet(token=***)"


def test_non_default_after_default_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b'"):

        @record
        class Bad:
            a: int = 1
            b: int  # type: ignore[misc]


def test_pickle_and_copy_round_trip() -> None:
    box = Box(Point(1, 2), [Point(3)])
    assert pickle.loads(pickle.dumps(box)) == box
    assert copy.deepcopy(box) == box and copy.copy(box) == box


def test_setup_path_does_not_import_dataclasses(tmp_path: Path) -> None:
    """The point of records: the modules setup() and the launcher import build none with
    dataclasses (whose import pulls in inspect, and whose classes compile ~5 methods each)."""
    code = (
        "import sys, mlflow_client_env.session, mlflow_client_env.jupyter.launcher; "
        "print('dataclasses' in sys.modules, 'inspect' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["False", "False"]


def test_a_redeclared_field_keeps_its_place_and_mutable_defaults_are_refused() -> None:
    @record
    class A:
        x: int
        y: int = 0

    @record
    class B(A):
        z: int = 1
        x: int = 5  # type: ignore[misc]

    @dataclasses.dataclass(frozen=True)
    class DA:
        x: int
        y: int = 0

    @dataclasses.dataclass(frozen=True)
    class DB(DA):
        z: int = 1
        x: int = 5

    assert [f.name for f in fields(B)] == [f.name for f in dataclasses.fields(DB)]
    assert repr(B(1, 2, 3)).replace("B(", "") == repr(DB(1, 2, 3)).replace("DB(", "")
    with pytest.raises(ValueError, match="mutable default"):

        @record
        class Bad:
            items: list[int] = []  # noqa: RUF012


def test_our_errors_survive_pickling() -> None:
    """An error raised in a worker process (multiprocessing, Spark) reaches the parent as
    itself: its class, problem, fix and extra attributes (subclasses take other arguments)."""
    from mlflow_client_env import errors as e

    for exc in (
        e.ConfigFileError("p", "f"),
        e.HdfsPermissionError("denied", "ask"),
        e.HdfsKerberosError("no ticket", "kinit", "D1"),
        e.DelegationTokenRejectedError("p", "f", "expired"),
        e.NoTicketError("p", "f"),
    ):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert (back.problem, back.fix) == (exc.problem, exc.fix)
        assert back.__dict__ == exc.__dict__


@record
class Pair:  # nothing hidden from its repr
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default=())


@record
class Pairs:
    first: Pair
    rest: list[Pair] = field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class DPair:
    x: int
    y: int = 0
    tags: tuple[str, ...] = dataclasses.field(default=())


def test_dataclasses_sees_a_frozen_dataclass(tmp_path: Path) -> None:
    """What discovery returns works with ``dataclasses``' own functions, as a frozen
    dataclass would: ``is_dataclass``, ``fields``, ``asdict``, ``astuple``, ``replace``."""
    from mlflow_client_env.hadoop.install import HadoopHints, discover_hadoop
    from tests import trees

    p = Pair(1, 2, ("t",))
    assert dataclasses.is_dataclass(p) and dataclasses.is_dataclass(Pair)
    assert Pair.__dataclass_params__.frozen and Pair.__dataclass_params__.eq  # type: ignore[attr-defined]
    assert [(f.name, f.default) for f in dataclasses.fields(p)] == [
        (d.name, d.default) for d in dataclasses.fields(DPair)
    ]
    assert dataclasses.asdict(Pairs(p, [Pair(3)])) == asdict(Pairs(p, [Pair(3)]))
    assert dataclasses.astuple(p) == (1, 2, ("t",))
    assert dataclasses.replace(p, y=5) == Pair(1, 5, ("t",))
    assert dataclasses.replace(Pairs(p), rest=[p]).rest == [p]

    @record(eq=False)
    class Named:
        name: str

    assert not Named.__dataclass_params__.eq  # type: ignore[attr-defined]

    class Sub(Pair):  # not a record: inherits the fields, as from a dataclass
        pass

    assert [f.name for f in dataclasses.fields(Sub(1))] == ["x", "y", "tags"]

    trees.make_parcel(tmp_path / "parcels")
    found = discover_hadoop(
        HadoopHints(parcels_root=(str(tmp_path / "parcels"), "test")), {"PATH": "/nonexistent"}
    )
    assert dataclasses.is_dataclass(found)
    assert dataclasses.asdict(found)["version"] == found.version
    with pytest.raises(AttributeError):  # as dataclasses.FrozenInstanceError is one
        found.version = "x"  # type: ignore[misc]


def test_a_record_whose_repr_hides_something_stays_opaque_to_dataclasses() -> None:
    """What a repr masks must not come out field by field: code that serialises any
    dataclass through ``fields()`` (MLflow's trace encoder, used here for real) sees such a
    record as an object, and shows its repr."""
    from mlflow.tracing.utils import TraceJSONEncoder

    from mlflow_client_env.environment import Variable
    from mlflow_client_env.session import Change

    secret = "hunter2secret"
    hiding = [
        Variable("MLFLOW_TRACKING_PASSWORD", secret, "given"),  # its own __repr__ masks
        Change("AWS_SECRET_ACCESS_KEY", None, secret),
        Point(1, secret="s3cr3t-value"),  # a field(repr=False)
        Quiet(secret),
    ]

    class Masked(Box):  # a subclass whose repr masks, of a record that would be a dataclass
        def __repr__(self) -> str:
            return "Masked(***)"

    hiding.append(Masked(Point(1, tags=(secret,))))
    for obj in hiding:
        assert not dataclasses.is_dataclass(obj), obj
        shown = json.dumps(obj, cls=TraceJSONEncoder)
        assert secret not in shown and "s3cr3t" not in shown, shown
    assert dataclasses.is_dataclass(Box(Point(1)))  # nothing hidden: a dataclass

    @record
    class Odd:  # a default dataclasses refuses (unhashable): is_dataclass says no, no raise
        data: bytearray = bytearray(b"x")

    assert not dataclasses.is_dataclass(Odd())
