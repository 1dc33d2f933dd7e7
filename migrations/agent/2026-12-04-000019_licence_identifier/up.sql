-- The licence identifier (证照标识) the server says the job is for: the seal in the document's
-- QR code must name the same one. Empty for jobs claimed before this column existed; such a
-- job is refused (nothing printed) and claimed afresh.
ALTER TABLE jobs ADD COLUMN licence_identifier TEXT NOT NULL DEFAULT '';
