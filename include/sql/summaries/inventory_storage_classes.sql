-- Objects and bytes per storage class in one S3 Inventory drop, with the oldest and newest object of
-- each class (UTC) and the zero-byte "folder" objects (keys ending in '/', created by consoles and
-- tools as prefixes). Counts current versions only; delete markers and non-current versions are
-- reported by inventory_versions.sql.
-- last_modified_date is epoch milliseconds: from_unixtime takes seconds, hence the / 1000.
-- Reads one partition: dt = '{{ dt }}'.
SELECT
    coalesce(storage_class, 'UNKNOWN') AS storage_class,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes,
    from_unixtime(min(last_modified_date) / 1000) AS oldest_modified,
    min_by(key, last_modified_date) AS oldest_key,
    from_unixtime(max(last_modified_date) / 1000) AS newest_modified,
    max_by(key, last_modified_date) AS newest_key,
    count_if(size = 0 AND key LIKE '%/') AS folder_objects
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
    AND coalesce(is_latest, TRUE)
    AND NOT coalesce(is_delete_marker, FALSE)
GROUP BY 1
ORDER BY bytes DESC, storage_class
