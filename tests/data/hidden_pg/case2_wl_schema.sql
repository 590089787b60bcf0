-- Red team case 2 (webshop), workload part, trimmed for the suite: the tables and indexes the workload of
-- tests/test_hidden_pg_workload.py reads. PLANT-xx must be reported, TRAP-xx must stay silent.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SELECT setseed(0.42);

CREATE TABLE order_statuses (id smallint PRIMARY KEY, code text NOT NULL, label text NOT NULL);  -- 5 rows
INSERT INTO order_statuses VALUES (1,'new','New'),(2,'paid','Paid'),(3,'shipped','Shipped'),
                                  (4,'delivered','Delivered'),(5,'cancelled','Cancelled');

CREATE TABLE customers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text NOT NULL,
    full_name    text NOT NULL,
    country_code char(2) NOT NULL,
    created_at   timestamptz NOT NULL
);
INSERT INTO customers (email, full_name, country_code, created_at)
SELECT 'cust' || g || '@mail.example', 'Customer ' || g,
       (ARRAY['DE','FR','US','GB','NL','ES','IT','PL','SE','AT','BE','CH'])[1 + (random() * 11)::int],
       timestamptz '2023-01-01' + (g * 611 || ' seconds')::interval
FROM generate_series(1, 50000) g;

CREATE TABLE products (
    id    bigint PRIMARY KEY,
    sku   text NOT NULL UNIQUE,
    title text NOT NULL,
    price numeric(10,2) NOT NULL
);
INSERT INTO products SELECT g, 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g, 5 + (g % 95)
FROM generate_series(1, 2000) g;

CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status_id   smallint NOT NULL REFERENCES order_statuses (id),
    created_at  timestamptz NOT NULL,
    total       numeric(12,2) NOT NULL
);
INSERT INTO orders (customer_id, status_id, created_at, total)
SELECT 1 + (random() * 49999)::int,
       CASE WHEN random() < 0.7 THEN 4 ELSE 1 + (random() * 4)::int END,
       timestamptz '2024-01-01' + (g * 157 || ' seconds')::interval,
       round((random() * 300)::numeric, 2)
FROM generate_series(1, 100000) g;
CREATE INDEX orders_created_at_idx ON orders (created_at);   -- serves TRAP-WL02-served
CREATE INDEX orders_status_idx ON orders (status_id);        -- the weak index of PLANT-WL02-b

CREATE TABLE order_lines (
    order_id   bigint NOT NULL REFERENCES orders (id),
    product_id bigint NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL,
    unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO order_lines
SELECT o.id, 1 + ((o.id * 37 + k * 101) % 2000), 1 + (random() * 4)::int, round((5 + random() * 90)::numeric, 2)
FROM orders o CROSS JOIN generate_series(1, 1 + (o.id % 3)::int) k;
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id text NOT NULL,              -- PLANT-WL02-a: looked up by session_id, no index
    kind       text NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO events (session_id, kind, created_at)
SELECT md5((g / 20)::text), (ARRAY['view','click','cart','checkout'])[1 + (g % 4)],
       timestamptz '2024-06-01' + (g || ' seconds')::interval
FROM generate_series(1, 100000) g;

CREATE TABLE reviews (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id bigint NOT NULL REFERENCES products (id),
    rating     smallint NOT NULL,
    comment    text
);
CREATE INDEX reviews_product_idx ON reviews (product_id);
INSERT INTO reviews (product_id, rating, comment)
SELECT 1 + (random() * 1999)::int, 1 + (random() * 4)::int, 'Good'
FROM generate_series(1, 30000) g;

ANALYZE;
