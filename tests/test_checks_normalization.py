"""NF01-NF04 over tiny snapshots with hand-built samples: each fires on its case and not on its look-alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from auditor.engine import REGISTRY, iter_hits, load_checks, run_checks
from auditor.model import (
    Column,
    Constraint,
    ForeignKeyJoin,
    Hit,
    Note,
    ParentMatch,
    Sampling,
    Severity,
    Snapshot,
    TableSample,
    snapshot_from_json,
    snapshot_to_json,
)
from auditor.sample_analysis import column_sample, decode_codes, dense_codes, encode_codes
from auditor.sampling import list_items, list_profile
from checks.normalization import MultiValuedOptions, RepeatingGroupOptions
from tests.builders import fk, pk, snap, table

load_checks()


def sample(name: str, columns: dict[str, Sequence[object]], text: Sequence[str] = ()) -> TableSample:
    rows = len(next(iter(columns.values())))
    cols = tuple(
        column_sample(
            c,
            "text" if c in text else "integer",
            values,
            list_profile([None if v is None else str(v) for v in values]) if c in text else None,
        )
        for c, values in columns.items()
    )
    return TableSample(schema="public", table=name, rows=rows, method="full", columns=cols)


def hits(code: str, s: Snapshot, opts: object = None) -> list[Hit]:
    return list(iter_hits(REGISTRY[code], s, opts))


# ---- codes and profiles ---


def test_codes_round_trip_and_keep_equality_only() -> None:
    codes = dense_codes(["b", "a", None, "b", "c"] * 100)
    assert list(codes[:5]) == [0, 1, -1, 0, 2]
    assert (decode_codes(encode_codes(codes)) == codes).all()
    big = dense_codes(list(range(70_000)))
    assert encode_codes(big).startswith("u4:") and (decode_codes(encode_codes(big)) == big).all()


@pytest.mark.parametrize(
    "value", ["red,green,blue", "a@x.com; b@y.com", "python|sql|go", '["a", "b"]', "1,2,3"]
)
def test_list_values(value: str) -> None:
    assert list_items(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "12 Main St, Springfield, IL",
        "3,14",
        "1.234,56",
        "I liked it, and it broke",
        "Done. Thanks, bye",
        "plain text",
    ],
)
def test_not_list_values(value: str) -> None:
    assert list_items(value) is None


# ---- NF01 ---


def test_nf01_fires_on_numbered_and_lettered_families() -> None:
    s = snap(
        table(
            "contacts",
            [
                "id",
                "phone1 text",
                "phone2 text",
                "phone3 text",
                "tag_a text",
                "tag_b text",
                "email text",
                "email2 text",
            ],
        )
    )
    found = sorted(h.object.columns or () for h in hits("NF01", s))
    assert found == [("email", "email2"), ("phone1", "phone2", "phone3"), ("tag_a", "tag_b")]


def test_nf01_silent_on_lookalikes() -> None:
    s = snap(
        table(
            "t",
            [
                "id",
                "address_line1 text",
                "address_line2 text",
                "ipv4 text",
                "ipv6 text",
                "point_x real",
                "point_y real",
                "sha1 text",
                "sha256 text",
                "val1 text",
                "val2 integer",
            ],
        )
    )
    assert hits("NF01", s) == []
    assert (
        len(hits("NF01", s, RepeatingGroupOptions(allowed_families=()))) == 1
    )  # the option lifts the allowance


# ---- NF02 ---


def _nf02_snap(values: Sequence[str | None]) -> Snapshot:
    ts = sample("posts", {"id": list(range(len(values))), "v": values}, text=("v",))
    return snap(table("posts", ["id", "v text"]), pk("posts"), sampling=Sampling(tables=(ts,)))


def test_nf02_fires_on_lists() -> None:
    found = hits("NF02", _nf02_snap(["red,green", "blue,red,yellow", "x", None] * 10))
    assert [h.object.columns for h in found] == [("v",)]
    assert found[0].details["list_share"] == 0.667 and "examples" not in found[0].details


def test_nf02_silent_on_free_text_names_addresses_and_below_threshold() -> None:
    assert hits("NF02", _nf02_snap(["Smith, John", "Doe, Jane"] * 20)) == []
    assert (
        hits("NF02", _nf02_snap(["12 Main St, Springfield, IL", "3,14", "Hello there, friend."] * 10)) == []
    )
    few = ["red,green,blue", "green,blue", "blue,red"] + ["word"] * 27  # 10 % of values hold lists
    assert hits("NF02", _nf02_snap(few)) == []
    assert len(hits("NF02", _nf02_snap(few), MultiValuedOptions(min_share=0.1))) == 1


# Terse reviews: comma-separated phrases without stop words, each phrase written once (red team, case 2)
REVIEWS = [
    "Great product, fast shipping, would buy again",
    "Works as described, solid build quality",
    "Arrived late, box damaged, product fine",
    "I love it, my kids play with it every day.",
    "Not what I expected, the colour is off and it feels cheap.",
    "Excellent value, quick delivery, friendly support",
    "Good",
    "Decent, nothing special",
]
# Terse free text with many distinct values: a phrase may come back now and then, most do not
TERSE = [
    "Nice colour, soft fabric, true to size", "Runs small, order a size up", "Cheap plastic, broke quickly",
    "Perfect fit, great price, fast dispatch", "Slow delivery, good packaging", "Loud motor, strong suction",
    "Lovely gift, wrapped nicely, thanks", "Battery weak, charger missing, disappointed",
    "Sturdy frame, easy assembly, clear manual", "Bright screen, short battery life",
    "Comfortable, breathable, stylish", "Smells odd, returned", "Great price, quick dispatch, recommended",
    "Too heavy, awkward handle", "Crisp sound, deep bass, comfy pads",
]


def test_list_profile_measures_item_recurrence() -> None:
    tags = list_profile(["golf;tennis", "chess;golf;yoga", "tennis;yoga", "jazz;chess"] * 10)
    assert tags.word_list_rows == 40 and tags.item_recurrence == 0.889  # 8 of 9 occurrences: all but jazz
    reviews = list_profile(REVIEWS * 50)
    # "Works as described" reads as a name-like item now (stop words only inside), yet nothing recurs:
    # counted over distinct texts, not rows
    assert reviews.list_rows == 250 and reviews.item_recurrence == 0.0
    assert list_profile(["12,15,99", "3,4"] * 10).item_recurrence is None  # numbers: no word items
    assert list_profile(["red,green,blue"] * 10).item_recurrence is None  # one distinct list: nothing to compare


def test_nf02_fires_on_tags_ids_and_recurring_vocabularies() -> None:
    tags = ["golf;tennis;chess", "hiking;golf", "yoga;cooking;jazz;golf", "tennis;yoga", None, "chess"] * 20
    ids = [f"{(i * 7) % 500},{(i * 13) % 500},{(i * 17) % 500}" for i in range(60)]  # ids need not recur
    colours = ["red,green,blue", "green,blue", "blue,red", "dark red,light green"] * 10
    for values in (tags, ids, colours):
        found = hits("NF02", _nf02_snap(values))
        assert [h.object.columns for h in found] == [("v",)], values[:3]


def test_nf02_silent_on_terse_free_text() -> None:
    assert hits("NF02", _nf02_snap(REVIEWS * 50)) == []
    assert hits("NF02", _nf02_snap(TERSE * 4)) == []
    profile = list_profile(TERSE * 4)
    assert profile.two_item_share < 0.9  # not silenced as pairs: the recurrence test does it
    assert profile.item_recurrence is not None and profile.item_recurrence < 0.3
    # the option restores the old, shape-only judgement
    assert len(hits("NF02", _nf02_snap(REVIEWS * 50), MultiValuedOptions(min_item_recurrence=0.0))) == 1


def test_nf02_reports_arrays_and_json_as_info() -> None:
    s = snap(table("t", ["id", "tags text[]", "doc jsonb"]), sampling=Sampling(tables=()))
    assert [(h.object.columns, h.severity and h.severity.value) for h in hits("NF02", s)] == [
        (("tags",), "info"),
        (("doc",), "info"),
    ]


def test_nf02_reports_a_mysql_set_column_as_info_even_when_its_sampled_values_look_like_lists() -> None:
    values = ["Trailers,Deleted Scenes", "Commentaries", "Trailers,Commentaries,Behind the Scenes"] * 20
    ts = sample("film", {"id": list(range(len(values))), "special_features": values}, text=("special_features",))
    ts = dataclasses.replace(ts, columns=tuple(
        dataclasses.replace(c, data_type="set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes')")
        if c.name == "special_features" else c for c in ts.columns))
    special = "special_features set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes')"
    s = snap(table("film", ["id", special]), pk("film"), sampling=Sampling(tables=(ts,)))
    s = dataclasses.replace(s, engine="mysql")
    found = hits("NF02", s)
    assert [(h.object.columns, h.severity and h.severity.value) for h in found] == [(("special_features",), "info")]


# ---- NF03 / NF04 ---

N = 200


def _orders() -> Snapshot:
    ids = list(range(N))
    customer = [i % 40 for i in ids]
    cols: dict[str, Sequence[object]] = {
        "id": ids,
        "customer_id": customer,
        "customer_email": [f"c{c}@x" for c in customer],  # planted: customer_id -> customer_email
        "status": ["open"] * N,  # constant: not a determinant, not a dependent
        "reference": [f"R{i}" for i in ids],  # unique in the data: a candidate key, not a determinant
        "amount": [(i * 7919) % 97 for i in ids],
    }
    ts = sample("orders", cols, text=("customer_email", "status", "reference"))
    return snap(
        table(
            "orders", ["id", "customer_id", "customer_email text", "status text", "reference text", "amount"]
        ),
        pk("orders"),
        table("customers", ["id"]),
        pk("customers"),
        fk("orders", ["customer_id"], "customers"),
        sampling=Sampling(tables=(ts,)),
    )


def test_nf04_fires_on_fk_determined_column() -> None:
    found = hits("NF04", _orders())
    assert [(h.details["determinant"], h.details["dependent"]) for h in found] == [
        (["customer_id"], ["customer_email"])
    ]
    # no join probe in this snapshot: nothing shows a column of customers that holds the e-mail, so no "copies"
    assert found[0].message == (
        "public.orders.customer_email is determined by public.orders.customer_id; evidence: 40 distinct "
        "determinant values, 200 rows in 40 groups examined, 0 violating rows (whole table)"
    )
    # the evidence names how the rows were chosen: a MariaDB primary-key-range sample is not a uniform one
    ranged = _orders()
    ranged = dataclasses.replace(ranged, sampling=Sampling(tables=(
        dataclasses.replace(ranged.sampling.tables[0], method="pk_ranges"),)))
    (ranged_hit,) = hits("NF04", ranged)
    assert ranged_hit.message.endswith("0 violating rows (primary-key-range sample)")
    assert ranged_hit.details["evidence"]["customer_email"]["sampling"] == "pk_ranges"
    assert "duplicate" not in found[0].message and "copies" not in found[0].details
    ev = found[0].details["evidence"]["customer_email"]
    assert ev["determinant_distinct"] == 40 and ev["support_rows"] == N and ev["confidence"] == 1.0
    assert ev["groups"] == 40 and ev["sampling"] == "whole_table"  # read whole, as the message says


def test_nf04_silent_on_key_attribute_unique_and_constant_columns() -> None:
    ids = list(range(N))
    cols: dict[str, Sequence[object]] = {
        "id": ids,
        "name": [f"n{i}" for i in ids],
        "flag": [1] * N,
        "code": [i % 50 for i in ids],
        "other": [(i * 31) % 7 for i in ids],
    }
    s = snap(table("t", list(cols)), pk("t"), sampling=Sampling(tables=(sample("t", cols),)))
    assert hits("NF04", s) == []


def test_nf04_approximate_dependency_within_error_bound() -> None:
    s = _orders()
    ts = s.sampling.tables[0] if s.sampling else None
    assert ts is not None
    noisy = [f"c{i % 40}@x" for i in range(N)]
    noisy[5] = "typo"  # 1 row of 200: 0.5 % error
    cols = {c.name: decode_codes(c.codes).tolist() for c in ts.columns}
    cols["customer_email"] = noisy
    s2 = snap(
        *[t for t in s.tables],
        pk("orders"),
        pk("customers"),
        fk("orders", ["customer_id"], "customers"),
        sampling=Sampling(tables=(sample("orders", cols),)),
    )
    from checks.normalization import DependencyOptions

    # exact or nothing by default: the near-dependency is no finding; the other direction still holds
    # exactly (the typo is a value of its own), so only that one is reported
    assert [h.details["determinant"] for h in hits("NF04", s2)] == [["customer_email"]]
    near = hits("NF04", s2, DependencyOptions(near_dependencies=True))
    noisy_hit = [h for h in near if h.details["determinant"] == ["customer_id"]]
    assert len(noisy_hit) == 1 and noisy_hit[0].severity == Severity.INFO
    assert noisy_hit[0].details["evidence"]["customer_email"]["violating_rows"] == 1
    assert "1 violating rows" in noisy_hit[0].message


def test_nf03_fires_on_part_of_composite_key_and_not_on_whole_key() -> None:
    order = [i // 4 for i in range(N)]
    product = [(i * 7) % 30 for i in range(N)]
    cols: dict[str, Sequence[object]] = {
        "order_id": order,
        "product_id": product,
        "product_name": [f"p{p}" for p in product],  # planted: product_id -> product_name
        "qty": [(i * 13) % 9 for i in range(N)],  # depends on the whole key only
    }
    t = table(
        "order_items",
        ["order_id", "product_id", "product_name text", "qty"],
        not_null=["order_id", "product_id"],
    )
    s = snap(
        t,
        pk("order_items", ["order_id", "product_id"]),
        table("products", ["id"]),
        pk("products"),
        fk("order_items", ["product_id"], "products"),
        sampling=Sampling(tables=(sample("order_items", cols),)),
    )
    found = hits("NF03", s)
    assert [(h.details["determinant"], h.details["dependent"]) for h in found] == [
        (["product_id"], ["product_name"])
    ]
    assert "part of the key (order_id, product_id)" in found[0].message


def _skips(s: Snapshot) -> set[tuple[str, str | None]]:
    result = run_checks(s, [REGISTRY[c] for c in ("NF02", "NF03", "NF04")])
    assert len(result.skipped) == 3
    return {(sk.reason, sk.enable) for sk in result.skipped}


def _skipped_table(name: str, reason: str | None) -> TableSample:
    return TableSample(schema="public", table=name, skipped_reason=reason)


def test_data_checks_skip_with_the_reason_that_applies() -> None:
    t = table("t", ["id"])
    [(reason, enable)] = _skips(snap(t, sampling=None))
    assert reason.startswith("the snapshot holds no data sample: it was written by a dbaudit from before")
    assert enable is not None and "collect the snapshot again" in enable
    [(reason, enable)] = _skips(snap(t, sampling=Sampling(enabled=False)))
    assert reason == "data sampling was off (--no-sample)" and enable and "without --no-sample" in enable

    # the probe failed: its note says why, and nothing claims the collector is old
    stopped = dataclasses.replace(
        snap(t, sampling=None), notes=(Note(area="sampling", message="the sampling probe stopped: boom"),)
    )
    assert _skips(stopped) == {("the sampling probe stopped: boom", "fix the cause above and scan again")}

    budget = "the sampling budget of 60 s was used up"
    denied = "no SELECT privilege on the table"
    tables = (_skipped_table("a", budget), _skipped_table("b", budget), _skipped_table("c", denied))
    [(reason, enable)] = _skips(snap(t, sampling=Sampling(tables=tables)))
    assert reason == f"no table could be sampled (2: {budget}; 1: {denied})"
    assert enable == ("give the probe more time with --sample-budget SECONDS (default 60); "
                      "GRANT SELECT on the tables to the role that scans")

    empty = TableSample(schema="public", table="t", rows=0, method="full")
    assert _skips(snap(t, sampling=Sampling(tables=(empty,)))) == {("every sampled table is empty (1)", None)}


def test_data_checks_run_when_some_table_was_sampled() -> None:
    s = _orders()
    assert s.sampling is not None
    partial = Sampling(tables=(*s.sampling.tables, _skipped_table("late", "the sampling budget of 60 s was used up")))
    result = run_checks(dataclasses.replace(s, sampling=partial), [REGISTRY["NF04"]])
    assert result.skipped == () and [f.code for f in result.findings] == ["NF04"]


def test_sample_round_trips_through_json() -> None:
    s = _orders()
    again = snapshot_from_json(snapshot_to_json(s))
    assert again.sampling == s.sampling
    assert [h.message for h in hits("NF04", again)] == [h.message for h in hits("NF04", s)]


# ---- copies through foreign keys, and the look-alikes (Chinook) ---


def _invoices(matches: tuple[ParentMatch, ...], rows: int = 400) -> Snapshot:
    """invoice(customer_id -> customer) repeating each customer's city and state on its invoices."""
    customer = [i % 50 for i in range(rows)]
    city = [f"city{c % 45}" for c in customer]  # 45 cities over 50 customers
    state = [f"st{(c % 45) % 20}" for c in customer]  # city -> state holds, but only on 45 addresses
    cols: dict[str, Sequence[object]] = {"id": list(range(rows)), "customer_id": customer,
                                         "billing_city": city, "billing_state": state}
    ts = dataclasses.replace(
        sample("invoice", cols, text=("billing_city", "billing_state")),
        fk_joins=(ForeignKeyJoin(constraint="invoice_customer_id_fkey", columns=("customer_id",),
                                 ref_schema="public", ref_table="customer", rows=rows, parents=50,
                                 matches=matches),),
    )
    return snap(
        table("invoice", ["id", "customer_id", "billing_city text", "billing_state text"]), pk("invoice"),
        table("customer", ["id", "city text", "state text"]), pk("customer"),
        fk("invoice", ["customer_id"], "customer", name="invoice_customer_id_fkey"),
        sampling=Sampling(tables=(ts,)),
    )


