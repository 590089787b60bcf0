-- dbaudit demo for MySQL 8: the blog schema of demo/seed.sql, translated. Also loads on MariaDB 10.5+.
--
-- PLANTED (dbaudit must report each one):
--   IX01 unused-index          posts_status_idx: posts is read hundreds of times (docker/workload), never through it
--   IX02 duplicate-index       comments_post_id_idx1 duplicates comments_post_id_idx
--   IX03 redundant-index       sessions_expires_idx is a leading prefix of sessions_expires_at_user_idx
--   KY01 no-primary-key        audit_log
--   KY04 sequence-exhaustion   notifications: INT AUTO_INCREMENT at 2,000,000,000 of 2,147,483,647
--
-- NOT TRANSLATED, because MySQL cannot hold them:
--   IX04 (no INVALID indexes), IX05 (InnoDB creates an index for every foreign key), KY02 (InnoDB refuses a
--   foreign key between INT and BIGINT), KY03 (no NOT VALID constraints), the partial index
--   comments_visible_post_idx. The lower(email) expression index is a generated column with an index, which
--   MySQL 8 and MariaDB both accept.
--
-- Rows are pseudo-random but repeatable: CRC32 of the row number instead of RAND().

CREATE TABLE seq_digits (d INT NOT NULL PRIMARY KEY);
INSERT INTO seq_digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TABLE seq_numbers (n INT NOT NULL PRIMARY KEY);
INSERT INTO seq_numbers (n)
SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d
FROM seq_digits a, seq_digits b, seq_digits c, seq_digits e, seq_digits f
WHERE a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d < 15000;

CREATE TABLE users (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email        VARCHAR(255) NOT NULL,
    email_lower  VARCHAR(255) AS (LOWER(email)) STORED,
    display_name VARCHAR(100) NOT NULL,
    country_code CHAR(2),
    created_at   DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT users_email_key UNIQUE (email)
) ENGINE = InnoDB;
CREATE INDEX users_email_lower_idx ON users (email_lower);

CREATE TABLE user_settings (
    user_id BIGINT      NOT NULL PRIMARY KEY,
    theme   VARCHAR(20) NOT NULL DEFAULT 'light',
    locale  VARCHAR(10) NOT NULL DEFAULT 'en',
    CONSTRAINT user_settings_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_settings_theme_check CHECK (theme IN ('light', 'dark'))
) ENGINE = InnoDB;

CREATE TABLE posts (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    author_id  BIGINT       NOT NULL,
    title      VARCHAR(200) NOT NULL,
    body       TEXT         NOT NULL,
    status     VARCHAR(20)  NOT NULL DEFAULT 'published',
    created_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT posts_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (id)
) ENGINE = InnoDB;
CREATE INDEX posts_author_id_idx ON posts (author_id);
CREATE INDEX posts_status_idx ON posts (status);

CREATE TABLE comments (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    post_id    BIGINT      NOT NULL,
    author_id  BIGINT      NOT NULL,
    body       TEXT        NOT NULL,
    hidden     BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT comments_post_id_fkey FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE,
    CONSTRAINT comments_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (id),
    CONSTRAINT comments_body_length CHECK (CHAR_LENGTH(body) <= 10000)
) ENGINE = InnoDB;
CREATE INDEX comments_post_id_idx ON comments (post_id);
CREATE INDEX comments_post_id_idx1 ON comments (post_id);

CREATE TABLE tags (
    id   INT          NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    slug VARCHAR(100) NOT NULL,
    CONSTRAINT tags_name_key UNIQUE (name)
) ENGINE = InnoDB;
CREATE INDEX tags_name_slug_idx ON tags (name, slug);

CREATE TABLE post_tags (
    post_id BIGINT NOT NULL,
    tag_id  INT    NOT NULL,
    PRIMARY KEY (post_id, tag_id),
    CONSTRAINT post_tags_post_id_fkey FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE,
    CONSTRAINT post_tags_tag_id_fkey FOREIGN KEY (tag_id) REFERENCES tags (id)
) ENGINE = InnoDB;
CREATE INDEX post_tags_tag_id_idx ON post_tags (tag_id);

