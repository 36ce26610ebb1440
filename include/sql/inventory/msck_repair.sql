{#- For comparison only (bench/inventory_partitions.py): lists the whole table prefix on every call. -#}
MSCK REPAIR TABLE `{{ params.database }}`.`{{ params.table }}`
