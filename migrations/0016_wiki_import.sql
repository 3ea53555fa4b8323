-- Where an imported wiki page came from, so that importing the same export
-- again updates the pages it made instead of adding copies (tma wiki
-- import). source is the exporting site's address (WordPress: the
-- export's wp:base_blog_url, else wp:base_site_url); origin names the item
-- within it ("page 12", "post 7", "section posts/2024", "report"). The
-- same export imported into two spaces makes two sets of pages.
CREATE TABLE wiki_page_origins (
    tenant_id uuid NOT NULL,
    page_id   uuid NOT NULL,
    space_id  uuid NOT NULL,
    source    text NOT NULL,
    origin    text NOT NULL,
    PRIMARY KEY (tenant_id, page_id),
    UNIQUE (tenant_id, space_id, source, origin),
    FOREIGN KEY (tenant_id, page_id) REFERENCES wiki_pages (tenant_id, id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES wiki_spaces (tenant_id, id)
);
