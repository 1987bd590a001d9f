-- dx-query: the items the reference's resource API serves (spec/query.md, "Items").
-- Times are Unix milliseconds. (owner, name) is unique, so a duplicate answers 2003.
CREATE TABLE IF NOT EXISTS dx_items (
    id         BIGSERIAL PRIMARY KEY,
    owner      TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT dx_items_owner_name UNIQUE (owner, name)
);
CREATE INDEX IF NOT EXISTS dx_items_owner_id ON dx_items (owner, id);
