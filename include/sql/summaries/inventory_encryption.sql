-- Objects and bytes by storage class and encryption status (SSE-S3, SSE-KMS, DSSE-KMS, SSE-C, NOT-SSE)
-- in one S3 Inventory drop. Counts current versions only.
-- Reads one partition: dt = '{{ dt }}'.
SELECT
    coalesce(storage_class, 'UNKNOWN') AS storage_class,
    coalesce(encryption_status, 'UNKNOWN') AS encryption_status,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
    AND coalesce(is_latest, TRUE)
    AND NOT coalesce(is_delete_marker, FALSE)
GROUP BY 1, 2
ORDER BY 1, 2
