-- Wars and peace declared, per enemy kingdom, over the interval.
with declarations as (
    select
        enemy,
        'war' as declaration
    from game_war_declared
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        enemy,
        'peace' as declaration
    from game_peace_declared
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    enemy,
    count_if(declaration = 'war') as wars_declared,
    count_if(declaration = 'peace') as peace_declared,
    count_if(declaration = 'war') - count_if(declaration = 'peace') as net_hostility
from declarations
group by enemy
order by wars_declared desc, enemy asc
