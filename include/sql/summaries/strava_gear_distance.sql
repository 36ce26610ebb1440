-- Distance per gear ("shoe and bike mileage"): every activity with a gear that started up to and
-- including {{ day }}, summed from the activities table (so it is never staler than the lake), and
-- over the twelve months from {{ longest_from }}; names from the gear table (strava.details), the id
-- where the table has none. Reads every partition of the activities table, three columns of each.
SELECT
    a.gear_id,
    coalesce(max(g.name), a.gear_id) AS gear_name,
    CASE substr(a.gear_id, 1, 1) WHEN 'g' THEN 'shoes' WHEN 'b' THEN 'bike' ELSE 'other' END AS kind,
    count(*) AS activities,
    sum(a.distance_m) / 1000.0 AS distance_km,
    coalesce(sum(CASE WHEN a.start_date >= TIMESTAMP '{{ longest_from }} 00:00:00' THEN a.distance_m END), 0)
        / 1000.0 AS distance_12m_km,
    max(a.start_date) AS last_used
FROM {{ database }}.{{ table }} AS a
LEFT JOIN {{ database }}.gear AS g ON g.gear_id = a.gear_id
WHERE a.dt <= '{{ day }}'
    AND a.gear_id IS NOT NULL
    AND a.start_date < TIMESTAMP '{{ day_after }} 00:00:00'
GROUP BY a.gear_id
ORDER BY distance_km DESC, a.gear_id
