-- The ten longest activities (by distance) of the twelve months up to and including {{ day }}
-- (from {{ longest_from }}): distance in km, moving time in hours, elevation gain in m.
-- Reads only the partitions of those twelve months.
-- An activity without a sport type (the table allows it) counts under '(no sport type)'.
SELECT
    id,
    name,
    coalesce(sport_type, '(no sport type)') AS sport_type,
    start_date,
    distance_m / 1000.0 AS distance_km,
    moving_time_s / 3600.0 AS moving_hours,
    total_elevation_gain_m AS elevation_m
FROM {{ database }}.{{ table }}
WHERE dt BETWEEN '{{ longest_from }}' AND '{{ day }}'
    AND start_date >= TIMESTAMP '{{ longest_from }} 00:00:00'
    AND start_date < TIMESTAMP '{{ day_after }} 00:00:00'
ORDER BY distance_m DESC, id
LIMIT 10
