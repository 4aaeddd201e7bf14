-- Thumbnails of image content, stored as FastDFS slave files of the
-- content's file (prefix "_" + spec). '' = not examined yet (the thumbs
-- command picks these up), '-' = examined, no thumbnails (not an image,
-- or refused), else "spec.ext=size" items joined by ',', e.g.
-- "150x150.jpg=5123,800.jpg=80211": enough to name each slave and serve it.
ALTER TABLE file_info ADD COLUMN IF NOT EXISTS thumbs VARCHAR(128) NOT NULL DEFAULT ''
    COMMENT 'thumbnail slaves: "" unexamined, "-" none, else spec.ext=size,...';
