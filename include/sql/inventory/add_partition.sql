{#- Register one drop: idempotent, and its cost does not grow with the number of partitions. -#}
ALTER TABLE `{{ params.database }}`.`{{ params.table }}`
ADD IF NOT EXISTS PARTITION (dt = '{{ dt }}') LOCATION '{{ location }}'
