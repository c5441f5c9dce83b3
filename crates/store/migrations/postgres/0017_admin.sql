-- web administrators (the admin pages): estafeta user add --admin, user set --admin
ALTER TABLE users ADD COLUMN admin BIGINT NOT NULL DEFAULT 0;
