"""Benchmark of the normalization checks on realistic distributions, both engines.

1. Planted problems, by kind, in tables of 100 k to 500 k rows on a throwaway PostgreSQL and MariaDB:
   - fk_copy: a column copied from the referenced row of a foreign key (1 k to 100 k parents, 2-3 rows each,
     Zipf-skewed in the 100 k case);
   - composite_fk_copy: the same through a two-column foreign key;
   - key_prefix: an attribute of the first key column stored on every row of a composite-key table with two
     or three rows per prefix (NF03);
   - code_name: a code -> name dependency with 1 k to 100 k codes, Zipf-skewed groups (NF04);
   - list_few / list_many / list_mixed: delimited lists with a handful or many combinations, and lists
     mixing codes and words (NF02).
   Beside them, traps that must stay silent: near-dependencies at 95-99.5 %, a near-copy of the parent
   (97 %), prose with commas, "Last, First" names, "City, ST" pairs, constant and nearly unique columns.
   Prints precision and recall per kind of plant and the sampling time per table.
2. A 1,000,000-row, 30-column table: seconds of sampling (uniform, joins and group sample) and of the checks.
3. The public sample databases (../shared/samples): every NF01-NF04 finding, to be judged against
   docs/normalization-samples.md.

Run: .venv/bin/python bench/bench_normalization.py [--pg-only] [--mysql-only] [--no-samples] [--no-big]
     [--scale F]  (F multiplies every cardinality and row count; 1 gives about 1.8 M rows in 20 tables)
"""

from __future__ import annotations

import io
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from auditor.connectors import CollectOptions, collect
from auditor.dsn import parse_dsn
from auditor.engine import all_checks, run_checks, select_checks
from auditor.model import Finding, Snapshot

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
NF = ["NF01", "NF02", "NF03", "NF04"]
KINDS = ("fk_copy", "composite_fk_copy", "key_prefix", "code_name", "list_few", "list_many", "list_mixed")

# ---- data ------------------------------------------------------------------------------------------------------


@dataclass
class Table:
    name: str
    columns: list[tuple[str, str]]  # (name, type: "int" | "text")
    rows: list[tuple[Any, ...]]
    primary_key: list[str]
    foreign_keys: list[tuple[list[str], str, list[str]]] = field(default_factory=list)
    kind: str = ""  # the kind of plant it holds ("" for parents)


@dataclass
class Plant:
    kind: str
    code: str
    table: str
    determinant: tuple[str, ...]
    dependent: str  # for NF02 the list column


