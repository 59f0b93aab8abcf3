-- The bytes of every stored photo, kept up to date by each upload's transaction: checking the
-- storage cap (max_photo_storage_bytes) reads one row, whatever the number of photos.
CREATE TABLE photo_storage (
    id TINYINT UNSIGNED NOT NULL CHECK (id = 1),
    stored_bytes BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB;

-- The photos stored before this table existed: summed once, here.
INSERT INTO photo_storage (id, stored_bytes) SELECT 1, COALESCE(SUM(LENGTH(data)), 0) FROM photos;
