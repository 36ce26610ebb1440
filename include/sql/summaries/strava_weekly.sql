-- Training volume per ISO week (weeks start on Monday) and sport type, from {{ weeks_from }} up to
-- and including {{ day }}: distance in km, moving time in hours, elevation gain in m.
-- Reads only the partitions of those weeks.
-- An activity without a sport type (the table allows it) counts under '(no sport type)'.
SELECT
    CAST(date_trunc('week', start_date) AS date) AS week_start,
    coalesce(sport_type, '(no sport type)') AS sport_type,
    count(*) AS activities,
    sum(distance_m) / 1000.0 AS distance_km,
    sum(moving_time_s) / 3600.0 AS moving_hours,
    sum(total_elevation_gain_m) AS elevation_m
FROM {{ database }}.{{ table }}
WHERE dt BETWEEN '{{ weeks_from }}' AND '{{ day }}'
    AND start_date >= TIMESTAMP '{{ weeks_from }} 00:00:00'
    AND start_date < TIMESTAMP '{{ day_after }} 00:00:00'
GROUP BY 1, 2
ORDER BY 1, 2
