{#- A table of the detailed activities (strava.details), in the Strava database: activity_details,
    activity_laps, activity_splits, activity_best_efforts and activity_streams, one folder per UTC day of
    the activity (dt = YYYY-MM-DD, as the activities); gear, one object. Its columns and units are
    plugins/datalake/strava/detail_schema.py's (strava_detail_columns is
    datalake.strava.tasks.detail_columns, a macro of the DAG). The day tables use partition projection
    from strava.start_date: nothing to register, and a query naming its days reads only those folders
    (the activities' table registers its partitions instead; README "Strava: detailed activities"). -#}
CREATE EXTERNAL TABLE IF NOT EXISTS `{{ params.database }}`.`{{ params.table }}` (
{%- for name, kind in strava_detail_columns(params.table) %}
  `{{ name }}` {{ kind }}{{ "," if not loop.last }}
{%- endfor %}
)
{%- if params.projection_start %}
PARTITIONED BY (`dt` string)
{%- endif %}
STORED AS PARQUET
LOCATION '{{ params.location }}'
TBLPROPERTIES (
{%- if params.projection_start %}
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{ params.projection_start }},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{ params.location }}dt=${dt}/',
{%- endif %}
  'parquet.compression' = 'SNAPPY'
)