def test_nf04_says_copies_only_when_the_parent_column_agrees() -> None:
    agree = (ParentMatch("billing_city", "city", 400, 400), ParentMatch("billing_state", "state", 400, 400),
             ParentMatch("billing_city", "state", 400, 3))
    found = hits("NF04", _invoices(agree))
    assert len(found) == 1, [h.message for h in found]
    h = found[0]
    assert h.message.startswith(
        "public.invoice.billing_city copies public.customer.city, public.invoice.billing_state copies "
        "public.customer.state through the foreign key (customer_id) to public.customer; evidence: ")
    assert h.details["copies"] == {"billing_city": "public.customer.city", "billing_state": "public.customer.state"}
    assert "they are a deliberate snapshot: keep them" in (h.remediation or "")
    assert "billing_city, billing_state equal the referenced row" in (h.remediation or "")
    assert "ALTER TABLE public.invoice DROP COLUMN billing_city;" in (h.remediation or "")
    # city -> state, seen on 400 invoice rows, is only 45 addresses stored again: no finding of its own
    assert not any(x.details["determinant"] == ["billing_city"] for x in found)


def test_nf04_is_determined_by_when_no_parent_column_agrees() -> None:
    # the join ran and no column of customer holds the same values (one row in a hundred differs)
    differ = (ParentMatch("billing_city", "city", 400, 396), ParentMatch("billing_state", "state", 400, 120))
    found = hits("NF04", _invoices(differ))
    assert found and all("copies" not in h.message and "duplicate" not in h.message for h in found)
    h = next(x for x in found if x.details["determinant"] == ["customer_id"])
    assert "is determined by public.invoice.customer_id" in h.message or "are determined by" in h.message
    assert "(public.customer, which customer_id references, has no column that holds the same values)" in h.message


