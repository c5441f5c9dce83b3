-- web administrators (the admin pages): estafeta user add --admin, user set --admin
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
