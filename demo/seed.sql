-- dbaudit demo: a small blogging application with planted problems and look-alikes that are fine.
--
-- PLANTED (dbaudit must report each one):
--   IX01 unused-index          posts_status_idx: posts is read hundreds of times, never through it
--   IX02 duplicate-index       comments_post_id_idx1 duplicates comments_post_id_idx
--   IX03 redundant-index       sessions_user_id_idx is a leading prefix of sessions_user_id_expires_at_idx
--   IX04 invalid-index         users_display_name_key (a failed CREATE UNIQUE INDEX CONCURRENTLY, see run_demo.py)
--   IX05 missing-fk-index      comments.author_id -> users: no index leads with author_id
--   KY01 no-primary-key        audit_log
--   KY02 fk-type-mismatch      sessions.user_id is integer, users.id is bigint
--   KY03 unvalidated-constraint user_settings_theme_check (CHECK ... NOT VALID), notifications_user_id_fkey (FK NOT VALID)
--   KY04 sequence-exhaustion   notifications_id_seq (serial at 2,000,000,000 of 2,147,483,647)
--                              page_views_id_seq (a bigint sequence feeding an integer column, at 2,100,000,000)
--   NF01 repeating-group       users.phone1, phone2, phone3
--   NF02 multi-valued-column   posts.tag_list holds comma-separated tag names
--   NF04 transitive-dependency comments.author_email copies users.email through author_id
--   WL02 missing-index-for-query  "comments by author" reads comments (15,000 rows) without an index (workload.py)
--   WL03 n-plus-one            the author of every comment fetched one by one (workload.py)
--   WL04 offset-pagination     the front page paged with OFFSET (workload.py)
--   ST07 planner-settings      enable_memoize switched off for every session of this database
--   SC03 public-schema-create  CREATE on schema public granted to PUBLIC (the default before PostgreSQL 15)
--   SC05 security-definer-search-path  publish_post() runs as its owner with the caller's search_path
--   SC04 superuser-application-role  the application (workload.py) logs in as the superuser postgres
--   and on the demo's own throwaway server (run_demo.py): ST01 fsync, full_page_writes off (synchronous_commit
--   off reported as info only), SC01 its pg_hba.conf trust rules
--
-- LOOK-ALIKES (dbaudit must stay silent on them):
--   users_email_lower_idx      expression index on lower(email) beside the unique email index: not a duplicate
--   comments_visible_post_idx  partial index on post_id WHERE NOT hidden: not a duplicate of the plain ones
--   tags_name_slug_idx         wider than the UNIQUE (name) constraint's index, which is therefore not redundant
--   post_tags                  FK post_id covered by the PK's leading column, FK tag_id by its own index
--   user_settings              FK user_id covered by the primary key; one-row-per-user table with a PK
--   comments_body_length       added NOT VALID, then validated
--   audit_log_id_seq           bigint sequence at 2,000,000,000: far from bigint's limit
--   comments.post_id, post_tags.tag_id  FK types equal to the referenced keys
--   tags_name_slug_idx, comments_* indexes  never scanned, but on tables read too rarely for evidence
--   users.address_line1/2     a conventional pair, not a repeating group
--   comments.body              free text, not a list; posts.title unique in the data
--   the archive page           keyset pagination (WHERE created_at < $1 ORDER BY created_at DESC LIMIT), no OFFSET
--   random_page_cost          tuned to 1.1 for this database's SSDs: not the spinning-disk default
--   schema reporting          CREATE granted to one named role (blog_deployer), not to PUBLIC
--   hide_comment()            SECURITY DEFINER with search_path = pg_catalog, pg_temp and qualified names
--   count_comments()          SECURITY INVOKER: runs with the caller's rights, its search_path is the caller's

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TABLE users (
    id           bigserial PRIMARY KEY,
    email        text        NOT NULL,
    display_name text        NOT NULL,
    country_code char(2),
    phone1       text,
    phone2       text,
    phone3       text,
    address_line1 text,
    address_line2 text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX users_email_lower_idx ON users (lower(email));

CREATE TABLE user_settings (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    theme   text NOT NULL DEFAULT 'light',
    locale  text NOT NULL DEFAULT 'en'
);

CREATE TABLE posts (
    id         bigserial PRIMARY KEY,
    author_id  bigint      NOT NULL REFERENCES users (id),
    title      text        NOT NULL,
    body       text        NOT NULL,
    status     text        NOT NULL DEFAULT 'published',
    tag_list   text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posts_created_at_idx ON posts (created_at);
CREATE INDEX posts_author_id_idx ON posts (author_id);
CREATE INDEX posts_status_idx ON posts (status);

CREATE TABLE comments (
    id         bigserial PRIMARY KEY,
    post_id    bigint      NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  bigint      NOT NULL REFERENCES users (id),
    author_email text,
    body       text        NOT NULL,
    hidden     boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_post_id_idx ON comments (post_id);
CREATE INDEX comments_post_id_idx1 ON comments (post_id);
CREATE INDEX comments_visible_post_idx ON comments (post_id) WHERE NOT hidden;

CREATE TABLE tags (
    id   serial PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL,
    CONSTRAINT tags_name_key UNIQUE (name)
);
CREATE INDEX tags_name_slug_idx ON tags (name, slug);

CREATE TABLE post_tags (
    post_id bigint  NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag_id  integer NOT NULL REFERENCES tags (id),
    PRIMARY KEY (post_id, tag_id)
);
CREATE INDEX post_tags_tag_id_idx ON post_tags (tag_id);

CREATE TABLE sessions (
    id         bigserial PRIMARY KEY,
    user_id    integer     NOT NULL REFERENCES users (id),
    token      text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_user_id_expires_at_idx ON sessions (user_id, expires_at);

CREATE TABLE audit_log (
    id         bigserial,
    user_id    bigint,
    action     text        NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id         serial PRIMARY KEY,
    user_id    bigint      NOT NULL,
    message    text        NOT NULL,
    read_at    timestamptz
);
CREATE INDEX notifications_user_id_idx ON notifications (user_id);

-- A migration tool created the sequence as bigint but the column as integer: the column runs out first.
CREATE SEQUENCE page_views_id_seq AS bigint;
CREATE TABLE page_views (
    id        integer PRIMARY KEY DEFAULT nextval('page_views_id_seq'),
    path      text        NOT NULL,
    viewed_at timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE page_views_id_seq OWNED BY page_views.id;

-- Data: a few thousand rows, pseudo-random but repeatable (setseed), so that columns do not determine
-- each other by accident of modular arithmetic.
SELECT setseed(0.42);
INSERT INTO users (email, display_name, country_code, phone1, phone2, phone3, address_line1, address_line2,
                   created_at)
SELECT 'user' || g || '@example.com',
       'User ' || (g % 1500),          -- display names repeat: the unique index below cannot be built
       (ARRAY['DE', 'FR', 'US', 'JP', 'BR'])[1 + floor(random() * 5)::int],
       '+1-555-' || lpad(floor(random() * 10000000)::text, 7, '0'),
       CASE WHEN random() < 0.4 THEN '+1-555-' || lpad(floor(random() * 10000000)::text, 7, '0') END,
       CASE WHEN random() < 0.1 THEN '+1-555-' || lpad(floor(random() * 10000000)::text, 7, '0') END,
       floor(random() * 900 + 1)::int || ' Main Street',
       CASE WHEN random() < 0.3 THEN 'Apt ' || floor(random() * 90 + 1)::int END,
       now() - make_interval(days => floor(random() * 700)::int)
FROM generate_series(1, 2000) AS g;

INSERT INTO user_settings (user_id, theme)
SELECT id, CASE WHEN random() < 0.3 THEN 'dark' ELSE 'light' END FROM users WHERE id % 4 <> 0;

INSERT INTO posts (author_id, title, body, status, tag_list, created_at)
SELECT 1 + floor(random() * 2000)::int, 'Post number ' || g,
       repeat('Lorem ipsum dolor sit amet. ', 1 + floor(random() * 8)::int),
       CASE WHEN random() < 0.1 THEN 'draft' ELSE 'published' END,
       -- a denormalized copy of the post's tags as "news,python,databases" (post_tags is the real relation)
       (SELECT string_agg(t, ',') FROM (
            SELECT (ARRAY['news', 'python', 'databases', 'postgres', 'travel', 'food', 'music', 'sports',
                          'science', 'design', 'security', 'devops'])[1 + floor(random() * 12)::int] AS t
            FROM generate_series(1, 1 + (g % 3))) AS picked),
       now() - make_interval(hours => g)
FROM generate_series(1, 5000) AS g;

INSERT INTO comments (post_id, author_id, body, hidden, created_at)
SELECT 1 + floor(random() * 5000)::int, 1 + floor(random() * 2000)::int, 'Comment ' || g, random() < 0.04,
       now() - make_interval(mins => g)
FROM generate_series(1, 15000) AS g;
-- the application copies the author's e-mail onto each comment: data of users, kept twice
UPDATE comments c SET author_email = u.email FROM users u WHERE u.id = c.author_id;

INSERT INTO tags (name, slug)
SELECT 'Tag ' || g, 'tag-' || g FROM generate_series(1, 50) AS g;

INSERT INTO post_tags (post_id, tag_id)
SELECT DISTINCT 1 + (g * 3) % 5000, 1 + (g * 11) % 50 FROM generate_series(1, 8000) AS g;

INSERT INTO sessions (user_id, token, expires_at)
SELECT 1 + g % 2000, md5(g::text), now() + make_interval(hours => g % 72 - 24)
FROM generate_series(1, 3000) AS g;

INSERT INTO audit_log (user_id, action, logged_at)
SELECT 1 + floor(random() * 2000)::int, (ARRAY['login', 'logout', 'post', 'comment'])[1 + floor(random() * 4)::int],
       now() - make_interval(mins => g)
FROM generate_series(1, 10000) AS g;

INSERT INTO notifications (user_id, message)
SELECT 1 + g % 2000, 'You have a new comment (' || g || ')' FROM generate_series(1, 2000) AS g;

INSERT INTO page_views (path)
SELECT '/posts/' || (1 + g % 5000) FROM generate_series(1, 3000) AS g;

-- Constraints added NOT VALID: one validated afterwards (fine), two left unvalidated (planted).
ALTER TABLE comments ADD CONSTRAINT comments_body_length CHECK (length(body) <= 10000) NOT VALID;
ALTER TABLE comments VALIDATE CONSTRAINT comments_body_length;
ALTER TABLE user_settings ADD CONSTRAINT user_settings_theme_check CHECK (theme IN ('light', 'dark')) NOT VALID;
ALTER TABLE notifications ADD CONSTRAINT notifications_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;

-- Sequences: two close to their column's limit (planted), one bigint far from it (fine).
SELECT setval('notifications_id_seq', 2000000000);
SELECT setval('page_views_id_seq', 2100000000);
SELECT setval('audit_log_id_seq', 2000000000);

-- Settings stored for this database: one planner method switched off after a regression (planted), the
-- random-page cost tuned for SSDs (fine).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET enable_memoize = off', current_database());
    EXECUTE format('ALTER DATABASE %I SET random_page_cost = 1.1', current_database());
END
$$;

-- Who may create objects: everyone in public (planted), one deployment role in reporting (fine).
GRANT CREATE ON SCHEMA public TO PUBLIC;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'blog_deployer') THEN
        CREATE ROLE blog_deployer NOLOGIN;
    END IF;
END
$$;
CREATE SCHEMA reporting;
GRANT CREATE ON SCHEMA reporting TO blog_deployer;

-- Functions that run as their owner: one with the caller's search_path (planted), one with a fixed path and
-- qualified names (fine); and one that runs as its caller (fine).
CREATE FUNCTION publish_post(p bigint) RETURNS void SECURITY DEFINER
    LANGUAGE sql AS $$ UPDATE posts SET status = 'published' WHERE id = p $$;
CREATE FUNCTION hide_comment(c bigint) RETURNS void SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    LANGUAGE sql AS $$ UPDATE public.comments SET hidden = true WHERE id = c $$;
CREATE FUNCTION count_comments(p bigint) RETURNS bigint SECURITY INVOKER
    LANGUAGE sql AS $$ SELECT count(*) FROM comments WHERE post_id = p $$;

ANALYZE;