def test_nf04_copy_seen_only_through_the_join() -> None:
    # each customer appears once in the sample: no repeated group, yet every joined row equals its parent
    rows = 300
    cols: dict[str, Sequence[object]] = {"id": list(range(rows)), "customer_id": list(range(rows)),
                                         "customer_name": [f"name{i}" for i in range(rows)]}
    ts = dataclasses.replace(sample("orders", cols, text=("customer_name",)), fk_joins=(ForeignKeyJoin(
        constraint="orders_customer_id_fkey", columns=("customer_id",), ref_schema="public", ref_table="customers",
        rows=rows, parents=rows, matches=(ParentMatch("customer_name", "name", rows, rows),)),))
    s = snap(table("orders", ["id", "customer_id", "customer_name text"]), pk("orders"),
             table("customers", ["id", "name text"]), pk("customers"),
             fk("orders", ["customer_id"], "customers", name="orders_customer_id_fkey"),
             sampling=Sampling(tables=(ts,)))
    [h] = hits("NF04", s)
    assert h.details["copies"] == {"customer_name": "public.customers.name"}
    assert h.details["evidence"]["customer_name"]["sampling"] == "foreign_key_join"
    # one column copied: the advice speaks of it in the singular
    assert (h.remediation or "").startswith(
        "-- customer_name equals the referenced row of public.customers on every sampled row. If it must keep the "
        "value as it was when the row was written")
    assert "it is a deliberate snapshot: keep it and suppress" in (h.remediation or "")
    assert "drop the copy:\nALTER TABLE public.orders DROP COLUMN customer_name;" in (h.remediation or "")
    # one row short of agreeing everywhere: no copy, and nothing else to report
    off = dataclasses.replace(ts, fk_joins=(dataclasses.replace(
        ts.fk_joins[0], matches=(ParentMatch("customer_name", "name", rows, rows - 1),)),))
    assert hits("NF04", dataclasses.replace(s, sampling=Sampling(tables=(off,)))) == []


