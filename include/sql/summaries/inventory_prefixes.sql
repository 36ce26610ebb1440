-- Objects and bytes by top-level prefix (the key up to its first '/'; keys without one are counted
-- under '(top level)') in one S3 Inventory drop: the 25 largest. Counts current versions only.
-- Reads one partition: dt = '{{ dt }}'.
{#- CSV reports URL-encode the key (Parquet and ORC hold it as it is): decoded for CSV only. #}
{%- macro decoded(expression) -%}
{{ "url_decode(" ~ expression ~ ")" if format == "CSV" else expression }}
{%- endmacro %}
SELECT
    CASE
        WHEN strpos({{ decoded('key') }}, '/') > 0 THEN split_part({{ decoded('key') }}, '/', 1) || '/'
        ELSE '(top level)'
    END AS prefix,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
    AND coalesce(is_latest, TRUE)
    AND NOT coalesce(is_delete_marker, FALSE)
GROUP BY 1
ORDER BY bytes DESC, prefix
LIMIT 25
