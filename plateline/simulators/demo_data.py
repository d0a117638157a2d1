"""Demo orders: a bundled order file, an update file, and the demo scenario.

``data/demo_orders.csv`` holds 600 open orders of every reference product;
``data/demo_orders_update.csv`` cancels a few of them and corrects two. Both are
``generate_demo_orders(600)`` written out and are checked by the tests against
a fresh generation and against the grammar of ``orders.md``. Runs longer than
the bundled orders allow use ``write_demo_order_files`` with more orders.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from plateline.simulators.orderfile import SimOrder, orders_csv, read_order_file, read_orders
from plateline.simulators.plates import make_plate
from plateline.simulators.scenario import Scenario
from plateline.simulators.views import PlateOnTray

DATA_DIR = Path(__file__).with_name("data")
ORDERS_FILE = DATA_DIR / "demo_orders.csv"
UPDATE_FILE = DATA_DIR / "demo_orders_update.csv"
DEMO_SEED = 2026
DEMO_ORDERS = 600

#: (product, plate type, suffixes to draw from ("" = ordinary), weight)
_KINDS: tuple[tuple[str, str, str, int], ...] = (
    ("plate-pair", "blue", "", 200),
    ("plate-pair", "green", "", 80),
    ("plate-pair", "yellow", "", 30),
    ("plate-pair", "yellow", "学", 5),
    ("plate-pair", "yellow_green", "", 15),
    ("plate-single", "yellow", "挂", 25),
    ("plate-single", "yellow", "", 25),
    ("plate-single", "white", "警", 15),
    ("plate-single", "black", "港澳领使", 25),
    ("ebike-plate", "ebike", "", 120),
    ("licence-doc", "", "", 60),
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红"
_PLACES = ("广东省广州市天河区", "广东省深圳市南山区", "北京市朝阳区", "上海市浦东新区",
           "浙江省杭州市西湖区", "四川省成都市武侯区", "湖北省武汉市洪山区", "江苏省南京市鼓楼区")
_ROADS = ("中山", "解放", "人民", "建设", "和平", "新华", "长江", "黄河", "滨江", "光明")


def plates_for(order: SimOrder, text: str | None = None, plate_type: str | None = None
               ) -> tuple[PlateOnTray, ...]:
    """The plates a correct tray of ``order`` carries (optionally another number or type).

    Pairs are front and rear; large-vehicle rear plates (yellow, yellow_green) and
    single yellow plates (trailers, motorcycles) are two-row.
    """
    text = order.plate_no if text is None else text
    ptype = order.plate_type if plate_type is None else plate_type
    two_row = ptype in ("yellow", "yellow_green")
    if order.product == "plate-pair":
        return (PlateOnTray(text, ptype, 1), PlateOnTray(text, ptype, 2 if two_row else 1))
    if order.plate_count == 1:
        single_rows = 2 if ptype == "yellow" else 1
        return (PlateOnTray(text, ptype, single_rows),)
    return ()


def _person(rng: random.Random) -> tuple[str, str, str]:
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))
    phone = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
    address = f"{rng.choice(_PLACES)}{rng.choice(_ROADS)}路{rng.randint(1, 999)}号"
    return name, phone, address


def generate_demo_orders(n_orders: int = DEMO_ORDERS, seed: int = DEMO_SEED
                         ) -> tuple[list[SimOrder], list[SimOrder]]:
    """(orders, update rows): deterministic for a given ``n_orders`` and ``seed``."""
    rng = random.Random(seed)
    weights = [k[3] for k in _KINDS]
    used_plates: set[str] = set()
    used_waybills: set[str] = set()
    orders: list[SimOrder] = []
    for n in range(1, n_orders + 1):
        product, ptype, suffixes, _ = rng.choices(_KINDS, weights)[0]
        count = {"plate-pair": 2, "plate-single": 1, "ebike-plate": 1}.get(product, 0)
        plate = ""
        while count and (not plate or plate in used_plates):
            plate = make_plate(rng, ptype, suffix=rng.choice(suffixes) if suffixes else "")
        used_plates.add(plate)
        waybill = ""
        while not waybill or waybill in used_waybills:
            waybill = "SF" + "".join(rng.choice("0123456789") for _ in range(13))
        used_waybills.add(waybill)
        name, phone, address = _person(rng)
        orders.append(SimOrder(f"ORD-2026-{n:06d}", product, plate, ptype if count else "",
                               count, waybill, name, phone, address))
    picks = rng.sample(range(len(orders)), 8)
    update = [orders[i].cancelled() for i in picks[:6]]
    fix_plate = next(o for i, o in enumerate(orders) if o.product == "plate-pair"
                     and o.plate_type == "blue" and i not in picks)
    new_plate = fix_plate.plate_no
    while new_plate in used_plates:
        new_plate = make_plate(rng, "blue")
    update.append(replace(fix_plate, plate_no=new_plate))
    fix_address = orders[picks[7]]
    update.append(replace(fix_address, recipient_address=_person(rng)[2]))
    return orders, update


def write_demo_order_files(directory: Path, n_orders: int = DEMO_ORDERS,
                           seed: int = DEMO_SEED) -> list[Path]:
    """Write ``demo_orders.csv`` and ``demo_orders_update.csv`` into ``directory``."""
    orders, update = generate_demo_orders(n_orders, seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / ORDERS_FILE.name, directory / UPDATE_FILE.name]
    for path, rows in zip(paths, (orders, update)):
        path.write_text(orders_csv(rows), encoding="utf-8")
    return paths


def demo_order_files() -> list[Path]:
    """The bundled order files, in import order."""
    return [ORDERS_FILE, UPDATE_FILE]


def load_demo_orders(paths: list[Path] | None = None) -> dict[str, SimOrder]:
    """Orders as they stand after importing the (bundled) files in order."""
    return read_orders(paths or demo_order_files())


def superseded_rows(paths: list[Path] | None = None) -> dict[str, SimOrder]:
    """Rows of the first file whose plate number a later file corrected."""
    files = paths or demo_order_files()
    first = {o.order_id: o for o in read_order_file(files[0])}
    book = read_orders(files)
    return {oid: old for oid, old in first.items()
            if oid in book and book[oid].status == "open" and book[oid].plate_no != old.plate_no}


def make_demo_scenario(orders: Mapping[str, SimOrder] | None = None, n_trays: int = 120,
                       seed: int = 1, *, superseded: Mapping[str, SimOrder] | None = None,
                       stations: Iterable[str] = ()) -> Scenario:
    """The demo scenario over ``orders`` (default: the bundled files); see ``demo_scenario``.

    ``stations``: the devices the line runs; the trays and faults of the stations after
    the first slice (PACK, W1, P1 + S2) are in it only for those among them.
    """
    from plateline.simulators.demo_scenario import build_demo_scenario

    if orders is None:
        orders = load_demo_orders()
        superseded = superseded_rows() if superseded is None else superseded
    return build_demo_scenario(orders, n_trays, seed, superseded=superseded or {},
                               stations=stations)


if __name__ == "__main__":
    for written in write_demo_order_files(DATA_DIR):
        print(written)