def test_nf04_silent_on_a_low_cardinality_column_two_unrelated_columns_determine() -> None:
    # Chinook: track.unit_price is 1.99 for videos, 0.99 otherwise; album_id and genre_id both "determine" it
    rows = 600
    album = [i // 10 for i in range(rows)]  # 60 albums of 10 tracks
    video = [a % 12 == 0 for a in album]
    genre = [(a % 12 == 0) * 100 + (i * 7 + a) % 9 for i, a in enumerate(album)]  # genres split by video
    cols: dict[str, Sequence[object]] = {"id": list(range(rows)), "album_id": album, "genre_id": genre,
                                         "unit_price": [199 if v else 99 for v in video]}
    s = snap(table("track", list(cols)), pk("track"), sampling=Sampling(tables=(sample("track", cols),)))
    assert hits("NF04", s) == []


def test_nf04_exact_or_nothing_silences_a_coincidence_with_violations() -> None:
    # Chinook: composer -> media_type_id held with 12 violating rows of 1,960
    rows = 400
    composer = [i % 80 for i in range(rows)]
    media = [c % 3 for c in composer]
    for i in (7, 91, 203):
        media[i] = (media[i] + 1) % 3
    cols: dict[str, Sequence[object]] = {"id": list(range(rows)), "composer": composer, "media_type_id": media}
    s = snap(table("track", list(cols)), pk("track"), sampling=Sampling(tables=(sample("track", cols),)))
    assert hits("NF04", s) == []


def test_nf01_link_tables_are_not_repeating_groups() -> None:
    from tests.builders import index

    s = snap(
        table("artist", ["id"]), pk("artist"), table("label", ["id"]), pk("label"),
        # MusicBrainz: l_artist_label(entity0 -> artist, entity1 -> label)
        table("l_artist_label", ["id", "link", "entity0", "entity1"]), pk("l_artist_label"),
        fk("l_artist_label", ["entity0"], "artist"), fk("l_artist_label", ["entity1"], "label"),
        # l_artist_artist(entity0, entity1 -> artist), unique with link: an edge between two artists
        table("l_artist_artist", ["id", "link", "entity0", "entity1"]), pk("l_artist_artist"),
        fk("l_artist_artist", ["entity0"], "artist"), fk("l_artist_artist", ["entity1"], "artist"),
        index("l_artist_artist", ["entity0", "entity1", "link"], unique=True),
        # link_type(entity_type0, entity_type1): the two ends of a relationship
        table("link_type", ["id", "entity_type0 text", "entity_type1 text"]), pk("link_type"),
        # a segment's ends
        table("segment", ["id", "x1", "y1", "x2", "y2"]), pk("segment"),
        # autoeditor_election(seconder_1, seconder_2 -> editor), in no key: a repeating group
        table("editor", ["id"]), pk("editor"),
        table("election", ["id", "seconder_1", "seconder_2"]), pk("election"),
        fk("election", ["seconder_1"], "editor"), fk("election", ["seconder_2"], "editor"),
    )
    assert [(h.object.table, h.object.columns) for h in hits("NF01", s)] == [
        ("election", ("seconder_1", "seconder_2"))]


# ---- NF02: lists with few distinct combinations, mixed shapes; pairs and prose stay silent ---


@pytest.mark.parametrize(("name", "values", "listed"), [
    ("few_combinations", ["Trailers,Deleted Scenes", "Commentaries,Trailers", "Trailers",
                          "Behind the Scenes,Commentaries"], True),
    ("two_combinations", ["red,green", "green,blue"], True),
    ("mixed_shapes", ["A12,blue,XL-3", "B7,red", "C3,green,XL-3", "blue,A12"], True),
    ("last_first", ["Smith, John", "Doe, Jane", "Brown, Bob", "Lee, Ann", "James, Lee"], False),
    ("city_state", ["Austin, TX", "Dallas, TX", "Reno, NV", "Salem, OR"], False),
    ("titles", ["The Good, the Bad and the Ugly", "Crime and Punishment", "Hello, World"], False),
    ("addresses", ["12 Main St, Springfield, IL", "5 Oak Ave, Austin, TX"], False),
    ("one_combination", ["red,green"], False),  # nothing to compare: a pair as far as the sample shows
])
def test_nf02_lists_with_few_combinations_and_mixed_shapes(name: str, values: list[str], listed: bool) -> None:
    rows = values * (200 // len(values))
    ts = sample("t", {"id": list(range(len(rows))), "v": rows}, text=("v",))
    s = snap(table("t", ["id", "v text"]), pk("t"), sampling=Sampling(tables=(ts,)))
    assert bool(hits("NF02", s)) == listed, (name, ts.columns[1].profile)


def test_nf02_position_overlap_edge() -> None:
    from auditor.sampling import position_overlap

    # 1 of 5 items changes places: 0.2, the default min_position_overlap, makes two-item values lists
    assert position_overlap([("a", "b"), ("c", "d"), ("b", "e")]) == 0.2
    assert position_overlap([("a", "b"), ("c", "d")]) == 0.0
    assert position_overlap([("a", "b")], singles=["b"]) == 0.5
    assert position_overlap([]) is None


# ---- JSON documents: neither determinant nor dependent ---


def _tenants(settings_type: str, check: str | None, key: Sequence[str] = ("id",)) -> Snapshot:
    """rt16: tenants whose address_line2 follows their settings document in the sample (100 documents, each
    shared by two rows), beside a real zip -> city dependency that must stay reported."""
    ids = list(range(N))
    cols: dict[str, Sequence[object]] = {
        "id": ids,
        "settings": [f'{{"theme": "t{i % 100}"}}' for i in ids],
        "address_line2": [f"Suite {i % 100}" for i in ids],
        "zip": [i % 23 for i in ids],
        "city": [f"city {i % 23}" for i in ids],
    }
    ts = sample("tenants", cols, text=("settings", "address_line2", "city"))
    ts = dataclasses.replace(ts, columns=tuple(
        dataclasses.replace(c, data_type=settings_type) if c.name == "settings" else c for c in ts.columns))
    checks = [Constraint("public", "tenants", "settings", "check", columns=("settings",), definition=check)] \
        if check else []
    columns = [Column("id", "bigint", nullable=False, position=1),
               Column("settings", settings_type, nullable=False, position=2),
               "address_line2 text", "zip", "city text"]
    s = snap(table("tenants", columns), pk("tenants", key), *checks, sampling=Sampling(tables=(ts,)))
    return dataclasses.replace(s, engine="mysql")


@pytest.mark.parametrize(("settings_type", "check"), [
    ("longtext", "CHECK (json_valid(`settings`))"),  # MariaDB's JSON alias, as CHECK_CONSTRAINTS prints it
    ("longtext", "CHECK (`settings` IS NULL OR json_valid(settings))"),
    ("json", None),  # MySQL 8's own type, sampled by a snapshot from before the probe skipped it
])
def test_nf03_nf04_never_use_a_json_document_as_determinant_or_dependent(settings_type: str,
                                                                          check: str | None) -> None:
    s = _tenants(settings_type, check)
    found = hits("NF04", s)
    assert [(h.details["determinant"], h.details["dependent"]) for h in found] == [(["zip"], ["city"])]
    assert "settings" not in " ".join(h.message + (h.remediation or "") for h in found)
    # the same rows keyed by (id, settings): no partial dependency on part of the key that is a document
    assert hits("NF03", _tenants(settings_type, check, key=("id", "settings"))) == []
    # NF02: a document is reported as info from its type, never as a delimited list
    nf02 = [(h.object.columns, h.severity and h.severity.value) for h in hits("NF02", s)]
    assert nf02 == [(("settings",), "info")]


def test_a_longtext_with_another_check_is_still_judged() -> None:
    s = _tenants("longtext", "CHECK (char_length(`settings`) < 100)")
    found = hits("NF04", s)
    assert (["settings"], ["address_line2"]) in [(h.details["determinant"], h.details["dependent"]) for h in found]
    assert [h.details["determinant"] for h in hits("NF03", _tenants("longtext", None, key=("id", "settings")))] \
        == [["settings"]]


def test_a_scan_without_a_sample_never_imports_numpy() -> None:
    # numpy (~0.1-0.2 s of start-up) is imported by auditor.sample_analysis alone, where a sample is taken or judged
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import auditor.audit, auditor.connectors.postgres, auditor.connectors.mysql, reports.text, reports.jsonfmt\n"
        "from auditor.engine import load_checks, run_checks\n"
        "from tests.builders import snap, table\n"
        "run_checks(snap(table('t', ['id', 'a'])), list(load_checks().values()))\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
