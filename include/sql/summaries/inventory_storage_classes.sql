-- Objects and bytes per storage class in one S3 Inventory drop, with the oldest and newest object of
-- each class (UTC) and the zero-byte "folder" objects (keys ending in '/', created by consoles and
-- tools as prefixes). Counts current versions only; delete markers and non-current versions are
-- reported by inventory_versions.sql. The keys are decoded (CSV) after min_by/max_by have picked one
-- per class.
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
SELECT
    coalesce(storage_class, 'UNKNOWN') AS storage_class,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes,
    {{ m.modified('min(last_modified_date)') }} AS oldest_modified,
    {{ m.decoded('min_by(key, last_modified_date)') }} AS oldest_key,
    {{ m.modified('max(last_modified_date)') }} AS newest_modified,
    {{ m.decoded('max_by(key, last_modified_date)') }} AS newest_key,
    count_if(size = 0 AND {{ m.decoded('key') }} LIKE '%/') AS folder_objects
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
    AND {{ m.is_current() }}
GROUP BY 1
ORDER BY bytes DESC, storage_class
