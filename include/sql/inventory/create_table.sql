{#- One S3 Inventory configuration as a table partitioned by drop (dt = YYYY-MM-DD-HH-MM).
    Columns come from the drop's own fileSchema: the first drop the validate_drop task checked (or
    `drop` when rendered outside Airflow). The table reads each drop's data files through its symlink.txt.
    With params.partition_projection, Athena computes the dt values itself and nothing is ever
    registered; the range starts at a fixed date (a relative start such as NOW-3MONTHS returns no rows). -#}
{%- set drop = drop if drop is defined else ti.xcom_pull(task_ids=params.validate_task)[0] -%}
CREATE EXTERNAL TABLE IF NOT EXISTS `{{ params.database }}`.`{{ params.table }}` (
{%- for column in drop.columns %}
  `{{ column[0] }}` {{ column[1] }}{{ "," if not loop.last }}
{%- endfor %}
)
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE '{{ params.serde }}'
{%- if params.serde_properties %}
WITH SERDEPROPERTIES (
{%- for key, value in params.serde_properties.items() %}
  '{{ key }}' = '{{ value }}'{{ "," if not loop.last }}
{%- endfor %}
)
{%- endif %}
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'
LOCATION '{{ params.location }}'
{%- if params.partition_projection %}
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd-HH-mm',
  'projection.dt.range' = '{{ params.projection_start }},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'HOURS',
  'storage.location.template' = '{{ params.location }}dt=${dt}/'
)
{%- endif %}
