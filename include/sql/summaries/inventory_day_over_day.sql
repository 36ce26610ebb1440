-- Day-over-day change in objects and bytes per storage class: this drop (dt = '{{ dt }}') against
-- the previous one that exists (dt = '{{ previous_dt }}'; empty on the first drop, which then shows
-- everything as new). Counts current versions only. Reads those two partitions and nothing else.
WITH per_class AS (
    SELECT
        dt,
        coalesce(storage_class, 'UNKNOWN') AS storage_class,
        count(*) AS objects,
        coalesce(sum(size), 0) AS bytes
    FROM {{ database }}.{{ table }}
    WHERE dt IN ('{{ dt }}', '{{ previous_dt }}')
        AND coalesce(is_latest, TRUE)
        AND NOT coalesce(is_delete_marker, FALSE)
    GROUP BY 1, 2
),
today AS (
    SELECT storage_class, objects, bytes FROM per_class WHERE dt = '{{ dt }}'
),
before AS (
    SELECT storage_class, objects, bytes FROM per_class WHERE dt = '{{ previous_dt }}'
)
SELECT
    coalesce(today.storage_class, before.storage_class) AS storage_class,
    coalesce(today.objects, 0) AS objects,
    coalesce(before.objects, 0) AS previous_objects,
    coalesce(today.objects, 0) - coalesce(before.objects, 0) AS objects_change,
    coalesce(today.bytes, 0) AS bytes,
    coalesce(before.bytes, 0) AS previous_bytes,
    coalesce(today.bytes, 0) - coalesce(before.bytes, 0) AS bytes_change
FROM today
FULL OUTER JOIN before ON today.storage_class = before.storage_class
ORDER BY 1