-- The foreign key on user_id keeps its own index (InnoDB needs one that user_id leads); the planted redundancy
-- is on expires_at, which no foreign key needs.
CREATE TABLE sessions (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    token      CHAR(32)    NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_expires_at_user_idx ON sessions (expires_at, user_id);

CREATE TABLE audit_log (
    id        BIGINT      NOT NULL,
    user_id   BIGINT,
    action    VARCHAR(20) NOT NULL,
    logged_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

CREATE TABLE notifications (
    id      INT          NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT       NOT NULL,
    message VARCHAR(200) NOT NULL,
    read_at DATETIME(6),
    CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB;
CREATE INDEX notifications_user_id_idx ON notifications (user_id);

CREATE TABLE page_views (
    id        BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    path      VARCHAR(200) NOT NULL,
    viewed_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

INSERT INTO users (email, display_name, country_code, created_at)
SELECT CONCAT('user', n, '@example.com'),
       CONCAT('User ', n % 1500),
       ELT(1 + CRC32(CONCAT('cc', n)) % 5, 'DE', 'FR', 'US', 'JP', 'BR'),
       NOW(6) - INTERVAL (CRC32(CONCAT('d', n)) % 700) DAY
FROM seq_numbers WHERE n <= 2000;

INSERT INTO user_settings (user_id, theme)
SELECT id, IF(CRC32(CONCAT('t', id)) % 10 < 3, 'dark', 'light') FROM users WHERE id % 4 <> 0;

INSERT INTO posts (author_id, title, body, status, created_at)
SELECT 1 + CRC32(CONCAT('a', n)) % 2000, CONCAT('Post number ', n),
       REPEAT('Lorem ipsum dolor sit amet. ', 1 + CRC32(CONCAT('b', n)) % 8),
       IF(CRC32(CONCAT('s', n)) % 10 = 0, 'draft', 'published'), NOW(6) - INTERVAL n HOUR
FROM seq_numbers WHERE n <= 5000;

INSERT INTO comments (post_id, author_id, body, hidden, created_at)
SELECT 1 + (n * 13) % 5000, 1 + (n * 17) % 2000, CONCAT('Comment ', n), n % 25 = 0, NOW(6) - INTERVAL n MINUTE
FROM seq_numbers WHERE n <= 15000;

INSERT INTO tags (name, slug)
SELECT CONCAT('Tag ', n), CONCAT('tag-', n) FROM seq_numbers WHERE n <= 50;

INSERT INTO post_tags (post_id, tag_id)
SELECT DISTINCT 1 + (n * 3) % 5000, 1 + (n * 11) % 50 FROM seq_numbers WHERE n <= 8000;

INSERT INTO sessions (user_id, token, expires_at)
SELECT 1 + n % 2000, MD5(n), NOW(6) + INTERVAL (n % 72 - 24) HOUR FROM seq_numbers WHERE n <= 3000;

INSERT INTO audit_log (id, user_id, action, logged_at)
SELECT n, 1 + CRC32(CONCAT('u', n)) % 2000, ELT(1 + CRC32(CONCAT('x', n)) % 4, 'login', 'logout', 'post', 'comment'),
       NOW(6) - INTERVAL n MINUTE
FROM seq_numbers WHERE n <= 10000;

-- KY04: the counter jumps close to INT's limit before the rows go in
ALTER TABLE notifications AUTO_INCREMENT = 2000000000;
INSERT INTO notifications (user_id, message)
SELECT 1 + n % 2000, CONCAT('You have a new comment (', n, ')') FROM seq_numbers WHERE n <= 2000;

INSERT INTO page_views (path)
SELECT CONCAT('/posts/', 1 + n % 5000) FROM seq_numbers WHERE n <= 3000;

DROP TABLE seq_numbers;
DROP TABLE seq_digits;

ANALYZE TABLE users, user_settings, posts, comments, tags, post_tags, sessions, audit_log, notifications, page_views;
