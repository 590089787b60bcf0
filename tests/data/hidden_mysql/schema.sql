-- Red team 2, case A (helpdesk + inventory on MariaDB), from /work/briefs/redteam2/mariadb_schema.sql.
-- PLANTED problems marked [P], look-alike traps marked [T]; tests/test_hidden_mysql.py loads and scans it.

CREATE TABLE plans (                       -- tiny lookup table (4 rows)
  id TINYINT PRIMARY KEY,
  code VARCHAR(20) NOT NULL UNIQUE,
  name VARCHAR(60) NOT NULL,               -- [T] WL02 trap: queried by name without index, but 4 rows
  monthly_price DECIMAL(8,2) NOT NULL
) ENGINE=InnoDB;

CREATE TABLE organizations (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  domain VARCHAR(120) NOT NULL,
  plan_code VARCHAR(20) NULL,              -- [T] KY02 trap: NULL vs NOT NULL on plans.code, same type
  country_code CHAR(2) NOT NULL,
  country_name VARCHAR(60) NOT NULL,       -- [P] NF04: country_code -> country_name
  created_at DATETIME NOT NULL,
  CONSTRAINT fk_org_plan FOREIGN KEY (plan_code) REFERENCES plans(code)
) ENGINE=InnoDB;

CREATE TABLE users (
  id INT AUTO_INCREMENT PRIMARY KEY,
  organization_id INT NOT NULL,
  email VARCHAR(190) NOT NULL,
  full_name VARCHAR(120) NOT NULL,
  phone1 VARCHAR(30), phone2 VARCHAR(30), phone3 VARCHAR(30),   -- [P] NF01
  address_line1 VARCHAR(120), address_line2 VARCHAR(120),       -- [T] NF01 allowed
  city VARCHAR(80),
  created_at DATETIME NOT NULL,
  UNIQUE KEY uq_users_email (email),
  KEY ix_users_name10 (full_name(10)),     -- [T] prefix index, not a duplicate/redundant of ix_users_name
  KEY ix_users_name (full_name),
  CONSTRAINT fk_users_org FOREIGN KEY (organization_id) REFERENCES organizations(id)  -- [T] InnoDB makes the index
) ENGINE=InnoDB;

CREATE TABLE teams (
  id SMALLINT PRIMARY KEY,
  name VARCHAR(80) NOT NULL UNIQUE
) ENGINE=InnoDB;

CREATE TABLE agents (
  id INT AUTO_INCREMENT PRIMARY KEY,
  user_id INT NOT NULL UNIQUE,
  team_id SMALLINT NOT NULL,
  level TINYINT NOT NULL,
  CONSTRAINT fk_agents_user FOREIGN KEY (user_id) REFERENCES users(id),
  CONSTRAINT fk_agents_team FOREIGN KEY (team_id) REFERENCES teams(id)
) ENGINE=InnoDB;

CREATE TABLE agent_skills (                -- [T] NF03 trap: level depends on the whole key
  agent_id INT NOT NULL,
  skill VARCHAR(40) NOT NULL,
  level TINYINT NOT NULL,
  PRIMARY KEY (agent_id, skill),
  CONSTRAINT fk_skill_agent FOREIGN KEY (agent_id) REFERENCES agents(id)
) ENGINE=InnoDB;

CREATE TABLE tickets (
  id INT AUTO_INCREMENT PRIMARY KEY,
  organization_id INT NOT NULL,
  requester_id INT NOT NULL,
  assignee_id INT NULL,
  subject VARCHAR(200) NOT NULL,
  status VARCHAR(20) NOT NULL,
  priority TINYINT NOT NULL,
  contact_email VARCHAR(190) NOT NULL,     -- WL02 #1 filters on it, no index
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  KEY ix_tickets_status (status),          -- [P] IX03 prefix of ix_tickets_status_created
  KEY ix_tickets_status_created (status, created_at),
  KEY ix_tickets_org (organization_id),    -- [T] user-created FK index InnoDB relies on
  FULLTEXT KEY ft_tickets_subject (subject),  -- [T] FULLTEXT, used by MATCH queries
  CONSTRAINT fk_tickets_org FOREIGN KEY (organization_id) REFERENCES organizations(id),
  CONSTRAINT fk_tickets_requester FOREIGN KEY (requester_id) REFERENCES users(id),
  CONSTRAINT fk_tickets_assignee FOREIGN KEY (assignee_id) REFERENCES agents(id)
) ENGINE=InnoDB;

CREATE TABLE ticket_comments (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  ticket_id INT NOT NULL,
  author_id INT NOT NULL,
  body TEXT NOT NULL,
  is_public TINYINT(1) NOT NULL,
  created_at DATETIME NOT NULL,
  CONSTRAINT fk_comments_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id),
  CONSTRAINT fk_comments_author FOREIGN KEY (author_id) REFERENCES users(id)
) ENGINE=InnoDB;

CREATE TABLE tags (
  id SMALLINT PRIMARY KEY,
  name VARCHAR(50) NOT NULL UNIQUE
) ENGINE=InnoDB;

