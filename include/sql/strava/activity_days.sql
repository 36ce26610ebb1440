{#- The day (dt) of each of these activity ids in the curated table: how a push event that names only an
    activity id (a deletion, an edit) finds the day to re-list. Reads the id column, and only the row
    groups whose id range can hold one (Parquet statistics). ids are integers the caller checked. -#}
SELECT id, dt
FROM {{ database }}.{{ table }}
WHERE id IN ({{ ids | join(', ') }})
