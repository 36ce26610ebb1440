{#- The daily storage summary (datalake.reports.history): one row per inventory, day and storage class,
    written by each summaries run as Parquet, one file per inventory=<name>/day=YYYY-MM-DD/ folder. Its
    columns are history.COLUMNS. With partition projection Athena computes the partitions itself:
    nothing is ever registered, and a query for one inventory (`inventory` is injected: a query must
    name it) and a window of days reads only those folders. The range starts at a fixed date (a
    relative start such as NOW-3MONTHS returns no rows). -#}
CREATE EXTERNAL TABLE IF NOT EXISTS `{{ params.database }}`.`{{ params.table }}` (
{%- for name, kind in params.columns %}
  `{{ name }}` {{ kind }}{{ "," if not loop.last }}
{%- endfor %}
)
PARTITIONED BY (`inventory` string, `day` string)
STORED AS PARQUET
LOCATION '{{ params.location }}'
TBLPROPERTIES (
  'parquet.compression' = 'SNAPPY',
  'projection.enabled' = 'true',
  'projection.inventory.type' = 'injected',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy-MM-dd',
  'projection.day.range' = '{{ params.projection_start }},NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = '{{ params.location }}inventory=${inventory}/day=${day}/'
)
