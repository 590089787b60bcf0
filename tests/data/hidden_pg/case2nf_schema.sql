-- Red-team case 2 (webshop), normalization part only, at test size (the original: 50,000 customers,
-- 100,000 orders, 30,000 reviews, plus an events table and a workload for the WL checks).
-- PLANT: NF01 customers.phone1/2/3; NF02 customers.interests ('golf;tennis;chess');
--        NF03 order_lines.product_title <- product_id (part of the key);
--        NF04 customers.zip -> city, customers.country_code -> country_name.
-- TRAP:  address_line1/2; email unique in the data; tenant constant; id -> attributes;
--        delivery_notes (prose with commas); reviews.comment (terse free text "Great product, fast shipping").
SELECT setseed(0.42);

CREATE TABLE order_statuses (id smallint PRIMARY KEY, code text NOT NULL, label text NOT NULL);
INSERT INTO order_statuses VALUES (1,'new','New'),(2,'paid','Paid'),(3,'shipped','Shipped'),
                                  (4,'delivered','Delivered'),(5,'cancelled','Cancelled');

CREATE TABLE customers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text NOT NULL,
    full_name      text NOT NULL,
    phone1         text,
    phone2         text,
    phone3         text,
    address_line1  text,
    address_line2  text,
    zip            text NOT NULL,
    city           text NOT NULL,
    country_code   char(2) NOT NULL,
    country_name   text NOT NULL,
    tenant         text NOT NULL,
    interests      text,
    delivery_notes text,
    created_at     timestamptz NOT NULL
);

CREATE TEMP TABLE cities AS
    SELECT i AS city_no, (ARRAY['Spring','River','Oak','Maple','Cedar','Lake','Hill','Green','Fair','Rock'])[1 + i % 10]
                         || (ARRAY['field','ton','ville','burg','port','dale','wood','haven','mouth','stead'])[1 + (i / 10) % 10]
                         || CASE WHEN i >= 100 THEN ' ' || (ARRAY['North','South'])[1 + (i / 100) % 2] ELSE '' END AS city
    FROM generate_series(0, 199) i;
CREATE TEMP TABLE countries(code, name) AS VALUES
    ('DE','Germany'),('FR','France'),('US','United States'),('GB','United Kingdom'),('NL','Netherlands'),
    ('ES','Spain'),('IT','Italy'),('PL','Poland'),('SE','Sweden'),('AT','Austria'),('BE','Belgium'),('CH','Switzerland');
CREATE TEMP TABLE ctry AS SELECT row_number() OVER () - 1 AS n, code, name FROM countries;

INSERT INTO customers (email, full_name, phone1, phone2, phone3, address_line1, address_line2, zip, city,
                       country_code, country_name, tenant, interests, delivery_notes, created_at)
SELECT 'cust' || g || '@mail.example',
       'Customer ' || g,
       '+49 30 ' || (1000000 + g),
       CASE WHEN random() < 0.33 THEN '+49 170 ' || (2000000 + g) END,
       CASE WHEN random() < 0.11 THEN '+49 171 ' || (3000000 + g) END,
       (1 + (random() * 299)::int) || ' ' || (ARRAY['Main St','High St','Station Rd','Church Ln','Park Ave'])[1 + (random() * 4)::int],
       CASE WHEN random() < 0.25 THEN 'Apt ' || (1 + (random() * 39)::int) END,
       z.zip, c.city, k.code, k.name, 'acme',
       CASE WHEN random() < 0.7 THEN
            array_to_string(ARRAY(SELECT x FROM unnest(ARRAY['golf','tennis','chess','hiking','cooking','jazz','yoga','cycling']) x
                                  WHERE random() < 0.35 + (g % 2) * 0.0), ';') END,
       CASE (random() * 5)::int
            WHEN 0 THEN 'Please leave the parcel with the neighbour, not at the door.'
            WHEN 1 THEN 'If nobody is home, try again tomorrow, thanks.'
            WHEN 2 THEN 'Ring twice, the bell is broken on the left side.'
            WHEN 3 THEN NULL
            WHEN 4 THEN 'Deliver after 5 pm, the office is closed in the morning.'
            ELSE 'Gate code is 1234, then it is the second door on the right.' END,
       timestamptz '2023-01-01' + (g * 611 || ' seconds')::interval
FROM generate_series(1, 8000) g
CROSS JOIN LATERAL (SELECT (g * 7919) % 1000 AS zipno) zz
CROSS JOIN LATERAL (SELECT lpad((10000 + zz.zipno * 7)::text, 5, '0') AS zip) z
JOIN cities c ON c.city_no = zz.zipno % 200
-- one country per customer: a random() in the join condition would be drawn once per candidate pair (the
-- red team's original did that, so customers got 0, 1 or 2 rows each)
CROSS JOIN LATERAL (SELECT g * 0 + (random() * 11)::int AS n) kn
JOIN ctry k ON k.n = kn.n;
UPDATE customers SET interests = NULL WHERE interests = '';

CREATE TABLE products (
    id       bigint PRIMARY KEY,
    sku      text NOT NULL UNIQUE,
    title    text NOT NULL,
    category text NOT NULL,
    price    numeric(10,2) NOT NULL
);
INSERT INTO products SELECT g, 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g,
       (ARRAY['books','garden','kitchen','toys','tools','music'])[1 + (g * 13) % 6], 5 + (g % 95)
FROM generate_series(1, 500) g;

CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status_id   smallint NOT NULL REFERENCES order_statuses (id),
    created_at  timestamptz NOT NULL,
    total       numeric(12,2) NOT NULL
);
INSERT INTO orders (customer_id, status_id, created_at, total)
SELECT 1 + (random() * 7999)::int,
       CASE WHEN random() < 0.7 THEN 4 ELSE 1 + (random() * 4)::int END,
       timestamptz '2024-01-01' + (g * 157 || ' seconds')::interval,
       round((random() * 300)::numeric, 2)
FROM generate_series(1, 8000) g;
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_status_idx ON orders (status_id);

CREATE TABLE order_lines (
    order_id      bigint NOT NULL REFERENCES orders (id),
    product_id    bigint NOT NULL REFERENCES products (id),
    quantity      integer NOT NULL,
    unit_price    numeric(10,2) NOT NULL,
    product_title text NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO order_lines
SELECT o.id, p.pid, 1 + (random() * 4)::int, round((5 + random() * 90)::numeric, 2), 'Product ' || p.pid
FROM orders o
CROSS JOIN LATERAL (SELECT DISTINCT 1 + ((o.id * 37 + k * 101 + (random() * 499)::int) % 500) AS pid
                    FROM generate_series(1, 1 + (o.id % 3)::int) k) p;
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

CREATE TABLE reviews (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id bigint NOT NULL REFERENCES products (id),
    rating     smallint NOT NULL,
    comment    text
);
CREATE INDEX reviews_product_idx ON reviews (product_id);
INSERT INTO reviews (product_id, rating, comment)
SELECT 1 + (random() * 499)::int, 1 + (random() * 4)::int,
       (ARRAY['Great product, fast shipping, would buy again',
              'Works as described, solid build quality',
              'Arrived late, box damaged, product fine',
              'I love it, my kids play with it every day.',
              'Not what I expected, the colour is off and it feels cheap.',
              'Excellent value, quick delivery, friendly support',
              'Good',
              'Decent, nothing special'])[1 + (random() * 7)::int]
FROM generate_series(1, 5000) g;

ANALYZE;
