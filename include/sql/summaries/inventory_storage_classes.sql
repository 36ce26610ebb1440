-- Objects and bytes per storage class in one S3 Inventory drop, with the oldest and newest object of
-- each class (UTC) and the zero-byte "folder" objects (keys ending in '/', created by consoles and
-- tools as prefixes). Counts current versions only; delete markers and non-current versions are
-- reported by inventory_versions.sql.
-- last_modified_date is epoch milliseconds in Parquet reports (from_unixtime takes seconds, hence the
-- / 1000), a timestamp in ORC reports and ISO-8601 text in CSV reports (UTC, so the text orders as
-- the time does).
-- Reads one partition: dt = '{{ dt }}'.
{#- CSV reports URL-encode the key (Parquet and ORC hold it as it is): decoded for CSV only, after
    min_by/max_by have picked one key per class. #}
{%- macro decoded(expression) -%}
{{ "url_decode(" ~ expression ~ ")" if format == "CSV" else expression }}
{%- endmacro %}
{%- macro modified(expression) -%}
{%- if format == "CSV" -%} from_iso8601_timestamp({{ expression }})
{%- elif format == "ORC" -%} {{ expression }}
{%- else -%} from_unixtime({{ expression }} / 1000)
{%- endif -%}
{%- endmacro %}
SELECT
    coalesce(storage_class, 'UNKNOWN') AS storage_class,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes,
    {{ modified('min(last_modified_date)') }} AS oldest_modified,
    {{ decoded('min_by(key, last_modified_date)') }} AS oldest_key,
    {{ modified('max(last_modified_date)') }} AS newest_modified,
    {{ decoded('max_by(key, last_modified_date)') }} AS newest_key,
    count_if(size = 0 AND {{ decoded('key') }} LIKE '%/') AS folder_objects
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
    AND coalesce(is_latest, TRUE)
    AND NOT coalesce(is_delete_marker, FALSE)
GROUP BY 1
ORDER BY bytes DESC, storage_class
