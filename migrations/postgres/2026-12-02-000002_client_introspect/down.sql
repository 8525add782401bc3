ALTER TABLE clients DROP COLUMN introspect;
