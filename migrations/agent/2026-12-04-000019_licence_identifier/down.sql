ALTER TABLE jobs DROP COLUMN licence_identifier;
