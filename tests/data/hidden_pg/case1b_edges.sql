-- Case 1b: extra index edge cases, applied on top of case1 (database case1).
-- PLANT-IX02-desc1: single-column (issued_at) vs (issued_at DESC): a B-tree is read both ways, NULLS follow
CREATE INDEX invoices_issued_idx ON invoices (issued_at);
CREATE INDEX invoices_issued_desc_idx ON invoices (issued_at DESC);
-- PLANT-IX03-include: (paid_at) is served by (paid_at) INCLUDE (amount)
CREATE INDEX payments_paid_at_amount_idx ON payments (paid_at) INCLUDE (amount);
-- PLANT-IX02-pk: plain index duplicating the primary key
CREATE INDEX products_id_idx ON products (id);
-- PLANT-IX03-under-unique: non-unique (account_id) under UNIQUE (account_id, number)
CREATE TABLE quotes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id),
                     number text NOT NULL, CONSTRAINT quotes_account_number_key UNIQUE (account_id, number));
CREATE INDEX quotes_account_idx ON quotes (account_id);
-- TRAP-IX05-gist: FK covered by the leading column of an exclusion constraint's GiST index
CREATE TABLE reservations (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                           account_id bigint NOT NULL REFERENCES accounts (id),
                           during tstzrange NOT NULL,
                           EXCLUDE USING gist (account_id WITH =, during WITH &&));
-- TRAP-IX02-unique-vs-plain-expr: unique partial vs full unique
CREATE UNIQUE INDEX quotes_open_number_uidx ON quotes (number) WHERE account_id > 0;
CREATE UNIQUE INDEX quotes_number_uidx ON quotes (number);
ANALYZE;
