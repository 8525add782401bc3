-- A scheduled next key (signs_from in the future) would sign at once under the previous
-- version: retire it first (`gatehouse keys rotate` does) before going back.
ALTER TABLE signing_keys DROP COLUMN signs_from;