def _zipf_sizes(rng: random.Random, groups: int, rows: int, skew: bool) -> list[int]:
    """Rows per group summing to about ``rows``: 2-3 each, or Zipf-skewed (s = 1.1) with at least 1."""
    if not skew:
        return [2 + (rng.random() < (rows / groups - 2)) for _ in range(groups)]
    weights = [1.0 / (k + 1) ** 1.1 for k in range(groups)]
    total = sum(weights)
    return [max(1, round(w / total * rows)) for w in weights]


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]
SURNAMES = ["Smith", "Jones", "Brown", "Lee", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Taylor"]
GIVEN = ["John", "Jane", "Bob", "Ann", "Maria", "David", "Laura", "Paul", "Eva", "Omar"]
CITIES = [("Austin", "TX"), ("Dallas", "TX"), ("Reno", "NV"), ("Salem", "OR"), ("Boise", "ID"), ("Miami", "FL")]
PROSE = ["Great product, fast shipping, would buy again", "Arrived late, box damaged", "Works fine, thanks",
         "Not what I expected, the colour is off", "Hello, world", "Okay, I guess"]


def _noisy(rng: random.Random, value: Any, share_wrong: float, wrong: Callable[[], Any]) -> Any:
    return wrong() if rng.random() < share_wrong else value


def build(seed: int, scale: float = 1.0) -> tuple[list[Table], list[Plant]]:
    rng = random.Random(seed)
    tables: list[Table] = []
    plants: list[Plant] = []

    def near(share: float) -> float:  # share of wrong rows for a trap at `share` agreement
        return 1.0 - share

    for i, card in enumerate((1_000, 10_000, 100_000)):
        card = int(card * scale)
        skew = card >= 100_000 * scale
        # fk_copy: parent with name/region, child copying name (planted) and region at 97 % (trap)
        p, c = f"fkp_{i}", f"fkc_{i}"
        parent_rows: list[tuple[Any, ...]] = [
            (k, f"name-{rng.getrandbits(40):x}", f"region-{rng.randrange(40)}") for k in range(card)]
        tables.append(Table(p, [("id", "int"), ("name", "text"), ("region", "text")], parent_rows, ["id"]))
        rows: list[tuple[Any, ...]] = []
        n = 0
        for k, size in enumerate(_zipf_sizes(rng, card, int(card * 2.5), skew)):
            for _ in range(size):
                n += 1
                pr = parent_rows[k]
                rows.append((n, k, pr[1], _noisy(rng, pr[2], near(0.97), lambda: f"region-{rng.randrange(40)}"),
                             rng.randrange(1000), rng.choice(PROSE)))
        tables.append(Table(c, [("id", "int"), ("parent_id", "int"), ("parent_name", "text"),
                                ("parent_region", "text"), ("amount", "int"), ("note", "text")], rows, ["id"],
                            [(["parent_id"], p, ["id"])], kind="fk_copy"))
        plants.append(Plant("fk_copy", "NF04", c, ("parent_id",), "parent_name"))

        # composite_fk_copy
        p, c = f"cfp_{i}", f"cfc_{i}"
        parent_rows = [(k // 10, k % 10, f"label-{rng.getrandbits(40):x}") for k in range(card)]
        tables.append(Table(p, [("a", "int"), ("b", "int"), ("label", "text")], parent_rows, ["a", "b"]))
        rows = []
        n = 0
        for k, size in enumerate(_zipf_sizes(rng, card, int(card * 2.5), False)):
            for _ in range(size):
                n += 1
                pr = parent_rows[k]
                rows.append((n, pr[0], pr[1], pr[2], rng.randrange(50)))
        tables.append(Table(c, [("id", "int"), ("a", "int"), ("b", "int"), ("label", "text"), ("qty", "int")],
                            rows, ["id"], [(["a", "b"], p, ["a", "b"])], kind="composite_fk_copy"))
        plants.append(Plant("composite_fk_copy", "NF04", c, ("a", "b"), "label"))

        # key_prefix: lines(order_no, line_no) with order_ref/order_day attributes of order_no (no FK)
        c = f"lines_{i}"
        rows = []
        for o, size in enumerate(_zipf_sizes(rng, card, int(card * 2.5), False)):
            ref, day = f"ORD-{rng.getrandbits(36):x}", rng.randrange(3650)
            for line in range(size):
                rows.append((o, line, ref, day, rng.randrange(1, 9), rng.randrange(100_000),
                             _noisy(rng, day % 7, near(0.98), lambda: rng.randrange(7))))
        tables.append(Table(c, [("order_no", "int"), ("line_no", "int"), ("order_ref", "text"),
                                ("order_day", "int"), ("qty", "int"), ("product_no", "int"),
                                ("weekday_guess", "int")], rows, ["order_no", "line_no"], kind="key_prefix"))
        plants += [Plant("key_prefix", "NF03", c, ("order_no",), "order_ref"),
                   Plant("key_prefix", "NF03", c, ("order_no",), "order_day")]

        # code_name: code -> name (planted), code -> category at 95-99.5 % (traps), constant, nearly unique
        c = f"items_{i}"
        names = [f"item name {rng.getrandbits(40):x}" for _ in range(card)]
        cats = [rng.randrange(30) for _ in range(card)]
        rows = []
        n = 0
        for k, size in enumerate(_zipf_sizes(rng, card, int(card * 3), skew)):
            for _ in range(size):
                n += 1
                rows.append((n, f"C{k:06d}", names[k],
                             _noisy(rng, cats[k], near(0.995), lambda: rng.randrange(30)),
                             _noisy(rng, cats[k] % 7, near(0.95), lambda: rng.randrange(7)),
                             "active", f"u{rng.getrandbits(48):x}", rng.randrange(100)))
        tables.append(Table(c, [("id", "int"), ("code", "text"), ("code_name", "text"), ("category", "int"),
                                ("family", "int"), ("status", "text"), ("token", "text"), ("score", "int")],
                            rows, ["id"], kind="code_name"))
        plants.append(Plant("code_name", "NF04", c, ("code",), "code_name"))

    # lists: few combinations, many combinations, mixed shapes; prose, "Last, First", "City, ST" as traps
    for i, rows_n in enumerate((100_000, 200_000)):
        rows_n = int(rows_n * scale)
        few = ["red,green", "green,blue", "blue", "red,blue,green"]
        rows = []
        for n in range(rows_n):
            many = ";".join(rng.sample(WORDS, rng.randrange(2, 5)))
            mixed = ",".join(rng.sample(["A12", "B7", "XL-3", "blue", "red", "Q9", "green", "M-20"],
                                        rng.randrange(2, 4)))
            city = rng.choice(CITIES)
            rows.append((n, rng.choice(few), many, mixed, rng.choice(PROSE),
                         f"{rng.choice(SURNAMES)}, {rng.choice(GIVEN)}", f"{city[0]}, {city[1]}",
                         f"{rng.randrange(1, 999)} Main St, {', '.join(rng.choice(CITIES))}"))
        c = f"lists_{i}"
        tables.append(Table(c, [("id", "int"), ("colours", "text"), ("tags", "text"), ("codes", "text"),
                                ("review", "text"), ("person", "text"), ("city_state", "text"),
                                ("address", "text")], rows, ["id"], kind="lists"))
        plants += [Plant("list_few", "NF02", c, (), "colours"), Plant("list_many", "NF02", c, (), "tags"),
                   Plant("list_mixed", "NF02", c, (), "codes")]
    return tables, plants


# ---- loading ---------------------------------------------------------------------------------------------------


def load_pg(dsn: str, tables: list[Table]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in tables:
            cols = ", ".join(f"{c} {'bigint' if ty == 'int' else 'text'} NOT NULL" for c, ty in t.columns)
            conn.execute(f"CREATE TABLE {t.name} ({cols}, PRIMARY KEY ({', '.join(t.primary_key)}))")
            with conn.cursor().copy(f"COPY {t.name} FROM STDIN") as copy:
                for r in t.rows:
                    copy.write_row(r)
        for t in tables:
            for cols_, ref, ref_cols in t.foreign_keys:
                conn.execute(f"ALTER TABLE {t.name} ADD FOREIGN KEY ({', '.join(cols_)}) "
                             f"REFERENCES {ref} ({', '.join(ref_cols)})")
        conn.execute("ANALYZE")


def load_mysql(conn: Any, tables: list[Table]) -> None:
    with conn.cursor() as cur:
        for t in tables:
            cols = ", ".join(f"`{c}` {'bigint' if ty == 'int' else 'varchar(120)'} NOT NULL" for c, ty in t.columns)
            cur.execute(f"CREATE TABLE `{t.name}` ({cols}, PRIMARY KEY ({', '.join(t.primary_key)}))")
            marks = ", ".join(["%s"] * len(t.columns))
            for start in range(0, len(t.rows), 5000):
                cur.executemany(f"INSERT INTO `{t.name}` VALUES ({marks})", t.rows[start:start + 5000])
        for t in tables:
            for cols_, ref, ref_cols in t.foreign_keys:
                cur.execute(f"ALTER TABLE `{t.name}` ADD FOREIGN KEY ({', '.join(cols_)}) "
                            f"REFERENCES `{ref}` ({', '.join(ref_cols)})")
        for t in tables:
            cur.execute(f"ANALYZE TABLE `{t.name}`")
            cur.fetchall()


# ---- scoring ---------------------------------------------------------------------------------------------------


def _keys(f: Finding) -> Iterable[tuple[str, str, tuple[str, ...], str]]:
    table = f.object.table or ""
    if f.code == "NF02":
        if f.severity.value != "info":
            yield ("NF02", table, (), (f.object.columns or ("",))[0])
        return
    if f.code in ("NF03", "NF04"):
        det = tuple(str(c) for c in f.details["determinant"])  # type: ignore[union-attr]
        for dep in f.details["dependent"]:  # type: ignore[union-attr]
            yield (f.code, table, det, str(dep))
        return
    yield (f.code, table, tuple(f.object.columns or ()), "")


def score(snap: Snapshot, findings: list[Finding], tables: list[Table], plants: list[Plant]) -> None:
    planted = {(p.code, p.table, p.determinant, p.dependent): p.kind for p in plants}
    kind_of_table = {t.name: t.kind for t in tables}
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    found = set()
    false: list[str] = []
    for f in findings:
        for key in _keys(f):
            if key in planted:
                tp[planted[key]] += 1
                found.add(key)
            else:
                kind = kind_of_table.get(key[1], "")
                kinds = [p.kind for p in plants if p.table == key[1]] or [kind]
                for k in set(kinds):
                    fp[k] += 1
                false.append(f"{f.code} {f.message[:160]}")
    print(f"  {'kind':<18} {'planted':>7} {'found':>5} {'false':>5} {'precision':>9} {'recall':>6}")
    for kind in KINDS:
        n = sum(1 for k in planted.values() if k == kind)
        hit = tp[kind]
        prec = hit / (hit + fp[kind]) if hit + fp[kind] else 1.0
        print(f"  {kind:<18} {n:>7} {hit:>5} {fp[kind]:>5} {prec:>9.3f} {hit / n if n else 1.0:>6.3f}")
    missed = [k for k in planted if k not in found]
    for m in missed:
        print(f"    missed: {m}")
    for x in false:
        print(f"    false: {x}")
    assert snap.sampling is not None
    sampled = [t for t in snap.sampling.tables if t.skipped_reason is None]
    slowest = max(sampled, key=lambda t: t.duration_s)
    print(f"  sampling: {len(sampled)} tables in {snap.sampling.duration_s:.1f} s "
          f"({snap.sampling.queries} queries); slowest table {slowest.table} "
          f"({slowest.estimated_rows or 0:,} rows) {slowest.duration_s:.2f} s")


def scan(dsn: str) -> tuple[Snapshot, list[Finding], float]:
    t0 = time.perf_counter()
    snap = collect(parse_dsn(dsn), CollectOptions(workload=False, sample_budget_s=300))
    collected = time.perf_counter() - t0
    findings = list(run_checks(snap, select_checks(all_checks(), NF)).findings)
    return snap, findings, collected


# ---- servers ---------------------------------------------------------------------------------------------------


def bench_pg(tables: list[Table], plants: list[Plant], samples: bool, big: bool) -> None:
    from auditor.throwaway import start_postgres

    server = start_postgres("auto")
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_plants")
        dsn = server.dsn("bench_plants")
        t0 = time.perf_counter()
        load_pg(dsn, tables)
        print(f"PostgreSQL {server.version_num}: {sum(len(t.rows) for t in tables):,} rows in {len(tables)} "
              f"tables loaded in {time.perf_counter() - t0:.0f} s")
        snap, findings, secs = scan(dsn)
        print(f"  scan (collect + sampling) {secs:.1f} s")
        score(snap, findings, tables, plants)
        if big:
            big_table_pg(server)
        if samples:
            samples_pg(server)
    finally:
        server.stop()


def big_table_pg(server: Any) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_big")
    dsn = server.dsn("bench_big")
    cols = ", ".join(f"c{i:02d} {'text' if i % 3 == 0 else 'bigint'}" for i in range(29))
    exprs = ", ".join(f"(abs(hashint8(g * {i + 3})) % {[10, 1000, 100000][i % 3]})"
                      + ("::text" if i % 3 == 0 else "") for i in range(29))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE big (id bigint PRIMARY KEY, {cols})")
        conn.execute(f"INSERT INTO big SELECT g, {exprs} FROM generate_series(1, 1000000) g")
        conn.execute("VACUUM ANALYZE big")
    snap, findings, _ = scan(dsn)
    t1 = time.perf_counter()
    run_checks(snap, select_checks(all_checks(), NF))
    checks_s = time.perf_counter() - t1
    ts = snap.sampling.tables[0] if snap.sampling else None
    assert ts is not None
    groups = ts.groups.rows if ts.groups else 0
    print(f"  1,000,000 rows x 30 columns: sampling {ts.duration_s:.2f} s ({ts.method} {ts.rows:,} rows, "
          f"group sample {groups:,} rows), NF01-NF04 {checks_s:.2f} s, {len(findings)} findings")


def _psql(bin_dir: Path, dsn: str, path: Path, text: str | None = None) -> None:
    args = [str(bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=0", "-d", dsn]
    if text is None:
        args += ["-f", str(path)]
    subprocess.run(args, input=text, text=True, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _without_database_lines(path: Path) -> str:
    return re.sub(r"(?im)^\s*(DROP DATABASE|CREATE DATABASE|\\c |USE ).*$", "", path.read_text(encoding="utf-8-sig"))


def samples_pg(server: Any) -> None:
    pg = SAMPLES / "postgres"
    loads = {
        "pagila": [pg / "pagila/pagila-schema.sql", pg / "pagila/pagila-data.sql"],
        "chinook": [pg / "chinook/Chinook_PostgreSql.sql"],
        "northwind": [pg / "northwind/northwind.sql"],
        "sakila": [pg / "sakila/postgres-sakila-schema.sql", pg / "sakila/postgres-sakila-insert-data-using-copy.sql"],
    }
    for name, files in loads.items():
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE sample_{name}")
        dsn = server.dsn(f"sample_{name}")
        for f in files:
            _psql(server.bin_dir, dsn, f, _without_database_lines(f) if name == "chinook" else None)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("ANALYZE")
        _print_sample(f"postgresql/{name}", *scan(dsn)[:2])


def _print_sample(name: str, snap: Snapshot, findings: list[Finding]) -> None:
    shown = [f for f in findings if f.severity.value != "info"]
    print(f"  {name}: {len(snap.tables)} tables, {len(shown)} findings (warning)")
    for f in shown:
        print(f"    {f.code} {f.message}")


def bench_mysql(tables: list[Table], plants: list[Plant], samples: bool) -> None:
    from auditor.throwaway_mysql import find_mariadb, start_mariadb

    if find_mariadb() is None:
        print("MariaDB: no server binary, skipped")
        return
    server = start_mariadb(performance_schema=False)
    try:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE bench_plants")
        t0 = time.perf_counter()
        with server.connect("bench_plants") as conn:
            load_mysql(conn, tables)
        print(f"MariaDB: {sum(len(t.rows) for t in tables):,} rows loaded in {time.perf_counter() - t0:.0f} s")
        snap, findings, secs = scan(server.dsn("bench_plants"))
        print(f"  scan (collect + sampling) {secs:.1f} s")
        score(snap, findings, tables, plants)
        if samples:
            my = SAMPLES / "mysql"
            loads = {"chinook": [my / "chinook/Chinook_MySql.sql"],
                     "sakila": [my / "sakila/sakila-mv-schema.sql", my / "sakila/sakila-mv-data.sql"]}
            for name, files in loads.items():
                with server.connect() as conn, conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE sample_{name}")
                with server.connect(f"sample_{name}") as conn:
                    for f in files:
                        _run_mysql_script(conn, _without_database_lines(f))
                _print_sample(f"mariadb/{name}", *scan(server.dsn(f"sample_{name}"))[:2])
    finally:
        server.stop()


def _run_mysql_script(conn: Any, sql: str) -> None:
    from tests.mysql_support import run_script

    buf = io.StringIO()
    delimiter = ";"
    statements: list[str] = []
    for line in sql.splitlines():
        if line.strip().upper().startswith("DELIMITER "):
            delimiter = line.strip().split()[1]
            continue
        buf.write(line + "\n")
        if line.rstrip().endswith(delimiter):
            text = buf.getvalue().rstrip()
            statements.append(text[: -len(delimiter)])
            buf = io.StringIO()
    for s in statements:
        if s.strip():
            try:
                run_script(conn, s)
            except Exception as exc:  # noqa: BLE001  (a sample's odd statement must not stop the bench)
                print(f"    (skipped a statement: {str(exc)[:80]})")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1.0
    tables, plants = build(seed=12, scale=scale)
    print(f"{len(plants)} plants in {len(tables)} tables, {sum(len(t.rows) for t in tables):,} rows")
    if "--mysql-only" not in sys.argv:
        bench_pg(tables, plants, "--no-samples" not in sys.argv, "--no-big" not in sys.argv)
    if "--pg-only" not in sys.argv:
        bench_mysql(tables, plants, "--no-samples" not in sys.argv)


if __name__ == "__main__":
    main()
