-- A refused title must not tell an editor that a page they may not read
-- exists (a review found that creating a page titled like a hidden one was
-- refused, and a fresh title was not). Titles may now repeat within a
-- space: the service refuses only a clash with a page the editor can read,
-- and gives a page whose address only an unreadable page holds a numbered
-- address. Addresses stay unique. Wiki links resolve to the oldest
-- readable page of a title.
DROP INDEX wiki_pages_title;
CREATE INDEX wiki_pages_title ON wiki_pages (tenant_id, space_id, lower(title));