CREATE TABLE ticket_tags (
  ticket_id INT NOT NULL,
  tag_id SMALLINT NOT NULL,
  tag_name VARCHAR(50) NOT NULL,           -- [P] NF03: tag_id -> tag_name (part of the key)
  added_at DATETIME NOT NULL,
  PRIMARY KEY (ticket_id, tag_id),
  CONSTRAINT fk_tt_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id),
  CONSTRAINT fk_tt_tag FOREIGN KEY (tag_id) REFERENCES tags(id)
) ENGINE=InnoDB;

CREATE TABLE ticket_history (
  id INT AUTO_INCREMENT PRIMARY KEY,
  ticket_id INT NOT NULL,
  field VARCHAR(40) NOT NULL,
  old_value VARCHAR(200), new_value VARCHAR(200),
  changed_at DATETIME NOT NULL,
  KEY ix_hist_ticket (ticket_id),
  KEY ix_hist_ticket_copy (ticket_id),     -- [P] IX02 duplicate of ix_hist_ticket
  CONSTRAINT fk_hist_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id)
) ENGINE=InnoDB;

CREATE TABLE kb_articles (
  id INT AUTO_INCREMENT PRIMARY KEY,
  slug VARCHAR(190) NOT NULL,
  title VARCHAR(200) NOT NULL,
  summary VARCHAR(500) NOT NULL,           -- [T] NF02 trap: prose with commas
  body TEXT NOT NULL,
  related_tags VARCHAR(255) NOT NULL,      -- [P] NF02: 'billing,sso,login'
  version_label VARCHAR(20) NOT NULL,      -- [T] NF02 trap: '2.14.3'
  published_at DATETIME NOT NULL,
  UNIQUE KEY uq_kb_slug (slug),            -- [T] unique index that is a prefix of ix_kb_slug_published: not IX03
  KEY ix_kb_slug_published (slug, published_at),
  FULLTEXT KEY ft_kb (title, body)         -- [T] FULLTEXT
) ENGINE=InnoDB;

CREATE TABLE audit_events (                -- [P] KY01 no primary key
  event_time DATETIME NOT NULL,
  actor_id INT NOT NULL,
  action VARCHAR(40) NOT NULL,
  payload TEXT
) ENGINE=InnoDB;

CREATE TABLE user_settings (               -- [?] no PK but UNIQUE NOT NULL (InnoDB clusters on it)
  user_id INT NOT NULL,
  theme VARCHAR(20) NOT NULL,
  locale VARCHAR(10) NOT NULL,
  UNIQUE KEY uq_settings_user (user_id),
  CONSTRAINT fk_settings_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB;

CREATE TABLE notifications (
  id INT AUTO_INCREMENT PRIMARY KEY,       -- [P] KY04: AUTO_INCREMENT at ~95 % of INT
  user_id INT NOT NULL,
  channel VARCHAR(20) NOT NULL,
  sent_at DATETIME NOT NULL,
  KEY ix_notif_channel (channel),          -- [P] IX01 never used, table read by the workload
  CONSTRAINT fk_notif_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB AUTO_INCREMENT=2040000000;

CREATE TABLE assets (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,    -- [T] KY04: 80 % of INT range but BIGINT
  serial VARCHAR(60) NOT NULL UNIQUE,
  model VARCHAR(80) NOT NULL,
  assigned_user_id INT NULL,
  CONSTRAINT fk_assets_user FOREIGN KEY (assigned_user_id) REFERENCES users(id)
) ENGINE=InnoDB AUTO_INCREMENT=1720000000;

CREATE TABLE inventory_movements (
  id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,  -- [T] KY04: 3.0e9 = 70 % of UNSIGNED INT (140 % of signed)
  asset_id BIGINT NOT NULL,
  warehouse_code CHAR(4) NOT NULL,         -- WL02 #2: (warehouse_code, moved_at)
  moved_at DATETIME NOT NULL,
  qty INT NOT NULL,
  CONSTRAINT fk_mov_asset FOREIGN KEY (asset_id) REFERENCES assets(id)
) ENGINE=InnoDB AUTO_INCREMENT=3000000000;

SET foreign_key_checks = 0;
-- [P] KY02: the child was created first (as a dump loads), the parent later with a BIGINT key
CREATE TABLE attachments (
  id INT AUTO_INCREMENT PRIMARY KEY,
  ticket_id INT NOT NULL,                  -- [P] KY02: INT -> tickets_archive.id BIGINT
  filename VARCHAR(200) NOT NULL,
  bytes INT NOT NULL,
  CONSTRAINT fk_att_ticket FOREIGN KEY (ticket_id) REFERENCES tickets_archive(id)
) ENGINE=InnoDB;
CREATE TABLE tickets_archive (
  id BIGINT PRIMARY KEY,
  subject VARCHAR(200) NOT NULL,
  closed_at DATETIME NOT NULL
) ENGINE=InnoDB;
SET foreign_key_checks = 1;
