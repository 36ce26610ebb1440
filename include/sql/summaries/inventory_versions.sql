-- Versions in one S3 Inventory drop: current objects, non-current versions and delete markers, with
-- their bytes (non-current versions are billed like any object; delete markers hold no data).
-- Reads one partition: dt = '{{ dt }}'.
SELECT
    count_if(coalesce(is_latest, TRUE) AND NOT coalesce(is_delete_marker, FALSE)) AS current_objects,
    coalesce(sum(CASE WHEN coalesce(is_latest, TRUE) AND NOT coalesce(is_delete_marker, FALSE)
        THEN size END), 0) AS current_bytes,
    count_if(NOT coalesce(is_latest, TRUE) AND NOT coalesce(is_delete_marker, FALSE)) AS noncurrent_versions,
    coalesce(sum(CASE WHEN NOT coalesce(is_latest, TRUE) AND NOT coalesce(is_delete_marker, FALSE)
        THEN size END), 0) AS noncurrent_bytes,
    count_if(coalesce(is_delete_marker, FALSE)) AS delete_markers,
    coalesce(sum(CASE WHEN coalesce(is_delete_marker, FALSE) THEN size END), 0) AS delete_marker_bytes
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
